"""The monolith split into a mesh and built with `meshkit build` gives the same tables, row for
row, as the monolith built by dbt; the mesh passes `meshkit check`. Real dbt on DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import meshkit_json, run
from tables import relations, rows

pytestmark = pytest.mark.e2e

MONOLITH = Path(__file__).parent / "fixtures" / "monolith"


def _connect(warehouse: Path, files: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ["raw", *files]:
        con.execute(f"attach '{warehouse / (name + '.duckdb')}' as \"{name}\" (read_only)")
    return con


def test_split_mesh_builds_the_monoliths_tables_row_for_row(tmp_path, raw_warehouse):
    # The monolith, built and documented by plain dbt (catalog.json gives contracts their types).
    project = tmp_path / "jaffle_shop"
    shutil.copytree(MONOLITH, project)
    (tmp_path / "warehouse").mkdir()
    shutil.copy(raw_warehouse, tmp_path / "warehouse" / "raw.duckdb")
    run(["dbt", "build"], cwd=project)
    run(["dbt", "docs", "generate"], cwd=project)

    out = tmp_path / "mesh"
    report = meshkit_json(["split", "apply", str(project), "--out", str(out),
                           "--manifest", str(project / "target" / "manifest.json")], cwd=tmp_path)
    contracts = {p["model"]: p["contract"] for p in report["public_models"]}
    assert contracts == {"core.fct_orders": "catalog", "finance.fct_order_revenue": "catalog",
                         "core.dim_customers": "enforced"}
    revenue = {m["name"]: m for m in
               yaml.safe_load((out / "finance/models/finance/_finance.yml").read_text())["models"]}
    assert revenue["fct_order_revenue"]["config"]["contract"] == {"enforced": True}
    assert [c["name"] for c in revenue["fct_order_revenue"]["columns"]] == \
        ["order_id", "customer_id", "order_date", "amount_cents", "amount_dollars", "payment_count"]

    # The raw data where the split projects' profiles look for it, then the mesh's own build.
    (out / "warehouse").mkdir()
    shutil.copy(raw_warehouse, out / "warehouse" / "raw.duckdb")
    build = meshkit_json(["build", "--workers", "2"], cwd=out)
    assert build["status"] == "success", build
    assert {n["status"] for n in build["nodes"]} == {"success"}
    assert set(build["published"]) == {"core", "finance", "marketing"}
    # core and finance read each other: core builds in two waves around finance
    waves = [sorted(u["project"] for u in wave) for wave in build["waves"]]
    assert waves[0] == ["core"] and ["core"] in waves[1:] and "finance" in waves[1]

    compiled = (out / "finance/target/compiled/finance/models/finance/fct_order_revenue.sql").read_text()
    assert '"jaffle_core"."main"."fct_orders"' in compiled

    # Every relation of the monolith exists in the project that owns it (seeds copied to every
    # reader), with the same columns in the same order and the same rows.
    projects = ["core", "finance", "marketing"]
    monolith = _connect(tmp_path / "warehouse", ["jaffle"])
    mesh = _connect(out / "warehouse", [f"jaffle_{p}" for p in projects])
    found = {p: set(relations(mesh, f"jaffle_{p}")) for p in projects}
    monolith_tables = relations(monolith, "jaffle")
    assert len(monolith_tables) == 15
    compared = 0
    for schema, table in monolith_tables:
        owners = [p for p in projects if (schema, table) in found[p]]
        assert owners, f"{schema}.{table} is missing from the split mesh"
        expected = rows(monolith, "jaffle", schema, table)
        for owner in owners:
            assert rows(mesh, f"jaffle_{owner}", schema, table) == expected, f"{owner}: {schema}.{table}"
            compared += 1
    assert compared == 16     # payment_method_labels is in finance and in marketing

    # The new mesh keeps the mesh's rules: no error-level findings.
    check = run(["meshkit", "check"], cwd=out, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 error(s)" in check.stdout
