"""GitHub Actions workflow commands: annotations on the files of a pull request."""

from __future__ import annotations

from meshkit.govern.report import Report
from meshkit.status import Severity

_COMMAND = {Severity.ERROR: "error", Severity.WARN: "warning", Severity.INFO: "notice"}


def render(report: Report) -> str:
    """Findings as GitHub Actions workflow commands (`::error file=…,line=…::message`)."""
    lines = []
    for finding in report.findings:
        props = []
        if finding.file:
            props.append(f"file={_prop(finding.file)}")
            if finding.line:
                props.append(f"line={finding.line}")
        props.append(f"title={_prop(f'meshkit {finding.rule}')}")
        text = f"{finding.name}: {finding.message}" + (f" ({finding.note})" if finding.note else "")
        lines.append(f"::{_COMMAND[finding.severity]} {','.join(props)}::{_data(text)}")
    lines.append(f"meshkit {report.command}: {report.summary()}")
    return "\n".join(lines)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
