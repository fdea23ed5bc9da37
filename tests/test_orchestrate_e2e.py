"""The orchestrator with real dbt on DuckDB: waves across projects, both directions,
cycles, failures that skip exactly their downstream, run history."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, pg_query, run, statuses
from meshes import TRIANGLE, TRIANGLE_PUBLIC, write_mesh

pytestmark = pytest.mark.e2e


def _value(mesh: Path, project: str, sql: str):
    con = duckdb.connect(str(mesh / "warehouse" / f"{project}.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("adapter", ["duckdb", "postgres"])
def test_bidirectional_projects_build_in_waves(tmp_path, adapter, request):
    if adapter == "postgres":
        request.getfixturevalue("pg_database")
    mesh = write_mesh(tmp_path / "tri", TRIANGLE, TRIANGLE_PUBLIC, adapter=adapter)
    plan = meshkit_json(["plan"], cwd=mesh)
    waves = [{unit["project"]: sorted(unit["nodes"]) for unit in wave} for wave in plan["waves"]]
    assert waves == [
        {"alpha": ["alpha.a_base"]},
        {"beta": ["beta.b_mid"], "gamma": ["gamma.g_mid"]},
        {"alpha": ["alpha.a_top"], "beta": ["beta.b_top"]},
        {"gamma": ["gamma.g_top"]},
    ]
    report = meshkit_json(["build", "--workers", "2"], cwd=mesh)
    assert report["status"] == "success"
    assert set(statuses(report).values()) == {"success"}
    # a_base: amounts 10..50; b_mid doubles; a_top adds 1; g_mid adds 100.
    query = (lambda project, sql: pg_query(sql.replace("main.", f"{project}."))) \
        if adapter == "postgres" else (lambda project, sql: _value(mesh, project, sql))
    assert query("beta", "select total from main.b_top") == [(650,)]
    assert query("gamma", "select n, total from main.g_top") == [(5, 305)]
    assert set(report["published"]) == {"alpha", "beta", "gamma"}
    assert meshkit_json(["build"], cwd=mesh)["status"] == "noop"


UNIT_TEST = """\
unit_tests:
  - name: five_rows
    model: a_base
    given: []
    expect:
      rows: [{id: 1}, {id: 2}, {id: 3}, {id: 4}, {id: 5}]
"""


def test_a_test_reading_another_projects_later_model_runs_after_it(tmp_path, monkeypatch):
    """alpha's test of a_base also reads beta.b_mid, which is built from a_base in the next
    wave: dbt would run it with a_base, before b_mid exists; meshkit runs it after b_mid.
    Then a failing unit test, its failure brought about by --vars, skips a_base's readers."""
    extra_row = " union all select 6 as id, 60 as amount where {{ var('extra_row', false) }}"
    mesh = write_mesh(tmp_path / "tri", {**TRIANGLE, "alpha": {
        **TRIANGLE["alpha"], "a_base": TRIANGLE["alpha"]["a_base"] + extra_row}},
        TRIANGLE_PUBLIC, extra_yaml={"alpha": UNIT_TEST})
    (mesh / "alpha" / "tests").mkdir()
    (mesh / "alpha" / "tests" / "a_base_in_b_mid.sql").write_text(
        "select id from {{ ref('a_base') }}\n"
        "where id not in (select id from {{ ref('beta', 'b_mid') }})\n"
        "   or {{ env_var('MESHKIT_TEST_FAIL_TEST', '0') }} = 1\n")
    report = meshkit_json(["build"], cwd=mesh)
    assert report["status"] == "success", report
    units = {(u["project"], i): u for i, wave in enumerate(report["waves"]) for u in wave}
    assert units[("alpha", 0)]["tests"] == []
    assert units[("alpha", 2)] == {"project": "alpha", "nodes": ["alpha.a_top"],
                                   "tests": ["a_base_in_b_mid"]}
    show = meshkit_json(["runs", "show", str(report["run_id"])], cwd=mesh)
    args = {(i["project"], i["wave"]): " ".join(json.loads(i["args"])) for i in show["invocations"]}
    assert "--exclude fqn:alpha.a_base_in_b_mid" in args[("alpha", 0)]
    assert "fqn:alpha.a_base_in_b_mid" in args[("alpha", 2)].split("--exclude")[0]

    monkeypatch.setenv("MESHKIT_TEST_FAIL_TEST", "1")
    failed = meshkit_json(["build", "--full"], cwd=mesh, check=False)
    assert failed["status"] == "error"
    base = next(n for n in failed["nodes"] if n["node"] == "alpha.a_base")
    assert base["message"] == "test a_base_in_b_mid fail"
    monkeypatch.setenv("MESHKIT_TEST_FAIL_TEST", "0")
    again = meshkit_json(["build"], cwd=mesh)
    reasons = {n["node"]: n["reason"] for n in again["nodes"]}
    assert reasons["alpha.a_base"] == f"tests failed in run {failed['run_id']}"
    assert again["status"] == "success"

    # dbt skips a model whose unit test fails: meshkit skips its readers in every project.
    broken = meshkit_json(["build", "--full", "--vars", "{extra_row: true}"], cwd=mesh, check=False)
    assert broken["parsed"]["alpha"] == "dbt parse"          # vars are part of the parse key
    assert broken["status"] == "error" and set(statuses(broken).values()) == {"skipped"}
    mid = next(n for n in broken["nodes"] if n["node"] == "beta.b_mid")
    assert mid["message"] == "skipped because alpha.a_base's unit test five_rows failed"
    assert [t["unit_test"] for t in broken["failed_unit_tests"]] == ["alpha.a_base's unit test five_rows"]


def test_model_cycle_across_projects_is_refused_with_path(tmp_path):
    mesh = write_mesh(tmp_path / "cycle", {
        "alpha": {"x": "select * from {{ ref('beta', 'y') }}"},
        "beta": {"y": "select * from {{ ref('alpha', 'x') }}"},
    }, {"alpha": ["x"], "beta": ["y"]})
    result = run(["meshkit", "build"], cwd=mesh, check=False)
    assert result.returncode == 2
    assert "models form a cycle across projects" in result.stderr
    assert ("alpha.x → beta.y → alpha.x" in result.stderr
            or "beta.y → alpha.x → beta.y" in result.stderr)
    assert "Traceback" not in result.stderr
    assert not (mesh / ".meshkit" / "store").exists()


def test_failure_skips_exactly_its_downstream_in_every_project(jaffle_mesh):
    model = jaffle_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql"
    model.write_text(model.read_text().replace("from orders o", "from no_such_table o"))
    report = meshkit_json(["build"], cwd=jaffle_mesh, check=False)
    assert report["status"] == "error"
    got = statuses(report)
    assert got["analytics.fct_orders.v2"] == "error"
    assert got["finance.agg_customer_payment_journey"] == "skipped"
    skipped = next(n for n in report["nodes"] if n["node"] == "finance.agg_customer_payment_journey")
    assert skipped["message"] == "skipped because analytics.fct_orders.v2 failed"
    for unrelated in ("analytics.stg_customers", "analytics.stg_orders", "analytics.fct_orders.v1",
                      "finance.stg_payments"):
        assert got[unrelated] == "success", unrelated
    assert "analytics" not in report["published"], "a failed run is not published"


def test_runs_history_and_show(built_mesh):
    listed = json.loads(run(["meshkit", "runs", "--json"], cwd=built_mesh).stdout)
    assert listed[0]["status"] == "success"
    shown = json.loads(run(["meshkit", "runs", "show", str(listed[0]["id"]), "--json"],
                           cwd=built_mesh).stdout)
    nodes = {n["unique_id"]: n for n in shown["nodes"]}
    assert nodes["model.finance.agg_customer_payment_journey"]["reason"] == "never built"
    assert nodes["model.finance.agg_customer_payment_journey"]["status"] == "success"
    assert [i["project"] for i in shown["invocations"]] == ["analytics", "finance"]
    assert "Completed successfully" in shown["invocations"][0]["log"]
    text = run(["meshkit", "runs", "show", str(listed[0]["id"]), "--log"], cwd=built_mesh).stdout
    assert "dbt build --target prod --select" in text and "Completed successfully" in text
    missing = run(["meshkit", "runs", "show", "999"], cwd=built_mesh, check=False)
    assert missing.returncode == 2 and "there is no run 999" in missing.stderr


def test_interrupted_run_is_marked_on_next_start(jaffle_mesh):
    meshkit = str(Path(sys.executable).parent / "meshkit")
    process = subprocess.Popen([meshkit, "build", "-q"], cwd=jaffle_mesh, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = jaffle_mesh / ".meshkit" / "history.db"
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists():
            with sqlite3.connect(db) as con:
                try:
                    if con.execute("select count(*) from invocations").fetchone()[0]:
                        break
                except sqlite3.OperationalError:   # the file exists, its tables not yet
                    pass
        time.sleep(0.2)
    else:
        pytest.fail("the build never started a dbt invocation")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    listed = json.loads(run(["meshkit", "runs", "--json"], cwd=jaffle_mesh).stdout)
    assert listed[0]["status"] == "interrupted"
    # The next build picks up where the interrupted one left off.
    report = meshkit_json(["build"], cwd=jaffle_mesh)
    assert report["status"] == "success"


def _invocation_spans(mesh: Path, run_id: int) -> dict[str, tuple[float, float]]:
    shown = json.loads(run(["meshkit", "runs", "show", str(run_id), "--json"], cwd=mesh).stdout)
    return {i["project"]: (i["started_at"], i["finished_at"]) for i in shown["invocations"]}


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_independent_units_run_in_parallel_but_never_share_a_duckdb_file(tmp_path):
    slow = "select range as id from range(3)"
    mesh = write_mesh(tmp_path / "par", {
        "left": {"l": slow}, "right": {"r": slow}, "side": {"s": slow},
        "top": {"t": "select * from {{ ref('left', 'l') }} union all select * from {{ ref('right', 'r') }}"},
    }, {"left": ["l"], "right": ["r"]})
    # `side` has no ref to `left` but attaches its file: they may not run at the same time.
    profile = mesh / "side" / "profiles.yml"
    profile.write_text(profile.read_text().replace(
        "attach: []", "attach:\n        - path: ../warehouse/left.duckdb\n          read_only: true"))
    report = meshkit_json(["build", "--workers", "2"], cwd=mesh)
    assert report["status"] == "success"
    spans = _invocation_spans(mesh, report["run_id"])
    assert not _overlap(spans["side"], spans["left"]), "a writer and a reader of left.duckdb overlapped"
    assert _overlap(spans["left"], spans["right"]) or _overlap(spans["right"], spans["side"]), \
        "with two workers, independent units ran side by side"
    assert spans["top"][0] >= max(spans["left"][1], spans["right"][1])
    assert _value(mesh, "top", "select count(*) from main.t") == [(6,)]


def test_generate_docs_on_run_publishes_the_catalog(built_mesh):
    report = meshkit_json(["build", "--project", "analytics", "--full", "--docs"], cwd=built_mesh)
    assert report["status"] == "success"
    run_id = report["published"]["analytics"]
    record = json.loads((built_mesh / ".meshkit" / "store" / "analytics" / "prod" / "runs" / run_id
                         / "meshkit-run.json").read_text())
    assert "catalog.json" in record["files"]
    catalog = json.loads((built_mesh / ".meshkit" / "store" / "analytics" / "prod" / "runs" / run_id
                          / "catalog.json").read_text())
    columns = catalog["nodes"]["model.analytics.fct_orders.v2"]["columns"]
    assert columns["is_return"]["type"].upper() == "BOOLEAN"
