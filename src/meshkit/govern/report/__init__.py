"""Reporters: one module per output format, all fed the same Report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from meshkit.config.policy import PolicyException
from meshkit.govern.findings import Finding
from meshkit.status import Severity


@dataclass(frozen=True)
class RuleInfo:
    id: str
    description: str
    category: str
    severity: Severity


@dataclass
class Report:
    command: str                       # "check" or "diff"
    findings: list[Finding]
    rules: list[RuleInfo]
    as_of: date
    origins: dict[str, str] = field(default_factory=dict)   # project → where it was read from
    excepted: list[tuple[Finding, PolicyException]] = field(default_factory=list)
    known: int = 0                     # findings the baseline already had
    missing: list[str] = field(default_factory=list)   # mesh projects that could not be read

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def summary(self) -> str:
        parts = [f"{self.count(Severity.ERROR)} error(s)", f"{self.count(Severity.WARN)} warning(s)",
                 f"{self.count(Severity.INFO)} info"]
        extra = []
        if self.excepted:
            extra.append(f"{len(self.excepted)} covered by exceptions")
        if self.known:
            extra.append(f"{self.known} already in the baseline")
        what = "rules" if self.command == "check" else "kinds of breaking change"
        scope = f"{len(self.rules)} {what} over {len(self.origins)} project(s)"
        return ", ".join(parts) + " · " + scope + (" · " + ", ".join(extra) if extra else "")


def render(report: Report, fmt: str, width: int | None = None) -> str:
    """The report in `fmt`; text is wrapped to `width` columns when given (a terminal)."""
    if fmt == "text":
        from meshkit.govern.report import as_text

        return as_text.render(report, width)
    renderers: dict[str, Callable[[Report], str]] = _renderers()
    return renderers[fmt](report)


def _renderers() -> dict[str, Callable[[Report], str]]:
    from meshkit.govern.report import as_github, as_json, as_junit, as_sarif, as_text

    return {"text": as_text.render, "json": as_json.render, "junit": as_junit.render,
            "sarif": as_sarif.render, "github": as_github.render}
