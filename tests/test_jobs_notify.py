"""Notifications of job runs to the owners of the models (group owners from the published
manifests), through a real SMTP server (aiosmtpd) and an HTTP receiver, both on loopback."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import test_jobs_hooks as hooks
from conftest import set_jobs
from meshkit.config import load_mesh
from meshkit.graph.mesh_graph import load_from_store
from meshkit.jobs.notify import deliver_pending, model_entry
from meshkit.jobs.scheduler import Scheduler
from meshkit.store.store import Store
from test_scheduler_unit import drain


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """aiosmtpd on 127.0.0.1: every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], email.message.Message]] = []
        self.port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def __enter__(self) -> "Mailbox":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[email.message.Message]:
        return [message for rcpt, message in self.messages if address in rcpt]


class Hooks:
    """An HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                received.append((self.headers.get("Authorization"), json.loads(self.rfile.read(length))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/meshkit"

    def __enter__(self) -> "Hooks":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def owned_mesh(built_mesh, monkeypatch):
    """The built quickstart mesh (groups core → analytics@, finance → finance@) with jobs
    whose runner is scripted, so failures land on models of both groups and on one without."""
    monkeypatch.setenv("MESHKIT_JOB_RUNNER", "test_jobs_hooks:scripted")
    for table in (hooks.OUTCOMES, hooks.FAILED, hooks.DELAYS):
        table.clear()
    graph = load_from_store(Store(str(built_mesh / ".meshkit" / "store")), "prod")
    hooks.FAILED["nightly"] = [
        model_entry(graph, "model.analytics.fct_orders.v2", "error", "Runtime Error: boom"),
        model_entry(graph, "model.analytics.fct_orders.v1", "tests failed", "test not_null fail"),
        model_entry(graph, "model.finance.agg_customer_payment_journey", "error", "Binder Error"),
        model_entry(graph, "model.finance.stg_payments", "error", "no group"),
    ]
    return built_mesh


def add_jobs(mesh_dir, jobs: str):
    set_jobs(mesh_dir, jobs)
    return load_mesh(mesh_dir / "mesh.yml")


def test_each_owner_gets_one_message_per_run_listing_their_failed_models(owned_mesh, monkeypatch):
    with Mailbox() as mailbox, Hooks() as receiver:
        monkeypatch.setenv("MESHKIT_SMTP_FROM", "meshkit@jaffle.example")
        monkeypatch.setenv("MESHKIT_WEBHOOK_TOKEN", "hook-secret")
        mesh = add_jobs(owned_mesh, f"""\
            nightly:
              notify:
                on: [failure]
                to: oncall@jaffle.example
                webhook: {receiver.url}
                smtp: {{host: 127.0.0.1, port: {mailbox.port}}}
            """)
        hooks.OUTCOMES["nightly"] = "error"
        scheduler = Scheduler(mesh, in_process=True, log=lambda line: None)
        run = scheduler.store.enqueue(mesh.jobs["nightly"], "manual", "test")
        drain(scheduler)
        drain(scheduler)                                 # nothing is sent twice
        assert deliver_pending(scheduler.store, now=time.time() + 3600) == 0
        assert sorted(rcpt[0] for rcpt, _ in mailbox.messages) == [
            "analytics@jaffle.example", "finance@jaffle.example", "oncall@jaffle.example"]
        analytics = mailbox.to("analytics@jaffle.example")[0]
        assert analytics["Subject"] == f"[meshkit] nightly run {run.id} failed: 2 models"
        assert analytics["From"] == "meshkit@jaffle.example"
        body = analytics.get_payload(decode=True).decode()
        assert "analytics.fct_orders.v2 (group core): error — Runtime Error: boom" in body
        assert "analytics.fct_orders.v1 (group core): tests failed — test not_null fail" in body
        assert "finance." not in body
        finance = mailbox.to("finance@jaffle.example")[0].get_payload(decode=True).decode()
        assert "finance.agg_customer_payment_journey (group finance): error" in finance
        assert "analytics." not in finance and "stg_payments" not in finance
        oncall = mailbox.to("oncall@jaffle.example")[0]
        assert oncall["Subject"].endswith("failed: 4 models") and "finance.stg_payments: error" in \
            oncall.get_payload(decode=True).decode()
        posts = {(body["owner"] or {}).get("name"): (auth, body) for auth, body in receiver.received}
        assert sorted(posts, key=str) == ["Data Analytics", "Finance", None]
        auth, analytics_post = posts["Data Analytics"]
        assert auth == "Bearer hook-secret" and analytics_post["event"] == "job_run.failed"
        assert analytics_post["owner"] == {"name": "Data Analytics", "email": ["analytics@jaffle.example"]}
        assert {m["node"] for m in analytics_post["models"]} == {"analytics.fct_orders.v1",
                                                                 "analytics.fct_orders.v2"}
        assert [m["node"] for m in posts[None][1]["models"]] == ["finance.stg_payments"]
        assert analytics_post["run"]["id"] == run.id and analytics_post["run"]["status"] == "error"
        sent = {(n["channel"], n["recipient"]): n["status"] for n in scheduler.store.notifications(run.id)}
        assert set(sent.values()) == {"sent"} and len(sent) == 6
        scheduler.close()


def test_success_notifications_and_a_mail_server_that_is_down_at_first(owned_mesh, monkeypatch):
    port = free_port()
    monkeypatch.setenv("MESHKIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MESHKIT_SMTP_PORT", str(port))
    mesh = add_jobs(owned_mesh, """\
        quiet: {notify: {on: [failure]}}
        chatty: {notify: {on: [success], to: [team@jaffle.example]}}
        """)
    scheduler = Scheduler(mesh, in_process=True, log=lambda line: None)
    store = scheduler.store
    quiet = store.enqueue(mesh.jobs["quiet"], "manual", "test")
    chatty = store.enqueue(mesh.jobs["chatty"], "manual", "test")
    drain(scheduler)                                     # no SMTP server listening yet
    assert store.notifications(quiet.id) == []           # it succeeded: nothing to say
    [note] = store.notifications(chatty.id)
    assert (note["recipient"], note["status"], note["attempts"]) == ("team@jaffle.example", "failed", 1)
    assert "ConnectionRefusedError" in note["error"]
    with Mailbox(port) as mailbox:
        assert deliver_pending(store) == 0                # not due again yet
        assert deliver_pending(store, now=time.time() + 60) == 1
        [(rcpt, message)] = mailbox.messages
    assert rcpt == ["team@jaffle.example"]
    assert message["Subject"] == f"[meshkit] chatty run {chatty.id} succeeded"
    assert store.notifications(chatty.id)[0]["status"] == "sent"
    scheduler.close()
