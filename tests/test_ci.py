"""`meshkit ci` end to end on real dbt: DuckDB files and the PostgreSQL server.

One small mesh per backend, built once: analytics.fct_orders (public, keyed by order_id) is
read by finance.revenue (accepted_values test); finance.standalone and the project marketing
read nothing that changes. Each PR edits fct_orders in the working copy.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import duckdb
import pytest

from conftest import pg_query, run
from meshes import write_mesh

ORDERS = "select 1 as order_id, 10 as amount union all select 2, 20 union all select 3, 30"
PROJECTS = {
    "analytics": {"fct_orders": ORDERS, "other": "select 1 as x"},
    "finance": {"revenue": "select order_id, amount * 2 as revenue "
                           "from {{ ref('analytics', 'fct_orders') }}",
                "standalone": "select 1 as y"},
    "marketing": {"m": "select 1 as z"},
}
YAML = {
    "analytics": "  - name: fct_orders\n    access: public\n    columns:\n"
                 "      - name: order_id\n        data_tests: [unique, not_null]\n",
    "finance": "  - name: revenue\n    columns:\n      - name: order_id\n        data_tests: [unique]\n"
               "      - name: revenue\n        data_tests:\n          - accepted_values:\n"
               "              arguments:\n                values: [20, 40, 60]\n",
}
EQUAL = f"select * from ({ORDERS}) as same_rows"          # (a) new code, same data
VALUES = ORDERS.replace("select 2, 20", "select 2, 30")   # (b) order 2: revenue 60, accepted
BREAKS = ORDERS.replace("select 2, 20", "select 2, 25")   # (c) order 2: revenue 50, refused


def _ci(mesh: Path, pr: str, sql: str, env: dict[str, str] | None = None) -> dict:
    (mesh / "analytics" / "models" / "fct_orders.sql").write_text(sql + "\n")
    out = mesh / f"out_{pr}"
    result = run(["meshkit", "ci", "--pr", pr, "-q", "--format", "json", "--output-dir", str(out)],
                 cwd=mesh, env=env, check=False)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    report["returncode"] = result.returncode
    report["markdown"] = (out / "report.md").read_text()
    report["annotations"] = (out / "annotations.txt").read_text()
    return report


def _nodes(report: dict) -> dict[str, str]:
    return {n["name"]: n["status"] for n in report["nodes"]}


def _compared(report: dict) -> dict[str, dict]:
    return {c["model"]: c for c in report["comparisons"]}


def _files(mesh: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((mesh / "warehouse").glob("*.duckdb")) if not p.name.startswith("pr_")}


@pytest.fixture(scope="module")
def duckdb_ci(tmp_path_factory) -> dict:
    mesh = write_mesh(tmp_path_factory.mktemp("ci") / "mesh", PROJECTS, extra_yaml=YAML)
    run(["meshkit", "build", "-q"], cwd=mesh)
    before = _files(mesh)
    reports = {"a": _ci(mesh, "1", EQUAL), "b": _ci(mesh, "2", VALUES), "c": _ci(mesh, "3", BREAKS)}
    return {"mesh": mesh, "before": before, "after": _files(mesh), **reports}


def test_equal_data_builds_finance_and_shows_no_difference(duckdb_ci):
    report = duckdb_ci["a"]
    assert report["returncode"] == 0 and report["status"] == "passed"
    assert report["projects"] == ["analytics", "finance"]          # marketing never runs
    nodes = _nodes(report)
    assert nodes["finance.revenue"] == "success" and "finance.standalone" not in nodes
    assert any(n.startswith("finance.accepted_values") and s == "success" for n, s in nodes.items())
    for model in ("analytics.fct_orders", "finance.revenue"):
        c = _compared(report)[model]
        assert (c["rows_added"], c["rows_removed"], c["rows_changed"]) == (0, 0, 0), c
        assert c["primary_key"] == ["order_id"] and not c["columns_changed"]


def test_changed_values_show_the_changed_rows_by_key(duckdb_ci):
    report = duckdb_ci["b"]
    assert report["returncode"] == 0
    orders, revenue = (_compared(report)[m] for m in ("analytics.fct_orders", "finance.revenue"))
    assert (orders["rows_changed"], orders["rows_added"], orders["rows_removed"]) == (1, 0, 0)
    assert orders["sample"] == [{"change": "changed", "key": {"order_id": 2},
                                 "columns": {"amount": [20, 30]}}]
    assert revenue["rows_changed"] == 1 and revenue["sample"][0]["columns"] == {"revenue": [40, 60]}
    assert "order_id=2: amount: 20 → 30" in report["markdown"]


def test_a_broken_finance_test_is_named_and_fails_the_run(duckdb_ci):
    report = duckdb_ci["c"]
    assert report["returncode"] == 1 and report["status"] == "failed"
    failed = [n for n, s in _nodes(report).items() if s == "fail"]
    assert len(failed) == 1 and failed[0].startswith("finance.accepted_values_revenue_revenue")
    assert failed[0] in report["markdown"] and f"::error title=finance fail::{failed[0]}" \
        in report["annotations"]


def test_production_is_untouched_prs_are_apart_and_cleanup_drops_them(duckdb_ci):
    mesh = duckdb_ci["mesh"]
    assert duckdb_ci["after"] == duckdb_ci["before"]                # byte for byte
    listed = json.loads(run(["meshkit", "ci", "ls", "--json"], cwd=mesh).stdout)
    assert {(r["pr"], Path(r["name"]).name) for r in listed} == {
        (pr, f"pr_{pr}__{p}__db.duckdb") for pr in "123" for p in ("analytics", "finance")}
    run(["meshkit", "ci", "cleanup", "--pr", "2"], cwd=mesh)
    left = {Path(p).name for p in (mesh / "warehouse").glob("pr_*")}
    assert left and not any(name.startswith("pr_2__") for name in left)
    run(["meshkit", "ci", "cleanup", "--older-than", "0s"], cwd=mesh)
    assert not list((mesh / "warehouse").glob("pr_*"))
    assert _files(mesh) == duckdb_ci["before"]



def test_a_new_public_model_and_its_new_consumer_build_into_the_pr(duckdb_ci):
    """One PR adds analytics.new_public (a view) and finance.new_consumer, which refs it."""
    mesh = duckdb_ci["mesh"]
    added = [mesh / "analytics" / "models" / "new_public.sql",
             mesh / "finance" / "models" / "new_consumer.sql"]
    schema = mesh / "analytics" / "models" / "models.yml"
    orders = mesh / "analytics" / "models" / "fct_orders.sql"
    kept = {schema: schema.read_text(), orders: orders.read_text()}
    added[0].write_text("{{ config(materialized='view') }}\nselect 7 as id, 'new' as label\n")
    added[1].write_text("select id, label from {{ ref('analytics', 'new_public') }}\n")
    schema.write_text(kept[schema] + "  - name: new_public\n    access: public\n")
    try:
        report = _ci(mesh, "5", ORDERS)        # fct_orders as production has it
        consumer = mesh / "warehouse" / "pr_5__finance__db.duckdb"
        with duckdb.connect(str(consumer), read_only=True) as con:
            rows = con.sql("select * from pr_5__finance__db.pr_5__finance.new_consumer").fetchall()
    finally:
        for path in added:
            path.unlink()
        for path, text in kept.items():
            path.write_text(text)
        run(["meshkit", "ci", "cleanup", "--pr", "5"], cwd=mesh)
    assert report["returncode"] == 0, report["markdown"]
    # Only the two new models: unchanged fct_orders (which finance also refs) is not modified.
    assert {c["model"]: c["why"] for c in report["changed"]} == {
        "analytics.new_public": "new", "finance.new_consumer": "new"}
    assert _nodes(report) == {"analytics.new_public": "success", "finance.new_consumer": "success"}
    assert rows == [(7, "new")]                                   # read from the PR's analytics
    assert "`finance.new_consumer`" in report["markdown"]
    assert _compared(report)["analytics.new_public"]["note"].startswith("new in this PR")
    assert _files(mesh) == duckdb_ci["before"]                    # production byte for byte


# -- PostgreSQL ----------------------------------------------------------------------------

def _pg_checksums(dbname: str) -> dict[str, str]:
    tables = pg_query("select table_schema || '.' || table_name from information_schema.tables "
                      "where table_schema in ('analytics', 'finance', 'marketing') order by 1", dbname)
    return {t: pg_query(f"select md5(coalesce(string_agg(r::text, '|' order by r::text), '')) "
                        f"from {t} r", dbname)[0][0] for (t,) in tables}


def test_postgres_pr_builds_beside_production_and_cleans_up(postgres_server, tmp_path):
    dbname = f"meshkit_ci_{secrets.token_hex(4)}"
    pg_query(f"create database {dbname}", "postgres")
    env = {"MESHKIT_PG_DBNAME": dbname}
    try:
        mesh = write_mesh(tmp_path / "mesh", PROJECTS, extra_yaml=YAML, adapter="postgres")
        run(["meshkit", "build", "-q"], cwd=mesh, env=env)
        before = _pg_checksums(dbname)
        report = _ci(mesh, "9", BREAKS, env)
        assert report["returncode"] == 1 and report["projects"] == ["analytics", "finance"]
        assert [n for n, s in _nodes(report).items() if s == "fail"][0].startswith(
            "finance.accepted_values_revenue_revenue")
        orders = _compared(report)["analytics.fct_orders"]
        assert orders["rows_changed"] == 1 and orders["sample"][0]["key"] == {"order_id": 2}
        schemas = {s for (s,) in pg_query("select schema_name from information_schema.schemata "
                                          "where schema_name like 'pr\\_9\\_\\_%'", dbname)}
        assert schemas == {"pr_9__analytics", "pr_9__finance"}
        assert pg_query("select revenue from pr_9__finance.revenue where order_id = 2", dbname) == [(50,)]
        listed = json.loads(run(["meshkit", "ci", "ls", "--json"], cwd=mesh, env=env).stdout)
        assert {r["name"] for r in listed} == {f"{dbname}.{s}" for s in schemas}
        assert all(r["created"] for r in listed)
        assert _pg_checksums(dbname) == before and before
        run(["meshkit", "ci", "cleanup", "--pr", "9"], cwd=mesh, env=env)
        assert not pg_query("select 1 from information_schema.schemata "
                            "where schema_name like 'pr\\_%'", dbname)
        assert _pg_checksums(dbname) == before
    finally:
        pg_query(f"drop database if exists {dbname} with (force)", "postgres")


def test_a_schema_macro_that_ignores_the_target_is_refused_before_anything_is_written(duckdb_ci):
    mesh = duckdb_ci["mesh"]
    macro = mesh / "analytics" / "macros" / "schemas.sql"
    macro.parent.mkdir(exist_ok=True)
    macro.write_text("{% macro generate_schema_name(custom_schema_name, node) %}main{% endmacro %}\n")
    try:
        result = run(["meshkit", "ci", "--pr", "4", "-q"], cwd=mesh, check=False)
    finally:
        macro.unlink()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "outside pull request 4's schemas" in result.stderr and "Traceback" not in result.stderr
    assert _files(mesh) == duckdb_ci["before"]
