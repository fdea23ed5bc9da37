"""The job queue and the record of every job run, in the orchestrator's SQLite database.

The tables live in the same file as the run history (`.meshkit/history.db`, WAL, opened through
meshkit.orchestrate.db), so a job run links to the build run it started by its id
(`job_runs.build_run_id`, written as soon as the build starts). The `job_runs` table *is* the queue: a run is
inserted `queued` and claimed with one `UPDATE … RETURNING` inside an immediate transaction,
so two schedulers (or a scheduler and `meshkit jobs run`) can never start the same run, and a
partial unique index makes two running runs of one job impossible.

Whatever a finished run causes happens in the transaction that records its end: the runs its
completion triggers are queued, its retry is queued, its notifications are put in an outbox.
A crash can therefore lose none of them; a process that dies before that transaction leaves
a `running` run behind, which the scheduler recovers (see meshkit.jobs.scheduler).

    queued ──claim──▶ running ──▶ success | error | canceled | interrupted
       └──▶ skipped (overlap: skip, or superseded by a newer scheduled run) · canceled
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from meshkit.config.jobs import Job
from meshkit.orchestrate.db import SharedConnection, Step, mesh_db, table_exists
from meshkit.status import RunStatus

FINISHED = (RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.CANCELED, RunStatus.SKIPPED,
            RunStatus.INTERRUPTED)
# What a finished run counts as for completion triggers (dbt Cloud: success, error, canceled).
TRIGGER_STATUS = {RunStatus.SUCCESS: RunStatus.SUCCESS, RunStatus.ERROR: RunStatus.ERROR,
                  RunStatus.CANCELED: RunStatus.CANCELED, RunStatus.INTERRUPTED: RunStatus.ERROR}


def _link_builds_by_id(db: sqlite3.Connection) -> None:
    """Before version 2 a running job run found its build by `runs.command` text alone (its id
    was written when the run ended): give such runs their build's id."""
    if not table_exists(db, "runs"):
        return
    db.execute("update job_runs set build_run_id = (select max(runs.id) from runs where "
               "runs.kind = 'job' and runs.command = 'meshkit job ' || job_runs.job || "
               "' (job run ' || job_runs.id || ')') where build_run_id is null")


# Each entry brings the tables one version further; append, never edit, an entry.
_MIGRATIONS: list[Step] = ["""
create table if not exists job_runs (
    id integer primary key autoincrement,
    job text not null,
    environment text not null,
    status text not null,                 -- queued | running | success | error | canceled | skipped | interrupted
    cause text not null,                  -- manual | api | schedule | trigger | retry
    reason text not null,                 -- why it was queued, in words
    dedupe_key text unique,               -- schedule:<job>:<time>, trigger:<job>:<run>, retry:<run>
    attempt integer not null default 1,
    retry_of integer,
    upstream text not null default '[]',  -- JSON: the job runs whose completion queued it
    scheduled_for text,
    queued_at real not null,
    started_at real,
    finished_at real,
    pid integer,                          -- the process running it
    pid_token text,                       -- that process's start time, against pid reuse
    host text,
    isolated integer not null default 0,  -- 1: pid is a worker of its own (may be killed)
    cancel_requested integer not null default 0,
    build_run_id integer,                 -- runs.id of the build it started
    failure text,                         -- timeout | interrupted | freshness | build | …
    message text,
    summary text not null default '{}'    -- JSON: steps, node counts, failed models
);
create index if not exists job_runs_by_job on job_runs (job, id);
create index if not exists job_runs_by_status on job_runs (status, id);
create unique index if not exists job_runs_one_running on job_runs (job) where status = 'running';
create table if not exists job_trigger_state (
    job text not null,                    -- the downstream job
    upstream text not null,
    run_id integer not null,              -- the upstream's latest completion since the last firing
    status text not null,
    at real not null,
    primary key (job, upstream)
);
create table if not exists job_schedules (
    job text primary key,
    cron text not null,
    timezone text not null,
    last_fired real not null              -- the last schedule time handled (epoch seconds)
);
create table if not exists job_events (
    id integer primary key autoincrement,
    at real not null,
    job text,
    run_id integer,
    event text not null,
    detail text not null
);
create table if not exists job_notifications (
    id integer primary key autoincrement,
    run_id integer not null,
    channel text not null,                -- email | webhook
    recipient text not null,
    payload text not null,                -- JSON
    status text not null,                 -- pending | sending | sent | failed
    attempts integer not null default 0,
    claimed_at real,
    sent_at real,
    error text,
    unique (run_id, channel, recipient)
);
create table if not exists job_schedulers (
    host text not null,
    pid integer not null,
    started_at real not null,
    heartbeat real not null,
    primary key (host, pid)
);
""", _link_builds_by_id]


@dataclass
class JobRun:
    id: int
    job: str
    environment: str
    status: RunStatus
    cause: str
    reason: str
    attempt: int = 1
    retry_of: int | None = None
    upstream: list[int] = field(default_factory=list)
    scheduled_for: str | None = None
    queued_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    pid_token: str | None = None
    host: str | None = None
    isolated: bool = False
    cancel_requested: bool = False
    build_run_id: int | None = None
    failure: str | None = None
    message: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "JobRun":
        data = dict(row)
        data["status"] = RunStatus(data["status"])
        data["upstream"] = json.loads(data["upstream"] or "[]")
        data["summary"] = json.loads(data["summary"] or "{}")
        data["isolated"] = bool(data["isolated"])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def build_command(self) -> str:
        """The `runs.command` shown for the build this job run starts (the link is the id)."""
        return f"meshkit job {self.job} (job run {self.id})"

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("pid_token", "dedupe_key")}
        data["seconds"] = round(self.seconds, 3) if self.seconds is not None else None
        return data


@dataclass
class Completion:
    """What recording a run's end caused."""

    run: JobRun
    retry: JobRun | None = None
    triggered: list[JobRun] = field(default_factory=list)
    notifications: int = 0       # messages put in the outbox


class ClaimOutcome(StrEnum):
    """What asking to start a queued run came to."""

    RUNNING = "running"          # claimed: this process runs it
    SKIPPED = "skipped"          # another run of its job runs, and its overlap is skip
    BLOCKED = "blocked"          # another run of its job (or of its database) runs: wait
    GONE = "gone"                # no longer queued: someone else claimed or ended it


@dataclass
class Claim:
    outcome: ClaimOutcome
    run: JobRun | None = None
    blocking: int | None = None  # the running run of the same job


def utc_iso(epoch: float) -> str:
    """Seconds since the epoch as UTC ISO 8601 to the second (`2026-11-23T09:28:53Z`)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobStore(SharedConnection):
    def __init__(self, path: Path) -> None:
        super().__init__(path, timeout=60)
        self.migrate("jobs", _MIGRATIONS)

    @classmethod
    def for_mesh(cls, mesh) -> "JobStore":
        return cls(mesh_db(mesh))

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _event(self, job: str | None, run_id: int | None, event: str, detail: str,
               now: float | None = None) -> None:
        self.db.execute("insert into job_events (at, job, run_id, event, detail) values (?, ?, ?, ?, ?)",
                        (now or time.time(), job, run_id, event, detail))

    def _get(self, run_id: int) -> JobRun | None:
        row = self.db.execute("select * from job_runs where id = ?", (run_id,)).fetchone()
        return JobRun.from_row(row) if row else None

    def _insert(self, job: str, environment: str, cause: str, reason: str, now: float, *,
                dedupe_key: str | None = None, upstream: Iterable[int] = (),
                scheduled_for: str | None = None, attempt: int = 1,
                retry_of: int | None = None) -> JobRun | None:
        row = self.db.execute(
            "insert into job_runs (job, environment, status, cause, reason, dedupe_key, attempt, "
            "retry_of, upstream, scheduled_for, queued_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "on conflict (dedupe_key) do nothing returning *",
            (job, environment, RunStatus.QUEUED, cause, reason, dedupe_key, attempt, retry_of,
             json.dumps(list(upstream)), scheduled_for, now)).fetchone()
        if row is None:
            return None
        run = JobRun.from_row(row)
        self._event(job, run.id, "queued", f"{job} run {run.id} queued: {reason}", now)
        return run

    # -- the queue -------------------------------------------------------------------------
    def enqueue(self, job: Job, cause: str, reason: str, *, dedupe_key: str | None = None,
                upstream: Iterable[int] = (), scheduled_for: str | None = None,
                now: float | None = None) -> JobRun | None:
        """Queue a run; None when `dedupe_key` was queued before (the event is not lost twice)."""
        with self._tx():
            now = now if now is not None else time.time()   # with the lock held
            return self._insert(job.name, job.environment, cause, reason, now, dedupe_key=dedupe_key,
                                upstream=upstream, scheduled_for=scheduled_for)

    def claim(self, run_id: int, overlap: str, *, pid: int, host: str, pid_token: str | None = None,
              isolated: bool = False, now: float | None = None,
              conflicts: Callable[[JobRun, list[JobRun]], JobRun | None] | None = None) -> Claim:
        """Start a queued run unless another run of its job is running (then wait or skip).

        `conflicts(run, running)` may name a running run of another job that this one must
        wait for (they share a DuckDB file); it is asked inside the claiming transaction.
        """
        with self._tx():
            now = now if now is not None else time.time()   # with the lock held
            run = self._get(run_id)
            if run is None or run.status != RunStatus.QUEUED:
                return Claim(ClaimOutcome.GONE, run)
            if conflicts is not None:
                running = [JobRun.from_row(row) for row in self.db.execute(
                    "select * from job_runs where status = ? and job != ?",
                    (RunStatus.RUNNING, run.job))]
                blocker = conflicts(run, running)
                if blocker is not None:
                    return Claim(ClaimOutcome.BLOCKED, run, blocker.id)
            busy = self.db.execute("select id from job_runs where job = ? and status = ?",
                                   (run.job, RunStatus.RUNNING)).fetchone()
            if busy:
                if overlap != "skip":
                    return Claim(ClaimOutcome.BLOCKED, run, busy["id"])
                message = f"run {busy['id']} of {run.job} was still running (overlap: skip)"
                self.db.execute("update job_runs set status = ?, finished_at = ?, message = ? "
                                "where id = ?", (RunStatus.SKIPPED, now, message, run_id))
                self._event(run.job, run_id, "skipped", f"{run.job} run {run_id} skipped: {message}", now)
                return Claim(ClaimOutcome.SKIPPED, self._get(run_id), busy["id"])
            row = self.db.execute(
                "update job_runs set status = :running, started_at = :now, pid = :pid, "
                "pid_token = :token, host = :host, isolated = :isolated where id = :id and "
                "status = :queued and not exists (select 1 from job_runs other where "
                "other.job = job_runs.job and other.status = :running) returning *",
                {"running": RunStatus.RUNNING, "queued": RunStatus.QUEUED, "now": now, "pid": pid,
                 "token": pid_token, "host": host, "isolated": int(isolated), "id": run_id}).fetchone()
            if row is None:
                return Claim(ClaimOutcome.GONE, run)
            self._event(run.job, run_id, "started", f"{run.job} run {run_id} started "
                                                    f"(attempt {run.attempt}; {run.reason})", now)
            return Claim(ClaimOutcome.RUNNING, JobRun.from_row(row))

    def set_build_run(self, run_id: int, build_run_id: int) -> None:
        """Link a running run to the build run (runs.id) it has started."""
        with self._tx():
            self.db.execute("update job_runs set build_run_id = ? where id = ? and status = ?",
                            (build_run_id, run_id, RunStatus.RUNNING))

    def set_worker(self, run_id: int, pid: int, pid_token: str | None, isolated: bool = True) -> None:
        with self._tx():
            self.db.execute("update job_runs set pid = ?, pid_token = ?, isolated = ? "
                            "where id = ? and status = ?",
                            (pid, pid_token, int(isolated), run_id, RunStatus.RUNNING))

    def complete(self, run_id: int, status: str, jobs: Mapping[str, Job], *,
                 message: str | None = None, failure: str | None = None,
                 build_run_id: int | None = None, summary: dict | None = None,
                 notifications: Callable[[JobRun], list[dict]] | None = None,
                 now: float | None = None) -> Completion | None:
        """Record the end of a running run and everything it causes, atomically.

        None when the run was no longer running (someone else recorded its end first).
        """
        assert status in FINISHED and status != RunStatus.SKIPPED
        with self._tx():
            now = now if now is not None else time.time()   # with the lock held
            run = self._get(run_id)
            if run is None or run.status != RunStatus.RUNNING:
                return None
            return self._finish(run, status, jobs, message=message, failure=failure,
                                build_run_id=build_run_id, summary=summary,
                                notifications=notifications, now=now)

    def _finish(self, run: JobRun, status: str, jobs: Mapping[str, Job], *, message, failure,
                build_run_id, summary, notifications, now: float) -> Completion:
        merged = {**run.summary, **(summary or {})}
        self.db.execute(
            "update job_runs set status = ?, finished_at = ?, message = ?, failure = ?, "
            "build_run_id = coalesce(?, build_run_id), summary = ? where id = ?",
            (status, now, message, failure, build_run_id, json.dumps(merged), run.id))
        got = self._get(run.id)
        assert got is not None      # the row just updated
        run = got
        took = f" in {run.seconds:.1f} s" if run.started_at else ""
        self._event(run.job, run.id, "finished", f"{run.job} run {run.id} {status}{took}"
                                                 + (f": {message}" if message else ""), now)
        completion = Completion(run)
        job = jobs.get(run.job)
        completion.retry = self._retry(run, job, now) if job else None
        if completion.retry is None:
            completion.triggered = self._fire_triggers(run, jobs, now)
            for note in notifications(run) if notifications else []:
                completion.notifications += 1
                self.db.execute(
                    "insert into job_notifications (run_id, channel, recipient, payload, status) "
                    "values (?, ?, ?, ?, 'pending') on conflict do nothing",
                    (run.id, note["channel"], note["recipient"], json.dumps(note["payload"])))
        return completion

    def _retry(self, run: JobRun, job: Job, now: float) -> JobRun | None:
        kind = ("interrupted" if run.status == RunStatus.INTERRUPTED else
                "timeout" if run.failure == "timeout" else
                "error" if run.status == RunStatus.ERROR else None)
        if kind is None or kind not in job.retry_on or run.attempt > job.retries:
            return None
        said = {"interrupted": "was interrupted", "timeout": "timed out", "error": "failed"}[kind]
        reason = f"retry {run.attempt} of {job.retries}: run {run.id} {said}"
        return self._insert(run.job, run.environment, "retry", reason, now, dedupe_key=f"retry:{run.id}",
                            upstream=run.upstream, scheduled_for=run.scheduled_for,
                            attempt=run.attempt + 1, retry_of=run.id)

    def _fire_triggers(self, run: JobRun, jobs: Mapping[str, Job], now: float) -> list[JobRun]:
        status = TRIGGER_STATUS.get(run.status)
        fired: list[JobRun] = []
        if status is None:
            return fired
        for job in jobs.values():
            trigger = job.trigger
            if trigger is None or run.job not in trigger.upstream:
                continue
            what = f"{run.job} run {run.id} ended {status}"
            if trigger.each:
                if status not in trigger.statuses:
                    self._event(job.name, None, "not triggered",
                                f"{job.name} not triggered: {what} (it runs on "
                                f"{'/'.join(trigger.statuses)})", now)
                    continue
                used = [run.id]
                reason = f"on completion of {run.job} run {run.id} ({status})"
            else:
                self.db.execute("insert or replace into job_trigger_state values (?, ?, ?, ?, ?)",
                                (job.name, run.job, run.id, status, now))
                state = {row["upstream"]: row for row in self.db.execute(
                    "select * from job_trigger_state where job = ?", (job.name,))}
                missing = trigger.waiting_for({u: row["status"] for u, row in state.items()})
                if missing:
                    self._event(job.name, None, "waiting",
                                f"{job.name} waits: {what}; still needs "
                                f"{', '.join(missing)} to end {'/'.join(trigger.statuses)}", now)
                    continue
                used = [state[u]["run_id"] for u in trigger.upstream]
                reason = "on completion of all of " + ", ".join(
                    f"{u} run {state[u]['run_id']} ({state[u]['status']})" for u in trigger.upstream)
            self.db.execute("delete from job_trigger_state where job = ?", (job.name,))
            queued = self._insert(job.name, job.environment, "trigger", reason, now,
                                  dedupe_key=f"trigger:{job.name}:{run.id}", upstream=used)
            if queued:
                fired.append(queued)
        return fired

    def skip(self, run_id: int, message: str, now: float | None = None) -> JobRun | None:
        """A queued run that will not run (its job is gone from mesh.yml)."""
        with self._tx():
            now = now if now is not None else time.time()   # with the lock held
            row = self.db.execute("update job_runs set status = ?, finished_at = ?, message = ? "
                                  "where id = ? and status = ? returning *",
                                  (RunStatus.SKIPPED, now, message, run_id, RunStatus.QUEUED)).fetchone()
            if row is None:
                return None
            self._event(row["job"], run_id, "skipped", f"{row['job']} run {run_id} skipped: {message}", now)
            return JobRun.from_row(row)

    def cancel(self, run_id: int, jobs: Mapping[str, Job], by: str = "a user",
               now: float | None = None) -> JobRun | None:
        """Cancel a queued run now, or ask the process running it to stop."""
        with self._tx():
            now = now if now is not None else time.time()   # with the lock held
            run = self._get(run_id)
            if run is None:
                return None
            if run.status == RunStatus.QUEUED:
                # A queued run that never started completes as canceled (and triggers on it).
                return self._finish(run, RunStatus.CANCELED, jobs, message=f"canceled by {by} before it started",
                                    failure="canceled", build_run_id=None, summary=None,
                                    notifications=None, now=now).run
            if run.status == RunStatus.RUNNING and not run.cancel_requested:
                self.db.execute("update job_runs set cancel_requested = 1 where id = ?", (run_id,))
                self._event(run.job, run_id, "cancel requested",
                            f"{run.job} run {run_id}: cancel requested by {by}", now)
            return self._get(run_id)

    # -- schedules -------------------------------------------------------------------------
    def fire_schedule(self, job: Job, now: float,
                      due: Callable[[float, float], list[float]]) -> JobRun | None:
        """Queue one run for the latest schedule time passed since the last one handled.

        Times missed while no scheduler ran are caught up once (not once per missed time);
        a newer scheduled run supersedes older scheduled runs still waiting in the queue.
        """
        assert job.schedule is not None
        cron, zone = job.schedule.cron, job.schedule.timezone
        with self._tx():
            row = self.db.execute("select * from job_schedules where job = ?", (job.name,)).fetchone()
            if row is None or row["cron"] != cron or row["timezone"] != zone:
                self.db.execute("insert or replace into job_schedules values (?, ?, ?, ?)",
                                (job.name, cron, zone, now))
                self._event(job.name, None, "schedule",
                            f"{job.name}: schedule {job.schedule.describe()} registered", now)
                return None
            times = due(row["last_fired"], now)
            if not times:
                return None
            latest = times[-1]
            when = utc_iso(latest)
            reason = f"schedule {job.schedule.describe()} at {when}"
            if len(times) > 1:
                reason += f" ({len(times) - 1} earlier time(s) missed while no scheduler was running)"
            self.db.execute("update job_schedules set last_fired = ? where job = ?", (latest, job.name))
            run = self._insert(job.name, job.environment, "schedule", reason, now,
                               dedupe_key=f"schedule:{job.name}:{when}", scheduled_for=when)
            if run:
                for old in self.db.execute(
                        "update job_runs set status = ?, finished_at = ?, message = ? "
                        "where job = ? and status = ? and cause = 'schedule' and id < ? "
                        "returning id", (RunStatus.SKIPPED, now,
                                         f"superseded by run {run.id} (over-scheduled)",
                                         job.name, RunStatus.QUEUED, run.id)).fetchall():
                    self._event(job.name, old["id"], "skipped",
                                f"{job.name} run {old['id']} skipped: superseded by run {run.id}", now)
            return run

    # -- notifications outbox --------------------------------------------------------------
    def claim_notifications(self, run_id: int | None = None, now: float | None = None,
                            max_attempts: int = 3) -> list[sqlite3.Row]:
        """Pending (or stuck, or failed and due again) notifications, marked as being sent."""
        where = ("(status = 'pending' or (status = 'sending' and claimed_at < ?) or "
                 "(status = 'failed' and attempts < ? and claimed_at < ? - 30 * attempts))")
        if run_id is not None:
            where += " and run_id = ?"
        with self._tx():
            now = now if now is not None else time.time()   # with the lock held
            params: tuple = (now - 300, max_attempts, now) + ((run_id,) if run_id is not None else ())
            return self.db.execute(
                f"update job_notifications set status = 'sending', claimed_at = ?, "
                f"attempts = attempts + 1 where id in (select id from job_notifications where {where}) "
                "returning *", (now, *params)).fetchall()

    def notification_done(self, notification_id: int, error: str | None) -> None:
        with self._tx():
            self.db.execute("update job_notifications set status = ?, sent_at = ?, error = ? "
                            "where id = ?", ("failed" if error else "sent",
                                             None if error else time.time(), error, notification_id))

    def notifications(self, run_id: int) -> list[sqlite3.Row]:
        return self._read("select * from job_notifications where run_id = ? order by id", (run_id,))

    # -- schedulers ------------------------------------------------------------------------
    def heartbeat(self, host: str, pid: int, started_at: float, now: float | None = None) -> None:
        with self._tx():
            self.db.execute("insert or replace into job_schedulers values (?, ?, ?, ?)",
                            (host, pid, started_at, now or time.time()))

    def scheduler_stopped(self, host: str, pid: int) -> None:
        with self._tx():
            self.db.execute("delete from job_schedulers where host = ? and pid = ?", (host, pid))

    def schedulers(self, now: float | None = None, within: float = 30.0) -> list[sqlite3.Row]:
        return self._read("select * from job_schedulers where heartbeat >= ? order by started_at",
                          ((now or time.time()) - within,))

    # -- reading ---------------------------------------------------------------------------
    def run(self, run_id: int) -> JobRun | None:
        with self._lock:
            return self._get(run_id)

    def run_by_key(self, dedupe_key: str) -> JobRun | None:
        rows = self._read("select * from job_runs where dedupe_key = ?", (dedupe_key,))
        return JobRun.from_row(rows[0]) if rows else None

    def runs(self, job: str | None = None, *, status: Iterable[str] | None = None,
             limit: int | None = 20, ascending: bool = False) -> list[JobRun]:
        clauses, params = [], []
        if job is not None:
            clauses.append("job = ?")
            params.append(job)
        if status is not None:
            statuses = list(status)
            clauses.append(f"status in ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        sql = "select * from job_runs" + (" where " + " and ".join(clauses) if clauses else "")
        sql += f" order by id {'asc' if ascending else 'desc'}"
        if limit is not None:
            sql += f" limit {int(limit)}"
        return [JobRun.from_row(row) for row in self._read(sql, tuple(params))]

    def last_runs(self) -> dict[str, JobRun]:
        """Each job's newest run."""
        rows = self._read("select * from job_runs where id in (select max(id) from job_runs group by job)")
        return {row["job"]: JobRun.from_row(row) for row in rows}

    def triggered_by(self, run_id: int) -> list[JobRun]:
        rows = self._read("select job_runs.* from job_runs, json_each(job_runs.upstream) "
                          "where json_each.value = ? order by id", (run_id,))
        return [JobRun.from_row(row) for row in rows]

    def events(self, after: int = 0, job: str | None = None, limit: int = 1000) -> list[sqlite3.Row]:
        if job is None:
            return self._read("select * from job_events where id > ? order by id limit ?", (after, limit))
        return self._read("select * from job_events where id > ? and job = ? order by id limit ?",
                          (after, job, limit))

    def last_event_id(self) -> int:
        row = self._read("select max(id) as id from job_events")[0]
        return int(row["id"] or 0)

    def build_run(self, run: JobRun) -> sqlite3.Row | None:
        """The build run (meshkit's run history) this job run started, if it got that far."""
        current = self.run(run.id)
        build_run_id = current.build_run_id if current is not None else run.build_run_id
        if build_run_id is None:
            return None
        try:
            rows = self._read("select * from runs where id = ?", (build_run_id,))
        except sqlite3.OperationalError:       # no build has ever run on this database
            return None
        return rows[0] if rows else None

    def build_nodes(self, build_run_id: int) -> list[sqlite3.Row]:
        try:
            return self._read("select * from run_nodes where run_id = ? order by unique_id",
                              (build_run_id,))
        except sqlite3.OperationalError:
            return []
