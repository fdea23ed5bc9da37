"""JSON for scripts; the same document is what `--baseline` reads back."""

from __future__ import annotations

import msgspec

from meshkit import __version__
from meshkit.govern.report import Report
from meshkit.status import Severity


def render(report: Report) -> str:
    """The report as JSON: version, command, date, counts by severity, rules and findings."""
    document = {
        "meshkit_version": __version__,
        "command": report.command,
        "as_of": report.as_of.isoformat(),
        "summary": {**{str(s): report.count(s) for s in (Severity.ERROR, Severity.WARN,
                                                                   Severity.INFO)}, "excepted": len(report.excepted),
                    "known": report.known},
        "projects": report.origins,
        "missing_projects": report.missing,
        "rules": [{"id": r.id, "description": r.description, "category": r.category,
                   "severity": r.severity} for r in report.rules],
        "findings": [f.to_dict() for f in report.findings],
        "excepted": [{**f.to_dict(), "reason": e.reason,
                      "expires": e.expires.isoformat() if e.expires else None}
                     for f, e in report.excepted],
    }
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()
