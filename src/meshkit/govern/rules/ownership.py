"""Rules about who answers for a model."""

from __future__ import annotations

from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, Model
from meshkit.status import Severity


@rule(category="ownership", severity=Severity.WARN)
def public_model_without_owner(model: Model, mesh: MeshView):
    """A public model has no owner: neither its group's owner nor `meta.owner`."""
    if model.is_public and mesh.owner_of(model) is None:
        return "is public but has no owner: put it in a group with an owner, or set meta.owner"


@rule(category="ownership", severity=Severity.WARN)
def model_without_group(model: Model, mesh: MeshView):
    """A model belongs to no group, so no team is named for it."""
    if model.group is None:
        return "belongs to no group: assign one (`group:` in its YAML or `+group:` per folder)"
