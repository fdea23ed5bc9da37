"""Nothing published is stale, with real dbt: an interface change republishes and rebuilds
its consumers, a publish by hand counts as a build, a publish after `dbt parse` says what was
not built, a build killed at any moment is completed by the next one, two builds at once
never interleave, and `--project up` does not parse downstream projects."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, run
from meshes import write_mesh
from meshkit.store.maintenance import verify
from meshkit.store.store import Store

pytestmark = pytest.mark.e2e

# up.orders has two versions (v1 latest); down.report refs it unpinned.
ORDERS_YML = """\
  - name: orders
    access: public
    latest_version: 1
    versions:
      - v: 1
      - v: 2
"""


@pytest.fixture(scope="session")
def versioned_template(tmp_path_factory) -> Path:
    mesh = write_mesh(tmp_path_factory.mktemp("versioned") / "mesh", {
        "up": {"orders_v1": "select 1 as id, 'v1' as src",
               "orders_v2": "select 1 as id, 'v2' as src"},
        "down": {"report": "select * from {{ ref('up', 'orders') }}"},
    }, extra_yaml={"up": ORDERS_YML})
    run(["meshkit", "build", "-q"], cwd=mesh)
    return mesh


@pytest.fixture
def versioned(tmp_path, versioned_template) -> Path:
    mesh = tmp_path / "mesh"
    shutil.copytree(versioned_template, mesh)
    return mesh


def _reasons(report: dict) -> dict[str, str]:
    return {n["node"]: ("rebuilt: " if n["decision"] == "rebuild" else "reused: ") + n["reason"]
            for n in report["nodes"]}


def _report(mesh: Path) -> list[tuple]:
    con = duckdb.connect(str(mesh / "warehouse" / "down.duckdb"), read_only=True)
    try:
        return con.execute("select * from main.report").fetchall()
    finally:
        con.close()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_an_interface_change_republishes_and_rebuilds_consumers(versioned):
    _edit(versioned / "up" / "models" / "models.yml", "latest_version: 1", "latest_version: 2")
    report = meshkit_json(["build"], cwd=versioned)
    reasons = _reasons(report)
    assert reasons["up.orders.v1"] == "rebuilt: public interface changed: latest_version 1 → 2"
    assert reasons["up.orders.v2"] == "rebuilt: public interface changed: latest_version 1 → 2"
    assert reasons["down.report"] == \
        "rebuilt: up.orders.v1 changed its public interface (latest_version 1 → 2)"
    assert set(report["published"]) == {"up", "down"}
    assert _report(versioned) == [(1, "v2")]
    again = meshkit_json(["build"], cwd=versioned)
    assert again["status"] == "noop"
    assert set(again["parsed"].values()) == {"dbt parse", "cache"} or \
        set(again["parsed"].values()) == {"cache"}

    # --project up parses up only: a parse error downstream does not block it.
    (versioned / "down" / "models" / "report.sql").write_text("select * from {{ ref('up', 'orders' }}\n")
    _edit(versioned / "up" / "models" / "orders_v2.sql", "'v2'", "'v2 again'")
    only_up = meshkit_json(["build", "--project", "up"], cwd=versioned)
    assert only_up["status"] == "success" and only_up["parsed"] == {"up": "dbt parse"}
    assert _reasons(only_up)["up.orders.v2"] == "rebuilt: code or config changed"


def test_publish_by_hand_counts_as_a_build_and_a_parse_says_what_is_not_built(versioned):
    up = versioned / "up"
    _edit(up / "models" / "orders_v2.sql", "'v2'", "'v2 by hand'")
    run(["dbt", "build"], cwd=up)
    published = run(["meshkit", "publish"], cwd=up, env={"COLUMNS": "200"}).stdout
    assert "published up to prod" in published
    report = meshkit_json(["build"], cwd=versioned)
    reasons = _reasons(report)
    publish_run = report["run_id"] - 1
    assert reasons["up.orders.v2"] == f"reused: unchanged since run {publish_run}"
    assert reasons["down.report"] == f"rebuilt: up.orders.v1 was rebuilt in run {publish_run}"

    # A merge job that only parses: the new public model is published as not built.
    (up / "models" / "fresh.sql").write_text("select 2 as id\n")
    with open(up / "models" / "models.yml", "a") as handle:
        handle.write("  - name: fresh\n    access: public\n")
    run(["dbt", "parse"], cwd=up)
    parsed = run(["meshkit", "publish"], cwd=up, env={"COLUMNS": "200"}).stdout
    assert "(3 public of 3 models after a parse: nothing built)" in parsed
    assert "not built yet: fresh" in parsed
    store = Store(str(versioned / ".meshkit" / "store"))
    latest = store.latest("up", "prod")
    assert latest.status == "parsed" and "run_results.json" not in latest.files
    assert latest.not_built == ["model.up.fresh"]
    assert verify(store, latest) == []
    (versioned / "down" / "models" / "fresh_report.sql").write_text(
        "select * from {{ ref('up', 'fresh') }}\n")
    refused = run(["meshkit", "build", "--project", "down"], cwd=versioned, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "down.fresh_report needs up.fresh, which has never been built or published" in refused.stderr


def _store_is_current(mesh: Path, value: str) -> None:
    """The store's latest up run is of the code on disk, every latest run is whole and of one
    dbt invocation, and down reads the value."""
    store = Store(str(mesh / ".meshkit" / "store"))
    latest = store.latest("up", "prod")
    manifest = json.loads(store.read(latest, "manifest.json"))
    text = (mesh / "up" / "models" / "orders_v1.sql").read_text()
    assert manifest["nodes"]["model.up.orders.v1"]["raw_code"].strip() == text.strip()
    for project in ("up", "down"):
        assert verify(store, store.latest(project, "prod")) == []
    assert _report(mesh) == [(1, value)]


def _children_running(pid: int, words: tuple[str, ...]) -> bool:
    """Is a child process of `pid` running with all these words in its command line?"""
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if int(stat[1]) == pid and all(word in cmdline for word in words):
            return True
    return False


def test_a_build_killed_at_any_moment_is_completed_by_the_next(versioned):
    """The first kill lands after dbt built up, while `dbt docs generate` runs before its
    publish; the next at a random moment of parse, build and publish (MESHKIT_CRASH_SEED,
    MESHKIT_CRASH_KILLS for more)."""
    rng = random.Random(int(os.environ.get("MESHKIT_CRASH_SEED", "13")))
    meshkit = str(Path(sys.executable).parent / "meshkit")
    for attempt in range(int(os.environ.get("MESHKIT_CRASH_KILLS", "2"))):
        value = f"v1 edit {attempt}"
        (versioned / "up" / "models" / "orders_v1.sql").write_text(f"select 1 as id, '{value}' as src\n")
        args = [meshkit, "build", "-q"] + (["--docs"] if attempt == 0 else [])
        killed = subprocess.Popen(args, cwd=versioned, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        if attempt == 0:
            deadline = time.time() + 300
            while time.time() < deadline and not _children_running(killed.pid, ("docs", "generate")):
                time.sleep(0.05)
            assert time.time() < deadline, "the build reached `dbt docs generate` in up"
        else:
            time.sleep(rng.uniform(0.5, 10.0))
        killed.send_signal(signal.SIGKILL)   # meshkit only: its dbt may still be running
        killed.wait()
        # The next build waits for an orphaned dbt (it holds the lock), then finishes the job.
        report = meshkit_json(["build"], cwd=versioned)
        assert report["status"] in ("success", "noop"), report
        _store_is_current(versioned, value)
    assert meshkit_json(["build"], cwd=versioned)["status"] == "noop"


def test_two_builds_at_once_never_interleave(versioned):
    _edit(versioned / "up" / "models" / "orders_v2.sql", "'v2'", "'v2 concurrent'")
    meshkit = str(Path(sys.executable).parent / "meshkit")
    first = subprocess.Popen([meshkit, "build", "--json"], cwd=versioned, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = versioned / ".meshkit" / "locks" / "up.lock"
    deadline = time.time() + 60
    while time.time() < deadline and f'"pid": {first.pid},' not in lock.read_text():
        time.sleep(0.1)
    second = subprocess.Popen([meshkit, "build", "--json"], cwd=versioned, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    refused = run(["meshkit", "build", "--no-wait"], cwd=versioned, check=False)
    outs = [p.communicate(timeout=600) for p in (first, second)]
    assert refused.returncode == 2
    assert "is running since" in refused.stderr and "not waiting (--no-wait)" in refused.stderr
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert "waiting for it (use --no-wait to stop instead)" in outs[1][1]
    reports = [json.loads(out) for out, _ in outs]
    assert reports[0]["status"] == "success" and reports[1]["status"] == "noop"
    store = Store(str(versioned / ".meshkit" / "store"))
    for project in ("up", "down"):
        for record in store.runs(project, "prod"):
            manifest = json.loads(store.read(record, "manifest.json"))["metadata"]
            results = json.loads(store.read(record, "run_results.json"))["metadata"]
            assert manifest["invocation_id"] == results["invocation_id"] == record.invocation_id
    assert _report(versioned) == [(1, "v1")]
