"""Mesh CI: a pull request's changed models and their downstream in every project, built into
PR-scoped relations beside production, tested, and compared with production."""
