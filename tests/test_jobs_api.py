"""The jobs API in the catalog's web app: trigger a run over HTTP, follow its status, cancel;
the bearer token; and `meshkit serve` serving it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import test_jobs_hooks as hooks
from meshkit.catalog.live import CatalogSource
from meshkit.config import load_mesh
from meshkit.jobs.scheduler import Scheduler
from meshkit.store.store import Store
from meshkit.web.app import create_app
from meshkit.web.server import BackgroundServer
from test_scheduler_unit import drain, write_mesh

JOBS = """\
a: {project: alpha}
b: {project: beta, triggers: {on_completion: a}}
"""


def call(url: str, *, method: str = "GET", token: str | None = None, body: dict | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def mesh(tmp_path, monkeypatch):
    monkeypatch.setenv("MESHKIT_JOB_RUNNER", "test_jobs_hooks:scripted")
    hooks.OUTCOMES.clear()
    hooks.DELAYS.clear()
    return load_mesh(write_mesh(tmp_path, JOBS))


def server(mesh, token: str | None) -> BackgroundServer:
    source = CatalogSource(Store(mesh.store_url), "prod", interval=0)
    return BackgroundServer(create_app(source, token=token, settings={"mesh": mesh}, poll=False))


def test_a_run_triggered_over_http_is_run_by_the_scheduler_and_its_status_followed(mesh):
    with server(mesh, "s3cret") as web:
        status, listing = call(f"{web.url}/api/jobs", token="s3cret")
        assert status == 200 and [j["name"] for j in listing["jobs"]] == ["a", "b"]
        assert listing["jobs"][1]["trigger"]["text"] == "on completion of a (success)"
        assert listing["scheduler"] == {"running": False, "pids": []}
        status, queued = call(f"{web.url}/api/jobs/a/run", method="POST", token="s3cret",
                              body={"reason": "new orders landed"})
        assert status == 202, queued
        run = queued["run"]
        assert (run["job"], run["status"], run["cause"]) == ("a", "queued", "api")
        assert run["reason"] == "run now through the API: new orders landed"
        assert queued["status_url"] == f"/api/job-runs/{run['id']}"
        scheduler = Scheduler(mesh, in_process=True, log=lambda line: None)
        drain(scheduler)
        status, detail = call(web.url + queued["status_url"], token="s3cret")
        assert status == 200 and detail["status"] == "success"
        assert [(t["job"], t["status"]) for t in detail["triggered"]] == [("b", "success")]
        status, job = call(f"{web.url}/api/jobs/b?limit=5", token="s3cret")
        assert [r["cause"] for r in job["runs"]] == ["trigger"]
        status, with_log = call(f"{web.url}/api/job-runs/{run['id']}?log=1", token="s3cret")
        assert "a run 1 (attempt 1): run now through the API" in with_log["log"]
        scheduler.close()


def test_the_token_guards_the_jobs_api(mesh):
    with server(mesh, "s3cret") as web:
        assert call(f"{web.url}/api/jobs/a/run", method="POST")[0] == 401
        assert call(f"{web.url}/api/jobs/a/run", method="POST", token="wrong")[0] == 401
        assert call(f"{web.url}/api/jobs")[0] == 401
        assert call(f"{web.url}/api/job-runs/1")[0] == 401
        assert call(f"{web.url}/api/jobs", token="s3cret")[0] == 200
    with server(mesh, None) as web:
        status, body = call(f"{web.url}/api/jobs/a/run", method="POST")
        assert status == 403 and "needs an API token" in body["error"]
        assert call(f"{web.url}/api/jobs")[0] == 200          # reading is open without a token


def test_unknown_jobs_idempotent_retries_and_cancel(mesh):
    with server(mesh, "t") as web:
        status, body = call(f"{web.url}/api/jobs/nope/run", method="POST", token="t")
        assert status == 404 and body == {"error": "unknown job 'nope'", "jobs": ["a", "b"]}
        assert call(f"{web.url}/api/jobs/nope", token="t")[0] == 404
        assert call(f"{web.url}/api/job-runs/999", token="t")[0] == 404
        assert call(f"{web.url}/api/jobs/a/run", method="POST", token="t",
                    headers={"Content-Type": "application/json"}, body=None)[0] == 202
        first = call(f"{web.url}/api/jobs/a/run", method="POST", token="t",
                     headers={"Idempotency-Key": "ci-4711"})
        again = call(f"{web.url}/api/jobs/a/run", method="POST", token="t",
                     headers={"Idempotency-Key": "ci-4711"})
        assert (first[0], again[0]) == (202, 200) and first[1]["run"]["id"] == again[1]["run"]["id"]
        run_id = first[1]["run"]["id"]
        status, canceled = call(f"{web.url}/api/job-runs/{run_id}/cancel", method="POST", token="t")
        assert status == 200 and canceled["run"]["status"] == "canceled"
        assert canceled["run"]["message"] == "canceled by the API before it started"
        assert call(f"{web.url}/api/job-runs/{run_id}/cancel", method="POST")[0] == 401


def test_meshkit_serve_serves_the_jobs_api(mesh, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    meshkit = str(Path(sys.executable).parent / "meshkit")
    process = subprocess.Popen([meshkit, "serve", "--port", str(port), "--refresh", "0"],
                               cwd=mesh.root, env={**os.environ, "MESHKIT_API_TOKEN": "tok"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = call(f"http://127.0.0.1:{port}/api/jobs/a/run", method="POST", token="tok")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.2)
        assert status == 202 and body["run"]["status"] == "queued"
    finally:
        process.terminate()
        process.wait(timeout=20)
