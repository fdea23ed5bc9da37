"""`meshkit scheduler`: runs schedules and triggers until stopped.

Every tick (about a second) it:

1. reaps its finished workers, and recovers runs whose process is gone (a crash of a worker,
   or of a scheduler before this one): a run whose build had ended is completed with the
   build's status, so the runs it triggers are queued; any other is marked `interrupted` and
   queued again when the job's `retries` allow;
2. enforces cancel requests and timeouts of running runs (killing the worker's process group);
3. queues a run for every schedule time that has passed (once, however many were missed);
4. claims queued runs, oldest first, up to `--workers` at once: a run waits while another run
   of its job, or of a job sharing a DuckDB file, is running — or is skipped, for jobs with
   `overlap: skip`;
5. retries notifications that could not be delivered.

Completion triggers need no tick: the transaction that records a run's end queues the runs
it triggers. Every decision — by this scheduler, its workers, `meshkit jobs run` or the web
app — is an event in the database, and the scheduler prints each one.

Nothing here needs the wall clock: tests pass `clock` and call `tick()`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from meshkit.config import Mesh
from meshkit.errors import MeshError
from meshkit.jobs.notify import deliver_pending
from meshkit.jobs.queue import ClaimOutcome, JobStore
from meshkit.jobs.schedule import due_times
from meshkit.jobs.service import Footprints, LiveMesh, _supervise_one
from meshkit.jobs.worker import HOST, Handle, SubprocessLauncher, ThreadLauncher, orphaned, recover
from meshkit.orchestrate.processes import process_token
from meshkit.status import RunStatus

Log = Callable[[str], None]


class Scheduler:
    def __init__(self, mesh: Mesh, *, workers: int = 2, in_process: bool = False,
                 clock: Callable[[], float] = time.time, log: Log = print,
                 launcher=None) -> None:
        self.log = log
        self.live = LiveMesh(mesh, log=self._say)
        self.store = JobStore.for_mesh(mesh)
        self.workers = max(1, workers)
        self.launcher = launcher or (ThreadLauncher() if in_process else SubprocessLauncher())
        self.clock = clock
        self._real_clock = clock is time.time
        self._last_heartbeat = 0.0
        self.pid = os.getpid()
        self.token = process_token(self.pid)
        self.handles: dict[int, Handle] = {}
        self.started_at = clock()
        self._footprints: tuple[Mesh, Footprints] | None = None
        self._waiting: set[tuple[int, int | None]] = set()
        self._last_event = self.store.last_event_id()
        self._last_notify = 0.0
        self._faults: dict[tuple[str, str], str] = {}   # (job, step) → the last error it raised

    # -- the loop --------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, poll: float = 1.0,
            until_idle: bool = False) -> None:
        stop = stop or threading.Event()
        mesh = self.live.current()
        schedules = sum(1 for j in mesh.jobs.values() if j.schedule)
        self._say(f"scheduler started (pid {self.pid}): {len(mesh.jobs)} job(s), {schedules} "
                  f"schedule(s), up to {self.workers} run(s) at once, database {self.store.path}")
        try:
            while not stop.is_set():
                self.tick()
                if until_idle and self.idle():
                    self._say("nothing queued or running: stopping (--until-idle)")
                    break
                stop.wait(poll)
        finally:
            self.print_events()          # what other processes decided since the last tick
            self.store.scheduler_stopped(HOST, self.pid)
            running = [h.run_id for h in self.handles.values() if not h.done()]
            if running:
                self._say(f"scheduler stopped; run(s) {', '.join(map(str, running))} go on in their "
                          "own processes and are adopted by the next scheduler")
            else:
                self._say("scheduler stopped")

    def tick(self, now: float | None = None) -> None:
        now = now if now is not None else self.clock()
        mesh = self.live.current()
        self._reap(mesh)
        self._recover(mesh)
        self._supervise(mesh, now)
        self._schedules(mesh, now)
        self._start(mesh, now)
        if now - self._last_notify >= 30:
            self._last_notify = now
            deliver_pending(self.store, log=self._say)
        if time.monotonic() - self._last_heartbeat >= 5:
            self._last_heartbeat = time.monotonic()
            self.store.heartbeat(HOST, self.pid, self.started_at, time.time())
        self.print_events()

    def idle(self) -> bool:
        if any(not h.done() for h in self.handles.values()):
            return False
        return not self.store.runs(status=(RunStatus.QUEUED, RunStatus.RUNNING), limit=1)

    def close(self) -> None:
        self.store.close()

    # -- steps -----------------------------------------------------------------------------
    def _reap(self, mesh: Mesh) -> None:
        for run_id, handle in list(self.handles.items()):
            if not handle.done():
                continue
            del self.handles[run_id]
            run = self.store.run(run_id)
            if run is not None and run.status == RunStatus.RUNNING and run.pid == handle.pid:
                # The worker exited without recording an end: it crashed or was killed.
                recover(self.store, mesh, run, self._say)

    def _recover(self, mesh: Mesh) -> None:
        own = {h.pid for h in self.handles.values()}
        for run in self.store.runs(status=(RunStatus.RUNNING,), limit=None):
            if orphaned(run, own):
                self._say(f"{run.job} run {run.id}: its process (pid {run.pid}) is gone; recovering")
                recover(self.store, mesh, run, self._say)

    def _supervise(self, mesh: Mesh, now: float) -> None:
        for run in self.store.runs(status=(RunStatus.RUNNING,), limit=None):
            if run.host == HOST:
                _supervise_one(mesh, self.store, run, self._say, now)

    def _schedules(self, mesh: Mesh, now: float) -> None:
        for job in mesh.jobs.values():
            if job.schedule is not None:
                schedule = job.schedule
                try:
                    self.store.fire_schedule(job, now, partial(due_times, schedule))
                except Exception as exc:   # one job's schedule never stops the others
                    self._fault(job.name, exc, "its schedule failed")
                else:
                    self._faults.pop((job.name, "its schedule failed"), None)

    def _fault(self, job: str, exc: Exception, what: str) -> None:
        text = exc.render() if isinstance(exc, MeshError) else f"{type(exc).__name__}: {exc}"
        if self._faults.get((job, what)) != text:    # said once, not every tick
            self._faults[(job, what)] = text
            self._say(f"{job}: {what} ({text}); the other jobs go on")

    def _start(self, mesh: Mesh, now: float) -> None:
        capacity = self.workers - sum(1 for h in self.handles.values() if not h.done())
        if capacity <= 0:
            return
        footprints = self._footprints_for(mesh)
        waiting: set[str] = set()      # jobs whose oldest queued run cannot start yet
        for run in self.store.runs(status=(RunStatus.QUEUED,), limit=None, ascending=True):
            if capacity <= 0:
                break
            job = mesh.jobs.get(run.job)
            if job is None:
                self.store.skip(run.id, f"job '{run.job}' is no longer defined in {mesh.file.name}", now)
                continue
            if run.job in waiting and job.overlap == "wait":
                continue               # first in, first out: it waits behind the older one
            # With the real clock the claim reads the time once it holds the database's write
            # lock (a time read before could precede the end of the run it waited for).
            try:
                claim = self.store.claim(run.id, job.overlap, pid=self.pid, host=HOST,
                                         pid_token=self.token,
                                         now=None if self._real_clock else self.clock(),
                                         conflicts=footprints.conflict)
            except Exception as exc:       # e.g. a project file it reads is broken: it waits
                self._fault(run.job, exc, "cannot start")
                waiting.add(run.job)
                continue
            if claim.outcome in (ClaimOutcome.RUNNING, ClaimOutcome.BLOCKED):
                waiting.add(run.job)
            if claim.outcome == "blocked":
                if (run.id, claim.blocking) not in self._waiting:
                    self._waiting.add((run.id, claim.blocking))
                    self._say(f"{run.job} run {run.id} waits for run {claim.blocking} "
                              f"({'same job' if self._same_job(run.job, claim.blocking) else 'shares a DuckDB file'})")
                continue
            if claim.outcome != ClaimOutcome.RUNNING or claim.run is None:
                continue
            try:
                self.handles[run.id] = self.launcher.launch(mesh, self.store, claim.run)
            except Exception as exc:       # the run fails; the scheduler and other runs go on
                from meshkit.jobs.execute import Outcome
                from meshkit.jobs.worker import finish

                finish(self.store, mesh, claim.run,
                       Outcome(RunStatus.ERROR, f"could not start a worker: {exc}", "worker"), self._say)
                continue
            capacity -= 1

    def _same_job(self, job: str, run_id: int | None) -> bool:
        other = self.store.run(run_id) if run_id else None
        return other is not None and other.job == job

    def _footprints_for(self, mesh: Mesh) -> Footprints:
        if self._footprints is None or self._footprints[0] is not mesh:
            self._footprints = (mesh, Footprints(mesh))
        return self._footprints[1]

    # -- the log ---------------------------------------------------------------------------
    def print_events(self) -> None:
        for row in self.store.events(after=self._last_event):
            self._last_event = row["id"]
            self._say(row["detail"], at=row["at"])

    def _say(self, text: str, at: float | None = None) -> None:
        stamp = datetime.fromtimestamp(at if at is not None else time.time()).strftime("%Y-%m-%d %H:%M:%S")
        self.log(f"{stamp} {text}")
