"""Rules about refs between projects: access, existence, versions, deprecations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from meshkit.dbt.nodes import version_text
from meshkit.govern.findings import Violation
from meshkit.govern.locate import at_ref
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, Model
from meshkit.status import Severity


@rule(category="governance", severity=Severity.ERROR)
def restricted_model_used_across_projects(model: Model, mesh: MeshView):
    """A model, or a data test of it, reads a protected or private model of another project."""
    for parent in mesh.cross_project_parents(model.unique_id):
        target = mesh.models.get(parent)
        if target is not None and not target.is_public:
            yield Violation(f"refs {target.label}, which is {target.access} to project "
                            f"{target.project}: ask its owner to make it public, or stop using it",
                            key=parent, **at_ref(mesh, model, target.project, target.name,
                                                 target.version))
    for test in mesh.tests_of(model.unique_id):   # e.g. a relationships test's `to: ref(…)`
        for parent in test.depends_on.nodes:
            target = mesh.models.get(parent)
            if target is not None and target.project != model.project and not target.is_public:
                yield Violation(f"has a test ({test.name}) that refs {target.label}, which is "
                                f"{target.access} to project {target.project}: ask its owner to "
                                "make it public, or stop using it", key=f"{test.unique_id}>{parent}")


@rule(category="governance", severity=Severity.ERROR)
def cross_project_ref_missing(model: Model, mesh: MeshView):
    """A model refs a model that its project (loaded in this check) no longer has."""
    for parent in mesh.cross_project_parents(model.unique_id):
        producer = mesh.project_of(parent)
        if parent not in mesh.graph.nodes and producer in mesh.projects:
            name = mesh.label(parent).split(".", 1)[-1]
            yield Violation(f"refs {name} of project {producer}, which no longer exists there: "
                            "the next build of this model will fail", key=parent,
                            **at_ref(mesh, model, producer, parent.split(".")[2], None))


@rule(category="versions", severity=Severity.WARN)
def cross_project_ref_unpinned(model: Model, mesh: MeshView):
    """A ref to another project's versioned model does not pin a version (`v=`)."""
    for parent in mesh.cross_project_parents(model.unique_id):
        target = mesh.models.get(parent)
        if target is None or target.version is None:
            continue
        for ref in model.node.refs:
            if ref.name == target.name and ref.package == target.project and ref.version is None:
                pin = "{{ ref('%s', '%s', v=%s) }}" % (target.project, target.name, target.version)
                yield Violation(f"refs {target.project}.{target.name} without a version: it moves "
                                f"when a new version becomes latest; pin it with {pin}",
                                key=parent, **at_ref(mesh, model, target.project, target.name, None))
                break


@rule(category="versions", severity=Severity.ERROR)
def ref_to_deprecated_model(model: Model, mesh: MeshView):
    """A model refs a model (or version) whose deprecation date has passed."""
    for parent, target, deprecation in _deprecated_parents(model, mesh):
        if deprecation <= mesh.today:
            yield Violation(f"refs {target.label}, deprecated on {deprecation}"
                            f"{_migrate_hint(target)}", key=parent,
                            **at_ref(mesh, model, target.project, target.name, target.version))


@rule(category="versions", severity=Severity.WARN)
def ref_to_deprecating_model(model: Model, mesh: MeshView):
    """A model refs a model (or version) that is slated for deprecation."""
    for parent, target, deprecation in _deprecated_parents(model, mesh):
        if deprecation > mesh.today:
            yield Violation(f"refs {target.label}, which will be deprecated on "
                            f"{deprecation}{_migrate_hint(target)}", key=parent,
                            **at_ref(mesh, model, target.project, target.name, target.version))


def _deprecated_parents(model: Model, mesh: MeshView) -> Iterator[tuple[str, Model, date]]:
    """(parent id, parent, its deprecation date) for each parent that is another model with a
    deprecation date."""
    deprecations = mesh.deprecations
    for parent in mesh.parents(model.unique_id) if deprecations else ():
        target = deprecations.get(parent)
        if target is not None and target.deprecation_date is not None \
                and not _same_model(model, target):
            yield parent, target, target.deprecation_date


def _same_model(model: Model, target: Model) -> bool:
    return model.project == target.project and model.name == target.name


def _migrate_hint(target: Model) -> str:
    latest = version_text(target.node.latest_version)
    if target.version is not None and latest is not None and latest != target.version:
        return f": migrate to {{{{ ref('{target.project}', '{target.name}', v={latest}) }}}}"
    return ""
