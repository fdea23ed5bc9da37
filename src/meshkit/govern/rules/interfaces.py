"""Rules about a project's interface: what it makes public, and how well."""

from __future__ import annotations

from pathlib import PurePosixPath

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, Model
from meshkit.status import Severity


@rule(category="documentation", severity=Severity.WARN)
def public_model_undocumented(model: Model, mesh: MeshView):
    """A public model lacks a description, declared columns, or a description of every column."""
    if not model.is_public:
        return None
    gaps = []
    if not model.description.strip():
        gaps.append("a model description")
    if not model.columns:
        gaps.append("declared columns")
    missing = [c.name for c in model.columns.values() if not (c.description or "").strip()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        gaps.append(f"descriptions of {len(missing)} column(s): {shown}")
    if gaps:
        return "is public but lacks " + "; ".join(gaps)


@rule(category="governance", severity=Severity.WARN,
      stricter={"staging_prefixes": "superset", "intermediate_prefixes": "superset",
                "staging_folders": "superset", "intermediate_folders": "superset"})
def staging_or_intermediate_public(model: Model, mesh: MeshView,
                                   staging_prefixes: tuple[str, ...] = ("stg_", "base_"),
                                   intermediate_prefixes: tuple[str, ...] = ("int_",),
                                   staging_folders: tuple[str, ...] = ("staging",),
                                   intermediate_folders: tuple[str, ...] = ("intermediate",)):
    """A staging or intermediate model is public: other projects should read marts only."""
    if not model.is_public:
        return None
    layer = layer_of(model, staging_prefixes, intermediate_prefixes, staging_folders,
                     intermediate_folders)
    if layer:
        return f"is a {layer} model but public: make it protected and publish a mart instead"


def layer_of(model: Model, staging_prefixes, intermediate_prefixes, staging_folders,
             intermediate_folders) -> str | None:
    """A model's layer, `staging` or `intermediate`, by its name's prefix or a folder on its
    path; None for any other model."""
    folders = set(PurePosixPath(model.path).parts[:-1])
    if model.name.startswith(tuple(staging_prefixes)) or folders & set(staging_folders):
        return "staging"
    if model.name.startswith(tuple(intermediate_prefixes)) or folders & set(intermediate_folders):
        return "intermediate"
    return None


@rule(category="governance", severity=Severity.INFO)
def public_model_unused(model: Model, mesh: MeshView):
    """No other project and no exposure reads any version of a public model."""
    if not model.is_public:
        return None
    versions = mesh.versions_of(model)
    if model is not versions[-1]:
        return None          # judged once per model, on its newest version
    if any(mesh.consumers(v.unique_id) for v in versions):
        return None
    return "is public but no other project or exposure reads it: consider making it protected"


@rule(category="governance", severity=Severity.WARN, applies_to="exposure")
def exposure_on_non_public_model(exposure, mesh: MeshView):
    """An exposure reads a model that is not public (its shape carries no promise)."""
    for parent in mesh.parents(exposure.unique_id):
        model = mesh.models.get(parent)
        if model is not None and not model.is_public:
            yield Violation(f"reads {model.label}, which is {model.access}: expose public "
                            "models only", key=parent)
