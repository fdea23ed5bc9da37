"""Crash safety of publishing: a publisher killed (SIGKILL) at random points, over and over,
never leaves the store pointing at a half-written run; concurrent publishers end with the run
that completed later."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from meshkit.store.maintenance import prune, verify
from meshkit.store.records import RUN_RECORD
from meshkit.store.store import Store
from test_store import analytics_artifacts, at, stage_target  # noqa: F401 (a fixture)

# Publishes real artifacts in a loop, each run completing later than the one before, so a kill
# lands anywhere: staging the target folder, writing files, verifying, renaming, moving the
# pointer.
_LOOP = r"""
import json, pathlib, sys, time
from datetime import datetime, timezone
from meshkit.store.publish import publish_artifacts
from meshkit.store.store import Store
url, source, work = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
store = Store(url)
manifest = (source / "manifest.json").read_bytes()
results = json.loads((source / "run_results.json").read_text())
print("ready", flush=True)
i = 0
while True:
    i += 1
    target = work / f"t{i}"
    target.mkdir(parents=True)
    (target / "manifest.json").write_bytes(manifest)
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    results["metadata"]["generated_at"] = now
    (target / "run_results.json").write_text(json.dumps(results))
    record = publish_artifacts(store, target, "prod")
    print("published", record.run_id, flush=True)
"""

_ONCE = r"""
import pathlib, sys, time
from meshkit.store.publish import publish_artifacts
from meshkit.store.store import Store
url, target, start = sys.argv[1], pathlib.Path(sys.argv[2]), float(sys.argv[3])
store = Store(url)
while time.time() < start:
    pass
print(publish_artifacts(store, target, "prod").run_id, flush=True)
"""


def _check_consistent(store: Store, root: Path, previous: str | None) -> str | None:
    env_dir = root / "analytics" / "prod"
    runs_dir = env_dir / "runs"
    visible = [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] \
        if runs_dir.is_dir() else []
    for run_id in visible:
        assert (runs_dir / run_id / RUN_RECORD).is_file(), f"half-written run {run_id} is visible"
    complete = store.runs("analytics", "prod")
    assert {r.run_id for r in complete} == set(visible)
    for record in complete:
        assert verify(store, record) == [], f"run {record.run_id} does not verify"
    latest = store.latest("analytics", "prod")  # raises on a torn pointer or a missing run
    if previous is None:
        return latest.run_id if latest else None
    assert latest is not None, "the pointer disappeared"
    old = store.record("analytics", "prod", previous)
    assert verify(store, old) == [], "the previous good run is still resolvable"
    assert latest.order_key >= old.order_key, "the pointer never moves backwards"
    assert store.interface("analytics", "prod")[0].run_id == latest.run_id
    return latest.run_id


def _start_loop(root: Path, artifacts: Path, work: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(root), str(artifacts), str(work)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _seconds_per_publish(root: Path, artifacts: Path, work: Path) -> float:
    """How long one publish takes on this machine now. Kill times scale with it, so that on a
    loaded machine kills still land before, inside and after publishes."""
    proc = _start_loop(root, artifacts, work)
    started = time.monotonic()
    line = proc.stdout.readline()
    seconds = time.monotonic() - started
    proc.kill()
    proc.communicate(timeout=30)
    assert line.startswith("published"), line
    return seconds


def test_publisher_killed_at_random_points(tmp_path, analytics_artifacts):
    root = tmp_path / "store"
    store = Store(str(root))
    rng = random.Random(int(os.environ.get("MESHKIT_CRASH_SEED", "20261123")))
    window = 3 * _seconds_per_publish(root, analytics_artifacts, tmp_path / "calibrate")
    previous = _check_consistent(store, root, None)
    published = leftovers = 0
    deadline = time.monotonic() + 45
    iterations = 0
    while iterations < 40 and time.monotonic() < deadline:
        iterations += 1
        proc = _start_loop(root, analytics_artifacts, tmp_path / f"work{iterations}")
        time.sleep(rng.uniform(0.0, window))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        published += out.count("published")
        env_dir = root / "analytics" / "prod"
        leftovers += sum(1 for p in (env_dir / "runs").iterdir() if p.name.startswith("."))
        leftovers += sum(1 for p in env_dir.glob(".*.tmp"))
        previous = _check_consistent(store, root, previous)
        # Prune as an operator would; leftovers of killed publishers go too (no one is writing).
        prune(store, 2, grace_seconds=0)
        hidden = [p.name for p in (env_dir / "runs").iterdir() if p.name.startswith(".")]
        assert hidden == [] and not list(env_dir.glob(".*.tmp")), "prune removes leftovers"
        previous = _check_consistent(store, root, previous)
    assert iterations >= 10
    assert published >= 5, "the publisher got far enough to publish some runs"
    assert leftovers >= 1, "some kills landed in the middle of a publish"
    assert previous is not None


def test_concurrent_local_publishers_later_run_wins(tmp_path, analytics_artifacts):
    root = tmp_path / "store"
    for round_ in range(4):
        early = stage_target(analytics_artifacts, tmp_path / f"r{round_}e", at(10 + 2 * round_))
        late = stage_target(analytics_artifacts, tmp_path / f"r{round_}l", at(11 + 2 * round_))
        order = [early, late] if round_ % 2 else [late, early]
        start = time.time() + 1.0
        procs = [subprocess.Popen([sys.executable, "-c", _ONCE, str(root), str(t), str(start)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for t in order]
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        ids = dict(zip(order, (o[0].strip() for o in outs)))
        pointer = json.loads((root / "analytics" / "prod" / "latest.json").read_text())
        assert pointer["run_id"] == ids[late], f"round {round_}"
        store = Store(str(root))
        assert verify(store, store.latest("analytics", "prod")) == []
