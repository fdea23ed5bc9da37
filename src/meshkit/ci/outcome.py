"""How each node of a PR build ended, in dbt's run_results vocabulary."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from meshkit.status import NodeStatus


class Outcome(enum.Enum):
    SUCCESS = "success"      # a model, seed or snapshot built; a test passed
    WARN = "warn"            # a test failed at severity warn
    FAIL = "fail"            # a test failed
    ERROR = "error"          # a node or test could not run
    SKIPPED = "skipped"      # an upstream failed

    @classmethod
    def of(cls, status: str) -> "Outcome":
        """dbt's run_results status (`pass`, `runtime error`, …) → an Outcome."""
        return {NodeStatus.PASS: cls.SUCCESS, NodeStatus.SUCCESS: cls.SUCCESS,
                NodeStatus.WARN: cls.WARN, NodeStatus.FAIL: cls.FAIL,
                NodeStatus.SKIPPED: cls.SKIPPED, "skip": cls.SKIPPED}.get(status, cls.ERROR)

    @property
    def failed(self) -> bool:
        return self in (Outcome.FAIL, Outcome.ERROR, Outcome.SKIPPED)


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    project: str
    outcome: Outcome
    message: str | None = None
