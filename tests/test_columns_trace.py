"""Column lineage of SQL patterns (tests/fixtures/columns/cases.yml) on each dialect.

Precision must be total: a column is either exactly the expected lineage or unresolved with
the expected reason; a resolved column the fixture does not expect is a failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshkit.columns.lineage import SourceColumn
from meshkit.columns.relations import KnownColumns, Relations
from meshkit.columns.trace import trace_query

FIXTURE = yaml.safe_load((Path(__file__).parent / "fixtures" / "columns" / "cases.yml").read_text())
CASES = [(case, dialect) for case in FIXTURE["cases"] for dialect in FIXTURE["dialects"]]


def _relations(dialect: str) -> Relations:
    relations = Relations(dialect)
    for node, spec in FIXTURE["relations"].items():
        columns = spec.get("columns")
        known = KnownColumns(tuple(columns), spec.get("complete", True)) if columns else None
        relations.add(node, spec["relation"], known)
    return relations


def _sources(listed: list[str]) -> list[SourceColumn]:
    return sorted(SourceColumn(*item.rsplit(".", 1)) for item in listed)


@pytest.mark.parametrize("case,dialect", CASES,
                         ids=[f"{c['name']}[{d}]" for c, d in CASES])
def test_lineage_case(case, dialect):
    sql = case["sql"][dialect] if isinstance(case["sql"], dict) else case["sql"]
    traced = trace_query(sql, _relations(dialect), case.get("declared", ()))
    if "model" in case:
        assert traced.columns is None and traced.unresolved == case["model"]["unresolved"]
        return
    assert traced.columns is not None, traced
    if "reads" in case:
        assert traced.reads == (None if case["reads"] is None else _sources(case["reads"]))
    actual = {c.name: c for c in traced.columns}
    assert sorted(actual) == sorted(case["expect"])
    for name, expected in case["expect"].items():
        column = actual[name]
        if "unresolved" in expected:
            assert column.unresolved == expected["unresolved"], column
            continue
        assert column.unresolved is None, column
        assert (column.lens, column.transform, column.sources) == (
            expected["lens"], expected.get("transform"), _sources(expected["sources"])), column
        if "rows" in expected:
            assert column.rows == _sources(expected["rows"]), column
