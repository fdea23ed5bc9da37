"""Every built-in rule: a small mesh that violates it, and a compliant twin it leaves alone.

Each case builds the same mesh twice, differing only in the one thing the rule is about
(`bad=True` / `bad=False`), and names the resource the finding must be about.
"""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.govern.builder import ProjectBuilder, view_of
from meshkit.config.policy import Policy
from meshkit.govern.engine import CheckOptions, check
from meshkit.govern.policy import PolicySet
from meshkit.govern.registry import builtin_rules

TODAY = date(2026, 1, 15)
DOC = {"id": "The key.", "name": "A name."}


def run_rule(rule_id: str, *projects: ProjectBuilder, directories=None):
    view = view_of(*projects, today=TODAY, directories=directories)
    result = check(view, PolicySet.from_policies(Policy("mesh")), CheckOptions(rules=(rule_id,)))
    return [f for f in result.findings if f.rule == rule_id]


def staged(bad: bool, **model_args) -> tuple[ProjectBuilder, str, str]:
    """analytics: a source, its staging model, and a mart reading it."""
    a = ProjectBuilder("analytics")
    src = a.source("shop", "orders", description="Orders.", source_description="The shop.")
    stg = a.model("stg_orders", depends_on=[src], folder="staging", description="Staged.")
    mart = a.model("orders", depends_on=[stg], description="Orders mart.", **model_args)
    return a, stg, mart


# -- the twelve dbt Explorer recommendations ---------------------------------------------------
def case_direct_join_to_source(bad):
    a, stg, mart = staged(bad)
    parents = [stg, "source.analytics.shop.orders"] if bad else [stg]
    a.model("joined", depends_on=parents, description="d")
    return [a], "analytics.joined"


def case_duplicate_sources(bad):
    a = ProjectBuilder("analytics")
    a.source("shop", "orders", description="d", source_description="d")
    a.source("legacy", "orders_copy", description="d", source_description="d",
             schema="shop" if bad else "legacy")
    if bad:   # the second source points at the same table as the first
        a.sources["source.analytics.legacy.orders_copy"]["relation_name"] = '"raw"."shop"."orders"'
    return [a], "analytics.shop.orders"


def case_multiple_sources_joined(bad):
    a = ProjectBuilder("analytics")
    one = a.source("shop", "orders")
    two = a.source("shop", "customers")
    a.model("stg_both", depends_on=[one, two] if bad else [one], description="d")
    return [a], "analytics.stg_both"


def case_root_model(bad):
    a, stg, mart = staged(bad)
    a.model("hardcoded", depends_on=[] if bad else [stg], description="d")
    return [a], "analytics.hardcoded"


def case_source_fanout(bad):
    a, stg, mart = staged(bad)
    if bad:
        a.model("stg_orders_again", depends_on=["source.analytics.shop.orders"], description="d")
    return [a], "analytics.shop.orders"


def case_unused_source(bad):
    a, stg, mart = staged(bad)
    lonely = a.source("shop", "refunds", description="d", source_description="The shop.")
    if not bad:
        a.model("stg_refunds", depends_on=[lonely], description="d")
    a.test(lonely, "not_null", "id")   # a test does not count as a use
    return [a], "analytics.shop.refunds"


def case_exposure_parents_materializations(bad):
    a, stg, mart = staged(bad)
    a.model("dash_view", depends_on=[mart], materialized="view" if bad else "table",
            access="public")
    a.exposure("dashboard", ["model.analytics.dash_view"])
    return [a], "analytics.dashboard"


def case_missing_primary_key_test(bad):
    a, stg, mart = staged(bad)
    a.test(mart, "unique", "id")
    if not bad:
        a.test(mart, "not_null", "id")
    return [a], "analytics.orders"


def case_undocumented_model(bad):
    a, stg, mart = staged(bad)
    a.nodes[mart]["description"] = "" if bad else "Orders mart."
    return [a], "analytics.orders"


def case_undocumented_source(bad):
    a = ProjectBuilder("analytics")
    src = a.source("shop", "orders", description="d", source_description="" if bad else "The shop.")
    a.model("stg_orders", depends_on=[src], description="d")
    return [a], "analytics.shop.orders"


def case_undocumented_source_table(bad):
    a = ProjectBuilder("analytics")
    src = a.source("shop", "orders", description="" if bad else "d", source_description="d")
    a.model("stg_orders", depends_on=[src], description="d")
    return [a], "analytics.shop.orders"


def case_public_model_missing_contract(bad):
    a, stg, mart = staged(bad, access="public", contract=not bad)
    return [a], "analytics.orders"


# -- mesh rules --------------------------------------------------------------------------------
def case_public_model_undocumented(bad):
    columns = {"id": "The key.", "name": "" if bad else "A name."}
    a, stg, mart = staged(bad, access="public", contract=True, columns=columns)
    return [a], "analytics.orders"


def case_staging_or_intermediate_public(bad):
    a, stg, mart = staged(bad)
    a.nodes[stg]["access"] = "public" if bad else "protected"
    return [a], "analytics.stg_orders"


def case_public_model_unused(bad):
    a, stg, mart = staged(bad, access="public")
    f = ProjectBuilder("finance")
    if not bad:
        f.inject(mart)
        f.model("revenue", depends_on=[mart], refs=[("orders", "analytics")], description="d")
    return [a, f], "analytics.orders"


def case_exposure_on_non_public_model(bad):
    a, stg, mart = staged(bad, access="protected" if bad else "public")
    a.exposure("dashboard", [mart])
    return [a], "analytics.dashboard"


def case_public_model_without_owner(bad):
    a, stg, mart = staged(bad, access="public", group="core")
    a.group("core", owner_name=None if bad else "Core team",
            owner_email=None if bad else "core@example.com")
    return [a], "analytics.orders"


def case_model_without_group(bad):
    a, stg, mart = staged(bad, group=None if bad else "core")
    a.group("core", "Core team")
    return [a], "analytics.orders"


def case_restricted_model_used_across_projects(bad):
    a, stg, mart = staged(bad, access="protected" if bad else "public")
    f = ProjectBuilder("finance")
    f.inject(mart)
    f.model("revenue", depends_on=[mart], refs=[("orders", "analytics")], description="d")
    return [a, f], "finance.revenue"


def case_cross_project_ref_missing(bad):
    a, stg, mart = staged(bad, access="public")
    f = ProjectBuilder("finance")
    target = "model.analytics.orders_gone" if bad else mart
    f.model("revenue", depends_on=[target], refs=[(target.split(".")[2], "analytics")],
            description="d")
    return [a, f], "finance.revenue"


def case_cross_project_ref_unpinned(bad):
    a = ProjectBuilder("analytics")
    v1 = a.model("orders", version=1, latest_version=1, access="public", description="d")
    f = ProjectBuilder("finance")
    f.inject(v1, version=1, latest_version=1)
    f.model("revenue", depends_on=[v1], refs=[("orders", "analytics", None if bad else 1)],
            description="d")
    return [a, f], "finance.revenue"


def case_ref_to_deprecated_model(bad):
    a = ProjectBuilder("analytics")
    v1 = a.model("orders", version=1, latest_version=2, access="public", description="d",
                 deprecation_date="2025-06-30T00:00:00+00:00" if bad else "2026-06-30T00:00:00+00:00")
    a.model("orders", version=2, latest_version=2, access="public", description="d")
    f = ProjectBuilder("finance")
    f.model("revenue", depends_on=[v1], refs=[("orders", "analytics", 1)], description="d")
    return [a, f], "finance.revenue"


def case_ref_to_deprecating_model(bad):
    a = ProjectBuilder("analytics")
    v1 = a.model("orders", version=1, latest_version=2, access="public", description="d",
                 deprecation_date="2026-06-30" if bad else None)
    a.model("orders", version=2, latest_version=2, access="public", description="d")
    f = ProjectBuilder("finance")
    f.model("revenue", depends_on=[v1], refs=[("orders", "analytics", 1)], description="d")
    return [a, f], "finance.revenue"


def case_too_many_live_versions(bad):
    a = ProjectBuilder("analytics")
    for v in (1, 2, 3, 4):
        deprecated = None if bad or v > 1 else "2025-12-31"
        a.model("orders", version=v, latest_version=4, access="public", description="d",
                deprecation_date=deprecated)
    return [a], "analytics.orders.v4"


def case_source_in_several_projects(bad):
    a, stg, mart = staged(bad)
    f = ProjectBuilder("finance")
    src = f.source("shop", "orders", schema="shop" if bad else "shop_eu",
                   description="d", source_description="d")
    f.model("stg_orders", depends_on=[src], description="d")
    return [a, f], "finance.shop.orders"


def case_source_is_another_projects_model(bad):
    a, stg, mart = staged(bad, access="public")
    f = ProjectBuilder("finance")
    src = f.source("analytics", "orders", database="analytics" if bad else "raw", schema="prod",
                   description="d", source_description="d")
    f.model("revenue", depends_on=[src], description="d")
    return [a, f], "finance.analytics.orders"


def case_public_model_exposes_personal_data(bad):
    a = ProjectBuilder("analytics")
    stg = a.model("stg_customers", description="d",
                  columns={"id": "k", "email": {"description": "e", "tags": ["pii"]}})
    columns = {"id": "k", "email": "e"} if bad else {"id": "k", "email_domain": "e"}
    a.model("customers", depends_on=[stg], access="public", contract=True, columns=columns,
            description="d")
    return [a], "analytics.customers"


def case_personal_data_propagates_untagged(bad):
    a = ProjectBuilder("analytics", adapter="duckdb")
    src = a.source("crm", "people", description="d", source_description="d",
                   columns={"id": "k", "mail": {"description": "e", "meta": {"pii": True}}})
    stg = a.model("stg_customers", depends_on=[src], description="d")
    a.nodes[stg]["compiled_code"] = (f"select id as customer_id, mail as email "
                                     f"from {a.sources[src]['relation_name']}")
    customers = a.model("customers", depends_on=[stg], access="public", description="d")
    a.nodes[customers]["compiled_code"] = f"select * from {a.nodes[stg]['relation_name']}"
    f = ProjectBuilder("finance", adapter="duckdb")
    f.inject(customers)
    f.nodes[customers]["relation_name"] = a.nodes[customers]["relation_name"]  # as dbt has it
    domain = {"description": "d", "tags": ["pii"] if not bad else []}
    agg = f.model("agg", depends_on=[customers], refs=[("customers", "analytics")],
                  access="public", description="d", columns={"email_domain": domain})
    f.nodes[agg]["compiled_code"] = ("select split_part(email, '@', 2) as email_domain "
                                     f"from {a.nodes[customers]['relation_name']}")
    return [a, f], "finance.agg"


def case_project_dependency_cycle(bad):
    a, stg, mart = staged(bad, access="public")
    f = ProjectBuilder("finance")
    f.inject(mart)
    revenue = f.model("revenue", depends_on=[mart], refs=[("orders", "analytics")],
                      access="public", description="d")
    if bad:   # analytics reads finance back
        a.inject(revenue)
        a.model("orders_with_revenue", depends_on=[revenue], refs=[("revenue", "finance")],
                description="d")
    return [a, f], "project:analytics"


def case_model_dependency_cycle(bad):
    a, stg, mart = staged(bad, access="public")
    f = ProjectBuilder("finance")
    f.inject(mart)
    revenue = f.model("revenue", depends_on=[mart], refs=[("orders", "analytics")],
                      access="public", description="d")
    if bad:   # analytics' orders reads finance's revenue, which reads orders
        a.inject(revenue)
        a.nodes[mart]["depends_on"]["nodes"].append(revenue)
    return [a, f], "analytics.orders"


CASES = {name.removeprefix("case_"): fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_flags_the_violation(rule_id):
    projects, subject = CASES[rule_id](True)
    findings = run_rule(rule_id, *projects)
    assert [f.name for f in findings if f.name == subject or f.subject == subject], \
        f"{rule_id} did not flag {subject}: {[(f.name, f.message) for f in findings]}"


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_leaves_the_compliant_twin_alone(rule_id):
    projects, subject = CASES[rule_id](False)
    findings = run_rule(rule_id, *projects)
    assert not [f for f in findings if f.name == subject or f.subject == subject], \
        f"{rule_id} flagged the compliant twin: {[(f.name, f.message) for f in findings]}"


def test_every_builtin_rule_has_a_case():
    # These read files beside the manifests: their tests write them (unregistered_internal_package
    # and project_installed_as_package in test_govern_packages.py).
    assert {r.id for r in builtin_rules()} - set(CASES) == {"versioned_model_without_latest_version",
                                                             "unregistered_internal_package",
                                                             "project_installed_as_package"}


def test_every_builtin_rule_is_documented():
    for item in builtin_rules():
        assert item.description and item.category and item.severity in ("info", "warn", "error")


YAML_STYLES = {
    "block": "models:\n  - name: orders\n{latest}    columns:\n      - name: orders\n"
             "        description: a column named like the model\n    versions: [{{v: 1}}, {{v: 2}}]\n",
    "flow": '{{"models": [{{"name": "orders", {latest_json}"versions": [{{"v": 1}}, {{"v": 2}}]}}]}}\n',
}


@pytest.mark.parametrize("style", sorted(YAML_STYLES))
@pytest.mark.parametrize("declared", [True, False])
def test_versioned_model_without_latest_version_reads_the_yaml(tmp_path, declared, style):
    """dbt fills latest_version itself, so the rule reads the model's YAML in its working copy."""
    a = ProjectBuilder("analytics")
    for v in (1, 2):
        a.model("orders", version=v, latest_version=2, access="public", description="d",
                folder="core")
    folder = tmp_path / "analytics" / "models" / "core"
    folder.mkdir(parents=True)
    text = YAML_STYLES[style].format(latest="    latest_version: 1\n" if declared else "",
                                     latest_json='"latest_version": 1, ' if declared else "")
    (folder / "core.yml").write_text(text)
    findings = run_rule("versioned_model_without_latest_version", a,
                        directories={"analytics": tmp_path / "analytics"})
    assert [f.name for f in findings] == ([] if declared else ["analytics.orders.v2"])


def test_versioned_model_rule_skips_projects_read_from_the_store():
    a = ProjectBuilder("analytics")
    a.model("orders", version=1, latest_version=1, access="public", description="d")
    assert run_rule("versioned_model_without_latest_version", a) == []


def test_a_test_of_another_project_reads_a_public_model():
    """A consumer's `relationships` test that refs a public model is a reader of it (split makes
    such models public): not "unused", a reader `meshkit diff` names, and, for a protected
    model, a read across projects."""
    a, stg, mart = staged(False, access="public")
    f = ProjectBuilder("finance")
    f.inject(mart)
    customers = f.model("customers", description="d")
    test = f.test(customers, "relationships", "order_id")
    f.nodes[test]["depends_on"]["nodes"].append(mart)
    assert run_rule("public_model_unused", a, f) == []
    view = view_of(a, f, today=TODAY)
    assert view.consumers(mart) == [test]
    # ... and reading a protected model that way is reading it across projects
    assert run_rule("restricted_model_used_across_projects", a, f) == []
    a.nodes[mart]["access"] = a.nodes[mart]["config"]["access"] = "protected"
    f.nodes[mart]["access"] = f.nodes[mart]["config"]["access"] = "protected"
    [finding] = run_rule("restricted_model_used_across_projects", a, f)
    assert finding.name == "finance.customers"
    assert "has a test (relationships_customers_order_id) that refs analytics.orders" in \
        finding.message
    assert view.consumers(stg) == []      # a model of its own project is no consumer


def test_personal_data_rule_names_the_upstream_column():
    projects, _ = case_public_model_exposes_personal_data(True)
    [finding] = run_rule("public_model_exposes_personal_data", *projects)
    assert finding.key == "email" and "analytics.stg_customers" in finding.message
    assert finding.severity == "error"


def test_personal_data_propagation_names_the_path_across_projects():
    projects, _ = case_personal_data_propagates_untagged(True)
    findings = run_rule("personal_data_propagates_untagged", *projects)
    # analytics' public customers.email (renamed from the tagged `mail`) is flagged too
    assert sorted((f.name, f.key) for f in findings) == [("analytics.customers", "email"),
                                                         ("finance.agg", "email_domain")]
    finding = findings[[f.key for f in findings].index("email_domain")]
    assert finding.message.endswith("finance.agg.email_domain ← analytics.customers.email ← "
                                    "analytics.stg_customers.email ← analytics.crm.people.mail")


def test_deprecated_ref_suggests_the_latest_version():
    projects, _ = case_ref_to_deprecated_model(True)
    [finding] = run_rule("ref_to_deprecated_model", *projects)
    assert "2025-06-30" in finding.message and "v=2" in finding.message


# -- what dbt-project-evaluator flags and meshkit used to pass (issue 15) ----------------------
KEY = {"id": {"description": "k", "data_type": "integer"}}


def pk_model(materialized="table", contract=False, column_constraints=(), adapter="duckdb",
             tests=(), model_constraints=None):
    a = ProjectBuilder("analytics", adapter=adapter)
    columns = {"id": {**KEY["id"], "constraints": [{"type": t} for t in column_constraints]}}
    uid = a.model("orders", materialized=materialized, contract=contract, columns=columns,
                  constraints=model_constraints, description="d")
    for test in tests:
        a.test(uid, test, "id")
    return a


@pytest.mark.parametrize("case, flagged, words", [
    (dict(materialized="ephemeral"), True, "ephemeral"),
    (dict(materialized="ephemeral", tests=("unique", "not_null")), False, ""),
    (dict(materialized="view", contract=True, column_constraints=("primary_key",)), True,
     "primary_key constraint is not applied: dbt applies constraints to tables and incremental "
     "models only, and this is a view"),
    (dict(column_constraints=("unique", "not_null")), True,
     "unique constraint is not applied: dbt applies constraints only with an enforced contract"),
    (dict(contract=True, column_constraints=("unique", "not_null")), False, ""),
    (dict(contract=True, column_constraints=("primary_key",)), False, ""),
    (dict(contract=True, column_constraints=("primary_key",), adapter="snowflake"), True,
     "primary_key constraint is not enforced by snowflake"),
    (dict(contract=True, column_constraints=("not_null",), tests=("unique",)), False, ""),
    (dict(contract=True, model_constraints=[{"type": "unique", "columns": ["id"]}],
          column_constraints=("not_null",)), False, ""),
])
def test_primary_key_counts_only_what_the_warehouse_holds(case, flagged, words):
    findings = run_rule("missing_primary_key_test", pk_model(**case))
    assert bool(findings) == flagged, [f.message for f in findings]
    if flagged:
        assert words in findings[0].message


def test_time_spine_is_not_a_root_model():
    a = ProjectBuilder("analytics")
    a.model("all_days", description="d")
    a.nodes["model.analytics.all_days"]["time_spine"] = {"standard_granularity_column": "date_day"}
    a.model("metricflow_time_spine", description="d")
    a.model("hardcoded", description="d")
    assert [f.name for f in run_rule("root_model", a)] == ["analytics.hardcoded"]


def test_an_analysis_does_not_use_a_source():
    a = ProjectBuilder("analytics")
    src = a.source("shop", "refunds", description="d", source_description="d")
    a.nodes["analysis.analytics.refund_report"] = {
        "unique_id": "analysis.analytics.refund_report", "resource_type": "analysis",
        "package_name": "analytics", "name": "refund_report",
        "original_file_path": "analyses/refund_report.sql",
        "depends_on": {"nodes": [src], "macros": []}}
    assert [f.name for f in run_rule("unused_source", a)] == ["analytics.shop.refunds"]
    a.nodes["snapshot.analytics.refunds_snapshot"] = {
        **a.nodes["analysis.analytics.refund_report"], "resource_type": "snapshot",
        "unique_id": "snapshot.analytics.refunds_snapshot", "name": "refunds_snapshot",
        "original_file_path": "snapshots/refunds_snapshot.sql"}
    assert run_rule("unused_source", a) == []


def test_a_model_cycle_across_projects_is_an_error_with_its_path():
    projects, _ = case_model_dependency_cycle(True)
    [finding] = run_rule("model_dependency_cycle", *projects)
    assert finding.severity == "error"
    assert "analytics.orders → finance.revenue → analytics.orders" in finding.message


@pytest.mark.parametrize("rule_id, code, line", [
    ("ref_to_deprecated_model",
     "-- revenue\nselect * from {{ ref('analytics', 'orders', v=2) }}\n"
     "join {{ ref(\"analytics\", \"orders\", v=1) }} using (id)\n", 3),
    ("cross_project_ref_unpinned", "select *\nfrom {{ ref('analytics','orders') }}\n", 2),
])
def test_ref_findings_point_at_the_ref(rule_id, code, line):
    projects, _ = CASES[rule_id](True)
    projects[-1].nodes["model.finance.revenue"]["raw_code"] = code
    [finding] = run_rule(rule_id, *projects)
    assert (finding.file, finding.line) == ("models/marts/revenue.sql", line)


def test_a_ref_line_counts_the_blank_lines_dbt_strips(tmp_path):
    """dbt's raw_code loses the file's leading blank lines: the line comes from the file."""
    projects, _ = case_ref_to_deprecated_model(True)
    code = "\n\nselect * from {{ ref('analytics', 'orders', v=1) }}\n"
    projects[-1].nodes["model.finance.revenue"]["raw_code"] = code.lstrip()
    sql = tmp_path / "finance" / "models" / "marts" / "revenue.sql"
    sql.parent.mkdir(parents=True)
    sql.write_text(code)
    view = view_of(*projects, today=TODAY, directories={"finance": tmp_path / "finance"})
    view.root = tmp_path
    result = check(view, PolicySet.from_policies(Policy("mesh")),
                   CheckOptions(rules=("ref_to_deprecated_model",)))
    [finding] = result.findings
    assert (finding.file, finding.line) == ("finance/models/marts/revenue.sql", 3)
