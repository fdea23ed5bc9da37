"""Jobs as the command line and the web app use them: list, queue, run now, follow, cancel.

The scheduler (meshkit.jobs.scheduler) and `meshkit jobs run` share one queue and one
way to claim and finish runs, so they can run side by side: whichever claims a queued run
runs it, and nobody else does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from meshkit.config import Mesh, load_mesh
from meshkit.config.jobs import Job
from meshkit.errors import MeshError
from meshkit.jobs.execute import Outcome
from meshkit.jobs.queue import ClaimOutcome, JobRun, JobStore, utc_iso
from meshkit.jobs.worker import HOST, SubprocessLauncher, orphaned, recover, stop
from meshkit.orchestrate.processes import process_alive, process_token
from meshkit.status import RunStatus

Log = Callable[[str], None]


def job(mesh: Mesh, name: str) -> Job:
    """The job of this name. Raises MeshError naming the jobs the mesh has."""
    if name not in mesh.jobs:
        known = ", ".join(mesh.jobs) or "none yet (add a `jobs:` section)"
        raise MeshError(f"unknown job '{name}'", file=mesh.file, hint=f"jobs in this mesh: {known}")
    return mesh.jobs[name]


class LiveMesh:
    """mesh.yml, reloaded when the file changes; a broken edit keeps the last good version."""

    def __init__(self, mesh: Mesh, log: Log | None = None) -> None:
        self.mesh = mesh
        self.log = log
        self._stamp = self._mtime()
        self.error: str | None = None

    def _mtime(self) -> float | None:
        try:
            return self.mesh.file.stat().st_mtime
        except OSError:
            return None

    def current(self) -> Mesh:
        stamp = self._mtime()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self.mesh = load_mesh(self.mesh.file)
                self.error = None
                if self.log:
                    self.log(f"reloaded {self.mesh.file.name}: {len(self.mesh.jobs)} job(s)")
            except MeshError as exc:
                self.error = exc.render()
                if self.log:
                    self.log(f"{self.mesh.file.name} changed but cannot be loaded; keeping the "
                             f"previous jobs: {exc.render()}")
        return self.mesh


# -- which runs may not run side by side -----------------------------------------------------
class Footprints:
    """DuckDB files each job writes and reads: jobs sharing one are never run at once."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self._cache: dict[str, Any] = {}

    def of(self, name: str):
        from meshkit.orchestrate.resources import Resources, project_resources

        if name not in self._cache:
            job = self.mesh.jobs.get(name)
            writes: set[str] = set()
            reads: set[str] = set()
            if job is not None:
                env = self.mesh.environments[job.environment]
                projects = job.projects or tuple(p for p, project in self.mesh.projects.items()
                                                 if job.environment in project.environments)
                for project in projects:
                    found = project_resources(self.mesh.project(project), env.target)
                    writes |= found.writes
                    reads |= found.reads
            self._cache[name] = Resources(frozenset(writes), frozenset(reads - writes))
        return self._cache[name]

    def conflict(self, run: JobRun, running: list[JobRun]) -> JobRun | None:
        mine = self.of(run.job)
        if not mine.writes and not mine.reads:
            return None
        return next((other for other in running if mine.conflicts(self.of(other.job))), None)


# -- queueing and running now ----------------------------------------------------------------
def who() -> str:
    """The person at this terminal, as `user@host` (the login name even when $USER is unset)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):           # no $USER and no passwd entry (some containers)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def queue_run(store: JobStore, job: Job, cause: str = "manual", reason: str | None = None) -> JobRun:
    """Queue a run of `job` now, for `cause` (manual, api, …) with a reason people read."""
    run = store.enqueue(job, cause, reason or {"manual": f"run now by {who()}",
                                               "api": "run now through the API"}.get(cause, cause))
    assert run is not None
    return run


def run_in_foreground(mesh: Mesh, store: JobStore, run: JobRun, *, echo: bool = True,
                      log: Log = print, poll: float = 0.5) -> JobRun:
    """Claim `run` (waiting while its job or a DuckDB file is busy) and run it here.

    If a scheduler claimed it first, follow it until it ends. Ctrl-C cancels the run.
    """
    job_ = job(mesh, run.job)
    footprints = Footprints(mesh)
    said: set[tuple[str, int | None]] = set()
    while True:
        claim = store.claim(run.id, job_.overlap, pid=os.getpid(), host=HOST,
                            pid_token=process_token(os.getpid()), conflicts=footprints.conflict)
        if claim.outcome == ClaimOutcome.RUNNING:
            break
        if claim.outcome == ClaimOutcome.SKIPPED:
            current = store.run(run.id)
            assert current is not None
            log(f"{run.job} run {run.id} skipped: {current.message}")
            return current
        if claim.outcome == "gone":
            return follow(mesh, store, run.id, log=log, poll=poll)
        if ("blocked", claim.blocking) not in said:
            said.add(("blocked", claim.blocking))
            other = store.run(claim.blocking) if claim.blocking else None
            why = ("another run of this job" if other and other.job == run.job
                   else f"{other.job} uses the same DuckDB file" if other else "another run")
            log(f"{run.job} run {run.id} waits for run {claim.blocking} ({why})")
        time.sleep(poll)
    assert claim.run is not None        # a claim that runs holds its run
    handle = SubprocessLauncher(echo=echo).launch(mesh, store, claim.run)
    assert handle.process is not None
    try:
        while handle.process.poll() is None:
            current = store.run(run.id)
            if current is None or current.status != RunStatus.RUNNING:
                break
            _supervise_one(mesh, store, current, log)
            time.sleep(0.2)
        handle.process.wait()
    except KeyboardInterrupt:
        current = store.run(run.id)
        if current is not None and current.status == RunStatus.RUNNING:
            stop(store, mesh, current, Outcome(RunStatus.CANCELED, "canceled from the command line (Ctrl-C)",
                                               "canceled"), log, grace=2.0)
            handle.process.wait()
        raise
    current = store.run(run.id)
    assert current is not None
    if current.status == RunStatus.RUNNING and orphaned(current):
        recover(store, mesh, current, log)
        current = store.run(run.id)
    assert current is not None
    return current


def _supervise_one(mesh: Mesh, store: JobStore, run: JobRun, log: Log, now: float | None = None) -> None:
    """Enforce a cancel request or the job's timeout on one running run."""
    now = now if now is not None else time.time()
    definition = mesh.jobs.get(run.job)
    if run.cancel_requested:
        stop(store, mesh, run, Outcome(RunStatus.CANCELED, "canceled on request", "canceled"), log)
    elif definition and definition.timeout and run.started_at and now - run.started_at > definition.timeout:
        stop(store, mesh, run, Outcome(RunStatus.ERROR, f"timed out after {definition.timeout:g} s", "timeout"), log)


def follow(mesh: Mesh, store: JobStore, run_id: int, *, log: Log = print, poll: float = 0.5,
           timeout: float | None = None) -> JobRun:
    """Wait until a run has ended (someone else runs it)."""
    deadline = time.monotonic() + timeout if timeout else None
    told = False
    while True:
        run = store.run(run_id)
        assert run is not None
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        if run.status == RunStatus.RUNNING and orphaned(run):
            recover(store, mesh, run, log)
            continue
        if not told:
            told = True
            who = f"process {run.pid}" if run.status == RunStatus.RUNNING else "the queue"
            log(f"{run.job} run {run.id} is {run.status} ({who}); waiting for it to end")
        if deadline and time.monotonic() > deadline:
            return run
        time.sleep(poll)


def run_with_downstream(mesh: Mesh, store: JobStore, first: JobRun, *, echo: bool = True,
                        log: Log = print) -> list[JobRun]:
    """Run `first`, then every run its completion triggers (transitively), here."""
    finished: list[JobRun] = []
    pending = [first]
    while pending:
        run = pending.pop(0)
        current = store.run(run.id)
        assert current is not None
        if current.status == RunStatus.QUEUED:
            current = run_in_foreground(mesh, store, current, echo=echo, log=log)
        elif current.status == RunStatus.RUNNING:
            current = follow(mesh, store, current.id, log=log)
        finished.append(current)
        triggered = [r for r in store.triggered_by(current.id) if r.cause == "trigger"]
        retries = [r for r in store.runs(current.job, limit=5) if r.retry_of == current.id]
        for nxt in retries + triggered:
            if all(nxt.id != seen.id for seen in finished + pending):
                log(f"→ {nxt.job} run {nxt.id} queued: {nxt.reason}")
                pending.append(nxt)
    return finished


def cancel(mesh: Mesh, store: JobStore, run_id: int, by: str, log: Log | None = None) -> JobRun:
    """Cancel a queued or running run; a running one of this host is stopped and supervised
    to its end. Raises MeshError for a run that does not exist."""
    run = store.cancel(run_id, mesh.jobs, by)
    if run is None:
        raise MeshError(f"there is no job run {run_id}", hint="`meshkit jobs history NAME` lists them")
    if run.status == RunStatus.RUNNING and run.host == HOST and run.isolated and \
            process_alive(run.pid, run.pid_token):
        _supervise_one(mesh, store, run, log or (lambda line: None))
        run = store.run(run_id) or run
    return run


# -- listings --------------------------------------------------------------------------------
def job_rows(mesh: Mesh, store: JobStore, now: float | None = None) -> list[dict[str, Any]]:
    """One row per job of the mesh: its schedule, trigger, next time (`now`: epoch seconds)
    and latest run."""
    from meshkit.jobs.schedule import next_time

    now = now or time.time()
    last = store.last_runs()
    rows = []
    for name, definition in mesh.jobs.items():
        latest = last.get(name)
        upcoming = next_time(definition.schedule, now) if definition.schedule else None
        rows.append({
            "name": name, "environment": definition.environment, "description": definition.description,
            "builds": definition.builds(), "projects": list(definition.projects),
            "select": list(definition.select), "exclude": list(definition.exclude),
            "schedule": ({"cron": definition.schedule.cron, "timezone": definition.schedule.timezone,
                          "next": utc_iso(upcoming) if upcoming is not None else None}
                         if definition.schedule else None),
            "trigger": ({"on_completion": list(definition.trigger.upstream), "mode": definition.trigger.mode,
                         "statuses": list(definition.trigger.statuses),
                         "text": definition.trigger.describe()} if definition.trigger else None),
            "generate_docs": definition.generate_docs, "source_freshness": definition.source_freshness,
            "threads": definition.threads, "timeout": definition.timeout, "retries": definition.retries,
            "overlap": definition.overlap,
            "notify": ({"on": list(definition.notify.on), "email": definition.notify.email,
                        "to": list(definition.notify.to), "webhook": bool(definition.notify.webhook)}
                       if definition.notify else None),
            "last_run": latest.to_json() if latest else None,
        })
    return rows


def run_detail(store: JobStore, run: JobRun) -> dict[str, Any]:
    """A run as JSON data, with the runs it triggered and its notifications."""
    data = run.to_json()
    data["triggered"] = [{"id": r.id, "job": r.job, "status": r.status} for r in store.triggered_by(run.id)]
    data["notifications"] = [{"channel": n["channel"], "recipient": n["recipient"], "status": n["status"],
                              "attempts": n["attempts"], "error": n["error"]}
                             for n in store.notifications(run.id)]
    return data


def read_log(mesh: Mesh, run_id: int) -> str:
    """The log of a run ("" before it has one)."""
    from meshkit.jobs.worker import log_path

    path: Path = log_path(mesh, run_id)
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def statuses(runs: Iterable[JobRun]) -> dict[str, int]:
    """How many of these runs ended in each status."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    return counts


@dataclass
class SchedulerInfo:
    alive: bool
    pids: list[int]


def scheduler_info(store: JobStore) -> SchedulerInfo:
    """Whether a scheduler runs for this mesh, and the pids of those that do."""
    rows = store.schedulers()
    return SchedulerInfo(bool(rows), [row["pid"] for row in rows])
