"""Jobs and the scheduler with real dbt on the quickstart mesh, run as a user runs them:
`meshkit jobs run`, `meshkit scheduler`, and a scheduler killed at the worst moment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, run, set_jobs
from test_jobs_notify import Hooks, Mailbox
from test_scheduler_unit import write_mesh

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).parent
MESHKIT = str(Path(sys.executable).parent / "meshkit")


def add_jobs(mesh: Path, jobs: str) -> None:
    set_jobs(mesh, jobs)


def hook_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
            **extra}


def history(mesh: Path, job: str) -> list[dict]:
    return meshkit_json(["jobs", "history", job], cwd=mesh)["runs"][::-1]


def scheduler_until_idle(mesh: Path, env: dict | None = None) -> str:
    result = subprocess.run([MESHKIT, "scheduler", "--until-idle", "--poll", "0.2"], cwd=mesh,
                            env=env or os.environ, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def finance_days(mesh: Path) -> int:
    con = duckdb.connect(str(mesh / "warehouse" / "jaffle_finance.duckdb"), read_only=True)
    try:
        return con.execute("select max(days_as_customer_at_purchase) from prod.agg_customer_payment_journey"
                           ).fetchone()[0]
    finally:
        con.close()


def test_the_analytics_job_triggers_the_finance_job_which_reads_the_fresh_fct_orders(built_mesh):
    add_jobs(built_mesh, """\
        analytics_daily:
          description: Deploy job of Jaffle | Data Analytics
          project: analytics
          generate_docs: true
        finance_daily:
          project: finance
          triggers: {on_completion: analytics_daily}
        """)
    assert finance_days(built_mesh) > 30
    model = built_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql"
    model.write_text(model.read_text().replace("select * from final",
                                               "select * from final where days_as_customer_at_purchase < 30"))
    result = meshkit_json(["jobs", "run", "analytics_daily", "-q"], cwd=built_mesh)
    [analytics] = result["runs"]
    assert (analytics["job"], analytics["status"], analytics["cause"]) == ("analytics_daily", "success", "manual")
    assert [s["step"] for s in analytics["summary"]["steps"]] == ["build", "generate docs"]
    assert {s["status"] for s in analytics["summary"]["steps"]} == {"success"}
    assert analytics["summary"]["published"] == ["analytics"]
    [queued] = result["queued"]
    assert (queued["job"], queued["status"], queued["cause"]) == ("finance_daily", "queued", "trigger")
    assert queued["reason"] == f"on completion of analytics_daily run {analytics['id']} (success)"
    # The analytics run was published with its catalog (Generate docs on run).
    latest = json.loads((built_mesh / ".meshkit/store/analytics/prod/latest.json").read_text())["run_id"]
    assert (built_mesh / ".meshkit/store/analytics/prod/runs" / latest / "catalog.json").is_file()
    assert finance_days(built_mesh) > 30                       # finance has not run yet

    log = scheduler_until_idle(built_mesh)
    assert f"finance_daily run {queued['id']} started" in log and "success" in log
    [finance] = history(built_mesh, "finance_daily")
    assert finance["status"] == "success" and finance["upstream"] == [analytics["id"]]
    assert finance_days(built_mesh) < 30                       # it read the fresh fct_orders
    builds = {r["id"]: r for r in meshkit_json(["runs"], cwd=built_mesh)}
    assert builds[finance["build_run_id"]]["kind"] == "job"
    assert builds[finance["build_run_id"]]["command"] == f"meshkit job finance_daily (job run {finance['id']})"
    shown = run(["meshkit", "jobs", "show", str(finance["id"]), "--log"], cwd=built_mesh).stdout
    assert "agg_customer_payment_journey" in shown and "why: on completion of analytics_daily" in shown
    listing = run(["meshkit", "jobs", "ls"], cwd=built_mesh).stdout
    assert "analytics_daily" in listing and "no scheduler is running" in listing


def test_all_of_waits_for_both_and_an_error_trigger_fires_only_on_failure(built_mesh, monkeypatch):
    with Mailbox() as mailbox, Hooks() as receiver:
        add_jobs(built_mesh, f"""\
            analytics_core:
              select: "analytics:fct_orders"
              notify:
                webhook: {receiver.url}
                smtp: {{host: 127.0.0.1, port: {mailbox.port}}}
            analytics_staging:
              select: ["analytics:stg_orders", "analytics:stg_customers"]
            finance_after_both:
              project: finance
              triggers: {{on_completion: {{all_of: [analytics_core, analytics_staging]}}}}
            alert_on_failure:
              select: "finance:stg_payments"
              triggers:
                on_completion: {{job: analytics_core, statuses: [error]}}
            """)
        core = meshkit_json(["jobs", "run", "analytics_core", "-q"], cwd=built_mesh)
        assert core["runs"][0]["status"] == "success" and core["queued"] == []
        assert core["runs"][0]["message"] == "nothing to do: every model is up to date"
        staging = meshkit_json(["jobs", "run", "analytics_staging", "-q"], cwd=built_mesh)
        assert [(r["job"], r["upstream"]) for r in staging["queued"]] == [
            ("finance_after_both", [core["runs"][0]["id"], staging["runs"][0]["id"]])]
        scheduler_until_idle(built_mesh)
        assert [r["status"] for r in history(built_mesh, "finance_after_both")] == ["success"]
        assert history(built_mesh, "alert_on_failure") == []
        assert mailbox.messages == [] and receiver.received == []

        model = built_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql"
        model.write_text(model.read_text().replace("from orders o", "from no_such_table o"))
        failed = run(["meshkit", "jobs", "run", "analytics_core", "-q", "--json"], cwd=built_mesh,
                     check=False)
        assert failed.returncode == 1, failed.stderr
        report = json.loads(failed.stdout)
        [error] = report["runs"]
        assert error["status"] == "error" and error["message"] == "1 model failed: analytics.fct_orders.v2"
        assert [r["job"] for r in report["queued"]] == ["alert_on_failure"]
        scheduler_until_idle(built_mesh)
        assert [r["status"] for r in history(built_mesh, "alert_on_failure")] == ["success"]
        assert len(history(built_mesh, "finance_after_both")) == 1
        # The owner of fct_orders (group core) got one message, naming the model and dbt's error.
        [(rcpt, message)] = mailbox.messages
        assert rcpt == ["analytics@jaffle.example"]
        assert message["Subject"] == f"[meshkit] analytics_core run {error['id']} failed: 1 model"
        body = message.get_payload(decode=True).decode()
        assert "analytics.fct_orders.v2 (group core): error" in body and "no_such_table" in body
        [(_, post)] = receiver.received
        assert post["owner"]["email"] == ["analytics@jaffle.example"]
        assert [m["node"] for m in post["models"]] == ["analytics.fct_orders.v2"]


def test_a_scheduler_killed_between_a_run_and_its_trigger_loses_nothing(built_mesh, tmp_path):
    add_jobs(built_mesh, """\
        analytics_daily: {project: analytics}
        finance_daily:
          project: finance
          triggers: {on_completion: analytics_daily}
        """)
    paused = tmp_path / "paused.json"
    scheduler = subprocess.Popen(
        [MESHKIT, "scheduler", "--poll", "0.2"], cwd=built_mesh, start_new_session=True,
        env=hook_env(MESHKIT_JOB_RUNNER="test_jobs_hooks:pause_after_build",
                     MESHKIT_TEST_PAUSE_JOB="analytics_daily", MESHKIT_TEST_PAUSED=str(paused)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run(["meshkit", "jobs", "run", "analytics_daily", "--queue"], cwd=built_mesh)
        deadline = time.monotonic() + 180
        while not paused.exists():
            assert scheduler.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        worker = json.loads(paused.read_text())
        # The build has ended and is recorded; the job run is not, and nothing was triggered.
        [analytics] = history(built_mesh, "analytics_daily")
        assert analytics["status"] == "running" and worker["status"] == "success"
        builds = meshkit_json(["runs"], cwd=built_mesh)
        assert builds[0]["kind"] == "job" and builds[0]["status"] in ("success", "noop")
        assert history(built_mesh, "finance_daily") == []
    finally:
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait()
    os.killpg(worker["pid"], signal.SIGKILL)
    while Path(f"/proc/{worker['pid']}").exists() and \
            Path(f"/proc/{worker['pid']}/stat").read_text().split(")")[-1].split()[0] != "Z":
        time.sleep(0.05)

    log = scheduler_until_idle(built_mesh)
    assert f"analytics_daily run {analytics['id']}: its process (pid {worker['pid']}) is gone" in log
    [analytics] = history(built_mesh, "analytics_daily")
    assert analytics["status"] == "success" and analytics["message"].startswith("recovered: its process")
    [finance] = history(built_mesh, "finance_daily")
    assert finance["status"] == "success" and finance["upstream"] == [analytics["id"]]
    scheduler_until_idle(built_mesh)                  # and once more: still exactly once
    assert len(history(built_mesh, "finance_daily")) == 1
    assert len(history(built_mesh, "analytics_daily")) == 1


def test_timeout_and_cancel_stop_the_worker_and_what_it_started(tmp_path):
    mesh_file = write_mesh(tmp_path, """\
        slow: {project: alpha, timeout: 2}
        stuck: {project: beta}
        """)
    pids = tmp_path / "pids.json"
    env = hook_env(MESHKIT_JOB_RUNNER="test_jobs_hooks:sleepy", MESHKIT_TEST_PIDS=str(pids))
    result = subprocess.run([MESHKIT, "jobs", "run", "slow", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    [slow] = json.loads(result.stdout)["runs"]
    assert (slow["status"], slow["failure"], slow["message"]) == ("error", "timeout", "timed out after 2 s")
    assert gone(json.loads(pids.read_text()))

    pids.unlink()
    scheduler = subprocess.Popen([MESHKIT, "scheduler", "--poll", "0.2"], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run(["meshkit", "jobs", "run", "stuck", "--queue"], cwd=tmp_path)
        deadline = time.monotonic() + 60
        while not pids.exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        started = json.loads(pids.read_text())
        canceled = meshkit_json(["jobs", "cancel", str(started["run"])], cwd=tmp_path)
        assert canceled["status"] == "canceled"
        assert gone(started)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        output = scheduler.communicate(timeout=30)[0]
    assert f"stuck run {started['run']} canceled" in output
    assert mesh_file.exists()


def gone(pids: dict, within: float = 15.0) -> bool:
    """The worker and the process it started have both stopped."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in (pids["worker"], pids["child"]) if _alive(p)]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_source_freshness_runs_first_and_fails_the_job_only_when_asked(built_mesh):
    sources = built_mesh / "analytics" / "models" / "staging" / "sources.yml"
    sources.write_text(sources.read_text().replace(
        "      - name: orders\n",
        "      - name: orders\n"
        "        loaded_at_field: \"cast(order_date as timestamp)\"\n"
        "        freshness: {error_after: {count: 1, period: day}}\n"))   # 2018 data: stale
    add_jobs(built_mesh, """\
        lenient: {project: analytics, source_freshness: true}
        strict: {project: analytics, source_freshness: {fail_job: true}}
        """)
    [lenient] = meshkit_json(["jobs", "run", "lenient", "-q"], cwd=built_mesh)["runs"]
    assert lenient["status"] == "success"
    steps = [(s["step"], s.get("project"), s["status"]) for s in lenient["summary"]["steps"]]
    assert steps[0] == ("source freshness", "analytics", "error") and steps[1][0] == "build"
    failed = run(["meshkit", "jobs", "run", "strict", "-q", "--json"], cwd=built_mesh, check=False)
    assert failed.returncode == 1
    [strict] = json.loads(failed.stdout)["runs"]
    assert (strict["status"], strict["failure"]) == ("error", "freshness")
    assert strict["message"] == "source freshness failed in analytics"
    assert [s["step"] for s in strict["summary"]["steps"]] == ["source freshness"]
    assert strict["build_run_id"] is None                       # the build never started


def test_run_with_downstream_runs_the_whole_chain_here(tmp_path):
    write_mesh(tmp_path, """\
        first: {project: alpha}
        second: {project: beta, triggers: {on_completion: first}}
        third: {triggers: {on_completion: {all_of: [first, second]}}}
        """)
    result = subprocess.run([MESHKIT, "jobs", "run", "first", "--downstream", "--json"], cwd=tmp_path,
                            env=hook_env(MESHKIT_JOB_RUNNER="test_jobs_hooks:scripted"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert [(r["job"], r["status"], r["cause"]) for r in runs] == [
        ("first", "success", "manual"), ("second", "success", "trigger"), ("third", "success", "trigger")]
    assert runs[2]["upstream"] == [runs[0]["id"], runs[1]["id"]]
    assert "→ second run 2 queued: on completion of first run 1 (success)" in result.stderr
