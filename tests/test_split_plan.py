"""`meshkit split plan|apply` and `meshkit groups` as a user runs them, on the fixture monolith
parsed once by dbt (no warehouse): what goes where, what crosses, what becomes public, what is
refused; the files written, with their comments."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from meshkit.config import load_mesh

from conftest import meshkit_json, run

MONOLITH = Path(__file__).parent / "fixtures" / "monolith"


def _copy(tmp: Path) -> Path:
    project = tmp / "jaffle_shop"
    shutil.copytree(MONOLITH, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return project


@pytest.fixture(scope="session")
def parsed(tmp_path_factory) -> tuple[Path, Path]:
    """The monolith, parsed once: (project folder, manifest.json)."""
    root = tmp_path_factory.mktemp("parsed")
    project = _copy(root)
    target = root / "target"
    run(["dbt", "parse", "--target-path", str(target), "--log-path", str(target)], cwd=project)
    return project, target / "manifest.json"


CATALOG = {
    "model.jaffle_shop.fct_orders": [("order_id", "INTEGER"), ("customer_id", "INTEGER"),
                                     ("order_date", "DATE"), ("status", "VARCHAR"),
                                     ("is_return", "BOOLEAN"), ("first_order_date", "DATE"),
                                     ("days_as_customer_at_purchase", "INTEGER")],
    # fct_order_revenue is left out: its types are "unknown"
}


def _catalog(path: Path, entries: dict) -> Path:
    path.write_text(json.dumps({"metadata": {}, "sources": {}, "errors": None, "nodes": {
        uid: {"unique_id": uid, "metadata": {"type": "BASE TABLE", "schema": "main", "name": uid.split(".")[-1]},
              "columns": {name: {"name": name, "type": kind, "index": i + 1}
                          for i, (name, kind) in enumerate(cols)}, "stats": {}}
        for uid, cols in entries.items()}}))
    return path


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_plan_by_group_names_projects_crossings_public_models_and_shared_inputs(parsed, tmp_path):
    project, manifest = parsed
    catalog = _catalog(tmp_path / "catalog.json", CATALOG)
    plan = meshkit_json(["split", "plan", str(project), "--manifest", str(manifest),
                         "--catalog", str(catalog)], cwd=tmp_path)
    projects = {p["name"]: p for p in plan["projects"]}
    assert sorted(projects) == ["core", "finance", "marketing"]
    assert projects["core"]["upstream"] == ["finance"]
    assert projects["finance"]["upstream"] == ["core"]
    assert projects["marketing"]["upstream"] == ["core", "finance"]
    assert projects["core"]["owners"][0]["github"] == "@jaffle/core-data"
    assert projects["marketing"]["counts"]["model"] == 5 and projects["core"]["counts"]["snapshot"] == 1
    crossings = {(c["from"], c["to"]) for c in plan["cross_project_refs"]}
    assert {("finance.fct_order_revenue", "core.fct_orders"),
            ("core.dim_customers", "finance.fct_order_revenue"),
            ("marketing.campaign_performance", "core.fct_orders"),
            ("marketing.campaign_performance", "finance.fct_order_revenue"),
            ("marketing.customer_segments", "core.dim_customers"),
            ("marketing.channel_mix", "core.fct_orders"),
            ("marketing.growth_dashboard", "core.dim_customers"),
            ("finance.assert_every_order_has_revenue", "core.fct_orders")} <= crossings
    line = next(c for c in plan["cross_project_refs"] if c["from"] == "core.dim_customers")
    assert (line["file"], line["line"]) == ("models/core/marts/dim_customers.sql", 11)
    public = {p["model"]: p for p in plan["public_models"]}
    assert sorted(public) == ["core.dim_customers", "core.fct_orders", "finance.fct_order_revenue"]
    assert public["core.fct_orders"]["becomes_public"] and public["core.fct_orders"]["contract"] == "catalog"
    assert public["core.fct_orders"]["columns"][0] == ["order_id", "integer"]
    assert public["core.dim_customers"]["contract"] == "enforced"
    assert public["finance.fct_order_revenue"]["contract"] == "unknown"
    assert not public["finance.fct_order_revenue"]["becomes_public"]
    shared = {(s["kind"], s["name"]): s for s in plan["shared"]}
    assert shared[("source", "jaffle_shop.customers")]["in"] == ["core", "marketing"]
    assert shared[("seed", "payment_method_labels")]["in"] == ["finance", "marketing"]
    assert shared[("macro", "cents_to_dollars")]["in"] == ["jaffle_shop_utils"]
    assert shared[("macro", "generate_schema_name")]["in"] == ["core", "finance", "marketing"]
    assert shared[("macro", "test_is_positive")]["in"] == ["finance", "marketing"]
    assert shared[("doc", "customer_id")]["in"] == ["core", "marketing"]
    assert plan["project_cycles"] == [["core", "finance"]]
    assert plan["package"] == "jaffle_shop_utils" and plan["blockers"] == []


def test_plan_text_shows_the_split_before_touching_anything(parsed, tmp_path):
    project, manifest = parsed
    before = _tree_hash(project)
    result = run(["meshkit", "split", "plan", str(project), "--manifest", str(manifest)], cwd=tmp_path)
    out = " ".join(result.stdout.split())
    assert "split jaffle_shop by group: 3 projects, internal package jaffle_shop_utils" in out
    assert "core.fct_orders protected → public" in out
    assert "types unknown: no catalog.json" in out
    assert "core ↔ finance" in out
    assert _tree_hash(project) == before


def test_apply_writes_the_mesh_with_rewritten_refs_access_contracts_and_owners(parsed, tmp_path):
    project, manifest = parsed
    before = _tree_hash(project)
    catalog = _catalog(tmp_path / "catalog.json", CATALOG)
    out = tmp_path / "mesh"
    report = meshkit_json(["split", "apply", str(project), "--out", str(out), "--manifest", str(manifest),
                           "--catalog", str(catalog)], cwd=tmp_path)
    assert report["out"] == str(out.resolve())
    assert _tree_hash(project) == before
    assert not list(tmp_path.glob(".mesh.*"))     # no staging folder left beside it
    read = lambda rel: (out / rel).read_text()   # noqa: E731

    # mesh.yml: the projects, loadable by meshkit
    mesh = yaml.safe_load(read("mesh.yml"))
    assert mesh["projects"] == {"core": "core", "finance": "finance", "marketing": "marketing"}
    assert mesh["packages"] == {"jaffle_shop_utils": "packages/jaffle_shop_utils"}
    assert load_mesh(out / "mesh.yml").packages["jaffle_shop_utils"].path == \
        (out / "packages/jaffle_shop_utils").resolve()
    # refs across the new boundaries name the producer; refs inside a project stay one-argument
    revenue = read("finance/models/finance/fct_order_revenue.sql")
    assert "from {{ ref('core', 'fct_orders') }} o" in revenue
    assert "left join {{ ref('int_order_payments') }} p" in revenue
    assert "{{ jaffle_shop_utils.cents_to_dollars('coalesce(p.amount_cents, 0)') }}" in revenue
    campaign = read("marketing/models/marketing/campaign_performance.sql")
    assert 'from {{ ref("core", "fct_orders") }} o' in campaign
    assert 'join {{ ref( "finance", "fct_order_revenue" ) }} r' in campaign
    assert "{{ ref('finance', 'fct_order_revenue') }}" in read("core/models/core/marts/dim_customers.sql")
    assert "to: ref('core', 'fct_orders')" in read("finance/models/finance/_finance.yml")
    assert "- ref('core', 'dim_customers')" in read("marketing/models/marketing/exposures.yml")
    assert "{{ ref('core', 'fct_orders') }}" in read("marketing/analyses/marketing/channel_mix.sql")
    assert "{{ ref('core', 'fct_orders') }}" in read("finance/tests/finance/assert_every_order_has_revenue.sql")
    # access: fct_orders had no YAML: a new entry makes it public with a contract from catalog.json
    new_entry = yaml.safe_load(read("core/models/core/marts/_public_models.yml"))["models"][0]
    assert new_entry["name"] == "fct_orders"
    assert new_entry["config"] == {"access": "public", "contract": {"enforced": True}}
    assert [(c["name"], c["data_type"]) for c in new_entry["columns"]][:2] == \
        [("order_id", "integer"), ("customer_id", "integer")]
    # types unknown: public stays, no contract invented, and SPLIT.md lists it for the user
    finance_models = {m["name"]: m for m in yaml.safe_load(read("finance/models/finance/_finance.yml"))["models"]}
    assert finance_models["fct_order_revenue"]["config"]["access"] == "public"
    assert "contract" not in finance_models["fct_order_revenue"]["config"]
    assert "`finance.fct_order_revenue`: types unknown" in read("SPLIT.md")
    # core and finance read each other: only meshkit build can start them, and SPLIT.md says how
    assert "- core ↔ finance: `meshkit build --project core --project finance`" in read("SPLIT.md")
    # staging stays protected, finance's models private through dbt_project.yml
    assert "access" not in str(yaml.safe_load(read("core/models/core/staging/_staging.yml")))
    # dependencies.yml: upstream projects, the internal package where its macros are called
    assert yaml.safe_load(read("core/dependencies.yml")) == {"projects": [{"name": "finance"}]}
    assert yaml.safe_load(read("marketing/dependencies.yml")) == {
        "packages": [{"local": "../packages/jaffle_shop_utils"}],
        "projects": [{"name": "core"}, {"name": "finance"}]}
    package = yaml.safe_load(read("packages/jaffle_shop_utils/dbt_project.yml"))
    assert package["name"] == "jaffle_shop_utils" and "profile" not in package
    assert (out / "packages/jaffle_shop_utils/macros/cents_to_dollars.sql").is_file()
    assert not (out / "finance/macros/cents_to_dollars.sql").exists()
    assert (out / "finance/macros/tests/is_positive.sql").is_file()
    assert (out / "marketing/macros/marketing/channel_bucket.sql").is_file()
    assert not (out / "core/macros/marketing").exists()
    for name in ("core", "finance", "marketing"):
        assert (out / name / "macros/generate_schema_name.sql").is_file()
    # seeds and sources every reader needs; doc blocks where they are used
    assert (out / "finance/seeds/shared/payment_method_labels.csv").read_bytes() == \
        (project / "seeds/shared/payment_method_labels.csv").read_bytes()
    assert (out / "marketing/seeds/shared/payment_method_labels.csv").is_file()
    assert not (out / "core/seeds").exists()
    marketing_sources = yaml.safe_load(read("marketing/models/core/sources.yml"))["sources"][0]
    assert [t["name"] for t in marketing_sources["tables"]] == ["customers"]
    assert (out / "finance/models/finance/finance.md").is_file() and (out / "finance/models/docs.md").is_file()
    assert not (out / "core/models/finance/finance.md").exists()
    # each project's dbt_project.yml: its own name, profile and folders only
    core_project = yaml.safe_load(read("core/dbt_project.yml"))
    assert core_project["name"] == "core" and core_project["profile"] == "core"
    assert list(core_project["models"]) == ["core"] and list(core_project["models"]["core"]) == ["core"]
    assert "seeds" not in core_project
    marketing_project = yaml.safe_load(read("marketing/dbt_project.yml"))
    assert list(marketing_project["models"]["marketing"]) == ["marketing"]
    # profiles: one DuckDB file per project, upstream files attached read-only
    profile = yaml.safe_load(read("marketing/profiles.yml"))["marketing"]["outputs"]["prod"]
    assert profile["path"].endswith("/jaffle_marketing.duckdb") and profile["database"] == "jaffle_marketing"
    assert [a["path"].rsplit("/", 1)[-1] for a in profile["attach"]] == \
        ["raw.duckdb", "jaffle_core.duckdb", "jaffle_finance.duckdb"]
    # CODEOWNERS from the group owners (a github handle when the owner has one)
    owners = read("CODEOWNERS")
    assert "/core/ @jaffle/core-data\n" in owners
    assert "/finance/ finance@jaffle.example\n" in owners
    assert "/marketing/ growth@jaffle.example\n" in owners
    assert "/packages/jaffle_shop_utils/ finance@jaffle.example growth@jaffle.example\n" in owners
    # groups: each project defines its own
    assert [g["name"] for g in yaml.safe_load(read("finance/models/groups.yml"))["groups"]] == ["finance"]


def test_unrelated_yaml_comments_and_keys_survive_the_split(parsed, tmp_path):
    project, manifest = parsed
    out = tmp_path / "mesh"
    run(["meshkit", "split", "apply", str(project), "--out", str(out), "--manifest", str(manifest)],
        cwd=tmp_path)
    finance = (out / "finance/models/finance/_finance.yml").read_text()
    for kept in ("# Finance's models. Everything here is private to the finance group unless it says otherwise.",
                 "  # The revenue model is finance's data product: core and marketing read it.",
                 "        steward: finance@jaffle.example   # who answers questions about the numbers",
                 "        data_tests: [unique, not_null]"):
        assert kept in finance
    marketing = (out / "marketing/models/marketing/_marketing.yml").read_text()
    assert "  - name: campaign_performance   # one row per channel\n" in marketing
    groups = (out / "marketing/models/groups.yml").read_text()
    assert groups == ("version: 2\n\n# One group per domain: each becomes its own project when the monolith "
                      "is split.\ngroups:\n  # Marketing joined last; its models read core's and finance's marts.\n"
                      "  - name: marketing\n    owner:\n      name: Growth Marketing\n"
                      "      email: growth@jaffle.example\n")
    core_groups = (out / "core/models/groups.yml").read_text()
    assert '      github: "@jaffle/core-data"   # CODEOWNERS uses this handle\n' in core_groups
    # files nothing needed to change are copied byte for byte
    for relative in ("models/core/staging/_staging.yml", "models/core/marts/_core.yml"):
        assert (out / "core" / relative).read_bytes() == (project / relative).read_bytes()
    dbt_project = (out / "finance/dbt_project.yml").read_text()
    assert "      +access: private        # the finance team's models are theirs unless made public\n" in dbt_project
    assert "# planned with groups first, as the adoption path asks" in dbt_project
    assert "    marketing:" not in dbt_project and "+schema: marketing" not in dbt_project


def test_select_splits_one_domain_off_and_keeps_the_rest(parsed, tmp_path):
    project, manifest = parsed
    plan = meshkit_json(["split", "plan", str(project), "--manifest", str(manifest),
                         "--select", "path:models/marketing", "--name", "growth"], cwd=tmp_path)
    projects = {p["name"]: p for p in plan["projects"]}
    assert sorted(projects) == ["growth", "jaffle_shop"]
    assert projects["growth"]["counts"]["model"] == 5 and projects["jaffle_shop"]["counts"]["model"] == 8
    assert projects["growth"]["upstream"] == ["jaffle_shop"] and projects["jaffle_shop"]["upstream"] == []
    assert {p["model"] for p in plan["public_models"]} == {
        "jaffle_shop.dim_customers", "jaffle_shop.fct_orders", "jaffle_shop.fct_order_revenue"}
    assert plan["project_cycles"] == [] and plan["blockers"] == []


def test_groups_lists_models_per_group_and_refs_between_groups(parsed, tmp_path):
    project, manifest = parsed
    report = meshkit_json(["groups", str(project), "--manifest", str(manifest)], cwd=tmp_path)
    groups = {g["name"]: g for g in report["groups"]}
    assert sorted(m["name"] for m in groups["core"]["models"]) == \
        ["dim_customers", "fct_orders", "stg_customers", "stg_orders"]
    assert groups["finance"]["owner"]["email"] == "finance@jaffle.example"
    assert report["ungrouped"] == []
    refs = {(r["from"], r["to"]): r["access"] for r in report["cross_group_refs"]}
    assert refs[("finance.fct_order_revenue", "core.fct_orders")] == "protected"
    assert refs[("core.dim_customers", "finance.fct_order_revenue")] == "public"
    text = run(["meshkit", "groups", str(project), "--manifest", str(manifest)], cwd=tmp_path).stdout
    assert "protected: becomes public when the groups are split" in " ".join(text.split())


def _without_group(manifest: Path, tmp_path: Path, names: set[str]) -> Path:
    data = json.loads(manifest.read_text())
    for node in data["nodes"].values():
        if node["resource_type"] == "model" and node["name"] in names:
            node["config"]["group"] = None
            node["group"] = None
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_a_model_without_a_group_is_refused_and_nothing_is_written(parsed, tmp_path):
    project, manifest = parsed
    edited = _without_group(manifest, tmp_path, {"card_share", "stg_orders"})
    out = tmp_path / "mesh"
    result = run(["meshkit", "split", "apply", str(project), "--out", str(out), "--manifest", str(edited)],
                 cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "cannot split jaffle_shop; nothing was written" in message
    assert "2 model(s) belong to no group" in message
    assert "card_share (models/marketing/card_share.sql)" in message
    assert "stg_orders (models/core/staging/stg_orders.sql)" in message
    assert "meshkit groups" in message and "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".mesh.*"))
    plan = run(["meshkit", "split", "plan", str(project), "--manifest", str(edited), "--json"],
               cwd=tmp_path, check=False)
    assert plan.returncode == 1
    assert "belong to no group" in json.loads(plan.stdout)["blockers"][0]["message"]
    groups = meshkit_json(["groups", str(project), "--manifest", str(edited)], cwd=tmp_path)
    assert [m["name"] for m in groups["ungrouped"]] == ["card_share", "stg_orders"]


def test_a_split_that_would_make_a_model_level_cycle_is_refused(tmp_path):
    """core's fct_orders gets a test that reads finance's revenue, which is built from
    fct_orders: core would wait for finance, which waits for core. Parsed by dbt for real."""
    project = _copy(tmp_path)
    yml = project / "models/core/marts/_core.yml"
    yml.write_text(yml.read_text() + """
  - name: fct_orders
    columns:
      - name: order_id
        data_tests:
          - relationships:
              arguments:
                to: ref('fct_order_revenue')
                field: order_id
""")
    before = _tree_hash(project)
    out = tmp_path / "mesh"
    result = run(["meshkit", "split", "apply", str(project), "--out", str(out)], cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "the split would create a model-level cycle across projects" in message
    assert "core.fct_orders → finance.fct_order_revenue → core.fct_orders" in message \
        or "finance.fct_order_revenue → core.fct_orders → finance.fct_order_revenue" in message
    assert "relationships_fct_orders_order_id__order_id__ref_fct_order_revenue_" in message
    assert "models/core/marts/_core.yml" in message
    assert not out.exists()
    assert _tree_hash(project) == before      # dbt parsed it without writing target/ or logs/


def test_ephemeral_and_snapshot_crossings_are_refused(parsed, tmp_path):
    project, manifest = parsed
    data = json.loads(manifest.read_text())
    nodes = data["nodes"]
    nodes["model.jaffle_shop.fct_orders"]["config"]["materialized"] = "ephemeral"
    # finance reads core's snapshot
    nodes["model.jaffle_shop.agg_payment_methods"]["depends_on"]["nodes"].append(
        "snapshot.jaffle_shop.orders_snapshot")
    edited = tmp_path / "manifest.json"
    edited.write_text(json.dumps(data))
    plan = run(["meshkit", "split", "plan", str(project), "--manifest", str(edited), "--json"],
               cwd=tmp_path, check=False)
    assert plan.returncode == 1
    blockers = [b["message"] for b in json.loads(plan.stdout)["blockers"]]
    assert any("finance.fct_order_revenue reads the ephemeral model core.fct_orders" in b for b in blockers)
    assert any("snapshot 'orders_snapshot' (core) is read by models of finance" in b for b in blockers)


def test_refusals_for_bad_destinations_and_options(parsed, tmp_path):
    project, manifest = parsed
    inside = run(["meshkit", "split", "apply", str(project), "--out", str(project / "split"),
                  "--manifest", str(manifest)], cwd=tmp_path, check=False)
    assert inside.returncode == 2 and "inside the project being split" in inside.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("mine")
    busy = run(["meshkit", "split", "apply", str(project), "--out", str(taken), "--manifest", str(manifest)],
               cwd=tmp_path, check=False)
    assert busy.returncode == 2 and "not empty" in busy.stderr
    assert (taken / "x").read_text() == "mine"
    bad = run(["meshkit", "split", "plan", str(project), "--manifest", str(manifest), "--name", "nope=x"],
              cwd=tmp_path, check=False)
    assert bad.returncode == 1 and "has no group 'nope'" in bad.stdout
    clash = run(["meshkit", "split", "plan", str(project), "--manifest", str(manifest),
                 "--name", "core=shop", "--name", "finance=shop", "--json"], cwd=tmp_path, check=False)
    assert "groups core, finance would all become project 'shop'" in clash.stdout
