"""A model's primary key, as its tests and constraints declare it, to compare rows by."""

from __future__ import annotations

from meshkit.dbt.artifacts import Node
from meshkit.graph.mesh_graph import MeshGraph

# Tests whose arguments name a whole key (dbt_utils, dbt-expectations' primary_key).
_COMBINATION_TESTS = {"unique_combination_of_columns": "combination_of_columns",
                      "primary_key": "column_names"}


def primary_key(graph: MeshGraph, uid: str) -> list[str] | None:
    """The key columns (lower case), or None when nothing declares one.

    In order: a primary_key constraint (the model's or a column's), a
    unique_combination_of_columns / primary_key test, a `unique` test on one column (the
    first by name, when several columns are unique).
    """
    node = graph.nodes[uid]
    constrained = _constraint_key(node)
    if constrained:
        return constrained
    unique: list[str] = []
    for test in graph.tests_of(uid):
        meta = test.test_metadata
        if meta is None:
            continue
        argument = _COMBINATION_TESTS.get(meta.name)
        if argument and isinstance(meta.kwargs.get(argument), list):
            return [str(c).lower() for c in meta.kwargs[argument]]
        if meta.name == "unique" and test.column_name:
            unique.append(test.column_name.lower())
    return [sorted(unique)[0]] if unique else None


def _constraint_key(node: Node) -> list[str] | None:
    for constraint in node.constraints:
        if constraint.type == "primary_key" and constraint.columns:
            return [c.lower() for c in constraint.columns]
    for column in node.columns.values():
        if any(c.type == "primary_key" for c in column.constraints):
            return [column.name.lower()]
    return None
