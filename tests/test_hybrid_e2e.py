"""A hybrid mesh: a dbt project built by plain `dbt build` outside the mesh's folder joins the
mesh with `meshkit publish`, and a mesh project refs its public model."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import run

pytestmark = pytest.mark.e2e

WIDE = {"COLUMNS": "250"}
RELATION = '"payments_hub"."main"."dim_payment_methods"'


def make_hybrid_project(root: Path, *, failing_test: bool = False) -> Path:
    """payments_hub: its own folder and DuckDB file, one public model and one protected one."""
    project = root / "payments_hub"
    (project / "models").mkdir(parents=True)
    (root / "warehouse").mkdir(exist_ok=True)
    (project / "dbt_project.yml").write_text(
        "name: payments_hub\nversion: '1.0.0'\nconfig-version: 2\nprofile: payments_hub\n"
        "models:\n  payments_hub:\n    +materialized: table\n")
    (project / "profiles.yml").write_text(
        "payments_hub:\n  target: prod\n  outputs:\n    prod:\n      type: duckdb\n"
        f"      path: {root / 'warehouse' / 'payments_hub.duckdb'}\n      schema: main\n"
        "      threads: 1\n")
    (project / "models" / "method_codes.sql").write_text(
        "select * from (values ('credit_card', 'card'), ('coupon', 'voucher'),\n"
        "  ('bank_transfer', 'bank'), ('gift_card', 'voucher')) as t(payment_method, family)\n")
    (project / "models" / "dim_payment_methods.sql").write_text(
        "select payment_method, family from {{ ref('method_codes') }}\n")
    families = "[card, voucher]" if failing_test else "[card, voucher, bank]"
    (project / "models" / "models.yml").write_text(f"""
version: 2
models:
  - name: dim_payment_methods
    access: public
    columns:
      - name: payment_method
        data_tests: [unique, not_null]
      - name: family
        data_tests:
          - accepted_values:
              arguments:
                values: {families}
""")
    return project


def attach_to_finance(mesh: Path, hybrid_root: Path) -> None:
    """finance reads payments_hub's DuckDB file read-only, like it reads analytics'."""
    finance = mesh / "finance"
    profiles = finance / "profiles.yml"
    text = profiles.read_text()
    anchor = ("        - path: \"{{ env_var('MESHKIT_WAREHOUSE', '../warehouse') }}/jaffle_da.duckdb\"\n"
              "          read_only: true\n")
    assert anchor in text
    extra = (f"        - path: \"{hybrid_root / 'warehouse' / 'payments_hub.duckdb'}\"\n"
             "          read_only: true\n")
    profiles.write_text(text.replace(anchor, anchor + extra))
    deps = finance / "dependencies.yml"
    deps.write_text(deps.read_text() + "  - name: payments_hub\n")
    (finance / "models" / "core" / "payments_by_family.sql").write_text(
        "select m.family, sum(p.amount) as amount\n"
        "from {{ ref('stg_payments') }} p\n"
        "join {{ ref('payments_hub', 'dim_payment_methods') }} m using (payment_method)\n"
        "group by 1\n")


def test_project_built_outside_the_mesh_joins_it(built_mesh, tmp_path):
    elsewhere = tmp_path / "elsewhere"          # not under the mesh's folder
    hybrid = make_hybrid_project(elsewhere)
    assert not hybrid.is_relative_to(built_mesh)
    built = run(["dbt", "build"], cwd=hybrid)
    assert "Completed successfully" in built.stdout

    mesh_file = built_mesh / "mesh.yml"
    published = run(["meshkit", "publish", "--project-dir", str(hybrid), "--env", "prod",
                     "--mesh", str(mesh_file)], cwd=tmp_path, env=WIDE)
    assert "published payments_hub to prod: run" in published.stdout
    assert "(1 public of 2 models)" in published.stdout
    store = built_mesh / ".meshkit" / "store" / "payments_hub" / "prod"
    run_id = json.loads((store / "latest.json").read_text())["run_id"]
    record = json.loads((store / "runs" / run_id / "meshkit-run.json").read_text())
    assert record["status"] == "success" and record["project"] == "payments_hub"

    shown = run(["meshkit", "store", "show", "payments_hub", "--mesh", str(mesh_file)],
                cwd=tmp_path, env=WIDE).stdout
    assert RELATION in shown and "method_codes" not in shown

    attach_to_finance(built_mesh, elsewhere)
    result = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh)
    assert "Traceback" not in result.stdout
    compiled = next((built_mesh / "finance" / "target" / "compiled").rglob("payments_by_family.sql"))
    assert RELATION in compiled.read_text()
    con = duckdb.connect(str(built_mesh / "warehouse" / "jaffle_finance.duckdb"), read_only=True)
    rows = dict(con.execute("select family, amount from prod.payments_by_family").fetchall())
    assert set(rows) == {"card", "voucher", "bank"} and all(v > 0 for v in rows.values())

    # The protected model of the hybrid project is refused like any other.
    model = built_mesh / "finance" / "models" / "core" / "payments_by_family.sql"
    model.write_text(model.read_text().replace("'dim_payment_methods'", "'method_codes'"))
    refused = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh, check=False)
    assert refused.returncode != 0
    assert "refs payments_hub.method_codes, which is protected to project 'payments_hub'" in \
        refused.stdout + refused.stderr


def test_publish_refuses_a_run_with_failures_unless_allowed(built_mesh, tmp_path):
    hybrid = make_hybrid_project(tmp_path / "elsewhere", failing_test=True)
    built = run(["dbt", "build"], cwd=hybrid, check=False)
    assert built.returncode == 1 and "FAIL 1" in built.stdout
    mesh_file = built_mesh / "mesh.yml"
    args = ["meshkit", "publish", "--project-dir", str(hybrid), "--env", "prod", "--mesh", str(mesh_file)]

    refused = run(args, cwd=tmp_path, check=False, env=WIDE)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "refusing to publish 'payments_hub' to environment 'prod': the run has 1 failure(s): " \
           "test.payments_hub.accepted_values_dim_payment_methods_family" in refused.stderr
    assert "(fail)" in refused.stderr and "--allow-failures" in refused.stderr
    assert str(hybrid / "target" / "run_results.json") in refused.stderr
    assert not (built_mesh / ".meshkit" / "store" / "payments_hub").exists()

    allowed = run([*args, "--allow-failures"], cwd=tmp_path, env=WIDE)
    assert "published payments_hub to prod" in allowed.stdout
    listing = json.loads(run(["meshkit", "store", "ls", "--json", "--project", "payments_hub",
                              "--mesh", str(mesh_file)], cwd=tmp_path).stdout)
    [entry] = listing["environments"]
    assert entry["runs"][0]["status"] == "failures allowed" and entry["runs"][0]["latest"]
    table = run(["meshkit", "store", "ls", "--mesh", str(mesh_file)], cwd=tmp_path, env=WIDE).stdout
    assert "failures allowed" in table and "payments_hub" in table
