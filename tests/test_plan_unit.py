"""Selection, cycles, state decisions and waves on plain data (no dbt)."""

from __future__ import annotations

import pytest

from meshkit.dbt.artifacts import DependsOn, Manifest, ManifestMetadata, Node, NodeConfig
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.graph.selection import Selector
from meshkit.orchestrate.history import ModelState
from meshkit.orchestrate.plan import check_cycles, make_plan
from meshkit.orchestrate.selectors import unit_selectors
from meshkit.orchestrate.state import StateInputs


def _graph(edges: dict[str, list[str]], tags: dict[str, list[str]] | None = None) -> MeshGraph:
    """edges: 'project.model' → parents ('project.model'); every model is its own file."""
    projects: dict[str, dict[str, Node]] = {}
    for name, parents in edges.items():
        project, model = name.split(".")
        uid = f"model.{project}.{model}"
        projects.setdefault(project, {})[uid] = Node(
            unique_id=uid, resource_type="model", package_name=project, name=model,
            original_file_path=f"models/{model}.sql", fqn=[project, model],
            tags=(tags or {}).get(name, []),
            config=NodeConfig(access="public" if model.startswith("pub") else "protected"),
            depends_on=DependsOn(nodes=[f"model.{p.split('.')[0]}.{p.split('.')[1]}" for p in parents]))
    graph = MeshGraph()
    for project, nodes in projects.items():
        graph.add_project(ProjectState(project, Manifest(ManifestMetadata(project_name=project), nodes)))
    return graph


CHAIN = {"a.stg": [], "a.pub_core": ["a.stg"], "b.mart": ["a.pub_core"], "b.other": [],
         "a.pub_late": ["b.mart"], "c.report": ["a.pub_late", "b.other"]}


def _ids(*names: str) -> set[str]:
    return {f"model.{n.split('.')[0]}.{n.split('.')[1]}" for n in names}


@pytest.mark.parametrize("expression, expected", [
    ("b:mart", {"b.mart"}),
    ("+b:mart", {"b.mart", "a.pub_core", "a.stg"}),
    ("a:pub_core+", {"a.pub_core", "b.mart", "a.pub_late", "c.report"}),
    ("a:pub_core+1", {"a.pub_core", "b.mart"}),
    ("1+c:report", {"c.report", "a.pub_late", "b.other"}),
    ("project:b", {"b.mart", "b.other"}),
    ("access:public", {"a.pub_core", "a.pub_late"}),
    ("tag:nightly", {"b.other"}),
    ("project:a,access:public", {"a.pub_core", "a.pub_late"}),
    ("a:pub_* b:other", {"a.pub_core", "a.pub_late", "b.other"}),
    ("@a:stg", {"a.stg", "a.pub_core", "b.mart", "a.pub_late", "c.report", "b.other"}),
    ("path:models/pub_core.sql", {"a.pub_core"}),
    ("path:models/pub", set()),                      # a folder, not a prefix of file names
    ("project:a,path:models/", {"a.stg", "a.pub_core", "a.pub_late"}),
    ("path:models/pub_*", {"a.pub_core", "a.pub_late"}),
    # names as governance writes them, and dbt's fqn method: one grammar everywhere
    ("a.pub_core", {"a.pub_core"}),
    ("+b.mart", {"b.mart", "a.pub_core", "a.stg"}),
    ("model.c.report", {"c.report"}),
    ("fqn:a", {"a.stg", "a.pub_core", "a.pub_late"}),
    ("b", {"b.mart", "b.other"}),                    # dbt's bare term: an fqn prefix
    ("fqn:b.m*", {"b.mart"}),
    ("models/pub_core.sql", {"a.pub_core"}),         # a bare value with a / is a path, as in dbt
])
def test_selection(expression, expected):
    graph = _graph(CHAIN, tags={"b.other": ["nightly"]})
    assert Selector(graph).select([expression]) == _ids(*expected)


@pytest.mark.parametrize("expression, message", [
    ("@+a:stg", "cannot read selector"),
    ("tag:", "'tag:' needs a value"),
    ("state:old", "state:old is not supported"),
    ("a.b:x", "neither a selector method nor a project name"),
])
def test_unreadable_selectors_are_refused_before_anything_runs(expression, message):
    with pytest.raises(MeshError) as caught:
        Selector(_graph(CHAIN)).select([expression])
    assert message in caught.value.message


def test_projects_not_in_the_graph_yet_are_known_names():
    graph = _graph({"a.stg": []})
    with pytest.raises(MeshError, match="neither a selector method nor a project"):
        Selector(graph).select(["later:model+"])
    assert Selector(graph, projects=frozenset({"a", "later"})).select(["later:model+"]) == set()


def test_exclude_and_unknown_method():
    graph = _graph(CHAIN)
    assert Selector(graph).select(["project:a"], ["a:stg"]) == _ids("a.pub_core", "a.pub_late")
    with pytest.raises(MeshError, match="'nope' is neither a selector method nor a project"):
        Selector(graph).select(["nope:x"])


def test_cycle_is_refused_with_its_path():
    graph = _graph({"a.x": ["b.y"], "b.y": ["a.x"], "a.z": []})
    with pytest.raises(MeshError) as info:
        check_cycles(graph)
    assert "a.x → b.y → a.x" in info.value.message or "b.y → a.x → b.y" in info.value.message


def _plan(graph, states=None, **kwargs):
    inputs = StateInputs(states or {}, {uid: "fp" for uid in graph.nodes}, **kwargs)
    return make_plan(graph, "prod", None, None, inputs, set(), set())


def test_waves_cross_projects_both_ways_and_merge_independent_models():
    plan = _plan(_graph(CHAIN))
    waves = [{u.project: sorted(u.nodes) for u in wave} for wave in plan.waves()]
    assert waves == [
        {"a": ["model.a.pub_core", "model.a.stg"]},
        {"b": ["model.b.mart", "model.b.other"]},     # b.other slid into b's only invocation
        {"a": ["model.a.pub_late"]},
        {"c": ["model.c.report"]},
    ]
    assert plan.depends[("c", 3)] == {("a", 2), ("b", 1)}
    assert ("a", 0) in plan.depends[("a", 2)]


def test_state_reuse_and_propagation():
    graph = _graph(CHAIN)
    built = {uid: ModelState(uid, graph.owner[uid], "fp", 100.0, 7, "success", True, {})
             for uid in graph.nodes}
    assert _plan(graph, built).noop
    built["model.a.stg"].fingerprint = "old"
    plan = _plan(graph, built)
    reasons = {uid: d.label for uid, d in plan.decisions.items()}
    assert reasons["model.a.stg"] == "rebuilt: code or config changed"
    assert reasons["model.b.mart"] == "rebuilt: a.pub_core was rebuilt"
    assert reasons["model.b.other"] == "reused: unchanged since run 7"
    assert reasons["model.c.report"] == "rebuilt: a.pub_late was rebuilt"


def _with_test(graph: MeshGraph, project: str, name: str, parents: list[str]) -> str:
    """Add a singular test of `project` reading `parents` (unique ids) to a built graph."""
    uid = f"test.{project}.{name}"
    test = Node(unique_id=uid, resource_type="test", package_name=project, name=name,
                original_file_path=f"tests/{name}.sql", fqn=[project, name],
                depends_on=DependsOn(nodes=parents))
    graph.nodes[uid] = test
    graph.owner[uid] = project
    graph._link(uid, parents)
    return uid


def test_a_test_reading_a_later_model_of_another_project_is_deferred():
    graph = _graph(CHAIN)
    late = _with_test(graph, "a", "core_in_mart", ["model.a.pub_core", "model.b.mart"])
    local = _with_test(graph, "a", "core_vs_stg", ["model.a.pub_core", "model.a.stg"])
    units = {u.key: u for u in _plan(graph).units}
    assert units[("a", 0)].excluded == (late,)
    assert units[("a", 2)].tests == (late,)             # after b.mart (wave 1)
    assert local not in units[("a", 0)].excluded + units[("a", 2)].tests
    # A test reading another project's model that this plan reuses runs as dbt would run it.
    other = _with_test(graph, "a", "stg_vs_other", ["model.a.stg", "model.b.other"])
    cold = {u.key: u for u in _plan(graph).units}
    assert set(cold[("a", 2)].tests) == {late, other}   # cold, b.other is built in wave 1
    built = {uid: ModelState(uid, graph.owner[uid], "fp", 100.0, 7, "success", True, {})
             for uid in graph.nodes if uid.startswith("model.")}
    built["model.a.stg"].fingerprint = "old"
    units = {u.key: u for u in _plan(graph, built).units}
    assert "model.b.other" not in units[("b", 1)].nodes
    assert units[("a", 0)].excluded == (late,) and units[("a", 2)].tests == (late,)


def test_a_deferred_test_gets_an_invocation_of_its_own_when_none_is_due():
    graph = _graph({"a.base": [], "b.mid": ["a.base"]})
    test = _with_test(graph, "a", "base_in_mid", ["model.a.base", "model.b.mid"])
    plan = _plan(graph)
    assert [(u.key, u.nodes, u.tests) for u in plan.units] == [
        (("a", 0), ("model.a.base",), ()), (("b", 1), ("model.b.mid",), ()), (("a", 2), (), (test,))]
    assert plan.depends[("a", 2)] == {("a", 0), ("b", 1)}


def test_a_unit_names_whole_folders_once_and_other_nodes_one_by_one():
    def node(project: str, *fqn: str, kind: str = "model") -> Node:
        return Node(unique_id=f"{kind}.{project}.{'_'.join(fqn)}", resource_type=kind,
                    package_name=project, name="_".join(fqn), original_file_path=f"models/{fqn[-1]}",
                    fqn=[project, *fqn])
    nodes = [node("p", "staging", "a"), node("p", "staging", "b"), node("p", "marts", "c"),
             node("p", "marts", "d"), node("p", "marts", "e", "v2"), node("p", "s", kind="seed"),
             node("p", "marts", "t", kind="test")]
    graph = MeshGraph()
    graph.add_project(ProjectState("p", Manifest(ManifestMetadata(project_name="p"),
                                                  {n.unique_id: n for n in nodes})))
    ids = [n.unique_id for n in nodes]
    everything = unit_selectors(graph, "p", ids[:6])
    assert everything == ["fqn:p.staging", "fqn:p.marts", "fqn:p.s"]
    assert unit_selectors(graph, "p", [ids[0], ids[1], ids[2], ids[6]]) == [
        "fqn:p.staging", "fqn:p.marts.c", "fqn:p.marts.t"]
    assert unit_selectors(graph, "p", [ids[4]]) == ["fqn:p.marts.e.v2"]


def test_reasons_are_kept_as_kinds_and_worded_where_shown(tmp_path):
    """History stores a reason's kind and facts; the words come back when it is shown, and a
    row from before kinds keeps its words."""
    from meshkit.orchestrate.history import History
    from meshkit.orchestrate.reasons import Kind, describe_stored

    graph = _graph(CHAIN)
    built = {uid: ModelState(uid, graph.owner[uid], "fp", 100.0, 7, "success", True, {})
             for uid in graph.nodes}
    built["model.a.stg"].fingerprint = "old"
    plan = _plan(graph, built)
    kinds = {uid: d.reason.kind for uid, d in plan.decisions.items()}
    assert kinds["model.a.stg"] is Kind.CODE_CHANGED and kinds["model.b.other"] is Kind.UNCHANGED
    assert [c.kind for c in plan.decisions["model.b.mart"].reason.causes] == [Kind.UPSTREAM_REBUILT]
    history = History(tmp_path / "history.db")
    run = history.start_run("prod", "test")
    history.record_decisions(run, [d.history_row for d in plan.decisions.values()])
    history.db.execute("insert into run_nodes (run_id, unique_id, project, decision, reason) "
                       "values (?, 'model.old.x', 'old', 'rebuild', 'code or config changed')", (run,))
    rows = {r["unique_id"]: r for r in history.run_nodes(run)}
    history.close()
    assert rows["model.b.mart"]["reason"] == "new_data"
    for uid, decision in plan.decisions.items():
        shown = describe_stored(rows[uid]["reason"], rows[uid]["details"])
        assert decision.label.endswith(": " + shown)
    assert describe_stored(rows["model.old.x"]["reason"], None) == "code or config changed"


@pytest.mark.parametrize("results, roots, messages", [
    # dbt build runs a model's unit tests first; one failing skips the model and its children.
    ({"unit_test.a.stg.stg_is_two": "fail", "model.a.stg": "skipped", "model.a.pub_core": "skipped"},
     {"model.a.stg": "a.stg's unit test stg_is_two"},
     {"model.a.stg": "skipped because a.stg's unit test stg_is_two failed",
      "model.a.pub_core": "skipped because a.stg's unit test stg_is_two failed"}),
    # A parent that errors: its children's skips name it.
    ({"model.a.stg": "error", "model.a.pub_core": "skipped"},
     {"model.a.stg": "a.stg"}, {"model.a.pub_core": "skipped because a.stg failed"}),
    # A skip no failure in run_results explains still stops the node's readers.
    ({"model.a.stg": "success", "model.a.pub_core": "skipped"},
     {"model.a.pub_core": "a.pub_core (skipped by dbt)"}, {}),
])
def test_every_failure_dbt_skips_a_node_for_skips_its_readers_in_other_projects(
        results, roots, messages):
    """Each failure `dbt build` skips a node for makes the skipped node's readers in other
    projects skip too, and every skip names the failure."""
    from meshkit.dbt.artifacts import RunResult, RunResults, RunResultsMetadata
    from meshkit.dbt.runner import DbtResult
    from meshkit.orchestrate.execute import ExecutionOptions, Executor

    graph = _graph(CHAIN)
    plan = _plan(graph)
    executor = Executor(None, None, None, 1, plan, ExecutionOptions(), {}, {})
    run = RunResults(RunResultsMetadata(), [RunResult(uid, status) for uid, status in results.items()])
    executor._absorb(plan.units[0], ["model.a.stg", "model.a.pub_core"], DbtResult((), 1, "", 0.0),
                     run)
    assert executor.failed_roots == roots
    assert {uid: executor.outcomes[uid].message for uid in messages} == messages
    # b.mart reads a.pub_core from another project: it is skipped, naming the first failure.
    assert executor._blocking_failure("model.b.mart") == next(iter(roots.values()))


def test_a_skip_is_blamed_on_the_failure_before_it():
    """A skip dbt reports is blamed on a failed test or unit test of the node or an ancestor."""
    from meshkit.orchestrate.execute import failure_label, skip_cause

    graph = _graph(CHAIN)
    test = _with_test(graph, "a", "stg_ok", ["model.a.stg"])
    assert failure_label(graph, test) == "a.stg (test stg_ok)"
    assert skip_cause(graph, "model.b.mart", ["model.c.report", test]) == "a.stg (test stg_ok)"
    assert skip_cause(graph, "model.b.mart", ["unit_test.a.pub_core.core_ok"]) \
        == "a.pub_core's unit test core_ok"
    assert skip_cause(graph, "model.b.mart", ["unit_test.c.report.later"]) \
        == "b.mart (skipped by dbt)"


def test_vars_reach_dbt_as_written_and_key_the_parse_cache_by_meaning(tmp_path):
    """--vars go to dbt as the user wrote them; a cached parse is reused for the same mapping
    however it is written, and a parse without vars keeps its key."""
    from meshkit.config import load_mesh
    from meshkit.config.dbt_vars import NO_VARS, DbtVars
    from meshkit.orchestrate.parse import parse_key

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "dbt_project.yml").write_text("name: a\nprofile: a\n")
    (tmp_path / "mesh.yml").write_text("name: m\nprojects:\n  a: a\n")
    mesh = load_mesh(tmp_path / "mesh.yml")
    env, project = mesh.environment(None), mesh.project("a")
    yaml_text, json_text = DbtVars.parse("{x: 1, y: [a]}"), DbtVars.parse('{"y": ["a"], "x": 1}')
    assert yaml_text.args == ["--vars", "{x: 1, y: [a]}"]
    assert DbtVars.parse(" ").args == DbtVars.parse("{}").args == []
    assert parse_key(env, project, "u", yaml_text) == parse_key(env, project, "u", json_text)
    assert parse_key(env, project, "u", yaml_text) != parse_key(env, project, "u", NO_VARS)
    assert parse_key(env, project, "u", DbtVars.parse("{}")) == parse_key(env, project, "u")
