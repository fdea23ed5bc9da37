"""The closed vocabularies meshkit shares across packages: node results, run statuses, severities.

Each is a `StrEnum`, so a member compares equal to its text and is stored and printed as that
text: `NodeStatus.SUCCESS == "success"`, and JSON, SQLite and YAML keep the plain words.
"""
from __future__ import annotations

from enum import StrEnum


class NodeStatus(StrEnum):
    """How one dbt node ended, as written in `run_results.json` (dbt-core's
    `dbt.artifacts.schemas.results.NodeStatus`, 1.10–1.11)."""

    SUCCESS = "success"
    ERROR = "error"
    FAIL = "fail"
    WARN = "warn"
    SKIPPED = "skipped"
    PARTIAL_SUCCESS = "partial success"
    PASS = "pass"
    RUNTIME_ERROR = "runtime error"
    NO_OP = "no-op"

    @property
    def failed(self) -> bool:
        """True for the statuses dbt counts as a failure (error, fail, runtime error)."""
        return self in (NodeStatus.ERROR, NodeStatus.FAIL, NodeStatus.RUNTIME_ERROR)


class RunStatus(StrEnum):
    """How a meshkit run (a build, a publish, a job run) stands or ended."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    CANCELED = "canceled"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    PARSED = "parsed"                      # published after `dbt parse`: no run results
    NOOP = "noop"                          # a build with nothing to build: every model up to date
    PLANNED = "planned"                    # planned, not run (`meshkit plan`)
    FAILURES_ALLOWED = "failures allowed"  # published with --allow-failures

    @property
    def finished(self) -> bool:
        """False while the run is queued or running."""
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


class PlanStatus(StrEnum):
    """What meshkit says of a selected node dbt did not run (else dbt's NodeStatus)."""

    REUSED = "reused"     # up to date: state says nothing it depends on changed
    PLANNED = "planned"   # not run yet (a plan, or a build that stopped before it)


class Severity(StrEnum):
    """How loud a finding is: a governance rule, a contract change, a policy level.

    Ordered: `Severity.WARN < Severity.ERROR` compares by rank, not by text.
    """

    OFF = "off"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for off up to 3 for error."""
        return list(Severity).index(self)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank < other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank <= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank > other.rank
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Severity):
            return self.rank >= other.rank
        return NotImplemented
