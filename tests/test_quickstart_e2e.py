"""The quickstart mesh, end to end: meshkit and plain dbt on real DuckDB files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, run, statuses

pytestmark = pytest.mark.e2e


def _latest_run(mesh: Path, project: str, env: str = "prod") -> str:
    pointer = mesh / ".meshkit" / "store" / project / env / "latest.json"
    return json.loads(pointer.read_text())["run_id"]


def _finance_db(mesh: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(mesh / "warehouse" / "jaffle_finance.duckdb"), read_only=True)
    con.execute(f"attach '{mesh / 'warehouse' / 'raw.duckdb'}' as raw (read_only)")
    return con


def _compiled(project_dir: Path, model: str) -> str:
    found = list((project_dir / "target" / "compiled").rglob(f"{model}.sql"))
    assert found, f"no compiled SQL for {model}"
    return found[0].read_text()


def test_mesh_builds_and_finance_reads_analytics(built_mesh):
    con = _finance_db(built_mesh)
    rows = con.execute("select days_as_customer_at_purchase, total_amount, total_credit_card_amount"
                       " + total_coupon_amount + total_bank_transfer_amount + total_gift_card_amount"
                       " from prod.agg_customer_payment_journey").fetchall()
    days = [r[0] for r in rows]
    assert len(days) == len(set(days)) > 1, "one row per days_as_customer_at_purchase"
    assert all(total == by_method for _, total, by_method in rows if total is not None)
    total = con.execute("select sum(total_amount) from prod.agg_customer_payment_journey").fetchone()[0]
    paid = con.execute("select sum(amount) from raw.stripe.payment p "
                       "join raw.jaffle_shop.orders o on o.id = p.orderid").fetchone()[0]
    assert total == paid > 0
    assert '"jaffle_da"."prod"."fct_orders_v2"' in _compiled(built_mesh / "finance",
                                                              "agg_customer_payment_journey")
    for project in ("analytics", "finance"):
        assert _latest_run(built_mesh, project)


def test_store_holds_public_interface_only(built_mesh):
    store = built_mesh / ".meshkit" / "store" / "analytics" / "prod"
    run_dir = store / "runs" / _latest_run(built_mesh, "analytics")
    interface = json.loads((run_dir / "interface.json").read_text())
    public = {(m["name"], m["version"]) for m in interface["models"]}
    assert public == {("fct_orders", "1"), ("fct_orders", "2")}
    restricted = {m["name"]: m["access"] for m in interface["restricted"]}
    assert restricted == {"stg_customers": "protected", "stg_orders": "protected"}
    record = json.loads((run_dir / "meshkit-run.json").read_text())
    assert set(record["files"]) >= {"manifest.json", "run_results.json", "interface.json"}
    assert record["status"] == "success" and record["dbt_version"].startswith("1.")


def test_build_one_project_against_published_upstream(built_mesh):
    before = _latest_run(built_mesh, "analytics")
    report = meshkit_json(["build", "--project", "finance", "--full"], cwd=built_mesh)
    assert statuses(report) == {"finance.stg_payments": "success",
                                "finance.agg_customer_payment_journey": "success"}
    assert _latest_run(built_mesh, "analytics") == before, "analytics was not rebuilt"
    assert set(report["published"]) == {"finance"}


def test_plain_dbt_build_inside_finance(built_mesh):
    finance = built_mesh / "finance"
    run(["dbt", "deps"], cwd=finance)
    result = run(["dbt", "build"], cwd=finance)
    assert "Completed successfully" in result.stdout
    assert '"jaffle_da"."prod"."fct_orders_v2"' in _compiled(finance, "agg_customer_payment_journey")


def test_plain_dbt_finds_mesh_through_variable(built_mesh):
    # Move mesh.yml out of the projects' ancestry: only MESHKIT_MESH can find it now.
    config = built_mesh / "config"
    config.mkdir()
    text = (built_mesh / "mesh.yml").read_text()
    text = text.replace("store: .meshkit/store", "store: ../.meshkit/store")
    text = text.replace("analytics: analytics ", "analytics: ../analytics ")
    text = text.replace("finance: finance ", "finance: ../finance ")
    text = text.replace("mesh_utils: packages/", "mesh_utils: ../packages/")
    (config / "mesh.yml").write_text(text)
    (built_mesh / "mesh.yml").unlink()
    finance = built_mesh / "finance"
    run(["dbt", "deps"], cwd=finance)
    without = run(["dbt", "compile", "-s", "agg_customer_payment_journey"], cwd=finance, check=False)
    assert without.returncode != 0
    result = run(["dbt", "compile", "-s", "agg_customer_payment_journey"], cwd=finance,
                 env={"MESHKIT_MESH": str(config / "mesh.yml")})
    assert '"jaffle_da"."prod"."fct_orders_v2"' in result.stdout


def test_versions_resolve_and_deprecation_warns(built_mesh):
    model = built_mesh / "finance" / "models" / "core" / "agg_customer_payment_journey.sql"
    quiet = run(["meshkit", "build", "--project", "finance", "--full"], cwd=built_mesh)
    assert "deprecat" not in quiet.stdout.lower(), "no deprecation noise when v2 is used"
    model.write_text(model.read_text().replace("ref('analytics', 'fct_orders')",
                                               "ref('analytics', 'fct_orders', v=1)"))
    result = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh)
    assert "Found a reference to fct_orders.v1, which was deprecated on '2024-06-30" in result.stdout
    assert "ref('analytics', 'fct_orders', v='2')" in result.stdout
    assert '"jaffle_da"."prod"."fct_orders_v1"' in _compiled(built_mesh / "finance",
                                                              "agg_customer_payment_journey")


def test_contract_break_fails_and_keeps_published_run(built_mesh):
    before = _latest_run(built_mesh, "analytics")
    model = built_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql"
    text = model.read_text()
    broken = re.sub(r"^(\s*)(c\.first_name,)", r"\1-- \2", text, count=1, flags=re.M)
    assert broken != text
    model.write_text(broken)
    result = run(["meshkit", "build", "--project", "analytics"], cwd=built_mesh, check=False)
    assert result.returncode == 1
    assert "This model has an enforced contract that failed" in result.stdout
    assert _latest_run(built_mesh, "analytics") == before
    runs = list((built_mesh / ".meshkit" / "store" / "analytics" / "prod" / "runs").iterdir())
    assert [r.name for r in runs] == [before], "nothing was published for the failed run"
    downstream = meshkit_json(["build", "--project", "finance", "--full"], cwd=built_mesh)
    assert statuses(downstream)["finance.agg_customer_payment_journey"] == "success", \
        "consumers keep reading the last good run"


def _ref_in_finance(mesh: Path, ref: str) -> Path:
    model = mesh / "finance" / "models" / "core" / "uses_upstream.sql"
    model.write_text(f"-- a consumer model\nselect *\nfrom {{{{ {ref} }}}}\n")
    return model


def test_ref_to_protected_model_is_refused(built_mesh):
    _ref_in_finance(built_mesh, "ref('analytics', 'stg_orders')")
    result = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh, check=False)
    assert result.returncode == 2
    assert ("finance/models/core/uses_upstream.sql:3: 'uses_upstream' refs analytics.stg_orders, "
            "which is protected to project 'analytics'") in result.stderr
    assert "set `access: public` on stg_orders" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    plain = run(["dbt", "compile"], cwd=built_mesh / "finance", check=False)
    assert plain.returncode != 0
    assert "'uses_upstream' refs analytics.stg_orders, which is protected" in plain.stdout


def test_ref_to_private_model_is_refused(built_mesh):
    analytics = built_mesh / "analytics" / "models" / "core"
    (analytics / "int_order_margins.sql").write_text("select order_id from {{ ref('stg_orders') }}\n")
    (analytics / "private.yml").write_text(
        "version: 2\nmodels:\n  - name: int_order_margins\n    access: private\n    group: core\n")
    run(["meshkit", "build", "--project", "analytics"], cwd=built_mesh)
    _ref_in_finance(built_mesh, 'ref("analytics", "int_order_margins")')
    result = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh, check=False)
    assert result.returncode == 2
    assert ("'uses_upstream' refs analytics.int_order_margins, which is private to the 'core' "
            "group") in result.stderr


def test_ref_to_undeclared_project_is_refused(built_mesh):
    (built_mesh / "finance" / "dependencies.yml").write_text(
        "packages:\n  - local: ../packages/mesh_utils\n")
    result = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh, check=False)
    assert result.returncode == 2
    assert ("'agg_customer_payment_journey' refs analytics.fct_orders, but project 'analytics' "
            "is not declared in finance/dependencies.yml") in result.stderr
    assert "- name: analytics" in result.stderr


def test_unpublished_upstream_says_how_to_publish(jaffle_mesh):
    finance = jaffle_mesh / "finance"
    run(["dbt", "deps"], cwd=finance)
    plain = run(["dbt", "build"], cwd=finance, check=False)
    assert plain.returncode != 0
    assert ("project 'finance' depends on 'analytics', which has never published to the store "
            "in environment 'prod'") in plain.stdout
    assert "meshkit build --project analytics --env prod" in plain.stdout
    result = run(["meshkit", "build", "--project", "finance"], cwd=jaffle_mesh, check=False)
    assert result.returncode == 2
    assert ("finance.agg_customer_payment_journey needs analytics.fct_orders.v2, which has never "
            "been built or published in environment 'prod'") in result.stderr
    assert "meshkit build --project analytics --env prod" in result.stderr
    assert not (jaffle_mesh / ".meshkit" / "store" / "finance").exists()
