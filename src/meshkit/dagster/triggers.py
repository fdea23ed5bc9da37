"""`triggers.on_completion` as a Dagster sensor: run a job when its upstream jobs finish.

The rule is `meshkit scheduler`'s (config/jobs.py CompletionTrigger): with `any_of` (or one
upstream job) every upstream run that ends with one of `statuses` queues one run; with
`all_of` the job runs once the latest run of every upstream job since it last fired ended
with one of them. The sensor's cursor holds the last end time it read and, for all_of, the
latest completion of each upstream job. A sensor starts from the time it is first evaluated:
runs that ended before do not trigger it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from meshkit.config.jobs import CompletionTrigger, Job
from meshkit.dagster.keys import safe_name
from meshkit.status import RunStatus

if TYPE_CHECKING:   # Dagster exports the type only from a private module
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

# Dagster's ended runs in the words of mesh.yml's `statuses`.
STATUS_OF = {DagsterRunStatus.SUCCESS: RunStatus.SUCCESS, DagsterRunStatus.FAILURE: RunStatus.ERROR,
             DagsterRunStatus.CANCELED: RunStatus.CANCELED}


@dataclass(frozen=True)
class Completion:
    """An upstream job's run that ended."""

    job: str                 # the mesh.yml job name
    run_id: str
    status: str              # success | error | canceled
    ended_at: float          # seconds since the epoch


def fire(trigger: CompletionTrigger, completions: list[Completion],
         latest: dict[str, Completion]) -> list[tuple[Completion, ...]]:
    """The runs to request for `completions` (in the order they ended), each as the upstream
    completions it answers; `latest` (all_of's state, job → completion) is updated in place."""
    fired: list[tuple[Completion, ...]] = []
    for done in completions:
        if done.job not in trigger.upstream:
            continue
        if trigger.each:
            if done.status in trigger.statuses:
                fired.append((done,))
            continue
        latest[done.job] = done
        if not trigger.waiting_for({job: c.status for job, c in latest.items()}):
            fired.append(tuple(latest[u] for u in trigger.upstream))
            latest.clear()
    return fired


def completion_sensor(job: Job, target: UnresolvedAssetJobDefinition,
                      dagster_names: dict[str, str]) -> SensorDefinition:
    """The sensor that runs `target` on completion of `job`'s upstream jobs, whose Dagster
    job names `dagster_names` gives (mesh.yml name → Dagster name)."""
    trigger = job.trigger
    assert trigger is not None
    mesh_names = {dagster_names[u]: u for u in trigger.upstream}

    @sensor(name=f"{safe_name(job.name)}_on_completion", job=target,
            description=f"{job.name}: {trigger.describe()}", minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.RUNNING)
    def on_completion(context: SensorEvaluationContext):
        if not context.cursor:   # first evaluation: runs that ended before do not count
            return SensorResult(skip_reason=SkipReason("watching from now on"),
                                cursor=json.dumps({"after": time.time(), "latest": {}}))
        cursor = json.loads(context.cursor)
        completions = _completions(context, mesh_names, cursor["after"])
        latest = {u: Completion(**c) for u, c in cursor["latest"].items()}
        requests = [RunRequest(run_key="+".join(c.run_id for c in used),
                               tags={"meshkit/triggered_by": ", ".join(
                                   f"{c.job} run {c.run_id} ({c.status})" for c in used)})
                    for used in fire(trigger, completions, latest)]
        after = max([cursor["after"], *(c.ended_at for c in completions)])
        return SensorResult(run_requests=requests, cursor=json.dumps(
            {"after": after, "latest": {u: vars(c) for u, c in latest.items()}}))

    return on_completion


def _completions(context: SensorEvaluationContext, mesh_names: dict[str, str],
                 after: float) -> list[Completion]:
    """Runs of the upstream jobs that ended after `after`, oldest first."""
    since = datetime.fromtimestamp(after, tz=timezone.utc)
    found = []
    for dagster_name, mesh_name in mesh_names.items():
        records = context.instance.get_run_records(RunsFilter(
            job_name=dagster_name, statuses=list(STATUS_OF), updated_after=since))
        found += [Completion(mesh_name, r.dagster_run.run_id, STATUS_OF[r.dagster_run.status],
                             r.end_time) for r in records if r.end_time and r.end_time > after]
    return sorted(found, key=lambda c: c.ended_at)
