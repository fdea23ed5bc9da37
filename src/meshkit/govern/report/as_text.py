"""Plain text for terminals and CI logs, grouped by project."""

from __future__ import annotations

import textwrap

import click

from meshkit.govern.report import Report
from meshkit.status import Severity

_STYLE = {Severity.ERROR: ("red", True), Severity.WARN: ("yellow", False),
          Severity.INFO: ("cyan", False)}


def render(report: Report, width: int | None = None) -> str:
    """One line per finding; with `width` (a terminal's columns), each finding wrapped to it,
    its rule and file on a line of their own."""
    lines = []
    current = object()
    for finding in report.findings:
        if finding.project != current:
            current = finding.project
            origin = report.origins.get(finding.project or "", "")
            header = click.style(finding.project or "mesh", bold=True)
            lines.append(f"\n{header}" + (click.style(f"  ({origin})", dim=True) if origin else ""))
        color, bold = _STYLE[finding.severity]
        level = click.style(f"{finding.severity:<5}", fg=color, bold=bold)
        where = f"{finding.file}:{finding.line}" if finding.file and finding.line else finding.file
        text = f"{finding.name}: {finding.message}"
        details = [d for d in (finding.note, where) if d]
        tail = f"[{finding.rule}]" + (f" {' · '.join(details)}" if details else "")
        if width is None:
            lines.append(f"  {level} {text}" + click.style(f"  {tail}", dim=True))
            continue
        indent = " " * 8
        wrapped = textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                                break_long_words=False, break_on_hyphens=False)
        lines.append(f"  {level} {wrapped[0][len(indent):]}")
        lines += wrapped[1:]
        lines += [click.style(line, dim=True) for line in textwrap.wrap(
            tail, width, initial_indent=indent, subsequent_indent=indent + "  ",
            break_long_words=False, break_on_hyphens=False)]
    if not report.findings:
        lines.append("no findings")
    lines.append("")
    if report.missing:
        lines.append(click.style(f"not read (no target/manifest.json, nothing published): "
                                 f"{', '.join(report.missing)}", fg="yellow"))
    verdict = click.style("failed", fg="red", bold=True) if report.count(Severity.ERROR) else \
        click.style("passed", fg="green", bold=True)
    summary = report.summary()
    if width is not None:
        summary = "\n".join(textwrap.wrap(summary, width, initial_indent=" " * len(f"meshkit {report.command} passed: "),
                                           break_on_hyphens=False)).lstrip()
    lines.append(f"meshkit {report.command} {verdict}: {summary}")
    return "\n".join(lines).lstrip("\n")
