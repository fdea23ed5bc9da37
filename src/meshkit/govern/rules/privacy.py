"""Personal data must not leave its domain through a public model."""

from __future__ import annotations

from meshkit.columns.lineage import SourceColumn
from meshkit.dbt.artifacts import Column
from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, Model
from meshkit.status import Severity


@rule(category="privacy", severity=Severity.ERROR,
      stricter={"tags": "superset", "meta_keys": "superset"})
def public_model_exposes_personal_data(model: Model, mesh: MeshView,
                                       tags: tuple[str, ...] = ("pii", "personal_data", "gdpr"),
                                       meta_keys: tuple[str, ...] = ("pii", "contains_pii",
                                                                     "personal_data")):
    """A public model exposes a column tagged as personal data (here or where it comes from).

    A column counts when it is tagged (`tags: [pii]`) or flagged in meta (`meta: {pii: true}`)
    in the public model, or when a model upstream tags a column of the same name.
    """
    if not model.is_public:
        return None
    marked = _personal_columns(mesh, tags, meta_keys)
    if not marked:
        return None
    own = marked.get(model.unique_id, set())
    upstream: dict[str, str] = {}
    for ancestor in mesh.ancestors(model.unique_id):
        for name in marked.get(ancestor, ()):
            upstream.setdefault(name, ancestor)
    for column in model.columns.values():
        name = column.name.lower()
        if name in own:
            yield Violation(f"exposes column {column.name}, tagged as personal data", key=column.name)
        elif name in upstream:
            yield Violation(f"exposes column {column.name}, tagged as personal data in "
                            f"{mesh.label(upstream[name])}", key=column.name)


@rule(category="privacy", severity=Severity.ERROR,
      stricter={"tags": "superset", "meta_keys": "superset"})
def personal_data_propagates_untagged(model: Model, mesh: MeshView,
                                      tags: tuple[str, ...] = ("pii", "personal_data", "gdpr"),
                                      meta_keys: tuple[str, ...] = ("pii", "contains_pii",
                                                                    "personal_data")):
    """A public model's column is derived from a column tagged as personal data, and is not
    tagged itself: the tag must follow the data (column lineage, across projects).

    Columns the rule above already reports (tagged, or named like a tagged upstream column)
    are left to it."""
    if not model.is_public:
        return None
    marked = _personal_columns(mesh, tags, meta_keys)
    lineage = mesh.columns.models.get(model.unique_id) if marked else None
    if lineage is None:
        return None
    named = set(marked.get(model.unique_id, ()))
    for ancestor in mesh.ancestors(model.unique_id):
        named |= marked.get(ancestor, set())
    for column in lineage.columns:
        if column.name.lower() in named:
            continue
        path = _path_to_personal(mesh, SourceColumn(model.unique_id, column.name), marked)
        if path:
            yield Violation(f"column {column.name} is derived from personal data but not tagged "
                            f"as such: {path}", key=column.name)


def _path_to_personal(mesh: MeshView, start: SourceColumn,
                      marked: dict[str, set[str]]) -> str | None:
    """`finance.agg.email_domain ← analytics.customers.email`, to the nearest marked column."""
    reached_from: dict[SourceColumn, SourceColumn] = {}
    for step in mesh.columns.upstream(start):
        reached_from[step.column] = step.edge.child
        if step.column.column.lower() in marked.get(step.column.node, ()):
            chain = [step.column]
            while chain[-1] != start:
                chain.append(reached_from.get(chain[-1], start))
            return " ← ".join(f"{mesh.label(c.node)}.{c.column}" for c in reversed(chain))
    return None


def _personal_columns(mesh: MeshView, tags, meta_keys) -> dict[str, set[str]]:
    """Node id → lower-cased names of its columns marked as personal data (cached per params)."""
    cache = mesh.__dict__.setdefault("_personal_columns", {})
    key = (tuple(tags), tuple(meta_keys))
    if key not in cache:
        found: dict[str, set[str]] = {}
        wanted = {t.lower() for t in tags}
        for uid, node in mesh.graph.nodes.items():
            for column in node.columns.values():
                if _is_personal(column, wanted, meta_keys):
                    found.setdefault(uid, set()).add(column.name.lower())
        for uid, source in mesh.graph.sources.items():
            for column in source.columns.values():
                if _is_personal(column, wanted, meta_keys):
                    found.setdefault(uid, set()).add(column.name.lower())
        cache[key] = found
    return cache[key]


def _is_personal(column: Column, tags: set[str], meta_keys) -> bool:
    if column.tags and any(t.lower() in tags for t in column.tags):
        return True
    return bool(column.meta) and any(column.meta.get(k) for k in meta_keys)
