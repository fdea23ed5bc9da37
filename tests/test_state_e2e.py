"""State-aware runs with real dbt: every reason to rebuild, and a no-op that starts no dbt."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json

pytestmark = pytest.mark.e2e

AGG = "finance.agg_customer_payment_journey"


def _reasons(report: dict) -> dict[str, str]:
    return {n["node"]: ("rebuilt: " if n["decision"] == "rebuild" else "reused: ") + n["reason"]
            for n in report["nodes"]}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _dbt_logs(mesh: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in mesh.glob("*/logs/dbt.log")}


def test_nothing_changed_starts_no_dbt(built_mesh):
    logs = _dbt_logs(built_mesh)
    assert logs, "the built mesh has dbt logs to compare"
    report = meshkit_json(["build"], cwd=built_mesh)
    assert report["status"] == "noop"
    assert set(report["parsed"].values()) == {"cache"}
    assert all(r.startswith("reused: unchanged since run 1") for r in _reasons(report).values())
    assert _dbt_logs(built_mesh) == logs, "no dbt process ran"


def test_code_change_rebuilds_it_and_its_downstream_across_projects(built_mesh):
    _edit(built_mesh / "analytics" / "models" / "staging" / "stg_orders.sql",
          "status", "status  -- normalised later")
    report = meshkit_json(["build"], cwd=built_mesh)
    reasons = _reasons(report)
    assert reasons["analytics.stg_orders"] == "rebuilt: code or config changed"
    assert reasons["analytics.fct_orders.v2"] == "rebuilt: analytics.stg_orders was rebuilt"
    assert reasons[AGG] == "rebuilt: analytics.fct_orders.v2 was rebuilt"
    assert reasons["analytics.stg_customers"] == "reused: unchanged since run 1"
    assert reasons["finance.stg_payments"] == "reused: unchanged since run 1"
    assert report["parsed"] == {"analytics": "dbt parse", "finance": "cache"}
    assert meshkit_json(["build"], cwd=built_mesh)["status"] == "noop"


def test_upstream_rebuilt_by_another_run(built_mesh):
    first = meshkit_json(["build", "--select", "analytics:fct_orders", "--full"], cwd=built_mesh)
    assert set(n["node"] for n in first["nodes"]) == {"analytics.fct_orders.v1",
                                                      "analytics.fct_orders.v2"}
    report = meshkit_json(["build"], cwd=built_mesh)
    assert _reasons(report)[AGG] == f"rebuilt: analytics.fct_orders.v2 was rebuilt in run {first['run_id']}"
    assert _reasons(report)["analytics.fct_orders.v2"].startswith("reused:")


def test_new_source_data_rebuilds_readers(built_mesh):
    _edit(built_mesh / "finance" / "models" / "staging" / "sources.yml", "      - name: payment",
          "      - name: payment\n        loaded_at_field: _batched_at\n"
          "        freshness:\n          warn_after: {count: 100000, period: day}")
    meshkit_json(["build"], cwd=built_mesh)          # first observation of the source
    settled = meshkit_json(["build"], cwd=built_mesh)
    assert _reasons(settled)["finance.stg_payments"].startswith("reused:")
    con = duckdb.connect(str(built_mesh / "warehouse" / "raw.duckdb"))
    con.execute("insert into stripe.payment select id + 1000, orderid, paymentmethod, status, "
                "amount, created, (select max(_batched_at) from stripe.payment) + interval 1 day "
                "from stripe.payment limit 1")
    con.close()
    report = meshkit_json(["build"], cwd=built_mesh)
    reasons = _reasons(report)
    assert reasons["finance.stg_payments"] == "rebuilt: source stripe.payment has new data"
    assert reasons[AGG] == "rebuilt: finance.stg_payments was rebuilt"
    assert reasons["analytics.stg_orders"].startswith("reused:")


def test_missing_relation_is_rebuilt(built_mesh):
    con = duckdb.connect(str(built_mesh / "warehouse" / "jaffle_finance.duckdb"))
    con.execute("drop table prod.agg_customer_payment_journey")
    con.close()
    assert meshkit_json(["build"], cwd=built_mesh)["status"] == "noop", \
        "without --verify-relations meshkit trusts its state"
    report = meshkit_json(["build", "--verify-relations"], cwd=built_mesh)
    assert _reasons(report)[AGG] == ('rebuilt: relation "jaffle_finance"."prod".'
                                     '"agg_customer_payment_journey" is missing')
    assert report["status"] == "success"


def test_failed_build_and_failed_tests_are_retried(built_mesh, monkeypatch):
    model = built_mesh / "finance" / "models" / "core" / "agg_customer_payment_journey.sql"
    model.write_text("{% if execute and env_var('MESHKIT_TEST_FAIL', '0') == '1' %}"
                     "{{ exceptions.raise_compiler_error('boom') }}{% endif %}\n" + model.read_text())
    (built_mesh / "finance" / "tests").mkdir()
    (built_mesh / "finance" / "tests" / "agg_ok.sql").write_text(
        "select * from {{ ref('agg_customer_payment_journey') }}\n"
        "where {{ env_var('MESHKIT_TEST_FAIL_TEST', '0') }} = 1\n")
    assert meshkit_json(["build"], cwd=built_mesh)["status"] == "success"

    monkeypatch.setenv("MESHKIT_TEST_FAIL", "1")
    failed = meshkit_json(["build", "--select", AGG.replace(".", ":", 1), "--full"],
                          cwd=built_mesh, check=False)
    assert failed["status"] == "error"
    monkeypatch.setenv("MESHKIT_TEST_FAIL", "0")
    retried = meshkit_json(["build"], cwd=built_mesh)
    assert _reasons(retried)[AGG] == f"rebuilt: last build failed (run {failed['run_id']})"

    monkeypatch.setenv("MESHKIT_TEST_FAIL_TEST", "1")
    tested = meshkit_json(["build", "--select", AGG.replace(".", ":", 1), "--full"],
                          cwd=built_mesh, check=False)
    node = next(n for n in tested["nodes"] if n["node"] == AGG)
    assert node["message"] == "test agg_ok fail"
    assert tested["status"] == "error"     # a failing test fails the run, as it fails dbt build
    monkeypatch.setenv("MESHKIT_TEST_FAIL_TEST", "0")
    again = meshkit_json(["build"], cwd=built_mesh)
    assert _reasons(again)[AGG] == f"rebuilt: tests failed in run {tested['run_id']}"


@pytest.mark.parametrize("updates_on, expected", [
    ("any", "reused: new data from analytics.fct_orders.v2 was rebuilt, but build_after 1 day(s) "
            "has not passed since run"),
    ("all", "reused: waiting for new data from all parents (updates_on: all): "
            "finance.stg_payments unchanged"),
])
def test_build_after_delays_rebuilds_on_new_data(built_mesh, updates_on, expected):
    model = built_mesh / "finance" / "models" / "core" / "agg_customer_payment_journey.sql"
    model.write_text("{{ config(freshness={'build_after': {'count': 1, 'period': 'day', "
                     f"'updates_on': '{updates_on}'}}}}) }}}}\n" + model.read_text())
    assert _reasons(meshkit_json(["build"], cwd=built_mesh))[AGG] == \
        "rebuilt: code or config changed"
    _edit(built_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql",
          "select * from final", "select * from final  -- v2")
    report = meshkit_json(["build"], cwd=built_mesh)
    assert _reasons(report)["analytics.fct_orders.v2"] == "rebuilt: code or config changed"
    assert _reasons(report)[AGG].startswith(expected)


def test_a_damaged_store_entry_is_rebuilt_and_republished(built_mesh):
    import json
    import shutil

    env_dir = built_mesh / ".meshkit" / "store" / "analytics" / "prod"
    lost = json.loads((env_dir / "latest.json").read_text())["run_id"]
    shutil.rmtree(env_dir / "runs" / lost)
    report = meshkit_json(["build", "--project", "analytics"], cwd=built_mesh)
    reasons = _reasons(report)
    assert reasons["analytics.fct_orders.v2"] == "rebuilt: analytics has no intact published run in the store"
    assert report["published"]["analytics"] != lost
    assert json.loads((env_dir / "latest.json").read_text())["run_id"] == report["published"]["analytics"]
