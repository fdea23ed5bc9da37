"""`meshkit check`, `rules`, `score` and `diff` run the way a user runs them."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from conftest import run
from fixtures.govern.builder import ProjectBuilder


def make_mesh(root: Path, *projects: ProjectBuilder, governance: str = "") -> Path:
    """A mesh whose projects' working copies hold the given manifests (no dbt needed)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["name: test-mesh", "projects:"]
    for project in projects:
        folder = root / project.name
        folder.mkdir(exist_ok=True)
        (folder / "dbt_project.yml").write_text(f"name: {project.name}\nprofile: x\n")
        project.write(folder)
        lines.append(f"  {project.name}: {project.name}")
    (root / "mesh.yml").write_text("\n".join(lines) + "\n" + textwrap.dedent(governance))
    return root


def two_projects(*, contract: bool = True) -> list[ProjectBuilder]:
    a = ProjectBuilder("analytics")
    a.group("core", "Core", "core@example.com")
    src = a.source("shop", "orders", description="d", source_description="d")
    stg = a.model("stg_orders", depends_on=[src], description="d", group="core", folder="staging")
    a.test(stg, "unique", "id")
    a.test(stg, "not_null", "id")
    orders = a.model("orders", depends_on=[stg], access="public", contract=contract, group="core",
                     description="d", columns={"id": "k"})
    a.test(orders, "unique", "id")
    a.test(orders, "not_null", "id")
    f = ProjectBuilder("finance")
    f.group("fin", "Finance")
    f.inject(orders)
    revenue = f.model("revenue", depends_on=[orders], refs=[("orders", "analytics")],
                      description="d", group="fin")
    f.test(revenue, "unique", "id")
    f.test(revenue, "not_null", "id")
    return [a, f]


def meshkit(mesh: Path, *args: str) -> tuple[int, str, str]:
    result = run(["meshkit", *args], cwd=mesh, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def test_a_clean_mesh_passes(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    code, out, _ = meshkit(mesh, "check")
    assert code == 0, out
    assert "meshkit check passed: 0 error(s), 0 warning(s)" in out


def test_an_error_level_finding_fails_the_check(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects(contract=False))
    code, out, _ = meshkit(mesh, "check")
    assert code == 1
    assert "analytics.orders: is public without an enforced contract" in out
    assert "[public_model_missing_contract]" in out


def test_warn_then_error_follows_the_date(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects(contract=False), governance="""
        governance:
          rules:
            public_model_missing_contract: {severity: warn, error_after: 2026-03-01}
    """)
    code, out, _ = meshkit(mesh, "check", "--as-of", "2026-02-28")
    assert code == 0 and "becomes an error on 2026-03-01" in out
    code, out, _ = meshkit(mesh, "check", "--as-of", "2026-03-01")
    assert code == 1 and "1 error(s)" in out


def test_a_project_loosening_a_mesh_rule_is_refused(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    (mesh / "finance" / "governance.yml").write_text("rules:\n  public_model_missing_contract: warn\n")
    code, out, err = meshkit(mesh, "check")
    assert code == 2
    assert "finance/governance.yml:2: rule 'public_model_missing_contract': lowers the severity" in err


def test_baseline_reports_only_new_findings(tmp_path):
    projects = two_projects()
    projects[1].model("undocumented_one", description="", group="fin")
    mesh = make_mesh(tmp_path / "m", *projects)
    code, out, err = meshkit(mesh, "check", "--format", "json", "-o", "base.json")
    assert code == 0 and "report written to base.json" in err
    before = json.loads((mesh / "base.json").read_text())
    assert {f["name"] for f in before["findings"]} == {"finance.undocumented_one"}
    projects[1].model("undocumented_two", description="", group="fin")
    projects[1].write(mesh / "finance")
    code, out, _ = meshkit(mesh, "check", "--baseline", "base.json", "--format", "json")
    after = json.loads(out)
    assert {f["name"] for f in after["findings"]} == {"finance.undocumented_two"}
    assert after["summary"]["known"] == len(before["findings"]) == 3


def test_project_select_and_rule_filters(tmp_path):
    projects = two_projects(contract=False)
    projects[1].model("loose", description="", group="fin")
    mesh = make_mesh(tmp_path / "m", *projects)
    names = lambda out: sorted({f["name"] for f in json.loads(out)["findings"]})  # noqa: E731
    assert names(meshkit(mesh, "check", "--format", "json", "--project", "finance")[1]) == \
        ["finance.loose"]
    assert names(meshkit(mesh, "check", "--format", "json", "-s", "access:public")[1]) == \
        ["analytics.orders"]
    code, out, _ = meshkit(mesh, "check", "--format", "json", "--rule", "undocumented_model")
    assert code == 0 and names(out) == ["finance.loose"]
    code, _, err = meshkit(mesh, "check", "--project", "nowhere")
    assert code == 2 and "project 'nowhere' is not in the checked mesh" in err


def test_check_plain_manifests_without_a_mesh(tmp_path):
    [a, _] = two_projects(contract=False)
    path = a.write(tmp_path / "analytics")
    code, out, _ = meshkit(tmp_path, "check", "--manifest", str(path), "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    results = {r["ruleId"]: r["level"] for r in log["runs"][0]["results"]}
    # alone, nobody is seen reading the public model: a note, not a failure
    assert results == {"public_model_missing_contract": "error", "public_model_unused": "note"}


def test_a_manifest_is_not_judged_by_the_mesh_above_the_current_folder(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects(contract=False), governance="""
        governance:
          rules:
            public_model_missing_contract: off
    """)
    code, out, _ = meshkit(mesh, "check", "--format", "json")
    assert code == 0, out
    manifest = str(mesh / "analytics" / "target" / "manifest.json")
    code, out, _ = meshkit(mesh, "check", "--manifest", manifest, "--format", "json")
    assert code == 1
    assert "public_model_missing_contract" in {f["rule"] for f in json.loads(out)["findings"]}
    code, out, _ = meshkit(mesh, "check", "--manifest", manifest, "--mesh", "mesh.yml")
    assert code == 0, out      # named on purpose, the mesh's policy applies


def test_check_needs_no_production_environment(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects(), governance="""
        environments:
          dev: {target: dev, type: development}
    """)
    code, out, err = meshkit(mesh, "check")
    assert code == 0, out + err
    assert "meshkit check passed" in out
    (mesh / "finance" / "target" / "manifest.json").unlink()
    code, out, err = meshkit(mesh, "check")
    assert code == 0 and "not read (no target/manifest.json, nothing published): finance" in out
    code, _, err = meshkit(mesh, "check", "--from", "store")
    assert code == 2 and "no production environment" in err and "--env" in err


def test_check_says_when_a_working_copy_changed_after_its_manifest(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    code, _, err = meshkit(mesh, "check")
    assert code == 0 and "changed after" not in err
    model = mesh / "finance" / "models" / "revenue.sql"
    model.parent.mkdir()
    model.write_text("select 1 as id\n")
    manifest = mesh / "finance" / "target" / "manifest.json"
    os.utime(model, (manifest.stat().st_mtime + 5,) * 2)
    code, _, err = meshkit(mesh, "check")
    assert code == 0
    assert "finance/models/revenue.sql changed after finance/target/manifest.json" in err


def test_check_says_when_the_last_parse_of_a_working_copy_failed(tmp_path):
    """A parse refused after dbt wrote partial_parse.msgpack (the plugin's refusal of a ref)
    leaves the earlier manifest.json: check reads it, and says so."""
    mesh = make_mesh(tmp_path / "m", *two_projects())
    target = mesh / "finance" / "target"
    msgpack = target / "partial_parse.msgpack"
    msgpack.write_bytes(b"")
    os.utime(msgpack, ((target / "manifest.json").stat().st_mtime - 5,) * 2)
    code, _, err = meshkit(mesh, "check")
    assert code == 0 and "failed" not in err
    os.utime(msgpack, ((target / "manifest.json").stat().st_mtime + 5,) * 2)
    code, _, err = meshkit(mesh, "check")
    assert code == 0
    assert ("the last `dbt parse` of finance failed: finance/target/manifest.json is from an "
            "earlier parse") in err


def test_rules_lists_builtin_and_custom_rules(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects(), governance="""
        governance:
          custom_rules: [rules.py]
          rules:
            root_model: {error_after: 2026-06-01}
    """)
    (mesh / "rules.py").write_text(textwrap.dedent('''
        from meshkit.govern import rule

        @rule(category="naming", severity="error")
        def short_names(model, mesh, limit: int = 30):
            """Model names stay short."""
    '''))
    code, out, _ = meshkit(mesh, "rules", "--json")
    rules = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and len(rules) == 34
    assert rules["short_names"]["description"] == "Model names stay short."
    assert rules["short_names"]["params"] == {"limit": 30}
    assert rules["root_model"]["mesh"] == "warn → error 2026-06-01"


def test_score_working_copies_as_json(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    code, out, _ = meshkit(mesh, "score", "--from", "working", "--json", "--fail-under", "4")
    [orders] = json.loads(out)
    assert orders["unique_id"] == "model.analytics.orders"
    missing = {s["id"] for s in orders["steps"] if s["passed"] is False}
    assert missing == {"access"} and orders["score"] == 4.3
    assert code == 0
    code, _, err = meshkit(mesh, "score", "--from", "working", "--json", "--fail-under", "4.5")
    assert code == 1
    assert "1 public model(s) score below 4.5: analytics.orders (4.3)" in err


def test_diff_of_two_manifests(tmp_path):
    old_a, finance = two_projects()
    new_a = ProjectBuilder("analytics")
    new_a.model("orders", access="protected", contract=True, description="d", columns={"id": "k"})
    old = old_a.write(tmp_path / "old" / "analytics")
    new = new_a.write(tmp_path / "new" / "analytics")
    consumer = finance.write(tmp_path / "finance")
    code, out, _ = meshkit(tmp_path, "diff", "--old", str(old), "--old", str(consumer),
                           "--new", str(new), "--new", str(consumer), "--format", "json")
    assert code == 1
    [change] = json.loads(out)["findings"]
    assert change["rule"] == "access_downgraded" and change["severity"] == "error"
    assert change["downstream"] == ["finance.revenue"]


def test_diff_needs_something_to_compare_with(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    code, _, err = meshkit(mesh, "diff")
    assert code == 2 and "--against ENV" in err


# -- the example mesh, built by dbt ----------------------------------------------------------------
@pytest.mark.e2e
def test_check_the_built_example_mesh(built_mesh):
    code, out, _ = meshkit(built_mesh, "check", "--format", "json")
    assert code == 0
    report = json.loads(out)
    found = {(f["rule"], f["name"]) for f in report["findings"]}
    assert ("undocumented_model", "finance.stg_payments") in found
    assert ("undocumented_source", "finance.stripe.payment") in found
    assert ("undocumented_source_table", "finance.stripe.payment") in found
    assert ("public_model_undocumented", "analytics.fct_orders.v2") in found
    assert ("cross_project_ref_unpinned", "finance.agg_customer_payment_journey") in found
    assert ("missing_primary_key_test", "analytics.fct_orders.v2") in found
    # what the example does right is not flagged
    assert not {r for r, n in found if n in ("analytics.stg_customers", "analytics.stg_orders")
                and r in ("undocumented_model", "missing_primary_key_test")}
    assert not {r for r, _ in found if r in ("public_model_missing_contract",
                                             "restricted_model_used_across_projects",
                                             "versioned_model_without_latest_version")}
    assert report["summary"]["error"] == 0
    code, out, _ = meshkit(built_mesh, "check", "--from", "store", "--format", "json")
    assert {(f["rule"], f["name"]) for f in json.loads(out)["findings"]} == found - {
        ("versioned_model_without_latest_version", "analytics.fct_orders.v2")}


@pytest.mark.e2e
def test_score_the_built_example_mesh_and_store_it(built_mesh):
    code, out, _ = meshkit(built_mesh, "score", "--json")
    assert code == 0
    scores = {s["unique_id"]: s for s in json.loads(out)}
    v2 = scores["model.analytics.fct_orders.v2"]
    assert v2["score"] == 3.0
    assert {s["id"] for s in v2["steps"] if s["passed"] is False} == \
        {"documented", "standalone", "access"}
    stored = json.loads((built_mesh / ".meshkit/store/analytics/prod/scores.json").read_text())
    latest = json.loads((built_mesh / ".meshkit/store/analytics/prod/latest.json").read_text())
    assert stored["run_id"] == latest["run_id"]
    assert {m["unique_id"]: m["score"] for m in stored["models"]} == \
        {"model.analytics.fct_orders.v1": 3.0, "model.analytics.fct_orders.v2": 3.0}


@pytest.mark.e2e
def test_diff_a_changed_contract_against_prod(built_mesh):
    analytics = built_mesh / "analytics"
    yml = analytics / "models" / "core" / "core.yml"
    yml.write_text(yml.read_text().replace("- name: order_date\n        data_type: date",
                                           "- name: order_date\n        data_type: timestamp"))
    run(["dbt", "parse"], cwd=analytics)
    code, out, _ = meshkit(built_mesh, "diff", "--against", "prod", "--format", "json")
    assert code == 1
    changes = {(f["rule"], f["name"]): f for f in json.loads(out)["findings"]}
    assert set(changes) == {("column_type_changed", "analytics.fct_orders.v1"),
                            ("column_type_changed", "analytics.fct_orders.v2")}
    # finance's journey selects * from fct_orders but reads only order_id (a join key) and
    # days_as_customer_at_purchase, so column lineage clears it of the order_date change
    assert changes[("column_type_changed", "analytics.fct_orders.v2")]["downstream"] == []
    assert changes[("column_type_changed", "analytics.fct_orders.v1")]["downstream"] == []
    assert "date → timestamp" in changes[("column_type_changed", "analytics.fct_orders.v2")]["message"]


@pytest.mark.e2e
def test_diff_of_unchanged_code_built_with_docs_reports_nothing(built_mesh):
    """A contract typed `int` (catalog.json says INTEGER) and a public model that declares no
    columns: unchanged code is no change; a rename not yet built is named as not compared."""
    analytics = built_mesh / "analytics"
    yml = analytics / "models" / "core" / "core.yml"
    yml.write_text(yml.read_text().replace("data_type: integer", "data_type: int"))
    (analytics / "models" / "core" / "customers.sql").write_text(
        "select customer_id, first_name from {{ ref('stg_customers') }}\n")
    (analytics / "models" / "core" / "customers.yml").write_text(
        "models:\n  - name: customers\n    access: public\n    group: core\n")
    run(["meshkit", "build", "-q", "--docs", "--project", "analytics"], cwd=built_mesh)
    code, out, err = meshkit(built_mesh, "diff", "--against", "prod", "--format", "json")
    assert (code, json.loads(out)["findings"]) == (0, []), err
    sql = analytics / "models" / "core" / "customers.sql"
    sql.write_text(sql.read_text().replace("first_name", "first_name as given_name"))
    code, out, err = meshkit(built_mesh, "diff", "--against", "prod", "--format", "json")
    assert "analytics/models/core/customers.sql changed after analytics/target/manifest.json" in err
    assert code == 0
    [note] = json.loads(out)["findings"]
    assert (note["rule"], note["name"], note["severity"]) == \
        ("columns_not_compared", "analytics.customers", "info")
    assert "declares no columns" in note["message"]


def _publish(mesh: Path, project: ProjectBuilder, store: Path | None = None) -> None:
    """Publish a builder's manifest (with an empty, successful run) as `meshkit publish` does."""
    folder = mesh / project.name
    project.write(folder)
    (folder / "target" / "run_results.json").write_text(json.dumps({
        "metadata": {"dbt_version": "1.11.0", "generated_at": "2026-01-15T10:00:00Z"},
        "results": []}))
    args = ["publish", "--project-dir", str(folder), "--env", "prod"]
    if store is not None:   # publish into another store: a copy of mesh.yml pointing at it
        other = mesh / "other-mesh.yml"
        other.write_text((mesh / "mesh.yml").read_text().replace(
            "name: test-mesh", f"name: test-mesh\nstore: {store}"))
        args += ["--mesh", str(other)]
    code, out, err = meshkit(mesh, *args)
    assert code == 0, out + err


def test_diff_two_stores(tmp_path):
    old_a, finance = two_projects()
    mesh = make_mesh(tmp_path / "m", old_a, finance)
    _publish(mesh, old_a, store=tmp_path / "old-store")
    _publish(mesh, finance, store=tmp_path / "old-store")
    new_a = ProjectBuilder("analytics")
    new_a.model("orders", access="public", contract=True, description="d", columns={})
    _publish(mesh, new_a)
    _publish(mesh, finance)
    code, out, _ = meshkit(mesh, "diff", "--from", "store", "--env", "prod", "--against", "prod",
                           "--against-store", str(tmp_path / "old-store"), "--format", "json")
    assert code == 1
    [change] = json.loads(out)["findings"]
    assert (change["rule"], change["name"]) == ("column_removed", "analytics.orders")
    assert change["downstream"] == ["finance.revenue"]
    code, out, _ = meshkit(mesh, "diff", "--from", "store", "--against", "prod", "--format", "json")
    assert code == 0 and json.loads(out)["findings"] == []


def test_projects_with_nothing_to_read_are_named(tmp_path):
    mesh = make_mesh(tmp_path / "m", *two_projects())
    (mesh / "finance" / "target" / "manifest.json").unlink()
    code, out, _ = meshkit(mesh, "check")
    assert code == 0
    assert "not read (no target/manifest.json, nothing published): finance" in out
    code, out, _ = meshkit(mesh, "check", "--format", "json")
    assert json.loads(out)["missing_projects"] == ["finance"]
