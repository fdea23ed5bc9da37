"""SARIF 2.1.0, for code-scanning views (GitHub, GitLab, IDEs)."""

from __future__ import annotations

from typing import Any

import msgspec

from meshkit import __version__
from meshkit.govern.report import Report
from meshkit.status import Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARN: "warning", Severity.INFO: "note",
          Severity.OFF: "none"}


def render(report: Report) -> str:
    """The report as SARIF 2.1.0, for code scanning: the rules, and one result per finding."""
    index = {rule.id: i for i, rule in enumerate(report.rules)}
    rules = [{"id": r.id, "name": _pascal(r.id), "shortDescription": {"text": r.description},
              "defaultConfiguration": {"level": _LEVEL[r.severity]},
              "properties": {"category": r.category}} for r in report.rules]
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": _LEVEL[finding.severity],
            "message": {"text": f"{finding.name}: {finding.message}"
                                + (f" ({finding.note})" if finding.note else "")},
            "locations": [_location(finding)],
            "partialFingerprints": {"meshkitFinding/v1": finding.fingerprint},
            "properties": {"project": finding.project, "subject": finding.subject},
        }
        if finding.rule in index:
            result["ruleIndex"] = index[finding.rule]
        results.append(result)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "meshkit", "version": __version__,
                                "rules": rules}},
            "results": results,
            "properties": {"command": report.command, "asOf": report.as_of.isoformat()},
        }],
    }
    return msgspec.json.format(msgspec.json.encode(log), indent=2).decode()


def _location(finding) -> dict:
    location: dict = {"logicalLocations": [{"fullyQualifiedName": finding.name,
                                            "kind": "object"}]}
    if finding.file:
        physical: dict = {"artifactLocation": {"uri": finding.file}}
        if finding.line:
            physical["region"] = {"startLine": finding.line}
        location["physicalLocation"] = physical
    return location


def _pascal(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.replace("-", "_").split("_"))
