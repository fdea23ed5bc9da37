"""What a meshkit build did, as Dagster events.

Dagster's model has no "reused" materialization, so each node of the build's plan becomes
what honestly happened to it:

- rebuilt and succeeded: a materialization (with meshkit's decision and reason);
- reused by the state-aware planner (its inputs did not change): no materialization, since
  the table did not change, but an observation saying so, with the reason and the meshkit
  run that decided it;
- failed, or skipped because something upstream failed: no materialization, an observation
  naming the failure; the step then fails, so Dagster marks the run failed.

dbt tests that ran become asset check results (dbt's `warn` a failed check of severity WARN).
"""

from __future__ import annotations

from typing import Iterator, Union

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    MaterializeResult,
)

from meshkit.dagster.specs import MeshAssets
from meshkit.orchestrate.build import BuildReport
from meshkit.orchestrate.reasons import describe
from meshkit.orchestrate.state import label
from meshkit.status import NodeStatus, RunStatus

Event = Union[MaterializeResult, AssetObservation, AssetCheckResult]
_CHECKED: dict[str, AssetCheckSeverity] = {
    NodeStatus.PASS: AssetCheckSeverity.ERROR, NodeStatus.FAIL: AssetCheckSeverity.ERROR,
    NodeStatus.ERROR: AssetCheckSeverity.ERROR, NodeStatus.WARN: AssetCheckSeverity.WARN}


def asset_events(report: BuildReport, assets: MeshAssets, selected: set[AssetKey],
                 checks: set[AssetCheckKey]) -> Iterator[Event]:
    """The events of every planned node whose asset is `selected`, then the results of the
    tests that ran whose checks are in `checks`."""
    for uid in report.plan.selected:
        key = assets.keys.get(uid)
        if key is None or key not in selected:
            continue
        status = report.node_status(uid)
        metadata = _decision(report, uid, status)
        if status == NodeStatus.SUCCESS:
            yield MaterializeResult(asset_key=key, metadata=metadata)
        else:
            yield AssetObservation(asset_key=key, metadata=metadata)
    tests = report.executor.tests if report.executor else {}
    for uid, outcome in tests.items():
        check = assets.checks.get(uid)
        if check is None or check not in checks or outcome.status not in _CHECKED:
            continue
        yield AssetCheckResult(asset_key=check.asset_key, check_name=check.name,
                               passed=outcome.status == NodeStatus.PASS, severity=_CHECKED[outcome.status],
                               metadata={"dbt/status": str(outcome.status),
                                         "dbt/message": outcome.message or "",
                                         "dbt/unique_id": uid})


def _decision(report: BuildReport, uid: str, status: str) -> dict[str, str | int | float]:
    decision = report.plan.decisions[uid]
    metadata: dict[str, str | int | float] = {
        # Dagster serializes no enums it does not know: plain text for meshkit statuses.
        "meshkit/status": str(status), "meshkit/decision": "rebuild" if decision.rebuild else "reuse",
        "meshkit/reason": describe(decision.reason), "meshkit/reason_kind": str(decision.reason.kind),
        "meshkit/run_id": report.run_id or 0}
    outcome = report.executor.outcomes.get(uid) if report.executor else None
    if outcome is not None:
        metadata["dbt/seconds"] = round(outcome.seconds, 2)
        if outcome.message:
            metadata["meshkit/message"] = outcome.message
    return metadata


def failure_summary(report: BuildReport) -> str | None:
    """Why the build failed, in one paragraph (None when it did not)."""
    if report.status != RunStatus.ERROR:
        return None
    graph = report.plan.graph
    executor = report.executor
    failed = [executor.failed_roots[uid] for uid in report.plan.selected
              if executor and uid in executor.failed_roots]
    skipped = [label(graph, uid) for uid in report.plan.selected
               if report.node_status(uid) == NodeStatus.SKIPPED]
    lines = [f"meshkit run {report.run_id} failed"]
    if failed:
        lines.append("failed: " + ", ".join(failed))
    if skipped:
        lines.append("skipped (downstream of a failure): " + ", ".join(skipped))
    lines += [f"{u.unit.project}: {u.error}" for u in report.units if u.error]
    lines.append(f"details: `meshkit runs show {report.run_id}`")
    return "\n".join(lines)
