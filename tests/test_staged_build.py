"""Staged builds: a project is planned, and its dbt build may start, as soon as it and its
upstream projects are parsed — with the same decisions as planning the whole mesh first."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, run, statuses
from meshes import write_mesh
from meshkit.config.mesh import load_mesh
from meshkit.orchestrate.build import BuildOptions, plan_mesh
from meshkit.orchestrate.context import planning_context
from meshkit.orchestrate.history import History
from meshkit.orchestrate.staged import StagedPlanner, staging_order

pytestmark = pytest.mark.e2e

# up → mid → down, and solo on its own.
CHAIN = {
    "up": {"u_base": "select 1 as id union all select 2 as id",
           "u_pub": "select id * 10 as value from {{ ref('u_base') }}"},
    "mid": {"m_pub": "select value + 1 as value from {{ ref('up', 'u_pub') }}"},
    "down": {"d_top": "select sum(value) as total from {{ ref('mid', 'm_pub') }}"},
    "solo": {"s_only": "select 42 as answer"},
}
CHAIN_PUBLIC = {"up": ["u_pub"], "mid": ["m_pub"]}


def _planner(mesh_dir: Path, history: History, **options) -> StagedPlanner:
    mesh = load_mesh(mesh_dir / "mesh.yml")
    build_options = BuildOptions(**options)
    ctx = planning_context(mesh, build_options, history)
    upstream = staging_order(mesh, ctx, build_options)
    assert upstream is not None
    return StagedPlanner(mesh, ctx, history, upstream)


def test_each_project_is_planned_once_it_and_its_upstream_are_parsed(tmp_path):
    mesh_dir = write_mesh(tmp_path / "chain", CHAIN, CHAIN_PUBLIC)
    history = History(tmp_path / "history.db")
    planner = _planner(mesh_dir, history)
    tasks = {}
    while (task := planner.next_task(lambda project: False)) is not None:
        tasks[task.project] = task
    assert set(tasks) == set(CHAIN) and all(t.kind == "parse" for t in tasks.values())
    assert planner.busy

    def finish(project: str) -> dict[str, list[str]]:
        units = planner.finish(tasks[project], tasks[project].run())
        return {u.project: sorted(n.split(".")[-1] for n in u.nodes) for u in units}

    # down is parsed first, but waits for mid; up is planned alone, before mid is parsed.
    assert finish("down") == {}
    assert finish("up") == {"up": ["u_base", "u_pub"]}
    assert finish("mid") == {"mid": ["m_pub"], "down": ["d_top"]}
    assert finish("solo") == {"solo": ["s_only"]}
    assert not planner.busy

    plan = planner.plan
    keys = {u.project: u.key for u in plan.units}
    assert plan.depends[keys["mid"]] == {keys["up"]}
    assert plan.depends[keys["down"]] == {keys["mid"]}
    assert plan.depends[keys["solo"]] == set()
    # The same decisions as planning the whole mesh at once.
    whole = plan_mesh(load_mesh(mesh_dir / "mesh.yml"), BuildOptions(), history).plan
    assert {uid: (d.rebuild, d.reason) for uid, d in plan.decisions.items()} == \
        {uid: (d.rebuild, d.reason) for uid, d in whole.decisions.items()}
    assert plan.selected.index("model.up.u_pub") < plan.selected.index("model.mid.m_pub")
    history.close()


def test_selectors_that_look_downstream_plan_the_whole_mesh_first(tmp_path):
    mesh_dir = write_mesh(tmp_path / "chain", CHAIN, CHAIN_PUBLIC)
    mesh = load_mesh(mesh_dir / "mesh.yml")
    history = History(tmp_path / "history.db")
    for select, staged in ((["up:u_pub+"], True), (["project:mid", "tag:x"], True),
                           (["+down:d_top"], False), (["@mid:m_pub"], False),
                           (["solo:s_only,2+mid:m_pub"], False)):
        options = BuildOptions(select=select)
        assert (staging_order(mesh, planning_context(mesh, options, history), options)
                is not None) == staged, select
    options = BuildOptions(verify_relations=True)
    assert staging_order(mesh, planning_context(mesh, options, history), options) is None
    history.close()


def test_a_selection_naming_a_downstream_project_is_staged_and_correct(tmp_path):
    mesh_dir = write_mesh(tmp_path / "chain", CHAIN, CHAIN_PUBLIC)
    assert meshkit_json(["build", "--select", "project:up"], cwd=mesh_dir)["status"] == "success"
    report = meshkit_json(["build", "--full", "--select", "up:u_pub+"], cwd=mesh_dir)
    assert statuses(report) == {"up.u_pub": "success", "mid.m_pub": "success",
                                "down.d_top": "success"}
    con = duckdb.connect(str(mesh_dir / "warehouse" / "down.duckdb"), read_only=True)
    try:
        assert con.execute("select total from d_top").fetchall() == [(32,)]
    finally:
        con.close()


def test_a_project_that_fails_to_parse_mid_build_fails_the_run_with_dbt_s_words(tmp_path):
    broken = {**CHAIN, "down": {"d_top": "select {{ ref('mid', 'm_pub') }} {% if %}"}}
    mesh_dir = write_mesh(tmp_path / "chain", broken, CHAIN_PUBLIC)
    result = run(["meshkit", "build"], cwd=mesh_dir, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "`dbt parse` failed in project 'down'" in output
    assert "Traceback" not in output
    runs = json.loads(run(["meshkit", "runs", "--json"], cwd=mesh_dir).stdout)
    assert [r["status"] for r in runs] == ["error"]
