"""Selection, cycles, state decisions and waves on plain data (no dbt)."""

from __future__ import annotations

import pytest

from meshkit.dbt.artifacts import DependsOn, Manifest, ManifestMetadata, Node, NodeConfig
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.graph.selection import Selector
from meshkit.orchestrate.history import ModelState
from meshkit.orchestrate.plan import check_cycles, make_plan
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
])
def test_selection(expression, expected):
    graph = _graph(CHAIN, tags={"b.other": ["nightly"]})
    assert Selector(graph).select([expression]) == _ids(*expected)


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
