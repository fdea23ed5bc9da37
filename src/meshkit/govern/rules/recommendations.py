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
from meshkit.status import Severity

PRIMARY_KEY_TESTS = ("unique_combination_of_columns", "primary_key")
# What counts as using a source: analyses and tests read it but build nothing from it.
_READERS = ("model.", "snapshot.", "exposure.")


@rule(category="modeling", severity=Severity.WARN)
def direct_join_to_source(model: Model, mesh: MeshView):
    """A model reads both a source and another model (the source lacks a staging model)."""
    sources = mesh.parent_sources(model.unique_id)
    if sources and mesh.parent_models(model.unique_id):
        return f"reads {_names(mesh, sources)} directly and other models too: stage the source first"


@rule(category="modeling", severity=Severity.WARN, applies_to="mesh")
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


@rule(category="modeling", severity=Severity.WARN)
def multiple_sources_joined(model: Model, mesh: MeshView):
    """A model joins more than one source (stage each source, join the staging models)."""
    sources = mesh.parent_sources(model.unique_id)
    if len(sources) > 1:
        return f"joins {len(sources)} sources ({_names(mesh, sources)})"


@rule(category="modeling", severity=Severity.WARN)
def root_model(model: Model, mesh: MeshView):
    """A model has no parents: it reads tables by hard-coded name instead of ref or source."""
    if model.is_time_spine:
        return None        # MetricFlow's time spine is generated from nothing, by design
    if not model.node.depends_on.nodes:
        return "has no parents: use ref() or source() instead of hard-coded table names"


@rule(category="modeling", severity=Severity.WARN, applies_to="source")
def source_fanout(source: SourceTable, mesh: MeshView):
    """A source feeds more than one model (give it one staging model)."""
    children = mesh.child_models(source.unique_id)
    if len(children) > 1:
        return f"is read by {len(children)} models ({_names(mesh, children)})"


@rule(category="modeling", severity=Severity.WARN, applies_to="source")
def unused_source(source: SourceTable, mesh: MeshView):
    """A source is not read by any model, snapshot or exposure."""
    if not any(c.startswith(_READERS) for c in mesh.children(source.unique_id)):
        return "is declared but nothing reads it"


@rule(category="performance", severity=Severity.WARN, applies_to="exposure")
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


@rule(category="testing", severity=Severity.WARN)
def missing_primary_key_test(model: Model, mesh: MeshView):
    """A model's grain is not tested: no unique + not_null key (tests, or constraints that hold)."""
    if has_primary_key_test(model, mesh):
        return None
    unapplied = unapplied_key_constraints(model, mesh)
    if unapplied:
        return (f"has no primary key test: its {unapplied}; add unique and not_null tests to its "
                "key column")
    if model.materialized == "ephemeral":
        return ("has no primary key test (tests run on ephemeral models too): add unique and "
                "not_null to its key column")
    return "has no primary key test: add unique and not_null to its key column"


def has_primary_key_test(model: Model, mesh: MeshView) -> bool:
    """unique + not_null on one column (tests, or constraints dbt applies and the warehouse
    enforces), or a unique_combination_of_columns / primary_key test — dbt-project-evaluator's
    default `primary_key_test_macros`, with constraints counted only where they hold."""
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
    keys = [{column} for column in unique]
    constraints = _key_constraints(model)
    if constraints and _constraints_applied(model):
        enforced = mesh.enforced_constraints(model.project)
        for columns, kind in constraints:
            if kind not in enforced:
                continue
            if kind == "primary_key":
                return True
            if kind == "unique":
                keys.append(columns)
            else:
                not_null.update(columns)
    return any(key and key <= not_null for key in keys)


def unapplied_key_constraints(model: Model, mesh: MeshView) -> str:
    """Why the model's key constraints do not test its grain ('' when it has none or they do)."""
    kinds = sorted({kind for _, kind in _key_constraints(model) if kind != "not_null"})
    if not kinds:
        return ""
    named = " and ".join(f"{k} constraint" for k in kinds)
    if model.materialized not in _CONSTRAINED_MATERIALIZATIONS:
        return (f"{named} is not applied: dbt applies constraints to tables and incremental "
                f"models only, and this is a {model.materialized}")
    if not model.contract_enforced:
        return f"{named} is not applied: dbt applies constraints only with an enforced contract"
    enforced = mesh.enforced_constraints(model.project)
    loose = [k for k in kinds if k not in enforced]
    if loose:
        adapter = mesh.adapter_of(model.project) or "this adapter"
        return (f"{' and '.join(loose)} constraint is not enforced by {adapter}: duplicates can "
                "be loaded")
    return ""


_CONSTRAINED_MATERIALIZATIONS = ("table", "incremental")


def _constraints_applied(model: Model) -> bool:
    """dbt applies constraints only to contracted tables and incremental models."""
    return model.contract_enforced and model.materialized in _CONSTRAINED_MATERIALIZATIONS


def _key_constraints(model: Model) -> list[tuple[set[str], str]]:
    """(lower-cased columns, constraint type) of the model's and its columns' constraints."""
    found = [({c.lower() for c in constraint.columns}, constraint.type)
             for constraint in model.node.constraints]
    for column in model.columns.values():
        found.extend(({column.name.lower()}, c.type) for c in column.constraints)
    return [(columns, kind) for columns, kind in found
            if kind in ("primary_key", "unique", "not_null")]


@rule(category="documentation", severity=Severity.WARN)
def undocumented_model(model: Model, mesh: MeshView):
    """A model has no description."""
    if not model.description.strip():
        return "has no description"


@rule(category="documentation", severity=Severity.WARN, applies_to="mesh")
def undocumented_source(mesh: MeshView) -> Iterator[Violation]:
    """A source (the collection of tables) has no description."""
    first: dict[tuple[str, str], SourceTable] = {}
    for table in sorted(mesh.sources.values(), key=lambda t: t.unique_id):
        first.setdefault((table.project, table.source_name), table)
    for (_, name), table in first.items():
        if not table.source_description.strip():
            yield Violation(f"source '{name}' has no description", table.unique_id, key=name)


@rule(category="documentation", severity=Severity.WARN, applies_to="source")
def undocumented_source_table(source: SourceTable, mesh: MeshView):
    """A source table has no description."""
    if not source.description.strip():
        return "has no description"


@rule(category="governance", severity=Severity.ERROR)
def public_model_missing_contract(model: Model, mesh: MeshView):
    """A public model has no enforced contract: consumers get no promise about its shape."""
    if model.is_public and not model.contract_enforced:
        return "is public without an enforced contract: add `contract: {enforced: true}` and column types"


def _names(mesh: MeshView, ids: list[str], limit: int = 3) -> str:
    shown = ", ".join(mesh.label(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
