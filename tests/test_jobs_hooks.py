"""Job runners injected through MESHKIT_JOB_RUNNER (`test_jobs_hooks:NAME`) by the job tests.

No tests here: these functions replace what a job run does, so the queue, the claiming, the
triggers and the recording around them are meshkit's real code.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from meshkit.jobs.execute import Outcome, RunContext, perform

# In-process runs (`--in-process`, ThreadLauncher) read what to do from here.
OUTCOMES: dict[str, str] = {}          # job → success | error
FAILED: dict[str, list[dict]] = {}     # job → model entries for the summary
DELAYS: dict[str, float] = {}          # job → seconds to sleep
CALLS: list[tuple[str, int]] = []      # (job, run id), in the order they ran


def scripted(ctx: RunContext) -> Outcome:
    CALLS.append((ctx.job.name, ctx.run.id))
    time.sleep(DELAYS.get(ctx.job.name, 0))
    status = OUTCOMES.get(ctx.job.name, "success")
    failed = FAILED.get(ctx.job.name, []) if status == "error" else []
    return Outcome(status, None if status == "success" else "scripted failure",
                   None if status == "success" else "build", summary={"failed": failed})


def recorded(ctx: RunContext) -> Outcome:
    """The load test's runner: appends (run, job, start, end, pid) to MESHKIT_TEST_RECORD."""
    started = time.time()
    time.sleep(0.005)
    line = json.dumps({"run": ctx.run.id, "job": ctx.job.name, "start": started,
                       "end": time.time(), "pid": os.getpid()})
    with open(os.environ["MESHKIT_TEST_RECORD"], "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return Outcome("success")


def pause_after_build(ctx: RunContext) -> Outcome:
    """The real run, then — for the job named in MESHKIT_TEST_PAUSE_JOB — a note that the
    build has ended and a long sleep, so a test can kill the scheduler right there."""
    outcome = perform(ctx)
    if ctx.job.name == os.environ.get("MESHKIT_TEST_PAUSE_JOB"):
        Path(os.environ["MESHKIT_TEST_PAUSED"]).write_text(
            json.dumps({"pid": os.getpid(), "run": ctx.run.id, "status": outcome.status}))
        time.sleep(600)
    return outcome


def sleepy(ctx: RunContext) -> Outcome:
    """Starts a child process (as a build starts dbt), notes both pids, then sleeps."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"])
    Path(os.environ["MESHKIT_TEST_PIDS"]).write_text(
        json.dumps({"worker": os.getpid(), "child": child.pid, "run": ctx.run.id}))
    time.sleep(300)
    return Outcome("success")
