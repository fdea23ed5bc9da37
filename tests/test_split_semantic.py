"""Semantic models, metrics and saved queries move with the model they measure in a split;
a metric that would measure several projects is refused by name; the time spine is copied
into every project with semantic models (dbt refuses to parse one without it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import meshkit_json, run

MONOLITH = Path(__file__).parent / "fixtures" / "monolith"

SEMANTIC = """version: 2

semantic_models:
  - name: orders
    model: ref('fct_orders')
    defaults:
      agg_time_dimension: order_date
    entities:
      - name: order_id
        type: primary
    dimensions:
      - name: order_date
        type: time
        type_params:
          time_granularity: day
    measures:
      - name: order_count
        agg: count
        expr: order_id
  - name: revenue
    model: ref('fct_order_revenue')
    defaults:
      agg_time_dimension: revenue_date
    entities:
      - name: paid_order
        type: primary
        expr: order_id
    dimensions:
      - name: revenue_date
        expr: order_date
        type: time
        type_params:
          time_granularity: day
    measures:
      - name: revenue_cents
        agg: sum
        expr: amount_cents

metrics:
  - name: order_count
    label: Orders
    type: simple
    type_params:
      measure: order_count
  - name: revenue_cents
    label: Revenue
    type: simple
    type_params:
      measure: revenue_cents

saved_queries:
  - name: daily_orders
    query_params:
      metrics: [order_count]
      group_by: ["TimeDimension('order_id__order_date', 'day')"]
"""

CROSS = """  - name: revenue_per_order
    label: Revenue per order
    type: ratio
    type_params:
      numerator: revenue_cents
      denominator: order_count
"""


def _monolith(tmp: Path, semantic: str) -> Path:
    project = tmp / "jaffle_shop"
    shutil.copytree(MONOLITH, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    spine = project / "models/core/marts/metricflow_time_spine.sql"
    spine.write_text("select cast(range as date) as date_day\n"
                     "from range(date '2024-01-01', date '2024-03-01', interval 1 day)\n")
    (project / "models/core/marts/_semantic.yml").write_text(semantic)
    target = tmp / "target"
    run(["dbt", "parse", "--target-path", str(target), "--log-path", str(target)], cwd=project)
    return project


@pytest.fixture(scope="module")
def monolith(tmp_path_factory) -> Path:
    return _monolith(tmp_path_factory.mktemp("semantic"), SEMANTIC.replace(
        "\nsaved_queries:", CROSS + "\nsaved_queries:"))


def test_a_metric_measuring_two_new_projects_is_refused_by_name(monolith, tmp_path):
    report = meshkit_json(["split", "plan", str(monolith), "--manifest",
                           str(monolith.parent / "target" / "manifest.json")], cwd=tmp_path, check=False)
    assert [b["message"] for b in report["blockers"]] == [
        "metric 'revenue_per_order' measures semantic models that would land in different projects "
        "(core: order_count; finance: revenue_cents); MetricFlow answers a metric from one "
        "project's semantic layer"]
    assert report["blockers"][0]["file"] == "models/core/marts/_semantic.yml"


def test_semantic_layer_moves_with_its_models_and_each_project_parses(tmp_path):
    project = _monolith(tmp_path, SEMANTIC)
    out = tmp_path / "mesh"
    meshkit_json(["split", "apply", str(project), "--out", str(out), "--manifest",
                  str(tmp_path / "target" / "manifest.json")], cwd=tmp_path)
    core = yaml.safe_load((out / "core/models/core/marts/_semantic.yml").read_text())
    finance = yaml.safe_load((out / "finance/models/core/marts/_semantic.yml").read_text())
    assert [s["name"] for s in core["semantic_models"]] == ["orders"]
    assert [m["name"] for m in core["metrics"]] == ["order_count"]
    assert [q["name"] for q in core["saved_queries"]] == ["daily_orders"]
    assert [s["name"] for s in finance["semantic_models"]] == ["revenue"]
    assert [m["name"] for m in finance["metrics"]] == ["revenue_cents"]
    assert "saved_queries" not in finance
    # The time spine is in both projects with semantic models, and in no other.
    spines = sorted(p.parts[len(out.parts)] for p in out.rglob("metricflow_time_spine.sql"))
    assert spines == ["core", "finance"]
    # dbt accepts each project's semantic layer (it refuses one without a time spine). The
    # tables themselves are what test_split_e2e compares; semantic models add none.
    # finance holds the copy of the time spine: without it dbt refuses its semantic layer.
    run(["dbt", "deps"], cwd=out / "finance")
    run(["dbt", "parse", "--target-path", str(tmp_path / "t"), "--log-path", str(tmp_path / "t")],
        cwd=out / "finance", env={"MESHKIT_LENIENT": "1"})
