"""Why a model is rebuilt or reused: each reason a small named value with a kind.

`orchestrate.state` decides one `Reason` per selected node: its `Kind` and the facts it rests
on (`details`: run ids, node labels, …; `causes`: the parents' changes behind a rebuild for new
data). Run history stores the kind and the details, never a sentence (`to_stored`,
`from_stored`); `describe` words a reason only where it is shown: the CLI, Dagster metadata,
`meshkit runs show`.

A new reason is a member of `Kind` with its wording in `_WORDING` (this file) and the rule
that decides it in `orchestrate/state.py` (`RULES`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping


class Kind(StrEnum):
    """What a decision rests on, stored as this text in `run_nodes.reason`."""

    FULL = "full"                                  # --full
    NEVER_BUILT = "never_built"
    PROJECT_UNPUBLISHED = "project_unpublished"    # its project has no intact published run
    CODE_CHANGED = "code_changed"                  # code or config: the node's fingerprint
    INTERFACE_CHANGED = "interface_changed"        # the published entry differs from the code
    FAILED_LAST_TIME = "failed_last_time"
    TESTS_FAILED = "tests_failed"
    NEVER_PUBLISHED = "never_published"            # built, but that run never published
    RELATION_GONE = "relation_gone"                # --verify-relations found no relation
    NEW_DATA = "new_data"                          # parents changed: see `causes`
    UNCHANGED = "unchanged"
    WAITING_FOR_ALL_PARENTS = "waiting_for_all_parents"   # build_after updates_on: all
    BUILD_AFTER_NOT_DUE = "build_after_not_due"
    BUILT_OUTSIDE = "built_outside"                # `meshkit publish` of a dbt run
    # The causes of NEW_DATA and BUILD_AFTER_NOT_DUE, one per changed parent:
    NEW_SOURCE_DATA = "new_source_data"
    UPSTREAM_REBUILT = "upstream_rebuilt"                   # in this run
    UPSTREAM_REBUILT_SINCE = "upstream_rebuilt_since"       # in a run after this model's
    UPSTREAM_INTERFACE_CHANGED = "upstream_interface_changed"   # another project republished


_REUSE = frozenset({Kind.UNCHANGED, Kind.WAITING_FOR_ALL_PARENTS, Kind.BUILD_AFTER_NOT_DUE})

# How each kind reads; `{causes}` are the causes joined with "and", `{causes_listed}` with
# commas, and a list in the details is written comma-separated.
_WORDING: dict[Kind, str] = {
    Kind.FULL: "full build requested (--full)",
    Kind.NEVER_BUILT: "never built",
    Kind.PROJECT_UNPUBLISHED: "{project} has no intact published run in the store",
    Kind.CODE_CHANGED: "code or config changed",
    Kind.INTERFACE_CHANGED: "public interface changed: {change}",
    Kind.FAILED_LAST_TIME: "last build failed (run {run_id})",
    Kind.TESTS_FAILED: "tests failed in run {run_id}",
    Kind.NEVER_PUBLISHED: "built in run {run_id}, but that run was never published",
    Kind.RELATION_GONE: "relation {relation} is missing",
    Kind.NEW_DATA: "{causes}",
    Kind.UNCHANGED: "unchanged since run {run_id}",
    Kind.WAITING_FOR_ALL_PARENTS: "waiting for new data from all parents (updates_on: all): "
                                  "{waiting} unchanged",
    Kind.BUILD_AFTER_NOT_DUE: "new data from {causes_listed}, but build_after {count} {period}(s) "
                              "has not passed since run {run_id}",
    Kind.BUILT_OUTSIDE: "built by dbt outside meshkit, published as run {published_run}",
    Kind.NEW_SOURCE_DATA: "source {source} has new data",
    Kind.UPSTREAM_REBUILT: "{parent} was rebuilt",
    Kind.UPSTREAM_REBUILT_SINCE: "{parent} was rebuilt in run {run_id}",
    Kind.UPSTREAM_INTERFACE_CHANGED: "{parent} changed its public interface ({change})",
}


@dataclass(frozen=True)
class Reason:
    """One decision's reason: `kind`, its facts (`details`, JSON-able), and the parents'
    changes behind it (`causes`, for NEW_DATA and BUILD_AFTER_NOT_DUE)."""

    kind: Kind
    details: Mapping[str, Any] = field(default_factory=dict)
    causes: tuple[Reason, ...] = ()

    @property
    def rebuild(self) -> bool:
        """True when this reason rebuilds the model, False when it reuses it."""
        return self.kind not in _REUSE

    def to_stored(self) -> tuple[str, str | None]:
        """(kind, details as JSON or None): the `reason` and `details` of a run_nodes row."""
        facts = self.facts()
        return str(self.kind), (json.dumps(facts) if facts else None)

    def facts(self) -> dict[str, Any]:
        """The details with the causes nested (each `{"kind": …, …}`), as stored in JSON."""
        facts = dict(self.details)
        if self.causes:
            facts["causes"] = [{"kind": str(c.kind), **c.facts()} for c in self.causes]
        return facts

    @classmethod
    def from_stored(cls, kind: str, details: str | Mapping[str, Any] | None) -> Reason:
        """The Reason a run_nodes row (or a cause within it) records. Raises ValueError for
        a kind this meshkit does not know."""
        facts = dict(json.loads(details) if isinstance(details, str) else details or {})
        causes = tuple(cls.from_stored(c.pop("kind"), c) for c in facts.pop("causes", []))
        return cls(Kind(kind), facts, causes)


def describe(reason: Reason) -> str:
    """The reason in words, as the CLI, Dagster and `meshkit runs` show it."""
    facts = {key: ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
             for key, value in reason.details.items()}
    causes = [describe(cause) for cause in reason.causes]
    return _WORDING[reason.kind].format(**facts, causes=" and ".join(causes),
                                        causes_listed=", ".join(causes))


def describe_stored(kind: str, details: str | None) -> str:
    """A run_nodes row's reason in words; rows written before reasons had kinds (or by a newer
    meshkit, with a kind this one does not know) hold their words already."""
    try:
        return describe(Reason.from_stored(kind, details))
    except (ValueError, KeyError):
        return kind
