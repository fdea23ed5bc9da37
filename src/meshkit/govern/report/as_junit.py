"""JUnit XML (the Apache Ant schema most CI servers read): a suite per rule.

Each finding at error level is a failing test case; warnings and info are passing cases
whose messages are listed in the suite's system-out. A rule without findings is one
passing case, so the report shows every rule that ran. Built as one linear string: the
cost grows with the number of findings, not its square.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

from meshkit.govern.findings import Finding
from meshkit.govern.report import Report
from meshkit.status import Severity


def render(report: Report) -> str:
    """The report as JUnit XML: one test suite per rule, one failing test case per finding."""
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_rule[finding.rule].append(finding)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for index, rule in enumerate(report.rules):
        findings = by_rule.get(rule.id, [])
        failures = sum(1 for f in findings if f.severity == Severity.ERROR)
        out.append(f'  <testsuite package="meshkit.{_token(report.command)}" id="{index}" '
                   f'name={quoteattr(rule.id)} timestamp="{stamp}" hostname="meshkit" '
                   f'tests="{max(len(findings), 1)}" failures="{failures}" errors="0" skipped="0" '
                   f'time="0">')
        out.append("    <properties>")
        out.append(f'      <property name="category" value={quoteattr(rule.category)}/>')
        out.append(f'      <property name="description" value={quoteattr(rule.description)}/>')
        out.append("    </properties>")
        classname = quoteattr(f"meshkit.{rule.id}")
        if not findings:
            out.append(f'    <testcase name="no findings" classname={classname} time="0"/>')
        notes = []
        for finding in findings:
            name = quoteattr(_case_name(finding))
            if finding.severity == Severity.ERROR:
                out.append(f'    <testcase name={name} classname={classname} time="0">')
                out.append(f"      <failure message={quoteattr(finding.message)} type=\"error\">"
                           f"{escape(_detail(finding))}</failure>")
                out.append("    </testcase>")
            else:
                out.append(f'    <testcase name={name} classname={classname} time="0"/>')
                notes.append(f"{finding.severity}: {finding.name}: {finding.message}")
        out.append(f"    <system-out>{escape(chr(10).join(notes))}</system-out>")
        out.append("    <system-err></system-err>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def _case_name(finding: Finding) -> str:
    return finding.name + (f" [{finding.key}]" if finding.key else "")


def _detail(finding: Finding) -> str:
    lines = [f"{finding.name}: {finding.message}"]
    if finding.file:
        lines.append(f"at {finding.file}" + (f":{finding.line}" if finding.line else ""))
    if finding.note:
        lines.append(finding.note)
    return "\n".join(lines)


def _token(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
