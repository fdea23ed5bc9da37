"""The scheduler with an injected clock and a scripted runner: the real queue, claims,
triggers, recovery and records, without dbt (runs are in threads, `--in-process`)."""

from __future__ import annotations

import subprocess
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import test_jobs_hooks as hooks
from meshkit.config import load_mesh
from meshkit.orchestrate.history import History
from meshkit.jobs.queue import JobStore, utc_iso
from meshkit.jobs.worker import HOST
from meshkit.jobs.scheduler import Scheduler


def write_mesh(root: Path, jobs: str) -> Path:
    for project in ("alpha", "beta"):
        (root / project).mkdir(parents=True, exist_ok=True)
        (root / project / "dbt_project.yml").write_text(f"name: {project}\nprofile: {project}\n")
    (root / "mesh.yml").write_text("name: unit\nprojects:\n  alpha: alpha\n  beta: beta\njobs:\n"
                                   + textwrap.indent(textwrap.dedent(jobs), "  "))
    return root / "mesh.yml"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def scripted(monkeypatch):
    monkeypatch.setenv("MESHKIT_JOB_RUNNER", "test_jobs_hooks:scripted")
    for table in (hooks.OUTCOMES, hooks.FAILED, hooks.DELAYS):
        table.clear()
    hooks.CALLS.clear()


def make(tmp_path: Path, jobs: str, start: str | None = None, **kwargs):
    """A scheduler on a fresh mesh; with `start`, its clock is injected (else the real one)."""
    mesh = load_mesh(write_mesh(tmp_path, jobs))
    clock = Clock(at(start)) if start else time.time
    lines: list[str] = []
    scheduler = Scheduler(mesh, in_process=True, clock=clock, log=lines.append, **kwargs)
    return mesh, scheduler, clock, lines


def drain(scheduler: Scheduler, clock: Clock | None = None, limit: float = 20.0) -> None:
    """Tick until nothing is queued or running (in-process runs finish in their threads)."""
    deadline = time.monotonic() + limit
    while True:
        scheduler.tick(clock() if clock else None)
        if scheduler.idle():
            scheduler.tick(clock() if clock else None)
            return
        assert time.monotonic() < deadline, "the scheduler did not become idle"
        time.sleep(0.01)


def runs(store: JobStore, job: str | None = None):
    return store.runs(job, limit=None, ascending=True)


def test_cron_fires_at_the_right_times_with_an_injected_clock(tmp_path):
    mesh, scheduler, clock, _ = make(tmp_path, """\
        quarterly: {schedule: "*/15 * * * *"}
        new_york:
          schedule: {cron: "0 9 * * 1-5", timezone: America/New_York}
        """, start="2024-03-08T13:50:00")
    store = scheduler.store
    scheduler.tick()                                  # registers both schedules; fires nothing
    assert runs(store) == []
    clock.now = at("2024-03-08T13:59:59")
    scheduler.tick()
    assert runs(store) == []
    clock.now = at("2024-03-08T14:00:00")             # 09:00 EST is 14:00 UTC
    drain(scheduler, clock)
    assert [(r.job, r.scheduled_for, r.cause, r.status) for r in runs(store)] == [
        ("quarterly", "2024-03-08T14:00:00Z", "schedule", "success"),
        ("new_york", "2024-03-08T14:00:00Z", "schedule", "success")]
    clock.now = at("2024-03-08T14:14:59")
    drain(scheduler, clock)
    assert len(runs(store)) == 2
    # Down over the weekend (DST starts on Sunday in New York): one catch-up run per job.
    clock.now = at("2024-03-11T13:40:00")
    drain(scheduler, clock)
    later = runs(store)[2:]
    assert [(r.job, r.scheduled_for) for r in later] == [("quarterly", "2024-03-11T13:30:00Z"),
                                                         ("new_york", "2024-03-11T13:00:00Z")]
    # 14:15 on Friday to 13:15 on Monday: 71 hours of four runs, caught up by one.
    assert "285 earlier time(s) missed while no scheduler was running" in later[0].reason
    assert later[1].reason == "schedule 0 9 * * 1-5 (America/New_York) at 2024-03-11T13:00:00Z"
    assert utc_iso(clock.now) == "2024-03-11T13:40:00Z"


def test_a_restarted_or_second_scheduler_never_fires_a_schedule_twice(tmp_path):
    mesh, first, clock, _ = make(tmp_path, 'hourly: {schedule: "0 * * * *"}\n',
                                 start="2024-01-01T00:30:00")
    first.tick()
    first.close()
    clock.now = at("2024-01-01T03:10:00")             # three hours without a scheduler
    second = Scheduler(mesh, in_process=True, clock=clock, log=lambda line: None)
    third = Scheduler(mesh, in_process=True, clock=clock, log=lambda line: None)
    second.tick()
    third.tick()
    drain(second, clock)
    drain(third, clock)
    fired = runs(second.store)
    assert [(r.scheduled_for, r.status) for r in fired] == [("2024-01-01T03:00:00Z", "success")]
    assert "2 earlier time(s) missed" in fired[0].reason


def test_over_scheduled_runs_are_superseded_but_manual_ones_kept(tmp_path):
    mesh, scheduler, clock, _ = make(tmp_path, 'busy: {schedule: "* * * * *"}\n',
                                     start="2024-01-01T00:00:30")
    store = scheduler.store
    hooks.DELAYS["busy"] = 0.5
    scheduler.tick()
    clock.now += 60
    scheduler.tick()                                   # 00:01 starts
    manual = store.enqueue(mesh.jobs["busy"], "manual", "run now")
    for _ in range(2):
        clock.now += 60
        scheduler.tick()                               # 00:02, then 00:03 supersedes it
    drain(scheduler, clock)
    got = [(r.cause, r.scheduled_for, r.status) for r in runs(store)]
    assert got == [("schedule", "2024-01-01T00:01:00Z", "success"), ("manual", None, "success"),
                   ("schedule", "2024-01-01T00:02:00Z", "skipped"),
                   ("schedule", "2024-01-01T00:03:00Z", "success")]
    superseded = runs(store)[2]
    assert superseded.message == f"superseded by run {superseded.id + 1} (over-scheduled)"
    assert manual is not None


def test_all_of_waits_for_every_upstream_any_of_for_one_and_statuses_filter(tmp_path):
    mesh, scheduler, _, lines = make(tmp_path, """\
        a: {project: alpha}
        b: {project: beta}
        both:
          triggers: {on_completion: {all_of: [a, b]}}
        either:
          triggers: {on_completion: {any_of: [a, b]}}
        on_a_error:
          triggers: {on_completion: {job: a, statuses: [error]}}
        """)
    store = scheduler.store

    def run_job(name: str, status: str = "success"):
        hooks.OUTCOMES[name] = status
        store.enqueue(mesh.jobs[name], "manual", "test")
        drain(scheduler)

    def count(name: str) -> int:
        return len(runs(store, name))

    run_job("a")
    assert (count("both"), count("either"), count("on_a_error")) == (0, 1, 0)
    assert any("both waits: a run 1 ended success; still needs b to end success" in line for line in lines)
    assert any("on_a_error not triggered: a run 1 ended success (it runs on error)" in line
               for line in lines)
    run_job("b")
    assert (count("both"), count("either"), count("on_a_error")) == (1, 2, 0)
    both = runs(store, "both")[0]
    a_run, b_run = runs(store, "a")[0], runs(store, "b")[0]
    assert both.upstream == [a_run.id, b_run.id] and both.cause == "trigger"
    assert both.reason == f"on completion of all of a run {a_run.id} (success), b run {b_run.id} (success)"
    # The latest completion of each upstream counts: a's failure undoes its earlier success.
    run_job("a", "success")
    run_job("a", "error")
    assert (count("both"), count("either"), count("on_a_error")) == (1, 3, 1)
    run_job("b", "success")
    assert count("both") == 1
    run_job("a", "success")
    assert count("both") == 2
    assert all(r.status == "success" for r in runs(store, "both"))
    # Every trigger fired once per upstream completion, never twice.
    keys = [r.dedupe_key for r in runs(store) if r.cause == "trigger"]
    assert len(keys) == len(set(keys))


def test_runs_of_one_job_never_overlap_they_wait_or_are_skipped(tmp_path):
    mesh, scheduler, _, lines = make(tmp_path, """\
        waits: {project: alpha}
        skips: {project: beta, overlap: skip}
        """, workers=4)
    store = scheduler.store
    hooks.DELAYS.update(waits=0.3, skips=0.3)
    for _ in range(3):
        store.enqueue(mesh.jobs["waits"], "api", "test")
        store.enqueue(mesh.jobs["skips"], "api", "test")
    drain(scheduler)
    waits, skips = runs(store, "waits"), runs(store, "skips")
    assert [r.status for r in waits] == ["success"] * 3
    for earlier, later in zip(waits, waits[1:]):
        assert later.started_at >= earlier.finished_at
    assert [r.status for r in skips] == ["success", "skipped", "skipped"]
    assert skips[1].message == f"run {skips[0].id} of skips was still running (overlap: skip)"
    assert sum(1 for line in lines if f"waits run {waits[1].id} waits for run {waits[0].id} (same job)"
               in line) == 1


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def orphan(store: JobStore, mesh, name: str, build_status: str | None):
    """A running run whose process died, after its build ended with `build_status` (or before
    any build started: None)."""
    run = store.enqueue(mesh.jobs[name], "manual", "test")
    pid = dead_pid()
    store.claim(run.id, "wait", pid=pid, host=HOST)
    if build_status:
        history = History(mesh.state_dir / "history.db")
        build = history.start_run("prod", run.build_command, kind="job")
        store.set_build_run(run.id, build)
        if build_status == "running":     # the build's process is the one that died
            history.db.execute("update runs set pid = ? where id = ?", (pid, build))
        else:
            history.finish_run(build, build_status, {})
        history.close()
    return run


def test_a_run_whose_process_died_after_its_build_is_completed_and_triggers_once(tmp_path):
    mesh, scheduler, _, lines = make(tmp_path, """\
        up: {project: alpha}
        down: {project: beta, triggers: {on_completion: up}}
        """)
    store = scheduler.store
    run = orphan(store, mesh, "up", "success")
    drain(scheduler)
    up = store.run(run.id)
    assert up.status == "success" and up.build_run_id is not None
    assert up.message.startswith("recovered: its process") and f"build run {up.build_run_id}" in up.message
    assert [(r.status, r.upstream) for r in runs(store, "down")] == [("success", [run.id])]
    assert any("its process" in line and "is gone; recovering" in line for line in lines)
    # A second scheduler (or a restart) finds nothing left to recover.
    again = Scheduler(mesh, in_process=True, log=lambda line: None)
    drain(again)
    assert len(runs(store, "down")) == 1


def test_an_interrupted_run_is_retried_when_the_job_says_so(tmp_path):
    mesh, scheduler, _, _ = make(tmp_path, """\
        flaky: {project: alpha, retries: 1}
        fragile: {project: beta}
        after_flaky: {triggers: {on_completion: flaky}}
        alarm: {triggers: {on_completion: {job: fragile, statuses: [error]}}}
        """)
    store = scheduler.store
    first = orphan(store, mesh, "flaky", None)
    second = orphan(store, mesh, "fragile", "running")   # died during its build
    drain(scheduler)
    flaky = runs(store, "flaky")
    assert [(r.status, r.attempt, r.cause) for r in flaky] == [("interrupted", 1, "manual"),
                                                               ("success", 2, "retry")]
    assert flaky[1].retry_of == first.id and flaky[1].reason == f"retry 1 of 1: run {first.id} was interrupted"
    assert flaky[0].message.startswith("its process") and flaky[0].failure == "interrupted"
    # Only the final attempt triggers; a final interruption counts as an error.
    assert [r.upstream for r in runs(store, "after_flaky")] == [[flaky[1].id]]
    assert [r.status for r in runs(store, "fragile")] == ["interrupted"]
    assert [r.upstream for r in runs(store, "alarm")] == [[second.id]]
    history = History(mesh.state_dir / "history.db")
    build = history.run(store.run(second.id).build_run_id)
    history.close()
    assert build["status"] == "interrupted"


def test_timeout_and_cancel(tmp_path):
    mesh, scheduler, clock, _ = make(tmp_path, """\
        slow: {project: alpha, timeout: 5}
        queued_then_canceled: {project: beta}
        on_cancel:
          triggers: {on_completion: {job: queued_then_canceled, statuses: [canceled]}}
        """, start="2024-01-01T00:00:00")
    store = scheduler.store
    hooks.DELAYS["slow"] = 1.0
    slow = store.enqueue(mesh.jobs["slow"], "manual", "test")
    scheduler.tick()
    assert store.run(slow.id).status == "running"
    clock.now += 6
    scheduler.tick()
    timed_out = store.run(slow.id)
    assert (timed_out.status, timed_out.failure, timed_out.message) == ("error", "timeout",
                                                                       "timed out after 5 s")
    time.sleep(1.2)                                    # the abandoned thread finishes: ignored
    drain(scheduler, clock)
    assert store.run(slow.id).status == "error"
    waiting = store.enqueue(mesh.jobs["queued_then_canceled"], "manual", "test")
    store.cancel(waiting.id, mesh.jobs, by="a test")
    drain(scheduler, clock)
    assert store.run(waiting.id).status == "canceled"
    assert [(r.status, r.upstream) for r in runs(store, "on_cancel")] == [("success", [waiting.id])]


def test_a_run_ends_once_whoever_records_it_first(tmp_path):
    mesh, scheduler, _, _ = make(tmp_path, """\
        a: {project: alpha}
        b: {triggers: {on_completion: a}}
        """)
    store = scheduler.store
    run = store.enqueue(mesh.jobs["a"], "manual", "test")
    assert store.claim(run.id, "wait", pid=1, host=HOST).outcome == "running"
    assert store.claim(run.id, "wait", pid=2, host=HOST).outcome == "gone"
    first = store.complete(run.id, "success", mesh.jobs)
    assert first is not None and [r.job for r in first.triggered] == ["b"]
    assert store.complete(run.id, "error", mesh.jobs) is None
    assert store.run(run.id).status == "success" and len(runs(store, "b")) == 1
    assert store.enqueue(mesh.jobs["a"], "api", "x", dedupe_key="event-1") is not None
    assert store.enqueue(mesh.jobs["a"], "api", "x", dedupe_key="event-1") is None


def test_jobs_added_to_mesh_yml_are_picked_up_and_broken_edits_ignored(tmp_path):
    mesh, scheduler, _, lines = make(tmp_path, "a: {project: alpha}\n")
    path = mesh.file
    scheduler.tick()
    time.sleep(0.01)
    path.write_text(path.read_text() + "  b: {triggers: {on_completion: a}}\n")
    scheduler.tick()
    assert "b" in scheduler.live.current().jobs
    path.write_text(path.read_text() + "  c: {triggers: {on_completion: c}}\n")
    scheduler.tick()
    assert "c" not in scheduler.live.current().jobs
    assert any("cannot be loaded; keeping the previous jobs" in line and "trigger loop: c → c" in line
               for line in lines)
    scheduler.store.enqueue(scheduler.live.current().jobs["a"], "manual", "test")
    drain(scheduler)
    assert [r.status for r in runs(scheduler.store, "b")] == ["success"]
