"""Plain text for terminals and CI logs, grouped by project."""

from __future__ import annotations

import click

from meshkit.govern.report import Report

_STYLE = {"error": ("red", True), "warn": ("yellow", False), "info": ("cyan", False)}


def render(report: Report) -> str:
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
        text = f"  {level} {finding.name}: {finding.message}"
        details = [d for d in (finding.note, where) if d]
        tail = click.style(f"  [{finding.rule}]" + (f" {' · '.join(details)}" if details else ""),
                           dim=True)
        lines.append(text + tail)
    if not report.findings:
        lines.append("no findings")
    lines.append("")
    if report.missing:
        lines.append(click.style(f"not read (no target/manifest.json, nothing published): "
                                 f"{', '.join(report.missing)}", fg="yellow"))
    verdict = click.style("failed", fg="red", bold=True) if report.count("error") else \
        click.style("passed", fg="green", bold=True)
    lines.append(f"meshkit {report.command} {verdict}: {report.summary()}")
    return "\n".join(lines).lstrip("\n")
