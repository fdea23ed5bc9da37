"""What a rule reports (a Violation) and what a check reports (a Finding)."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshkit.status import Severity


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing a rule found wrong.

    `subject` is the unique id it is about (default: the resource the rule was given);
    `key` tells apart several violations on one subject (a column name, a parent id);
    `file` and `line` point at the place to fix when it is not the resource's own file.
    """

    message: str
    subject: str | None = None
    key: str = ""
    file: str | None = None
    line: int | None = None


@dataclass(slots=True)
class Finding:
    rule: str
    category: str
    severity: Severity      # info | warn | error, after the mesh's and the project's policies
    subject: str            # a unique id, or project:<name> for findings about a project
    project: str | None
    name: str               # how people call the subject: analytics.fct_orders.v2
    message: str
    key: str = ""
    file: str | None = None  # relative to the mesh root when the project's folder is known
    line: int | None = None
    note: str = ""           # what the policy adds: "error from 2026-03-01", an expired exception
    downstream: list[str] = field(default_factory=list)   # diff: who reads the changed model

    @property
    def fingerprint(self) -> str:
        """Stable across runs and unrelated edits: rule, subject (with its version), key."""
        return f"{self.rule}|{self.subject}|{self.key}"

    def to_dict(self) -> dict:
        return {"rule": self.rule, "category": self.category, "severity": self.severity,
                "subject": self.subject, "project": self.project, "name": self.name,
                "message": self.message, "key": self.key, "file": self.file, "line": self.line,
                "note": self.note, "downstream": list(self.downstream),
                "fingerprint": self.fingerprint}
