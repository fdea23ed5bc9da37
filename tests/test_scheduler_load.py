"""Load: 500 trigger events queued at once by five processes (each sent twice, as an
at-least-once producer would), claimed by two schedulers running side by side. Every event
becomes one run that is run or deliberately skipped, and recorded; none runs twice, and
runs of one job never overlap. The runner is a stub (MESHKIT_JOB_RUNNER); the queue, the
claims and the records are meshkit's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from meshkit.config import load_mesh
from meshkit.jobs.queue import JobStore
from test_scheduler_unit import write_mesh

TESTS = Path(__file__).parent
PRODUCERS, EVENTS = 5, 100
ENQUEUE = """
import sys, time
from pathlib import Path
from meshkit.config import load_mesh
from meshkit.jobs.queue import JobStore

mesh = load_mesh(Path(sys.argv[1]))
producer, count, start = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
store = JobStore.for_mesh(mesh)
names = sorted(mesh.jobs)
while time.time() < start:
    time.sleep(0.001)
for i in range(count):
    job = mesh.jobs[names[(producer * count + i) % len(names)]]
    for _ in range(2):      # delivered twice: the second is recognised and dropped
        store.enqueue(job, "api", f"event {producer}:{i}", dedupe_key=f"event:{producer}:{i}")
"""


def test_500_concurrent_trigger_events_each_run_or_skipped_once(tmp_path):
    mesh = load_mesh(write_mesh(tmp_path, """\
        wait_a: {project: alpha}
        wait_b: {project: beta}
        wait_c: {}
        skip_a: {project: alpha, overlap: skip}
        skip_b: {project: beta, overlap: skip}
        """))
    JobStore.for_mesh(mesh).close()
    record = tmp_path / "executions.jsonl"
    env = {**os.environ, "MESHKIT_JOB_RUNNER": "test_jobs_hooks:recorded",
           "MESHKIT_TEST_RECORD": str(record),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    meshkit = str(Path(sys.executable).parent / "meshkit")
    outputs = [tmp_path / f"scheduler-{n}.log" for n in range(2)]
    schedulers = [subprocess.Popen([meshkit, "scheduler", "--in-process", "--workers", "4",
                                    "--poll", "0.02"], cwd=tmp_path, env=env,
                                   stdout=output.open("w"), stderr=subprocess.STDOUT)
                  for output in outputs]
    start = time.time() + 2.0
    producers = [subprocess.Popen([sys.executable, "-c", ENQUEUE, str(mesh.file), str(p), str(EVENTS),
                                   str(start)], env=env) for p in range(PRODUCERS)]
    store = JobStore.for_mesh(mesh)
    try:
        assert [p.wait(timeout=120) for p in producers] == [0] * PRODUCERS
        deadline = time.monotonic() + 150
        while store.runs(status=("queued", "running"), limit=1):
            assert time.monotonic() < deadline, "runs still queued or running"
            assert all(s.poll() is None for s in schedulers)
            time.sleep(0.2)
    finally:
        for scheduler in schedulers:
            scheduler.send_signal(signal.SIGTERM)
        assert [s.wait(timeout=60) for s in schedulers] == [0, 0]
        logs = [output.read_text() for output in outputs]
    runs = store.runs(limit=None, ascending=True)
    store.close()

    assert len(runs) == PRODUCERS * EVENTS
    assert {r.dedupe_key for r in runs} == {f"event:{p}:{i}" for p in range(PRODUCERS) for i in range(EVENTS)}
    executions = [json.loads(line) for line in record.read_text().splitlines()]
    executed = [e["run"] for e in executions]
    assert len(executed) == len(set(executed)), "a run was executed twice"
    by_id = {r.id: r for r in runs}
    assert {r.status for r in runs} <= {"success", "skipped"}
    assert sorted(executed) == sorted(r.id for r in runs if r.status == "success")
    for run in runs:
        if run.job.startswith("wait_"):
            assert run.status == "success"
        if run.status == "skipped":
            assert run.job.startswith("skip_")
            blocker = int(run.message.split()[1])
            assert run.message == f"run {blocker} of {run.job} was still running (overlap: skip)"
            assert by_id[blocker].job == run.job and by_id[blocker].status == "success"
    # Runs of one job never overlapped, whichever scheduler ran them.
    for job in mesh.jobs:
        spans = sorted((e["start"], e["end"]) for e in executions if e["job"] == job)
        for (_, end), (start_next, _) in zip(spans, spans[1:]):
            assert start_next >= end, f"two runs of {job} overlapped"
        claimed = sorted((r.started_at, r.finished_at) for r in runs if r.job == job and r.status == "success")
        for (_, end), (start_next, _) in zip(claimed, claimed[1:]):
            assert start_next >= end
    assert all("scheduler stopped" in log for log in logs), logs
    skipped = sum(1 for r in runs if r.status == "skipped")
    print(f"{len(executed)} runs, {skipped} skipped; runs per scheduler process: "
          f"{ {pid: sum(1 for e in executions if e['pid'] == pid) for pid in {e['pid'] for e in executions}} }")
