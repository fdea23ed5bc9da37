"""The mesh as Dagster assets, with Dagster in-process and real dbt on DuckDB: the asset graph
is `meshkit plan`'s graph; materializing runs meshkit's state-aware build in waves; failures
skip exactly their downstream; mesh.yml jobs become schedules and sensors."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

dg = pytest.importorskip("dagster")

from conftest import EXAMPLE, _IGNORED, meshkit_json, set_jobs  # noqa: E402
from meshes import TRIANGLE, TRIANGLE_PUBLIC, write_mesh  # noqa: E402
from meshkit.config import load_mesh  # noqa: E402
from meshkit.config.jobs import CompletionTrigger  # noqa: E402
from meshkit.dagster import definitions  # noqa: E402
from meshkit.dagster.keys import asset_key  # noqa: E402
from meshkit.orchestrate.build import BuildOptions, build_mesh  # noqa: E402
from meshkit.dagster.triggers import Completion, fire  # noqa: E402

pytestmark = pytest.mark.e2e


# -- the trigger rule, on plain data ---------------------------------------------------------
def _done(job: str, status: str = "success", at: float = 0.0) -> Completion:
    return Completion(job, f"{job}-{at}", status, at)


def test_any_of_fires_once_per_matching_completion():
    trigger = CompletionTrigger(("a", "b"), "any_of", ("success",))
    fired = fire(trigger, [_done("a", at=1), _done("b", "error", 2), _done("b", at=3),
                           _done("c", at=4)], {})
    assert [[c.run_id for c in used] for used in fired] == [["a-1"], ["b-3"]]


def test_all_of_waits_for_the_latest_run_of_every_upstream_job():
    trigger = CompletionTrigger(("a", "b"), "all_of", ("success",))
    latest: dict = {}
    assert fire(trigger, [_done("a", at=1), _done("a", "error", 2)], latest) == []
    assert latest["a"].status == "error"            # the latest run of a counts, and failed
    assert fire(trigger, [_done("b", at=3)], latest) == []
    fired = fire(trigger, [_done("a", at=4)], latest)
    assert [[c.run_id for c in used] for used in fired] == [["a-4", "b-3"]]
    assert latest == {}                              # the next firing needs both again


def test_statuses_choose_which_endings_count():
    trigger = CompletionTrigger(("a",), "any_of", ("error", "canceled"))
    fired = fire(trigger, [_done("a", at=1), _done("a", "canceled", 2)], {})
    assert [used[0].status for used in fired] == ["canceled"]


# -- the example mesh, materialized in Dagster -----------------------------------------------
@pytest.fixture(scope="module")
def example(tmp_path_factory, raw_warehouse) -> Path:
    """One copy of the example mesh, unbuilt, shared by this module's ordered tests."""
    mesh = tmp_path_factory.mktemp("dagster") / "jaffle-mesh"
    shutil.copytree(EXAMPLE, mesh, ignore=_IGNORED)
    (mesh / "warehouse").mkdir()
    shutil.copy(raw_warehouse, mesh / "warehouse" / "raw.duckdb")
    return mesh


@pytest.fixture(scope="module")
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def _materialize(mesh: Path, instance, selection=None):
    defs = definitions(mesh / "mesh.yml")
    result = dg.materialize(list(defs.assets), instance=instance, selection=selection,
                            raise_on_error=False)
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    observed = {}
    for event in result.get_asset_observation_events():
        metadata = event.event_specific_data.asset_observation.metadata
        observed[event.asset_key.to_user_string()] = metadata["meshkit/status"].value
    return defs, result, built, observed


def _run_id(result) -> int:
    """The meshkit run a Dagster run recorded (materialization or observation metadata)."""
    for event in result.get_asset_materialization_events():
        return event.event_specific_data.materialization.metadata["meshkit/run_id"].value
    for event in result.get_asset_observation_events():
        return event.event_specific_data.asset_observation.metadata["meshkit/run_id"].value
    raise AssertionError("no asset event carries a meshkit run id")


def _keys(graph) -> set[str]:
    return {k.to_user_string() for k in graph.get_all_asset_keys()}


def test_asset_graph_is_the_mesh_graph(example):
    defs = definitions(example / "mesh.yml")
    graph = defs.resolve_asset_graph()
    # `meshkit plan --full`, in-process: every node it would build, and the edges between them.
    plan = build_mesh(load_mesh(example / "mesh.yml"), BuildOptions(full=True), dry_run=True).plan
    keys = {uid: "/".join(asset_key(plan.graph, uid).path) for uid in plan.selected}
    assert _keys(graph) == set(keys.values())
    assert {(keys[p], keys[c]) for c in plan.selected for p in plan.graph.parents[c] if p in keys} \
        == {(p.to_user_string(), k.to_user_string()) for k in graph.get_all_asset_keys()
            for p in graph.get(k).parent_keys}
    journey = graph.get(dg.AssetKey(["finance", "agg_customer_payment_journey"]))
    assert {k.to_user_string() for k in journey.parent_keys} == {"analytics/fct_orders_v2",
                                                                 "finance/stg_payments"}
    orders = graph.get(dg.AssetKey(["analytics", "fct_orders_v2"]))
    assert orders.group_name == "core" and orders.owners == ["analytics@jaffle.example"]
    assert orders.metadata["dbt/access"] == "public"
    assert orders.metadata["dbt/contract_enforced"] is True
    assert orders.metadata["dbt/version"] == "2"
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("analytics/stg_orders", "unique_stg_orders_order_id") in checks
    assert {j.name for j in defs.jobs} >= {"analytics_daily", "finance_daily"}


def test_first_materialization_builds_in_waves_and_publishes(example, instance):
    defs, result, built, observed = _materialize(example, instance)
    assert result.success
    assert built == _keys(defs.resolve_asset_graph()) and observed == {}
    passed = {c.check_name for c in result.get_asset_check_evaluations() if c.passed}
    assert "unique_stg_orders_order_id" in passed
    show = meshkit_json(["runs", "show", str(_run_id(result))], cwd=example)
    assert show["run"]["status"] == "success" and show["run"]["command"].startswith("dagster run")
    assert sorted((i["project"], i["wave"]) for i in show["invocations"]) == [
        ("analytics", 0), ("finance", 1)]
    from meshkit.store.store import Store

    store = Store(load_mesh(example / "mesh.yml").store_url)
    assert store.latest("analytics", "prod") and store.latest("finance", "prod")


def test_second_materialization_with_nothing_changed_runs_no_dbt(example, instance):
    defs, result, built, observed = _materialize(example, instance)
    assert result.success and built == set()
    assert set(observed.values()) == {"reused"} and set(observed) == _keys(defs.resolve_asset_graph())
    show = meshkit_json(["runs", "show", str(_run_id(result))], cwd=example)
    assert show["run"]["status"] == "noop" and show["invocations"] == []


def test_editing_one_model_rebuilds_exactly_its_closure(example, instance):
    model = example / "analytics" / "models" / "staging" / "stg_orders.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    defs, result, built, observed = _materialize(example, instance)
    graph = defs.resolve_asset_graph()
    edited = dg.AssetKey(["analytics", "stg_orders"])
    closure, todo = set(), [edited]
    while todo:
        key = todo.pop()
        closure.add(key.to_user_string())
        todo += graph.get(key).child_keys
    assert result.success
    assert built == closure and "finance/agg_customer_payment_journey" in closure
    assert set(observed) == _keys(graph) - closure and set(observed.values()) == {"reused"}


def test_jobs_become_schedules_and_on_completion_sensors(example, instance):
    defs = definitions(example / "mesh.yml")
    schedule = defs.resolve_schedule_def("analytics_daily_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime.datetime(
            2026, 1, 1, 6, tzinfo=datetime.timezone.utc)) as context:
        assert len(schedule.evaluate_tick(context).run_requests) == 1
    analytics = defs.resolve_job_def("analytics_daily")
    assert {k.path[0] for k in analytics.asset_layer.selected_asset_keys} == {"analytics"}
    sensor = defs.resolve_sensor_def("finance_daily_on_completion")
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert first.run_requests == [] and first.cursor   # watching from now on
    ran = analytics.execute_in_process(instance=instance)
    assert ran.success and ran.dagster_run.tags["meshkit/job"] == "analytics_daily"
    show = meshkit_json(["runs", "show", str(_run_id(ran))], cwd=example)
    assert show["run"]["command"].endswith("(job analytics_daily)")
    assert {n["project"] for n in show["nodes"]} == {"analytics"}
    fired = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert len(fired.run_requests) == 1
    assert "analytics_daily run" in fired.run_requests[0].tags["meshkit/triggered_by"]
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=fired.cursor))
    assert again.run_requests == []


# -- projects that depend on each other both ways ---------------------------------------------
def test_bidirectional_mesh_fails_skipping_exactly_the_downstream(tmp_path):
    mesh = write_mesh(tmp_path / "tri", {**TRIANGLE, "beta": {
        **TRIANGLE["beta"], "b_mid": TRIANGLE["beta"]["b_mid"] + " where no_such_column = 1"}},
        TRIANGLE_PUBLIC)
    set_jobs(mesh, """\
        nightly:
          select: "project:alpha"
          schedule: {cron: "0 2 * * *", timezone: Europe/Paris}
        after_all:
          project: gamma
          triggers: {on_completion: {all_of: [nightly], statuses: [success, error]}}
    """)
    with dg.DagsterInstance.ephemeral() as instance:
        defs, result, built, observed = _materialize(mesh, instance)
    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
               for k in graph.get_all_asset_keys()}
    assert parents == {"alpha/a_base": set(), "alpha/a_top": {"beta/b_mid"},
                       "beta/b_mid": {"alpha/a_base"}, "beta/b_top": {"gamma/g_mid"},
                       "gamma/g_mid": {"alpha/a_base"}, "gamma/g_top": {"alpha/a_top"}}
    assert not result.success
    assert built == {"alpha/a_base", "gamma/g_mid", "beta/b_top"}
    assert observed == {"beta/b_mid": "error", "alpha/a_top": "skipped", "gamma/g_top": "skipped"}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "failed: beta.b_mid" in failure.step_failure_data.user_failure_data.description
    show = meshkit_json(["runs", "show", str(_run_id(result))], cwd=mesh)
    waves = sorted((i["project"], i["wave"]) for i in show["invocations"])
    assert waves == [("alpha", 0), ("beta", 1), ("beta", 2), ("gamma", 1)]  # alpha 2 never ran
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Paris")
    assert defs.resolve_sensor_def("after_all_on_completion").description == \
        "after_all: on completion of nightly (success/error)"


# -- dagster dev, driven over GraphQL ----------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query, "variables": variables or {}}
                                                       ).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


_LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
_RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
_MATERIALIZED = """
query($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) { ... on Asset { assetMaterializations(limit: 1) { runId } } }
}"""


def _wait_for_location(port: int, process, deadline: float) -> str:
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name
                 locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    while time.time() < deadline:
        assert process.poll() is None, "dagster dev exited"
        try:
            entries = _graphql(port, query)["workspaceOrError"]["locationEntries"]
        except OSError:
            entries = []
        for entry in entries:
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "RepositoryLocation":
                return entry["name"]
            assert not loaded or loaded["__typename"] != "PythonError", loaded
        time.sleep(1)
    raise AssertionError("dagster dev did not load the mesh in time")


def test_dagster_dev_materializes_the_mesh_over_graphql(built_mesh, tmp_path):
    model = built_mesh / "finance" / "models" / "staging" / "stg_payments.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    (built_mesh / "definitions.py").write_text(
        "import meshkit.dagster\n\ndefs = meshkit.dagster.definitions('mesh.yml')\n")
    home = tmp_path / "dagster_home"
    home.mkdir()
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / "dagster"), "dev", "-f", "definitions.py", "-h", "127.0.0.1",
         "-p", str(port)], cwd=built_mesh, start_new_session=True,
        env={**os.environ, "DAGSTER_HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "dagster.log").open("w"))
    try:
        location = _wait_for_location(port, process, time.time() + 180)
        keys = [["finance", "stg_payments"], ["finance", "agg_customer_payment_journey"],
                ["analytics", "stg_orders"]]
        launched = _graphql(port, _LAUNCH, {"params": {
            "selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                         "jobName": "__ASSET_JOB", "assetSelection": [{"path": k} for k in keys]},
            "runConfigData": {}}})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        status, deadline = None, time.time() + 240
        while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.time() < deadline:
            time.sleep(2)
            status = _graphql(port, _RUN, {"id": run_id})["runOrError"]["status"]
        assert status == "SUCCESS", (tmp_path / "dagster.log").read_text()[-3000:]
        materialized = {tuple(k): _graphql(port, _MATERIALIZED, {"key": {"path": k}})
                        ["assetOrError"]["assetMaterializations"] for k in keys}
        assert materialized[("finance", "stg_payments")][0]["runId"] == run_id
        assert materialized[("finance", "agg_customer_payment_journey")][0]["runId"] == run_id
        assert materialized[("analytics", "stg_orders")] == []     # reused: not rebuilt
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
