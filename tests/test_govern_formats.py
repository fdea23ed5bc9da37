"""Output formats: JUnit and SARIF validated against their published schemas, and the rest."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import click
import jsonschema
import pytest
import xmlschema

from fixtures.govern.builder import ProjectBuilder, view_of
from meshkit.config.policy import Policy, PolicyException
from meshkit.govern.engine import CheckOptions, check
from meshkit.govern.findings import Finding
from meshkit.govern.policy import PolicySet
from meshkit.govern.report import Report, RuleInfo, render

SCHEMAS = Path(__file__).parent / "schemas"


@pytest.fixture(scope="module")
def report() -> Report:
    """A check with findings at every level, an exception, a note, and awkward characters."""
    a = ProjectBuilder("analytics")
    a.model("orders", access="public", description="", columns={"id": ""})      # errors + warns
    a.model("stg_<odd> & \"quoted\"", description="")                            # escaping
    view = view_of(a, today=date(2026, 1, 15))
    result = check(view, PolicySet.from_policies(Policy("mesh")), CheckOptions())
    assert {f.severity for f in result.findings} == {"error", "warn", "info"}
    findings = result.findings
    findings[1].note = "becomes an error on 2026-03-01"
    excepted = [(Finding("root_model", "modeling", "warn", "model.analytics.x", "analytics",
                         "analytics.x", "has no parents"),
                 PolicyException(("root_model",), ("analytics.x",), "legacy, see DATA-9"))]
    return Report("check", findings, [RuleInfo(r.id, r.description, r.category, r.severity)
                                      for r in result.rules],
                  result.today, {"analytics": "analytics/target"}, excepted, known=2)


def test_junit_validates_against_the_ant_schema(report):
    schema = xmlschema.XMLSchema(str(SCHEMAS / "junit-windyroad.xsd"))
    text = render(report, "junit")
    schema.validate(text)
    root = ET.fromstring(text)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [r.id for r in report.rules]
    failures = root.findall(".//failure")
    assert len(failures) == report.count("error") > 0
    assert sum(int(s.get("failures")) for s in suites) == len(failures)
    assert any("stg_<odd>" in (c.get("name") or "") for c in root.iter("testcase"))


def test_the_junit_validator_can_say_no(report):
    schema = xmlschema.XMLSchema(str(SCHEMAS / "junit-windyroad.xsd"))
    broken = render(report, "junit").replace(' hostname="meshkit"', "", 1)
    assert not schema.is_valid(broken)


def test_sarif_validates_against_the_oasis_schema(report):
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    log = json.loads(render(report, "sarif"))
    jsonschema.Draft4Validator(schema).validate(log)
    [run] = log["runs"]
    assert len(run["results"]) == len(report.findings)
    levels = {r["level"] for r in run["results"]}
    assert levels == {"error", "warning", "note"}
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    located = [r for r in run["results"] if "physicalLocation" in r["locations"][0]]
    assert located and all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                           for r in located)


def test_the_sarif_validator_can_say_no(report):
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    log = json.loads(render(report, "sarif"))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(log)


def test_json_report(report):
    document = json.loads(render(report, "json"))
    assert document["command"] == "check" and document["as_of"] == "2026-01-15"
    assert document["summary"] == {"error": report.count("error"), "warn": report.count("warn"),
                                   "info": report.count("info"), "excepted": 1, "known": 2}
    first = document["findings"][0]
    assert set(first) >= {"rule", "severity", "subject", "project", "name", "message",
                          "fingerprint", "file", "note"}
    assert document["excepted"][0]["reason"] == "legacy, see DATA-9"


def test_github_annotations_escape_their_properties(report):
    lines = render(report, "github").splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert len(annotations) == len(report.findings)
    assert {line.split(" ", 1)[0] for line in annotations} == {"::error", "::warning", "::notice"}
    odd = next(line for line in annotations if "stg_<odd>" in line)
    assert "title=meshkit " in odd and "\n" not in odd
    assert lines[-1].startswith("meshkit check: ")
    finding = Finding("r", "c", "warn", "s", "p", "n", "line one\nline two, 100%",
                      file="a,b:c.yml", line=3)
    one = Report("check", [finding], [], date(2026, 1, 1))
    assert render(one, "github").splitlines()[0] == \
        "::warning file=a%2Cb%3Ac.yml,line=3,title=meshkit r::n: line one%0Aline two, 100%25"


def test_text_report_groups_by_project_and_summarises(report):
    text = click.unstyle(render(report, "text"))
    assert text.splitlines()[0].startswith("analytics")
    assert "analytics/target" in text
    assert "becomes an error on 2026-03-01" in text
    last = text.splitlines()[-1]
    assert "failed" in last and f"{report.count('error')} error(s)" in last
    assert "1 covered by exceptions" in last and "2 already in the baseline" in last


def test_text_report_names_each_project_once():
    a = ProjectBuilder("analytics")
    a.model("orders", access="public", description="")            # an error and warnings
    f = ProjectBuilder("finance")
    f.model("revenue", access="public", description="")
    view = view_of(a, f, today=date(2026, 1, 15))
    result = check(view, PolicySet.from_policies(Policy("mesh")), CheckOptions())
    report = Report("check", result.findings, [], result.today, {})
    lines = click.unstyle(render(report, "text")).splitlines()
    headers = [line for line in lines if line and not line.startswith(" ")][:-1]
    assert headers == ["analytics", "finance"]
