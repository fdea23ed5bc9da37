"""Breaking changes to public models between two states of a mesh, with who they break.

dbt detects breaking changes to contracted models within one project (state:modified).
Across a mesh the question is who else breaks: each change lists the models and exposures
of other projects that read the changed model. A change is an error when the model had an
enforced contract (its consumers were promised that shape), a warning otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from meshkit.columns.lineage import SourceColumn
from meshkit.dbt.adapters import normalize_type
from meshkit.govern.view import MeshView, Model
from meshkit.status import Severity

KINDS: dict[str, str] = {
    "model_removed": "A public model was removed or disabled before its deprecation date",
    "version_removed": "A version of a public model was removed before its deprecation date",
    "access_downgraded": "A public model is no longer public",
    "contract_removed": "A public model's contract is no longer enforced",
    "column_removed": "A column of a public model was removed",
    "column_type_changed": "A column of a public model changed its data type",
    "constraint_removed": "A constraint of a public model was removed",
    "latest_version_changed": "Another version became latest: refs without v= move to it",
    "columns_not_compared": "The columns of a public model could not be compared (info)",
}


@dataclass(frozen=True)
class BreakingChange:
    kind: str
    unique_id: str
    project: str
    label: str
    detail: str
    severity: Severity             # error (the model had an enforced contract), warn, or info
    downstream: tuple[str, ...]    # models and exposures of other projects that read it

    @property
    def message(self) -> str:
        if self.kind == "columns_not_compared":
            return self.detail
        readers = (f"; read by {', '.join(self.downstream)}" if self.downstream
                   else "; no other project reads it")
        return self.detail + readers


def breaking_changes(old: MeshView, new: MeshView, projects: Iterable[str] = ()) -> list[BreakingChange]:
    """Every breaking change to a model that was public in `old`, as `new` has it."""
    wanted = set(projects)
    changes: list[BreakingChange] = []
    for model in old.models.values():
        if not model.is_public or (wanted and model.project not in wanted):
            continue
        if model.project not in new.projects:
            continue                   # nothing known about the project's new state
        now = new.models.get(model.unique_id) or _newly_versioned(model, new)
        changes.extend(_compare(model, now, old, new))
    changes.extend(_latest_moves(old, new, wanted))
    return sorted(changes, key=lambda c: (c.severity != Severity.ERROR, c.project, c.label, c.kind, c.detail))


def _newly_versioned(model: Model, new: MeshView) -> Model | None:
    """An unversioned model that gained versions: compare with its new latest version."""
    if model.version is not None:
        return None
    latest = [m for m in new.versions_named(model.project, model.name)
              if m.version == m.latest_version]
    return latest[0] if latest else None


def _compare(before: Model, after: Model | None, old: MeshView, new: MeshView) -> list[BreakingChange]:
    severity = Severity.ERROR if before.contract_enforced else Severity.WARN

    def change(kind: str, detail: str, column: str | None = None) -> BreakingChange:
        readers = (_column_readers(before.unique_id, column, old, new) if column
                   else _downstream(before.unique_id, old, new))
        return BreakingChange(kind, before.unique_id, before.project, before.label, detail,
                              severity, readers)

    if after is None:
        deprecated = before.deprecation_date
        if deprecated is not None and deprecated <= new.today:
            return []                  # removed after its deprecation date, as announced
        kind = "version_removed" if before.version is not None else "model_removed"
        when = f" (deprecation date {deprecated})" if deprecated else " (it had no deprecation date)"
        return [change(kind, f"{before.label} was removed{when}")]
    found = []
    if not after.is_public:
        found.append(change("access_downgraded", f"access went from public to {after.access}"))
    if before.contract_enforced and not after.contract_enforced:
        found.append(change("contract_removed", "the contract is no longer enforced"))
    old_shape, new_shape = _Shape.of(before, old), _Shape.of(after, new)
    kept, removed, retyped, missing = _column_changes(old_shape, new_shape)
    if missing:
        found.append(BreakingChange("columns_not_compared", before.unique_id, before.project,
                                    before.label, missing, Severity.INFO, ()))
    found.extend(change("column_removed", f"column {name} was removed", name) for name in removed)
    found.extend(change("column_type_changed", f"column {name} changed type: {was} → {now}", name)
                 for name, was, now in retyped)
    for constraint in sorted(_constraints(before, kept) - _constraints(after, kept)):
        found.append(change("constraint_removed", f"constraint {constraint} was removed"))
    return found


@dataclass(frozen=True)
class _Shape:
    """What one side knows of a model's columns: declared in YAML and/or seen in catalog.json."""

    label: str
    declared: dict[str, tuple[str, str | None]]        # lower name → (name, data_type)
    built: dict[str, tuple[str, str | None]] | None    # from catalog.json, when there is one
    contracted: bool                                   # YAML then lists every column
    adapter: str | None

    @classmethod
    def of(cls, model: Model, view: MeshView) -> _Shape:
        state = view.graph.projects.get(model.project)
        entry = state.catalog.nodes.get(model.unique_id) if state and state.catalog else None
        built: dict[str, tuple[str, str | None]] | None = (
            {n.lower(): (c.name, c.type) for n, c in entry.columns.items()}
            if entry is not None and entry.columns else None)
        declared = {n.lower(): (c.name, c.data_type) for n, c in model.columns.items()}
        return cls(view.projects[model.project].origin, declared, built,
                   model.contract_enforced, view.adapter_of(model.project))

    @property
    def complete(self) -> dict[str, tuple[str, str | None]] | None:
        """Every column of the model, where this side knows them all."""
        if self.built is not None:
            return self.built
        return self.declared if self.contracted else None     # dbt enforces exactly these


def _column_changes(old: _Shape, new: _Shape):
    """(kept column names, removed names, (name, old type, new type) changes, why columns
    could not be compared or ""), comparing like with like.

    Names: both sides' whole column sets when both know them (catalog.json, or a contract's
    YAML, which dbt enforces), else YAML against YAML when both declare columns; otherwise
    nothing is compared and the reason is returned. Types: warehouse types on both sides when
    both have catalog.json from the same kind of warehouse, YAML against YAML when both
    declare one, else both spellings normalised through the adapter
    (meshkit.dbt.adapters.normalize_type).
    """
    if old.complete is not None and new.complete is not None:
        known, present = old.complete, new.complete
    elif old.declared and new.declared:
        known, present = old.declared, new.declared
    else:
        return set(), [], [], _not_compared(old, new)
    kept = {key for key in known if key in present}
    removed = [known[key][0] for key in known if key not in present]
    retyped = []
    for key in sorted(kept):
        was, now = _types(key, old, new)
        if was and now and was != now:
            retyped.append((known[key][0], was, now))
    return kept, removed, retyped, ""


def _not_compared(old: _Shape, new: _Shape) -> str:
    side = new if new.complete is None else old
    has = ("declares no columns" if not side.declared
           else "declares only some of its columns (no contract)")
    return (f"columns not compared: as read from {side.label}, it {has} and has no catalog.json "
            "newer than its manifest; declare its columns with a contract, or build with docs "
            "(`meshkit build --docs`) before comparing")


def _types(key: str, old: _Shape, new: _Shape) -> tuple[str | None, str | None]:
    """The column's type on each side, spelled comparably (like with like)."""
    same_warehouse = old.adapter == new.adapter
    if same_warehouse and old.built and new.built and key in old.built and key in new.built:
        return _lower(old.built[key][1]), _lower(new.built[key][1])
    old_declared = old.declared.get(key, (None, None))[1]
    new_declared = new.declared.get(key, (None, None))[1]
    was: str | None
    now: str | None
    if old_declared and new_declared:
        was, now = old_declared, new_declared
    elif not same_warehouse:
        return None, None             # a warehouse's type against another's spelling
    else:
        was = old_declared or (old.built or {}).get(key, (None, None))[1]
        now = new_declared or (new.built or {}).get(key, (None, None))[1]
    if not was or not now:
        return None, None
    if _lower(was) == _lower(now):
        return _lower(was), _lower(now)
    was, now = normalize_type(old.adapter, was), normalize_type(new.adapter, now)
    if ("(" in was) != ("(" in now):          # one side gives no length/precision: names only
        was, now = was.split("(")[0], now.split("(")[0]
    return was, now


def _lower(text: str | None) -> str | None:
    return " ".join(text.lower().split()) if text else None


def _constraints(model: Model, columns: set[str]) -> set[str]:
    found = set()
    for constraint in model.node.constraints:
        on = ", ".join(constraint.columns)
        found.add(f"{constraint.type}({on})" + (f" {constraint.expression}" if constraint.expression else ""))
    for column in model.columns.values():
        if column.name.lower() not in columns:
            continue
        for constraint in column.constraints:
            found.add(f"{constraint.type} on {column.name}"
                      + (f" {constraint.expression}" if constraint.expression else ""))
    return found


def _downstream(unique_id: str, *views: MeshView) -> tuple[str, ...]:
    found = set()
    for view in views:
        for consumer in view.consumers(unique_id):
            found.add(view.label(consumer))
    return tuple(sorted(found))


def _column_readers(unique_id: str, column: str, *views: MeshView) -> tuple[str, ...]:
    """Who a change to one column breaks, from column lineage: the columns of other projects
    computed from it (`finance.agg.total`), other projects' models that read it only in joins
    or filters or whose reads are not known, and the model's exposures. A model that some side
    knows to read only other columns (and no side knows to read it) is left out."""
    target = SourceColumn(unique_id, column)
    found: set[str] = set()
    computing: set[str] = set()          # consumers with a column computed from it
    verdicts: dict[str, list[bool | None]] = {}
    for view in views:
        project = view.project_of(unique_id)
        for step in view.columns.downstream(target):
            if view.project_of(step.column.node) != project:
                found.add(f"{view.label(step.column.node)}.{step.column.column}")
                computing.add(view.label(step.column.node))
        for consumer in view.consumers(unique_id):
            lineage = view.columns.models.get(consumer)
            verdict = True if consumer.startswith("exposure.") else (
                lineage.reads_column(target) if lineage else None)
            verdicts.setdefault(view.label(consumer), []).append(verdict)
    for label, said in verdicts.items():
        if label not in computing and (True in said or (None in said and False not in said)):
            found.add(label)
    return tuple(sorted(found))


def _latest_moves(old: MeshView, new: MeshView, wanted: set[str]) -> list[BreakingChange]:
    changes = []
    for versions in old.versioned_models():
        head = versions[-1]
        if not head.is_public or (wanted and head.project not in wanted) or head.project not in new.projects:
            continue
        before = head.latest_version
        after_versions = new.versions_named(head.project, head.name)
        if not after_versions:
            continue
        after = after_versions[0].latest_version
        if after is None or after == before:
            continue
        old_latest = next((v for v in versions if v.version == before), None)
        readers = _unpinned_readers(old_latest, old) if old_latest else ()
        severity = Severity.ERROR if head.contract_enforced and readers else Severity.WARN
        changes.append(BreakingChange(
            "latest_version_changed", head.unique_id, head.project,
            f"{head.project}.{head.name}", f"latest version moved from v{before} to v{after}",
            severity, readers))
    return changes


def _unpinned_readers(latest: Model, view: MeshView) -> tuple[str, ...]:
    found = []
    for consumer in view.consumers(latest.unique_id):
        model = view.models.get(consumer)
        if model is None:
            continue
        if any(r.name == latest.name and r.package == latest.project and r.version is None
               for r in model.node.refs):
            found.append(model.label)
    return tuple(sorted(found))
