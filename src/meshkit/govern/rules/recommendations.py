"""The twelve project recommendations dbt Explorer shows (after dbt-project-evaluator).

Each is judged per project, as dbt does, but over the mesh graph: a model that reads
another project's model has a model parent, whichever project builds it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, Model, SourceTable

PRIMARY_KEY_TESTS = ("unique_combination_of_columns", "primary_key")


@rule(category="modeling", severity="warn")
def direct_join_to_source(model: Model, mesh: MeshView):
    """A model reads both a source and another model (the source lacks a staging model)."""
    sources = mesh.parent_sources(model.unique_id)
    if sources and mesh.parent_models(model.unique_id):
        return f"reads {_names(mesh, sources)} directly and other models too: stage the source first"


@rule(category="modeling", severity="warn", applies_to="mesh")
def duplicate_sources(mesh: MeshView) -> Iterator[Violation]:
    """More than one source of a project points at the same table."""
    by_relation: dict[tuple[str, str], list[SourceTable]] = defaultdict(list)
    for table in mesh.sources.values():
        if table.relation:
            by_relation[(table.project, table.relation)].append(table)
    for (_, relation), tables in by_relation.items():
        if len(tables) > 1:
            for table in tables:
                others = ", ".join(t.label for t in tables if t is not table)
                yield Violation(f"reads {relation}, as {others} does too: keep one source",
                                table.unique_id)


@rule(category="modeling", severity="warn")
def multiple_sources_joined(model: Model, mesh: MeshView):
    """A model joins more than one source (stage each source, join the staging models)."""
    sources = mesh.parent_sources(model.unique_id)
    if len(sources) > 1:
        return f"joins {len(sources)} sources ({_names(mesh, sources)})"


@rule(category="modeling", severity="warn")
def root_model(model: Model, mesh: MeshView):
    """A model has no parents: it reads tables by hard-coded name instead of ref or source."""
    if not model.node.depends_on.nodes:
        return "has no parents: use ref() or source() instead of hard-coded table names"


@rule(category="modeling", severity="warn", applies_to="source")
def source_fanout(source: SourceTable, mesh: MeshView):
    """A source feeds more than one model (give it one staging model)."""
    children = mesh.child_models(source.unique_id)
    if len(children) > 1:
        return f"is read by {len(children)} models ({_names(mesh, children)})"


@rule(category="modeling", severity="warn", applies_to="source")
def unused_source(source: SourceTable, mesh: MeshView):
    """A source is not read by any model, snapshot or exposure."""
    if not [c for c in mesh.children(source.unique_id) if not c.startswith("test.")]:
        return "is declared but nothing reads it"


@rule(category="performance", severity="warn", applies_to="exposure")
def exposure_parents_materializations(exposure, mesh: MeshView):
    """An exposure reads a view, an ephemeral model or a source directly."""
    for parent in mesh.parents(exposure.unique_id):
        model = mesh.models.get(parent)
        if parent.startswith("source."):
            yield Violation(f"reads source {mesh.label(parent)} directly: expose a table model",
                            key=parent)
        elif model is not None and model.materialized in ("view", "ephemeral"):
            yield Violation(f"reads {model.label}, materialized as a {model.materialized}: "
                            "materialize what dashboards read as a table", key=parent)


@rule(category="testing", severity="warn")
def missing_primary_key_test(model: Model, mesh: MeshView):
    """A model's grain is not tested: no unique + not_null column (tests or constraints)."""
    if model.materialized == "ephemeral" or has_primary_key_test(model, mesh):
        return None
    return "has no primary key test: add unique and not_null to its key column"


def has_primary_key_test(model: Model, mesh: MeshView) -> bool:
    unique: set[str] = set()
    not_null: set[str] = set()
    for test in mesh.tests_of(model.unique_id):
        name = test.test_metadata.name if test.test_metadata else ""
        if name in PRIMARY_KEY_TESTS:
            return True
        if name == "unique" and test.column_name:
            unique.add(test.column_name.lower())
        elif name == "not_null" and test.column_name:
            not_null.add(test.column_name.lower())
    for constraint in model.node.constraints:
        if constraint.type == "primary_key":
            return True
    for column in model.columns.values():
        for constraint in column.constraints:
            if constraint.type == "primary_key":
                return True
            if constraint.type == "unique":
                unique.add(column.name.lower())
            elif constraint.type == "not_null":
                not_null.add(column.name.lower())
    return bool(unique & not_null)


@rule(category="documentation", severity="warn")
def undocumented_model(model: Model, mesh: MeshView):
    """A model has no description."""
    if not model.description.strip():
        return "has no description"


@rule(category="documentation", severity="warn", applies_to="mesh")
def undocumented_source(mesh: MeshView) -> Iterator[Violation]:
    """A source (the collection of tables) has no description."""
    first: dict[tuple[str, str], SourceTable] = {}
    for table in sorted(mesh.sources.values(), key=lambda t: t.unique_id):
        first.setdefault((table.project, table.source_name), table)
    for (project, name), table in first.items():
        if not table.source_description.strip():
            yield Violation(f"source '{name}' has no description", table.unique_id, key=name)


@rule(category="documentation", severity="warn", applies_to="source")
def undocumented_source_table(source: SourceTable, mesh: MeshView):
    """A source table has no description."""
    if not source.description.strip():
        return "has no description"


@rule(category="governance", severity="error")
def public_model_missing_contract(model: Model, mesh: MeshView):
    """A public model has no enforced contract: consumers get no promise about its shape."""
    if model.is_public and not model.contract_enforced:
        return "is public without an enforced contract: add `contract: {enforced: true}` and column types"


def _names(mesh: MeshView, ids: list[str], limit: int = 3) -> str:
    shown = ", ".join(mesh.label(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
