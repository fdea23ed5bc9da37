"""What a consumer refs, on plain data (no dbt): candidates from text, stand-ins, refusals,
and the functions a selected model needs."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from meshkit.consumer import CrossRef, Upstream, plan_stand_ins, refusal, scan_cross_refs
from meshkit.dbt.artifacts import (DependsOn, Manifest, ManifestMetadata, Node, NodeConfig)
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.graph.selection import Selector
from meshkit.orchestrate.fingerprint import node_fingerprints
from meshkit.orchestrate.plan import check_unresolved
from meshkit.store.interface import Interface, PublicModel, RestrictedModel, extract_interface


def _upstream(project: str = "up") -> Upstream:
    models = [PublicModel(name="orders", unique_id=f"model.{project}.orders.v{v}", schema_="prod",
                          identifier=f"orders_v{v}", version=str(v), latest_version="2")
              for v in (1, 2)]
    restricted = [RestrictedModel("stg_orders", "protected"),
                  RestrictedModel("margins", "private", "finance")]
    return Upstream(project, "prod", "run-1", Interface(project, "1.11.0", models, restricted))


def _ref(model: str, version: str | None = None, project: str = "up", line: int = 1,
         file: str = "/m/down/models/report.sql", commented: bool = False) -> CrossRef:
    return CrossRef(Path(file), line, project, model, version, commented)


def _plan(refs, lenient=False, upstreams=None, mesh_projects=("up", "side")):
    return plan_stand_ins(refs, "down", ["up"], [_upstream()] if upstreams is None else upstreams,
                          lambda name: name in mesh_projects, lenient, packages={"dbt_utils"},
                          known_projects=mesh_projects)


def test_scan_marks_mentions_inside_jinja_comments(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "report.sql").write_text(
        "{# was {{ ref('up', 'stg_orders') }},\n   now the mart #}\n"
        "-- ref('up', 'stg_orders') in a SQL comment\n"
        "select * from {{ ref('up', 'orders', v=2) }}\n")
    found = sorted(scan_cross_refs(tmp_path), key=lambda r: r.line)
    assert [(r.line, r.model, r.version, r.in_jinja_comment) for r in found] == [
        (1, "stg_orders", None, True), (3, "stg_orders", None, False), (4, "orders", "2", False)]


def test_mentions_of_non_public_models_are_stand_ins_not_refusals():
    """Text is a candidate: whether it is a ref is dbt's call (a comment, a description and a
    disabled model are none), so planning never raises."""
    stand_ins = _plan([_ref("stg_orders"), _ref("margins", line=4), _ref("orders", "2"),
                       _ref("orders"), _ref("anything", project="side"),
                       _ref("dbt_thing", project="dbt_utils")])
    kinds = {(s.project, s.model, s.kind, s.access, s.group) for s in stand_ins}
    assert kinds == {("up", "stg_orders", "restricted", "protected", None),
                     ("up", "margins", "restricted", "private", "finance"),
                     ("side", "anything", "undeclared", "protected", None)}
    assert all(s.refused for s in stand_ins)


def test_stand_ins_are_distinct_per_version():
    """A consumer pinning v1 in one model, v2 in another and leaving a third unpinned, of a
    project that never published: three placeholders, three relations (dbt refuses two
    nodes with one database representation)."""
    refs = [_ref("orders", "1"), _ref("orders", "2", line=2), _ref("orders", line=3),
            _ref("orders", "1", line=9)]
    stand_ins = _plan(refs, lenient=True, upstreams=[])
    # dbt also refuses a versioned and an unversioned node of one name: the unpinned ref gets
    # a version of its own, the latest, which the orchestrator maps to the real latest.
    assert sorted((s.unique_id, s.latest_version) for s in stand_ins) == [
        ("model.up.orders.v1", "latest"), ("model.up.orders.v2", "latest"),
        ("model.up.orders.vlatest", "latest")]
    assert len({s.identifier for s in stand_ins}) == 3
    assert [s.unique_id for s in _plan([_ref("orders")], lenient=True, upstreams=[])] == [
        "model.up.orders"]
    assert {s.kind for s in stand_ins} == {"unpublished"} and not any(s.refused for s in stand_ins)
    assert len(next(s for s in stand_ins if s.version == "1").mentions) == 2


def test_lenient_placeholder_for_a_version_not_published_yet():
    stand_ins = _plan([_ref("orders", "3"), _ref("orders", "2"), _ref("orders")], lenient=True)
    assert [(s.unique_id, s.kind) for s in stand_ins] == [("model.up.orders.v3", "unpublished")]
    # Outside the orchestrator's parse it is a version nobody publishes (refused if dbt records it)
    assert [(s.unique_id, s.kind) for s in _plan([_ref("orders", "3")])] == [
        ("model.up.orders.v3", "unknown")]


@pytest.mark.parametrize("ref, message, hint", [
    (_ref("orders", project="upp"),
     "'report' refs upp.orders, but 'upp' is neither a project of the mesh nor an installed "
     "package (did you mean 'up'?)", "ref('up', 'orders')"),
    (_ref("order"), "'report' refs up.order, but project 'up' publishes no model 'order' "
     "(did you mean 'orders'?)", "ref('up', 'orders')"),
    (_ref("orders", "3"), "'report' refs up.orders v3, but up.orders has no version 3 "
     "(published: v1, v2)", "v=2 is the latest"),
    (_ref("zzz"), "'report' refs up.zzz, but project 'up' publishes no model 'zzz'",
     "its public models: orders"),
])
def test_a_typo_in_a_ref_gets_meshkit_s_message_with_close_matches(tmp_path, ref, message, hint):
    """ref('analytcs', …), ref('analytics', 'fct_order'), v=3: dbt would only say "not found".
    An installed package is dbt's to resolve, and mentions of what exists get no stand-in."""
    stand_in, = _plan([ref, _ref("orders", "2"), _ref("x", project="dbt_utils")])
    assert stand_in.kind == "unknown" and stand_in.refused
    error = refusal(stand_in, "report", "models/report.sql", "down", tmp_path / "down", set())
    assert error.message == message and hint in error.hint
    assert (error.file, error.line) == ("/m/down/models/report.sql", 1)


def test_a_typo_in_dependencies_yml_names_the_project_meant(tmp_path):
    """`- name: analytcs` is no project of the mesh: "did you mean 'analytics'", its line."""
    from meshkit.config import load_mesh
    from meshkit.consumer import load_upstreams
    from meshkit.store.store import Store

    (tmp_path / "mesh.yml").write_text(
        "name: m\nstore: store\nprojects:\n  analytics: analytics\n  sales: sales\n")
    for name in ("analytics", "sales"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dbt_project.yml").write_text(f"name: {name}\nprofile: {name}\n")
    deps = tmp_path / "sales" / "dependencies.yml"
    deps.write_text("projects:\n  - name: analytcs\n")
    mesh = load_mesh(tmp_path / "mesh.yml")
    with pytest.raises(MeshError) as caught:
        load_upstreams(mesh, Store(mesh.store_url), "sales", mesh.default_environment,
                       ["analytcs"], deps)
    error = caught.value
    assert "depends on 'analytcs', which is not a project of mesh.yml" in error.message
    assert "did you mean 'analytics'?" in error.message
    assert (error.file, error.line) == (str(deps), 2)
    assert error.hint == "fix the name under `projects:`:  - name: analytics"
    assert not error.render().startswith("get_nodes")


def test_refusal_points_at_the_real_mention_of_the_node_file(tmp_path):
    project = tmp_path / "down"
    report = project / "models" / "report.sql"
    stand_in, = _plan([_ref("stg_orders", line=1, file=str(report), commented=True),
                       _ref("stg_orders", line=7, file=str(report)),
                       _ref("stg_orders", line=2, file=str(project / "models" / "other.sql"))])
    error = refusal(stand_in, "report", "models/report.sql", "down", project, {"orders"})
    assert (error.file, error.line) == ("down/models/report.sql", 7)
    assert "'report' refs up.stg_orders, which is protected to project 'up'" in error.message
    assert "set `access: public` on stg_orders" in error.hint and "(orders)" in error.hint
    # A ref dbt recorded from a macro the model calls: the model's file, no line.
    error = refusal(stand_in, "via_macro", "models/via_macro.sql", "down", project, set())
    assert (error.file, error.line) == ("down/models/via_macro.sql", None)


def test_refusal_names_the_group_or_the_missing_declaration(tmp_path):
    private, undeclared = sorted(_plan([_ref("margins"), _ref("x", project="side")]),
                                 key=lambda s: s.kind)
    assert private.kind == "restricted"
    text = refusal(private, "report", "models/report.sql", "down", tmp_path / "down", set()).render()
    assert "which is private to the 'finance' group" in text
    text = refusal(undeclared, "report", "models/report.sql", "down", tmp_path / "down", set()).render()
    assert "project 'side' is not declared in down/dependencies.yml" in text
    assert "- name: side" in text


def _node(uid: str, kind: str, parents: list[str] = ()) -> Node:
    project, name = uid.split(".")[1:3]
    return Node(unique_id=uid, resource_type=kind, package_name=project, name=name,
                original_file_path=f"{kind}s/{name}.sql", fqn=[project, name],
                depends_on=DependsOn(nodes=list(parents)))


def test_a_selected_model_needs_the_functions_it_calls():
    """dbt builds only what it selects: `fqn:up.answers` never creates its function."""
    manifest = Manifest(
        ManifestMetadata(project_name="up"),
        nodes={"model.up.answers": _node("model.up.answers", "model", ["function.up.double_it"]),
               "model.up.other": _node("model.up.other", "model")},
        functions={"function.up.double_it": _node("function.up.double_it", "function",
                                                  ["function.up.times_two"]),
                   "function.up.times_two": _node("function.up.times_two", "function")})
    graph = MeshGraph()
    graph.add_project(ProjectState("up", manifest))
    selector = Selector(graph)
    chosen = selector.select(["up:answers"])
    assert chosen == {"model.up.answers"}
    assert selector.with_needed(chosen) == {"model.up.answers", "function.up.double_it",
                                            "function.up.times_two"}
    assert "function.up.double_it" in selector.select(None)   # functions are built like models


def test_a_ref_to_another_project_s_seed_says_what_it_is():
    """dbt-loom's test projects ref a seed of the producer: it exists, but is no model."""
    manifest = Manifest(ManifestMetadata(project_name="up"),
                        nodes={"seed.up.integers": _node("seed.up.integers", "seed")})
    consumer = Manifest(ManifestMetadata(project_name="down"), nodes={
        "model.down.report": _node("model.down.report", "model", ["model.up.integers"])})
    graph = MeshGraph()
    graph.add_project(ProjectState("up", manifest))
    graph.add_project(ProjectState("down", consumer))
    with pytest.raises(MeshError) as caught:
        check_unresolved(graph, ["model.down.report"])
    assert "refs up.integers, which is a seed of project 'up'" in caught.value.message
    assert caught.value.file == "down/models/report.sql"


def test_a_function_has_a_fingerprint_that_follows_its_code():
    def manifest(body: str) -> bytes:
        return msgspec.json.encode({"nodes": {}, "functions": {"function.up.f": {
            "resource_type": "function", "checksum": {"checksum": body}}}})
    assert node_fingerprints(manifest("x * 2"))["function.up.f"] != \
        node_fingerprints(manifest("x * 3"))["function.up.f"]


def test_interface_publishes_event_time():
    node = Node(unique_id="model.up.events", resource_type="model", package_name="up",
                name="events", schema_="prod", original_file_path="models/events.sql",
                config=NodeConfig(access="public", event_time="loaded_at"))
    interface = extract_interface(Manifest(ManifestMetadata(), {node.unique_id: node}), "up")
    assert interface.models[0].event_time == "loaded_at"
