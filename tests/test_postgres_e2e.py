"""The quickstart mesh and the orchestrator on a real PostgreSQL server.

PostgreSQL cannot query across databases, so the mesh lives in one database with a schema
per project (analytics, finance) and the raw data in its own schemas (jaffle_shop, stripe).
"""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import EXAMPLE, _IGNORED, meshkit_json, pg_query, run, statuses
from meshes import TRIANGLE, TRIANGLE_PUBLIC, write_mesh

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_mesh(tmp_path, pg_database):
    """The example mesh with the raw data seeded into this test's PostgreSQL database."""
    mesh = tmp_path / "jaffle-mesh"
    shutil.copytree(EXAMPLE, mesh, ignore=_IGNORED)
    run(["dbt", "seed", "--target", "postgres"], cwd=mesh / "raw")
    return mesh


def test_quickstart_on_postgres(pg_mesh, pg_database):
    report = meshkit_json(["build", "--env", "pg"], cwd=pg_mesh)
    assert report["status"] == "success"
    assert set(statuses(report).values()) == {"success"}
    compiled = next((pg_mesh / "finance" / "target" / "compiled").rglob(
        "agg_customer_payment_journey.sql")).read_text()
    assert f'"{pg_database}"."analytics"."fct_orders_v2"' in compiled
    total = pg_query("select sum(total_amount) from finance.agg_customer_payment_journey")[0][0]
    paid = pg_query("select sum(p.amount) from stripe.payment p "
                    "join jaffle_shop.orders o on o.id = p.orderid")[0][0]
    assert total == paid > 0
    days = pg_query("select days_as_customer_at_purchase from finance.agg_customer_payment_journey")
    assert len(days) == len(set(days)) > 1
    # State-aware rerun: nothing changed, nothing runs.
    again = meshkit_json(["build", "--env", "pg"], cwd=pg_mesh)
    assert again["status"] == "noop" and set(statuses(again).values()) == {"reused"}
    # The relation check goes through dbt's postgres adapter.
    pg_query("drop table finance.agg_customer_payment_journey")
    verified = meshkit_json(["build", "--env", "pg", "--verify-relations"], cwd=pg_mesh)
    agg = next(n for n in verified["nodes"] if n["node"] == "finance.agg_customer_payment_journey")
    assert agg["reason"] == f'relation "{pg_database}"."finance"."agg_customer_payment_journey" is missing'
    assert agg["status"] == "success"


def test_contract_and_access_on_postgres(pg_mesh):
    assert meshkit_json(["build", "--env", "pg"], cwd=pg_mesh)["status"] == "success"
    model = pg_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql"
    text = model.read_text()
    model.write_text(re.sub(r"^(\s*)(c\.first_name,)", r"\1-- \2", text, count=1, flags=re.M))
    broken = run(["meshkit", "build", "--env", "pg", "-s", "analytics:fct_orders"], cwd=pg_mesh,
                 check=False)
    assert broken.returncode == 1
    assert "This model has an enforced contract that failed" in broken.stdout
    model.write_text(text)
    (pg_mesh / "finance" / "models" / "core" / "uses_stg.sql").write_text(
        "select * from {{ ref('analytics', 'stg_orders') }}\n")
    refused = run(["meshkit", "build", "--env", "pg"], cwd=pg_mesh, check=False)
    assert refused.returncode == 2
    assert "'uses_stg' refs analytics.stg_orders, which is protected to project 'analytics'" \
        in refused.stderr


def test_failure_skips_downstream_across_schemas(tmp_path, pg_database):
    # (On DuckDB: tests/test_orchestrate_e2e.py::test_failure_skips_exactly_its_downstream…)
    projects = {name: dict(models) for name, models in TRIANGLE.items()}
    projects["beta"]["b_mid"] = "select id, amount * 2 as amount from {{ ref('alpha', 'a_base') }} where no_such_column"
    mesh = write_mesh(tmp_path / "tri", projects, TRIANGLE_PUBLIC, adapter="postgres")
    report = meshkit_json(["build"], cwd=mesh, check=False)
    got = statuses(report)
    assert got["beta.b_mid"] == "error"
    assert got["alpha.a_top"] == "skipped" and got["gamma.g_top"] == "skipped"
    assert got["gamma.g_mid"] == "success" and got["beta.b_top"] == "success"
