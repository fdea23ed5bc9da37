"""A model made public and referenced from another project in the same change builds in one
`meshkit build`: the planning parse records refused refs, and only those this run does not
publish as public are refused (meshkit.orchestrate.access)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import meshkit_json, run, statuses
from meshes import write_mesh
from meshkit.orchestrate.access import (ModelAccess, Refusal, published_in_run, refuse,
                                        standing_refusals)
from meshkit.errors import MeshError


def _refusal(target: str = "model.up.hidden", consumer: str = "down", kind: str = "restricted",
             line: int = 1) -> Refusal:
    return Refusal(consumer, f"model.{consumer}.reader", "reader", target, target.split(".")[1],
                   target.split(".")[2], kind, f"'reader' refs {target}, which is protected",
                   f"{consumer}/models/reader.sql", line, "set `access: public`")


# -- the decision, on plain data ------------------------------------------------------------
def test_refused_ref_is_allowed_when_this_run_publishes_it_public():
    models = {"model.up.hidden": ModelAccess("public", rebuilt=True)}
    assert standing_refusals([_refusal()], {"down"}, set(), published_in_run(models)) == []


def test_refused_ref_stands_when_the_working_copy_keeps_it_protected():
    models = {"model.up.hidden": ModelAccess("protected", rebuilt=True)}
    refused = [_refusal()]
    assert standing_refusals(refused, {"down"}, set(), published_in_run(models)) == refused


def test_refused_ref_stands_when_this_run_does_not_publish_the_producer():
    """Public in the working copy but not rebuilt (`--project down`): the store decides."""
    models = {"model.up.hidden": ModelAccess("public", rebuilt=False)}
    refused = [_refusal()]
    assert standing_refusals(refused, {"down"}, set(), published_in_run(models)) == refused


def test_refused_ref_is_void_once_the_store_publishes_it_public():
    """A cached parse recorded it before the producer published: it no longer holds."""
    assert standing_refusals([_refusal()], {"down"}, {"model.up.hidden"}, set()) == []


def test_refusal_in_a_project_this_run_does_not_build_is_ignored():
    assert standing_refusals([_refusal()], {"up"}, set(), set()) == []


def test_undeclared_project_is_refused_whatever_the_run_publishes():
    refused = [_refusal(kind="undeclared")]
    assert standing_refusals(refused, {"down"}, {"model.up.hidden"},
                             {"model.up.hidden"}) == refused


def test_placeholder_for_a_new_model_the_working_copy_keeps_private_is_refused():
    """The store has never published it, so the parse answered with a placeholder."""
    working = {"model.up.hidden": ModelAccess("private", rebuilt=True, group="core"),
               "model.up.shown": ModelAccess("public", rebuilt=True)}
    [standing] = standing_refusals([_refusal(kind="unpublished")], {"down"}, set(),
                                   published_in_run(working), working)
    assert standing.message == ("'reader' refs up.hidden, which is private to the 'core' group; "
                                "only public models can be referenced from another project")
    assert "set `access: public` on hidden" in standing.hint and "(shown)" in standing.hint
    working["model.up.hidden"] = ModelAccess("public", rebuilt=True)
    assert standing_refusals([_refusal(kind="unpublished")], {"down"}, set(), set(), working) == []


def test_first_refusal_by_file_and_line_is_raised_with_its_words():
    with pytest.raises(MeshError) as raised:
        refuse([_refusal(line=9), _refusal("model.up.other", line=3)])
    assert raised.value.render() == ("down/models/reader.sql:3: 'reader' refs model.up.other, "
                                     "which is protected\n  → set `access: public`")


# -- end to end ------------------------------------------------------------------------------
@pytest.mark.e2e
def test_one_way_public_and_ref_in_one_change_builds_in_one_run(built_mesh):
    staging = built_mesh / "analytics" / "models" / "staging" / "staging.yml"
    staging.write_text(staging.read_text().replace(
        "  - name: stg_customers\n", "  - name: stg_customers\n    access: public\n"))
    (built_mesh / "finance" / "models" / "core" / "customer_count.sql").write_text(
        "select count(*) as n from {{ ref('analytics', 'stg_customers') }}\n")
    report = meshkit_json(["build"], cwd=built_mesh)
    assert report["status"] == "success"
    assert statuses(report)["finance.customer_count"] == "success"
    assert {"analytics", "finance"} <= set(report["published"])


# A reads B and B reads A; b_extra and b_more are protected until a change makes them public.
TWO_WAY = {
    "a": {"a_base": "select 1 as id", "a_top": "select id from {{ ref('b', 'b_mid') }}"},
    "b": {"b_mid": "select id from {{ ref('a', 'a_base') }}",
          "b_extra": "select 2 as id", "b_more": "select 3 as id"},
}


def _make_public(mesh: Path, models: list[str]) -> None:
    (mesh / "b" / "models" / "models.yml").write_text(
        "version: 2\nmodels:\n" + "".join(f"  - name: {m}\n    access: public\n"
                                          for m in ["b_mid", *models]))


@pytest.mark.e2e
def test_two_way_public_and_ref_in_one_change_builds(tmp_path):
    mesh = write_mesh(tmp_path / "two", TWO_WAY, {"a": ["a_base"], "b": ["b_mid"]})
    run(["meshkit", "build"], cwd=mesh)
    # B makes b_extra public and A refs it: building B alone no longer trips on A's parse.
    _make_public(mesh, ["b_extra"])
    (mesh / "a" / "models" / "a_new.sql").write_text("select id from {{ ref('b', 'b_extra') }}\n")
    only_b = meshkit_json(["build", "--project", "b"], cwd=mesh)
    assert only_b["status"] == "success" and "a.a_new" not in statuses(only_b)
    assert statuses(meshkit_json(["build"], cwd=mesh))["a.a_new"] == "success"
    # The whole mesh in one run, while A also rebuilds a model before B publishes (that
    # invocation parses A's new ref too, to a model still protected in the store).
    _make_public(mesh, ["b_extra", "b_more"])
    (mesh / "a" / "models" / "a_base.sql").write_text("select 10 as id\n")
    (mesh / "a" / "models" / "a_more.sql").write_text("select id from {{ ref('b', 'b_more') }}\n")
    report = meshkit_json(["build"], cwd=mesh)
    assert report["status"] == "success"
    assert statuses(report)["a.a_more"] == statuses(report)["a.a_base"] == "success"
    # A genuinely forbidden ref is still refused before anything runs.
    (mesh / "a" / "models" / "a_bad.sql").write_text("select 1 as x from {{ ref('b', 'b_hidden') }}\n")
    (mesh / "b" / "models" / "b_hidden.sql").write_text("select 4 as id\n")
    before = _latest(mesh, "b")
    refused = run(["meshkit", "build"], cwd=mesh, check=False)
    assert refused.returncode == 2
    assert "a/models/a_bad.sql:1: 'a_bad' refs b.b_hidden, which is protected" in refused.stderr
    assert _latest(mesh, "b") == before     # b_hidden was not built and published first


def _latest(mesh: Path, project: str) -> str:
    return json.loads((mesh / ".meshkit" / "store" / project / "prod" / "latest.json")
                      .read_text())["run_id"]
