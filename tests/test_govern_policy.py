"""Policies: mesh-wide and per project, scope, warn-then-error, exceptions, custom rules."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from fixtures.govern.builder import ProjectBuilder, view_of
from meshkit.config.yamlfile import read_yaml
from meshkit.errors import MeshError
from meshkit.govern.engine import CheckOptions, check
from meshkit.govern.policy import PolicySet


def load(tmp_path: Path, mesh: str = "", **projects: str) -> PolicySet:
    """Policies from a mesh.yml governance section and per-project governance.yml files."""
    mesh_file = tmp_path / "mesh.yml"
    mesh_file.write_text("name: m\nprojects: {}\n" + textwrap.dedent(mesh))
    dirs = {}
    for name in ("analytics", "finance", *projects):     # the mesh's projects (mesh_of_two's)
        dirs[name] = tmp_path / name
        dirs[name].mkdir(exist_ok=True)
        (dirs[name] / "governance.yml").unlink(missing_ok=True)   # from an earlier load
    for name, text in projects.items():
        (dirs[name] / "governance.yml").write_text(textwrap.dedent(text))
    doc = read_yaml(mesh_file)
    return PolicySet.load(doc.get("governance"), mesh_file, dirs)


def mesh_of_two() -> list[ProjectBuilder]:
    a = ProjectBuilder("analytics")
    a.group("core", "Core")
    a.model("orders", description="", group="core", tags=["certified"])
    a.model("stg_orders", description="", folder="staging", group="core")
    f = ProjectBuilder("finance")
    f.model("revenue", description="")
    return [a, f]


def findings(policies: PolicySet, *, today=date(2026, 1, 15), rules=("undocumented_model",),
             projects=None):
    result = check(view_of(*(projects or mesh_of_two()), today=today), policies,
                   CheckOptions(rules=tuple(rules)))
    return result


def names(result, severity=None):
    return sorted(f.name for f in result.findings if severity is None or f.severity == severity)


# -- severity and scope --------------------------------------------------------------------------
def test_defaults_apply_without_any_policy(tmp_path):
    result = findings(load(tmp_path))
    assert names(result, "warn") == ["analytics.orders", "analytics.stg_orders", "finance.revenue"]


def test_mesh_severity_and_short_form(tmp_path):
    result = findings(load(tmp_path, """
        governance:
          rules:
            undocumented_model: error
    """))
    assert names(result, "error") == ["analytics.orders", "analytics.stg_orders", "finance.revenue"]
    assert result.failed


def test_mesh_off_switches_a_rule_off(tmp_path):
    result = findings(load(tmp_path, "governance: {rules: {undocumented_model: off}}\n"))
    assert result.findings == [] and result.rules == []


@pytest.mark.parametrize("scope, expected", [
    ("{projects: [finance]}", ["finance.revenue"]),
    ("{groups: [core]}", ["analytics.orders", "analytics.stg_orders"]),
    ("{paths: [models/staging]}", ["analytics.stg_orders"]),
    ("{select: ['tag:certified']}", ["analytics.orders"]),
    ("{projects: [analytics], exclude: ['stg_*']}", ["analytics.orders"]),
])
def test_scope_limits_where_a_mesh_rule_applies(tmp_path, scope, expected):
    result = findings(load(tmp_path, f"""
        governance:
          rules:
            undocumented_model: {{severity: error, scope: {scope}}}
    """))
    assert names(result) == expected


def test_warn_until_a_date_then_error(tmp_path):
    policies = load(tmp_path, """
        governance:
          rules:
            undocumented_model: {error_after: 2026-03-01}
    """)
    before = findings(policies, today=date(2026, 2, 28))
    assert names(before, "warn") == names(before) and not before.failed
    assert all(f.note == "becomes an error on 2026-03-01" for f in before.findings)
    after = findings(policies, today=date(2026, 3, 1))
    assert names(after, "error") == names(after) and after.failed


# -- exceptions ----------------------------------------------------------------------------------
def test_exception_suppresses_until_it_expires(tmp_path):
    policies = load(tmp_path, """
        governance:
          exceptions:
            - rule: undocumented_model
              nodes: [analytics.orders, "finance.*"]
              reason: docs are being written (DATA-12)
              expires: 2026-02-01
    """)
    live = findings(policies, today=date(2026, 2, 1))
    assert names(live) == ["analytics.stg_orders"]
    assert sorted(f.name for f, e in live.excepted) == ["analytics.orders", "finance.revenue"]
    assert {e.reason for f, e in live.excepted} == {"docs are being written (DATA-12)"}
    expired = findings(policies, today=date(2026, 2, 2))
    assert names(expired) == ["analytics.orders", "analytics.stg_orders", "finance.revenue"]
    assert "exception expired on 2026-02-01" in next(
        f.note for f in expired.findings if f.name == "analytics.orders")


def test_exception_needs_a_reason(tmp_path):
    with pytest.raises(MeshError) as caught:
        load(tmp_path, """
            governance:
              exceptions:
                - rule: undocumented_model
                  nodes: [analytics.orders]
                  reason: "  "
        """)
    assert caught.value.line == 8 and "reason" in caught.value.message


# -- federation: a project may tighten, never loosen ---------------------------------------------
def test_project_tightens_a_mesh_rule_for_itself_only(tmp_path):
    policies = load(tmp_path, "", finance="rules: {undocumented_model: error}\n")
    result = findings(policies)
    assert names(result, "error") == ["finance.revenue"]
    assert names(result, "warn") == ["analytics.orders", "analytics.stg_orders"]


def test_project_tightening_within_its_own_scope(tmp_path):
    policies = load(tmp_path, "", analytics="""
        rules:
          undocumented_model: {severity: error, scope: {paths: [models/staging]}}
    """)
    result = findings(policies)
    assert names(result, "error") == ["analytics.stg_orders"]
    assert "analytics.orders" in names(result, "warn")


@pytest.mark.parametrize("mesh, project, reason", [
    ("", "rules: {public_model_missing_contract: warn}",
     "lowers the severity from error to warn"),
    ("", "rules: {undocumented_model: off}", "lowers the severity from warn to off"),
    ("governance: {rules: {undocumented_model: {error_after: 2026-03-01}}}",
     "rules: {undocumented_model: {error_after: 2026-06-01}}",
     "makes it an error only from 2026-06-01 where the mesh makes it one from 2026-03-01"),
    ("governance: {rules: {undocumented_model: {error_after: 2026-03-01}}}",
     "rules: {undocumented_model: warn}", "makes it an error never"),
    ("", "rules: {staging_or_intermediate_public: {params: {staging_prefixes: [stg_]}}}",
     "moves parameter 'staging_prefixes'"),
    ("", "exceptions: [{rule: undocumented_model, nodes: [finance.revenue], reason: later}]",
     "can only be granted in mesh.yml"),
])
def test_project_that_loosens_a_mesh_rule_is_refused(tmp_path, mesh, project, reason):
    with pytest.raises(MeshError) as caught:
        load(tmp_path, mesh + "\n", finance=project + "\n")
    assert reason in caught.value.render()
    assert caught.value.file == str(tmp_path / "finance" / "governance.yml")
    assert caught.value.line == 1


def test_overridable_rule_may_be_loosened_and_excepted(tmp_path):
    policies = load(tmp_path, """
        governance:
          rules:
            undocumented_model: {overridable: true}
    """, finance="""
        rules: {undocumented_model: info}
        exceptions: [{rule: undocumented_model, nodes: [analytics.orders], reason: not ours}]
    """)
    result = findings(policies)
    assert names(result, "info") == ["finance.revenue"]
    # a project's exceptions cover its own resources only
    assert "analytics.orders" in names(result, "warn")


def test_project_may_tighten_parameters_the_stricter_way(tmp_path):
    policies = load(tmp_path, "", analytics="""
        rules:
          staging_or_intermediate_public:
            severity: error
            params: {staging_prefixes: [stg_, base_, raw_]}
    """)
    a = ProjectBuilder("analytics")
    a.model("raw_orders", access="public", description="d")
    result = findings(policies, rules=("staging_or_intermediate_public",), projects=[a])
    assert [(f.name, f.severity) for f in result.findings] == [("analytics.raw_orders", "error")]


def test_parameters_of_a_mesh_wide_rule_are_set_in_mesh_yml(tmp_path):
    with pytest.raises(MeshError, match="looks at the whole mesh"):
        load(tmp_path, "", analytics="rules: {too_many_live_versions: {params: {max_versions: 2}}}\n")
    policies = load(tmp_path, "governance: {rules: {too_many_live_versions: {params: {max_versions: 1}}}}\n")
    a = ProjectBuilder("analytics")
    for v in (1, 2):
        a.model("orders", version=v, latest_version=2, access="public", description="d")
    result = findings(policies, rules=("too_many_live_versions",), projects=[a])
    assert names(result) == ["analytics.orders.v2"]


# -- mistakes in policy files --------------------------------------------------------------------
@pytest.mark.parametrize("text, message, line", [
    ("governance:\n  rules:\n    undocumented_models: warn\n", "unknown rule 'undocumented_models'", 3),
    ("governance:\n  rules:\n    root_model: {severity: loud}\n", "invalid enum value 'loud'", 3),
    ("governance:\n  rulez: {}\n", "unknown field `rulez`", 2),
    ("governance:\n  rules:\n    too_many_live_versions:\n      params: {max_versions: many}\n",
     "parameter 'max_versions'", 4),
    ("governance:\n  rules:\n    root_model:\n      params: {depth: 2}\n",
     "rule 'root_model' has no parameter 'depth'", 4),
    ("governance:\n  rules:\n    root_model: {severity: error, error_after: 2026-01-01}\n",
     "error_after needs a lower severity", 3),
])
def test_policy_mistakes_name_the_file_and_line(tmp_path, text, message, line):
    with pytest.raises(MeshError) as caught:
        load(tmp_path, text)
    assert message in caught.value.message
    assert caught.value.file == str(tmp_path / "mesh.yml") and caught.value.line == line + 2


def test_unknown_rule_suggests_the_closest(tmp_path):
    with pytest.raises(MeshError) as caught:
        load(tmp_path, "governance: {rules: {undocumented_models: warn}}\n")
    assert caught.value.hint == "did you mean 'undocumented_model'?"


def test_score_settings_are_mesh_wide(tmp_path):
    with pytest.raises(MeshError, match="score: is mesh-wide"):
        load(tmp_path, "", analytics="score: {required_meta: [domain]}\n")


# -- custom rules --------------------------------------------------------------------------------
CUSTOM = '''
from meshkit.govern import rule, Violation


@rule(category="naming", severity="error", stricter={"max_length": "lower"})
def model_name_not_too_long(model, mesh, max_length: int = 8):
    """A model's name fits in a dashboard tab."""
    if len(model.name) > max_length:
        return f"name has {len(model.name)} characters, more than {max_length}"


@rule(category="ownership", applies_to="mesh")
def projects_have_public_models(mesh):
    """Every project publishes something."""
    for name in mesh.projects:
        if not any(m.is_public for m in mesh.models.values() if m.project == name):
            yield Violation(f"project {name} has no public model", subject=f"project:{name}")
'''


def test_custom_rules_run_beside_the_builtins(tmp_path):
    (tmp_path / "rules.py").write_text(CUSTOM)
    policies = load(tmp_path, "governance: {custom_rules: [rules.py]}\n")
    result = findings(policies, rules=("model_name_not_too_long", "projects_have_public_models"))
    got = sorted((f.rule, f.name, f.severity) for f in result.findings)
    assert got == [("model_name_not_too_long", "analytics.stg_orders", "error"),
                   ("projects_have_public_models", "project:analytics", "warn"),
                   ("projects_have_public_models", "project:finance", "warn")]


def test_project_custom_rules_apply_to_that_project_only(tmp_path):
    (tmp_path / "finance").mkdir()
    (tmp_path / "finance" / "naming.py").write_text(CUSTOM)
    policies = load(tmp_path, "", finance="""
        custom_rules: [naming.py]
        rules: {model_name_not_too_long: {params: {max_length: 5}}}
    """)
    result = findings(policies, rules=("model_name_not_too_long",))
    assert names(result) == ["finance.revenue"]


def test_project_cannot_configure_another_projects_custom_rule(tmp_path):
    (tmp_path / "finance").mkdir()
    (tmp_path / "finance" / "naming.py").write_text(CUSTOM)
    with pytest.raises(MeshError, match="belongs to project 'finance'"):
        load(tmp_path, "", finance="custom_rules: [naming.py]\n",
             analytics="rules: {model_name_not_too_long: error}\n")


def test_a_crashing_custom_rule_is_reported_with_its_line(tmp_path):
    (tmp_path / "rules.py").write_text(
        "from meshkit.govern import rule\n\n@rule\ndef broken(model, mesh):\n    return 1 / 0\n")
    policies = load(tmp_path, "governance: {custom_rules: [rules.py]}\n")
    with pytest.raises(MeshError) as caught:
        findings(policies, rules=("broken",))
    assert caught.value.file == str(tmp_path / "rules.py") and caught.value.line == 5
    assert "ZeroDivisionError" in caught.value.message


def test_custom_rule_file_that_does_not_import_is_reported(tmp_path):
    (tmp_path / "rules.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(MeshError) as caught:
        load(tmp_path, "governance: {custom_rules: [rules.py]}\n")
    assert caught.value.line == 1 and "ModuleNotFoundError" in caught.value.message


def test_missing_custom_rule_file(tmp_path):
    with pytest.raises(MeshError) as caught:
        load(tmp_path, "governance:\n  custom_rules:\n    - nowhere.py\n")
    assert caught.value.line == 5 and "does not exist" in caught.value.message


def test_an_exception_for_every_rule(tmp_path):
    policies = load(tmp_path, """
        governance:
          exceptions:
            - {rule: "*", nodes: ["analytics.stg_*"], reason: legacy staging, expires: 2026-12-31}
    """)
    result = findings(policies, rules=("undocumented_model", "model_without_group"))
    assert "analytics.stg_orders" not in names(result)
    assert {f.rule for f, e in result.excepted} == {"undocumented_model"}


def test_a_bad_selector_in_a_scope_is_reported_when_policies_load(tmp_path):
    with pytest.raises(MeshError) as caught:
        load(tmp_path, """
            governance:
              rules:
                root_model: {scope: {select: ["colour:blue"]}}
        """)
    assert "'colour' is neither a selector method nor a project" in caught.value.message
    assert caught.value.line == 6


# -- exceptions written beside the model (meta) --------------------------------------------------
def meta_exception(**entry) -> list[ProjectBuilder]:
    a = ProjectBuilder("analytics")
    a.model("orders", description="", meta={"meshkit": {"exceptions": [entry]}})
    a.model("stg_orders", description="")
    return [a]


def test_meta_exception_counts_for_an_overridable_rule(tmp_path):
    policies = load(tmp_path, "governance: {rules: {undocumented_model: {overridable: true}}}\n")
    result = findings(policies, projects=meta_exception(rule="undocumented_model",
                                                        reason="generated table", expires="2026-06-30"))
    assert names(result) == ["analytics.stg_orders"]
    assert [(f.name, e.reason) for f, e in result.excepted] == [("analytics.orders", "generated table")]
    later = findings(policies, today=date(2026, 7, 1), projects=meta_exception(
        rule="undocumented_model", reason="generated table", expires="2026-06-30"))
    assert "exception expired on 2026-06-30" in next(
        f.note for f in later.findings if f.name == "analytics.orders")


def test_meta_exception_to_a_mesh_rule_does_not_count(tmp_path):
    result = findings(load(tmp_path), projects=meta_exception(rule="undocumented_model",
                                                              reason="we disagree"))
    orders = next(f for f in result.findings if f.name == "analytics.orders")
    assert "meta exception does not count" in orders.note and not result.excepted


def test_meta_exception_needs_a_reason(tmp_path):
    with pytest.raises(MeshError, match="needs a rule and a reason"):
        findings(load(tmp_path), projects=meta_exception(rule="undocumented_model"))


# -- one selector grammar with meshkit build -------------------------------------------------------
def chain_mesh() -> list[ProjectBuilder]:
    """analytics.stg_orders → analytics.orders (public) → finance.revenue → finance.report."""
    a = ProjectBuilder("analytics")
    a.group("core", "Core")
    stg = a.model("stg_orders", description="", folder="staging", materialized="view")
    orders = a.model("orders", description="", depends_on=[stg], access="public", group="core",
                     tags=["certified"])
    f = ProjectBuilder("finance")
    f.inject(orders)
    revenue = f.model("revenue", description="", depends_on=[orders])
    f.model("report", description="", depends_on=[revenue], tags=["certified"])
    f.exposure("weekly", [revenue])
    return [a, f]


def load_for_mesh(tmp_path: Path, mesh: str) -> PolicySet:
    """Policies of a mesh.yml listing the projects of chain_mesh() (none has governance.yml)."""
    mesh_file = tmp_path / "mesh.yml"
    mesh_file.write_text("name: m\nprojects: {}\n" + textwrap.dedent(mesh))
    return PolicySet.load(read_yaml(mesh_file).get("governance"), mesh_file,
                          {"analytics": tmp_path / "analytics", "finance": tmp_path / "finance"})


SELECTORS = ["+finance:revenue", "analytics:orders+", "analytics:orders", "orders",
             "analytics.orders", "1+finance:report", "@analytics:stg_orders", "stg_*",
             "tag:certified+", "group:core", "path:models/staging", "project:finance",
             "fqn:analytics.marts.*", "config.materialized:view", "access:public,project:analytics",
             "+exposure:weekly", "models/staging", "analytics.orders finance.report"]


@pytest.mark.parametrize("selector", SELECTORS)
def test_check_and_policy_scopes_select_what_build_selects(tmp_path, selector):
    """`meshkit check -s`, a policy's scope.select and `meshkit build -s` read one grammar."""
    from fixtures.govern.builder import graph_of
    from meshkit.graph.selection import Selector

    projects = chain_mesh()
    view = view_of(*projects)
    built = Selector(graph_of(*projects)).select([selector])
    expected = sorted(view.models[uid].label for uid in built)
    assert expected, f"{selector} selects nothing to build: not a useful case"
    checked = check(view, load(tmp_path), CheckOptions(rules=("undocumented_model",),
                                                       select=(selector,)))
    assert names(checked) == expected
    scoped = check(view, load_for_mesh(tmp_path, f"""
        governance:
          rules:
            undocumented_model: {{severity: error, scope: {{select: ["{selector}"]}}}}
    """), CheckOptions(rules=("undocumented_model",)))
    assert names(scoped) == expected


def test_project_selector_keeps_project_and_exposure_findings(tmp_path):
    """`-s project:finance` reports the project's own findings (subject project:finance) and
    its exposures'; a name selector reports neither."""
    projects = chain_mesh()
    view = view_of(*projects)
    policies = load(tmp_path)
    every = check(view, policies, CheckOptions())
    levels = {f.subject.split(".")[0].split(":")[0] for f in every.findings if f.project == "finance"}
    assert {"model", "exposure"} <= levels
    selected = check(view, policies, CheckOptions(select=("project:finance",)))
    assert sorted(f.fingerprint for f in selected.findings) == sorted(
        f.fingerprint for f in every.findings if f.project == "finance")
    by_name = check(view, policies, CheckOptions(select=("finance:revenue",)))
    assert {f.subject for f in by_name.findings} == {"model.finance.revenue"}


def test_project_level_findings_follow_project_selectors():
    from meshkit.govern.scope import Selection

    graph = view_of(*chain_mesh()).graph
    assert Selection.parse(["project:finance"]).matches(None, "project:finance", "finance", graph)
    assert Selection.parse(["project:fin*"]).matches(None, "project:finance", "finance", graph)
    assert not Selection.parse(["tag:certified"]).matches(None, "project:finance", "finance", graph)
    assert not Selection.parse(["+project:finance"]).matches(None, "project:finance", "finance",
                                                             graph)


@pytest.mark.parametrize("where, text, message", [
    ("select", "state:modified", "state: has no meaning in governance"),
    ("select", "+", "cannot read selector '+'"),
    ("select", "nope:orders", "'nope' is neither a selector method nor a project"),
    ("nodes", "+analytics.orders", "is a selector; an exception names the resources"),
    ("nodes", "tag:legacy", "is a selector; an exception names the resources"),
])
def test_an_operator_that_makes_no_sense_is_refused_with_its_line(tmp_path, where, text, message):
    body = (f"""
        governance:
          rules:
            undocumented_model: {{scope: {{select: ["{text}"]}}}}
    """ if where == "select" else f"""
        governance:
          exceptions:
            - {{rule: undocumented_model, nodes: ["{text}"], reason: legacy}}
    """)
    with pytest.raises(MeshError) as caught:
        load(tmp_path, body)
    assert message in caught.value.message and caught.value.line == (6 if where == "select" else 6)


def test_exception_nodes_still_name_findings(tmp_path):
    """`analytics.orders`, a glob and project:NAME in exception nodes, as before."""
    policies = load(tmp_path, """
        governance:
          exceptions:
            - {rule: "*", nodes: [analytics.orders, "finance.rev*", "project:finance"], reason: x}
    """)
    result = check(view_of(*chain_mesh()), policies, CheckOptions())
    excepted = {f.subject for f, _ in result.excepted}
    assert {"model.analytics.orders", "model.finance.revenue"} <= excepted
    assert "model.finance.report" not in excepted


def test_a_mesh_project_the_check_could_not_read_is_still_a_valid_name(tmp_path):
    """finance is in mesh.yml but has no manifest yet: `finance:revenue` selects nothing
    instead of being called neither a method nor a project."""
    analytics_only = view_of(chain_mesh()[0])
    policies = load_for_mesh(tmp_path, """
        governance:
          rules:
            undocumented_model: {severity: error, scope: {select: ["+finance:revenue"]}}
    """)
    assert names(check(analytics_only, policies, CheckOptions(rules=("undocumented_model",)))) == []


def test_a_selector_that_matches_nothing_is_named_with_close_matches(tmp_path):
    """`meshkit check -s finance:nope` warns as `meshkit build -s` does, instead of passing
    silently; one that matches leaves no warning."""
    view = view_of(*chain_mesh())
    missed = check(view, load(tmp_path), CheckOptions(select=("finance:reprt", "orders")))
    assert len(missed.unmatched) == 1
    assert "--select 'finance:reprt' does not match any enabled nodes" in missed.unmatched[0]
    assert "did you mean 'finance:report'" in missed.unmatched[0]
    assert check(view, load(tmp_path), CheckOptions(select=("finance:report",))).unmatched == []
