"""Data-product scores: each of the eight steps, the 0–5 formula, and the store file."""

from __future__ import annotations

import msgspec
import pytest

from fixtures.govern.builder import ProjectBuilder, view_of
from meshkit.config.policy import ScoreSettings
from meshkit.dbt.artifacts import RunResult, RunResults, RunResultsMetadata
from meshkit.govern.score import score_model, score_models
from meshkit.store.scores import ModelScore, ScoreFile, ScoreStep, read_scores, write_scores
from meshkit.store.store import Store


def product(**overrides):
    """A mesh whose public model `orders_wide` passes every step unless told otherwise."""
    a = ProjectBuilder("analytics")
    a.group("core", "Core team", "core@example.com")
    stg = a.model("stg_orders", description="d", folder="staging")
    a.test(stg, "unique", "id")
    args = dict(access="public", contract=True, group="core", description="Every order, wide.",
                columns={"id": "The key.", "amount": "In cents."}, grants={"select": ["reporter"]},
                depends_on=[stg], meta={"domain": "sales"})
    args.update(overrides)
    a.model(args.pop("name", "orders_wide"), **args)
    return a


def steps(result) -> dict:
    return {s.id: s.passed for s in result.steps}


def only(view, name="orders_wide"):
    return next(m for m in view.models.values() if m.name == name)


def test_a_model_passing_every_step_scores_five():
    view = view_of(product())
    result = score_model(view, only(view))
    assert result.score == 5.0 and result.missing == []
    assert steps(result)["open_format"] is None   # not asked for by this mesh


@pytest.mark.parametrize("overrides, step", [
    ({"contract": False}, "contract"),
    ({"columns": {"id": "The key.", "amount": ""}}, "documented"),
    ({"description": ""}, "documented"),
    ({"group": None}, "metadata"),
    ({"name": "fct_orders"}, "standalone"),
    ({"grants": {}}, "access"),
])
def test_each_missing_step_costs_two_thirds_of_a_star(overrides, step):
    view = view_of(product(**overrides))
    name = overrides.get("name", "orders_wide")
    result = score_model(view, only(view, name))
    assert [s.id for s in result.missing] == [step]
    assert result.score == round(1 + 4 * 5 / 6, 1) == 4.3
    assert result.missing[0].detail


def test_tested_upstream_needs_every_upstream_model_tested():
    a = product()
    bare = a.model("stg_customers", description="d", folder="staging")
    a.nodes["model.analytics.orders_wide"]["depends_on"]["nodes"].append(bare)
    view = view_of(a)
    result = score_model(view, only(view))
    assert [s.id for s in result.missing] == ["tested"]
    assert "analytics.stg_customers" in result.missing[0].detail


def test_a_failed_upstream_test_fails_the_step():
    a = product()
    view = view_of(a)
    test_id = next(uid for uid in a.nodes if uid.startswith("test."))
    view.graph.projects["analytics"].run_results = RunResults(
        RunResultsMetadata(), [RunResult(test_id, "fail")])
    result = score_model(view, only(view))
    assert [s.id for s in result.missing] == ["tested"] and "failed" in result.missing[0].detail


def test_standalone_can_be_declared():
    view = view_of(product(name="fct_orders", meta={"standalone": True}))
    assert steps(score_model(view, only(view, "fct_orders")))["standalone"] is True


def test_required_meta_and_open_table_format_when_the_mesh_asks():
    settings = ScoreSettings(required_meta=("domain", "sla"), open_table_format=True)
    view = view_of(product())
    result = score_model(view, only(view), settings)
    assert {s.id for s in result.missing} == {"metadata", "open_format"}
    assert "sla" in next(s.detail for s in result.missing if s.id == "metadata")
    assert result.score == round(1 + 4 * 5 / 7, 1)
    iceberg = view_of(product(table_format="iceberg", meta={"domain": "x", "sla": "daily"}))
    assert score_model(iceberg, only(iceberg), settings).score == 5.0


def test_public_only_scores_one_and_private_models_are_not_scored():
    a = ProjectBuilder("analytics")
    a.model("fct_orders", access="public")         # nothing else: one star for being public
    a.model("stg_orders", access="protected")
    view = view_of(a)
    [result] = score_models(view)
    assert result.model.name == "fct_orders" and result.score == 1.0
    assert len(result.missing) == 6


def test_scores_round_trip_through_the_store(tmp_path):
    store = Store(str(tmp_path / "store"))
    scores = ScoreFile(project="analytics", environment="prod", computed_at="2026-01-15T00:00:00Z",
                       meshkit_version="0", run_id="r1",
                       models=[ModelScore("model.analytics.x", "x", 4.3,
                                          [ScoreStep("public", "Public", True)])])
    where = write_scores(store, scores)
    assert where.endswith("analytics/prod/scores.json")
    assert read_scores(store, "analytics", "prod") == scores
    assert read_scores(store, "finance", "prod") is None
    assert not [p for p in (tmp_path / "store" / "analytics" / "prod").iterdir() if p.name.startswith(".")]
    assert msgspec.json.decode((tmp_path / "store/analytics/prod/scores.json").read_bytes())["run_id"] == "r1"
