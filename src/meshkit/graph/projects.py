"""The project-level graph: which mesh project declares which upstream projects."""

from __future__ import annotations

from meshkit.config import Mesh
from meshkit.config.dependencies import declared_projects


def project_dependencies(mesh: Mesh) -> dict[str, list[str]]:
    """Each mesh project → the projects its dependencies.yml lists (mesh or hybrid)."""
    return {name: declared_projects(project.path) for name, project in mesh.projects.items()}
