"""What counts as changed and as published, on plain data and real artifacts (no dbt run):
interface fields are state, a publish lands or says why not, a manifest is never paired with
another invocation's run results, names stay inside the store, cached parses stay in their mesh,
one build holds a project at a time."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from meshkit.config import load_mesh
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.dbt.artifacts import DependsOn, Manifest, ManifestMetadata, Node
from meshkit.orchestrate.history import History, ModelState
from meshkit.orchestrate.lock import BuildLock
from meshkit.orchestrate.state import StateInputs, decide
from meshkit.store.maintenance import repair, verify
from meshkit.store.interface import Interface, PublicModel, RestrictedModel, interface_changes
from meshkit.store.publish import pointer_warning, publish_artifacts
from meshkit.store.store import Store
from test_store import analytics_artifacts, at, stage_target  # noqa: F401 (a fixture)


# -- interface fields are state ------------------------------------------------------------------
def _model(version: str, **fields) -> PublicModel:
    base = dict(name="orders", unique_id=f"model.up.orders.v{version}", schema_="prod",
                identifier=f"orders_v{version}", relation_name=f'"up"."prod"."orders_v{version}"',
                version=version, latest_version="1")
    return PublicModel(**{**base, **fields})


def _interface(*models: PublicModel, restricted=()) -> Interface:
    return Interface("up", "1.11.0", list(models), list(restricted))


IDS = {"orders": ["model.up.orders.v1", "model.up.orders.v2"], "stg": ["model.up.stg"]}


@pytest.mark.parametrize("changed, expected", [
    (dict(latest_version="2"), "latest_version 1 → 2"),
    (dict(deprecation_date="2027-01-01T00:00:00"), "deprecation_date none → 2027-01-01T00:00:00"),
    (dict(relation_name='"up"."prod"."orders_v1_new"'),
     'relation_name "up"."prod"."orders_v1" → "up"."prod"."orders_v1_new"'),
    (dict(contract_enforced=True), "contract enforced False → True"),
    (dict(group="sales"), "group none → sales"),
])
def test_every_field_a_consumer_reads_is_a_change(changed, expected):
    old = _interface(_model("1"), _model("2"))
    new = _interface(_model("1", **changed), _model("2"))
    assert interface_changes(old, new, IDS) == {"model.up.orders.v1": expected}
    assert interface_changes(old, _interface(_model("1", built=False), _model("2")), IDS) == {}, \
        "whether a run built it is the run's, not the code's"
    assert interface_changes(None, new, IDS) == {}, "never published: never built anyway"


def test_access_moves_are_changes():
    old = _interface(_model("1"), _model("2"), restricted=[RestrictedModel("stg", "protected")])
    new = _interface(_model("2"), restricted=[RestrictedModel("orders", "protected"),
                                              RestrictedModel("stg", "private", "core")])
    assert interface_changes(old, new, IDS) == {
        "model.up.orders.v1": "no longer public",
        "model.up.stg": "access protected → private, group none → core"}


def _two_projects() -> MeshGraph:
    up = Node(unique_id="model.up.orders.v1", resource_type="model", package_name="up",
              name="orders", original_file_path="models/orders_v1.sql", version=1, latest_version=1)
    down = Node(unique_id="model.down.report", resource_type="model", package_name="down",
                name="report", original_file_path="models/report.sql",
                depends_on=DependsOn(nodes=[up.unique_id]))
    graph = MeshGraph()
    for project, node in (("up", up), ("down", down)):
        graph.add_project(ProjectState(project, Manifest(ManifestMetadata(project_name=project),
                                                          nodes={node.unique_id: node})))
    return graph


def _state(uid: str, status: str = "success") -> ModelState:
    return ModelState(uid, uid.split(".")[1], "fp", 100.0, 1, status, True, {})


def test_an_interface_change_rebuilds_the_producer_and_its_consumers_with_reasons():
    graph = _two_projects()
    order = ["model.up.orders.v1", "model.down.report"]
    states = {uid: _state(uid) for uid in order}
    inputs = StateInputs(states, {uid: "fp" for uid in order},
                         interface_changes={"model.up.orders.v1": "latest_version 1 → 2"})
    decisions = decide(graph, order, inputs)
    assert decisions["model.up.orders.v1"].label == "rebuilt: public interface changed: latest_version 1 → 2"
    assert decisions["model.down.report"].label == \
        "rebuilt: up.orders.v1 changed its public interface (latest_version 1 → 2)"
    unchanged = decide(graph, order, StateInputs(states, {uid: "fp" for uid in order}))
    assert not any(d.rebuild for d in unchanged.values())


def test_a_build_whose_publish_did_not_land_is_rebuilt():
    graph = _two_projects()
    uid = "model.up.orders.v1"
    inputs = StateInputs({uid: _state(uid, "unpublished")}, {uid: "fp"})
    assert decide(graph, [uid], inputs)[uid].label == \
        "rebuilt: built in run 1, but that run was never published"


# -- a publish lands, or says why not ------------------------------------------------------------
def _future(days: int = 30) -> str:
    moment = time.gmtime(time.time() + days * 86400)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", moment)


def test_a_pointer_or_run_from_the_future_does_not_hold_latest(tmp_path, analytics_artifacts):
    store = Store(str(tmp_path / "store"))
    first = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "a", at(1)), "prod")
    pointer = tmp_path / "store" / "analytics" / "prod" / "latest.json"
    pointer.write_text(json.dumps({"run_id": first.run_id, "completed_at": _future()}))
    second = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "b", at(2)), "prod")
    assert store.latest("analytics", "prod").run_id == second.run_id

    # A run whose dbt clock ran ahead is published as completing now, not in the future.
    ahead = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "c", _future()),
                              "prod")
    assert ahead.completed_at <= ahead.published_at
    # An older meshkit's record from the future is passed over as well.
    record = tmp_path / "store" / "analytics" / "prod" / "runs" / ahead.run_id / "meshkit-run.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "completed_at": _future()}))
    fourth = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "d", at(3)), "prod")
    assert store.latest("analytics", "prod").run_id == fourth.run_id

    pointer.write_text("{not json")
    fifth = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "e", at(4)), "prod")
    assert store.latest("analytics", "prod").run_id == fifth.run_id


def test_a_publish_that_does_not_become_latest_says_so(tmp_path, analytics_artifacts):
    store = Store(str(tmp_path / "store"))
    later = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "a", at(5)), "prod")
    earlier = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "b", at(4)), "prod")
    assert pointer_warning(store, later) is None
    assert pointer_warning(store, earlier) == (
        f"published run {earlier.run_id}, but consumers keep reading run {later.run_id}, which "
        f"completed later ({later.completed_at} > {earlier.completed_at})")


# -- a manifest is published with its own run results only ---------------------------------------
def _parsed_later(source: Path, dest: Path, new_model: bool) -> Path:
    """target/ after `dbt parse`: a new manifest (another invocation), the old run results."""
    stage_target(source, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["metadata"].update(invocation_id="parse-0000", generated_at=_future(0))
    if new_model:
        node = json.loads(json.dumps(manifest["nodes"]["model.analytics.fct_orders.v2"]))
        node.update(unique_id="model.analytics.fct_returns", name="fct_returns", version=None,
                    latest_version=None, alias="fct_returns",
                    relation_name='"jaffle_da"."prod"."fct_returns"')
        manifest["nodes"]["model.analytics.fct_returns"] = node
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_publish_after_parse_marks_what_no_run_built(tmp_path, analytics_artifacts):
    store = Store(str(tmp_path / "store"))
    built = publish_artifacts(store, analytics_artifacts, "prod")
    target = _parsed_later(analytics_artifacts, tmp_path / "t", new_model=True)
    parsed = publish_artifacts(store, target, "prod")
    assert parsed.status == "parsed" and "run_results.json" not in parsed.files
    assert parsed.invocation_id == "parse-0000" and parsed.run_id != built.run_id
    assert parsed.not_built == ["model.analytics.fct_returns"]
    _, interface = store.interface("analytics", "prod")
    assert {m.unique_id: m.built for m in interface.models} == {
        "model.analytics.fct_orders.v1": True, "model.analytics.fct_orders.v2": True,
        "model.analytics.fct_returns": False}
    assert verify(store, parsed) == []

    with pytest.raises(MeshError) as refused:    # meshkit's own builds never pair them
        publish_artifacts(store, target, "prod", require_build=True)
    assert "come from different dbt runs" in refused.value.message
    assert refused.value.file == str(target / "run_results.json")


def test_repair_sees_a_run_paired_with_another_invocations_results(tmp_path, analytics_artifacts):
    store = Store(str(tmp_path / "store"))
    good = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "a", at(1)), "prod")
    # What an older meshkit published after `dbt parse`: the pair, as a "success".
    target = _parsed_later(analytics_artifacts, tmp_path / "b", new_model=False)
    results = json.loads((target / "run_results.json").read_text())
    results["metadata"]["generated_at"] = at(2)
    (target / "run_results.json").write_text(json.dumps(results))
    record = store.record("analytics", "prod", good.run_id)
    record.run_id, record.completed_at = "20260101T100200Z-bad000", at(2)
    payloads = {name: (target / name).read_bytes() for name in ("manifest.json", "run_results.json")}
    payloads["interface.json"] = store.read(good, "interface.json")
    store.publish(record, payloads)
    assert store.latest("analytics", "prod").run_id == "20260101T100200Z-bad000"
    [problem] = verify(store, store.latest("analytics", "prod"))
    assert "pairs a manifest (dbt invocation parse-0000) with the run results of another" in problem
    repaired = repair(store, "analytics", "prod")
    assert repaired.after == good.run_id and "20260101T100200Z-bad000" in repaired.damaged


# -- names stay inside the store -----------------------------------------------------------------
def test_environment_names_cannot_leave_the_store(tmp_path):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "dbt_project.yml").write_text("name: up\n")
    (tmp_path / "mesh.yml").write_text("name: m\nenvironments:\n  prod: {type: production}\n"
                                       "  ../../x: {target: prod}\nprojects:\n  up: up\n")
    with pytest.raises(MeshError) as refused:
        load_mesh(tmp_path / "mesh.yml")
    assert (refused.value.file, refused.value.line) == (str(tmp_path / "mesh.yml"), 4)
    assert "environment name '../../x' is not allowed" in refused.value.message
    store = Store(str(tmp_path / "store"))
    for project, env in (("up", "../../x"), ("../up", "prod"), ("up", ".hidden")):
        with pytest.raises(MeshError, match="cannot name a folder of the artifact store"):
            store.latest(project, env)
    assert not (tmp_path / "x").exists()


# -- a cached parse belongs to its mesh ----------------------------------------------------------
def test_a_copied_mesh_does_not_read_the_originals_cached_parse(tmp_path):
    original = tmp_path / "a" / ".meshkit"
    history = History(original / "history.db")
    (original / "parsed").mkdir()
    cached = original / "parsed" / "up.prod.manifest.json"
    cached.write_text("{}")
    history.save_parse("up", "prod", "key1", cached)
    history.close()
    copy = tmp_path / "b" / ".meshkit"
    shutil.copytree(original, copy)
    cached.write_text('{"changed": "in the original"}')
    history = History(copy / "history.db")
    assert history.cached_parse("up", "prod", "key1") == copy / "parsed" / "up.prod.manifest.json"
    history.close()
    # A row an older meshkit wrote (absolute path into the original) is not followed.
    db = sqlite3.connect(copy / "history.db")
    db.execute("update parse_cache set manifest_path = ?", (str(cached),))
    db.commit()
    db.close()
    history = History(copy / "history.db")
    assert history.cached_parse("up", "prod", "key1") is None
    history.close()


# -- one build per project at a time -------------------------------------------------------------
def test_a_second_build_of_a_project_waits_or_refuses(tmp_path):
    with BuildLock(tmp_path, ["up", "down"], command="meshkit build") as first:
        first.set_run(7)
        with pytest.raises(MeshError) as refused:
            with BuildLock(tmp_path, ["down"], command="meshkit build --project down", wait=False):
                pass
        message = refused.value.message
        assert message.startswith("build run 7 (pid ") and "`meshkit build`) is running since " in message
        assert message.endswith("on project 'down'; not waiting (--no-wait)")
        with BuildLock(tmp_path, ["other"], command="x", wait=False):
            pass   # other projects are free

        told, entered = [], threading.Event()

        def second() -> None:
            with BuildLock(tmp_path, ["down"], command="y", on_wait=told.append):
                entered.set()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        assert not entered.is_set(), "the second build waits"
    waiter.join(10)
    assert entered.is_set()
    assert told and told[0].endswith("on project 'down'; waiting for it (use --no-wait to stop instead)")

