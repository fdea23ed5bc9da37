"""Notifications of finished job runs: to the owners of the models, by email and webhook.

A model's owner is its dbt group's `owner` (name and email), else its `meta.owner`, read from
the manifests (graph/owners.py, as governance and the catalog name it). On a
failure each owner gets **one message per run** listing their failed models; with
`notify: {on: [success]}` owners of the models a run rebuilt hear about those. Addresses in
`notify.to` get every model of the run (and hear about failures no model explains, such as
a timeout). A webhook gets one POST per owner, plus one with `"owner": null` for models
without an owner or run-level failures.

Messages are written to an outbox in the transaction that records the run's end (see
meshkit.jobs.queue), then delivered; an undelivered message is retried, never silently lost.

SMTP settings: `notify.smtp` in mesh.yml ({host, port, from, tls: none|starttls|ssl}) and the
variables MESHKIT_SMTP_HOST, MESHKIT_SMTP_PORT, MESHKIT_SMTP_FROM, MESHKIT_SMTP_TLS,
MESHKIT_SMTP_USER and MESHKIT_SMTP_PASSWORD (credentials only from the environment).
MESHKIT_WEBHOOK_TOKEN, when set, is sent as `Authorization: Bearer …` with each webhook.
MESHKIT_WEB_URL, when set, links each message to the run in the web app.
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any, Callable, Iterable

from meshkit.config.jobs import Job
from meshkit.graph import owners
from meshkit.jobs.queue import JobRun, JobStore, utc_iso
from meshkit.status import RunStatus

SMTP_VARS = ("MESHKIT_SMTP_HOST", "MESHKIT_SMTP_PORT", "MESHKIT_SMTP_FROM", "MESHKIT_SMTP_TLS",
             "MESHKIT_SMTP_USER", "MESHKIT_SMTP_PASSWORD")


# -- who owns a model --------------------------------------------------------------------------
def owner_of(graph, unique_id: str) -> dict[str, Any] | None:
    """{"group", "name", "emails"} of the node's owner (graph/owners.py); None if no one."""
    owner = owners.owner_of(graph, unique_id)
    if owner is None or not owner.named:
        return None
    return {"group": owner.group, "name": owner.name, "emails": list(owner.emails)}


def model_entry(graph, unique_id: str, status: str, message: str | None) -> dict[str, Any]:
    """One node in a notification: its label, id, project, status, message and owner."""
    from meshkit.orchestrate.state import label

    return {"node": label(graph, unique_id), "unique_id": unique_id,
            "project": graph.project_of(unique_id), "status": status, "message": message,
            "owner": owner_of(graph, unique_id)}


# -- what to send --------------------------------------------------------------------------
def kind_of(run: JobRun) -> str:
    """What a finished run is for `notify.on`: success, canceled, else failure."""
    return {RunStatus.SUCCESS: "success", RunStatus.CANCELED: "canceled"}.get(run.status, "failure")


def plan_notifications(job: Job, run: JobRun, mesh_name: str = "mesh") -> list[dict[str, Any]]:
    """The outbox entries for a finished run: [{"channel", "recipient", "payload"}]."""
    notify = job.notify
    kind = kind_of(run)
    if notify is None or kind not in notify.on:
        return []
    models = run.summary.get("built" if kind == "success" else "failed", []) if kind != "canceled" else []
    by_owner, unowned = _by_owner(models)
    notes: list[dict[str, Any]] = []
    if notify.email:
        addresses: dict[str, list[dict]] = {}
        for owner in by_owner.values():
            for address in owner["emails"]:
                addresses.setdefault(address, []).extend(owner["models"])
        for address in notify.to:
            addresses[address] = list(models)
        for address, listed in addresses.items():
            unique = list({m["unique_id"]: m for m in listed}.values())
            if not unique and models:
                continue
            notes.append({"channel": "email", "recipient": address,
                          "payload": _email(job, run, address, unique, kind, mesh_name)})
    if notify.webhook:
        for owner in by_owner.values():
            recipient = ",".join(sorted(owner["emails"])) or f"name:{owner['name']}"
            notes.append({"channel": "webhook", "recipient": recipient,
                          "payload": _webhook(job, run, {"name": owner["name"], "email": owner["emails"]},
                                              owner["models"], kind, mesh_name)})
        if unowned or not models:
            notes.append({"channel": "webhook", "recipient": "(no owner)",
                          "payload": _webhook(job, run, None, unowned, kind, mesh_name)})
    return notes


def _by_owner(models: list[dict]) -> tuple[dict[tuple, dict[str, Any]], list[dict]]:
    """The models grouped by owner (by their emails, else name: {name, emails, models}), and
    those with no owner."""
    by_owner: dict[tuple, dict[str, Any]] = {}
    unowned: list[dict] = []
    for model in models:
        owner = model.get("owner")
        if not owner or not (owner.get("emails") or owner.get("name")):
            unowned.append(model)
            continue
        key = tuple(sorted(owner["emails"])) or ("name", owner["name"])
        entry = by_owner.setdefault(key, {"name": owner["name"], "emails": owner["emails"], "models": []})
        entry["models"].append(model)
    return by_owner, unowned


_HEADLINE = {"failure": "failed", "success": "succeeded", "canceled": "was canceled"}


def _run_link(run: JobRun) -> str:
    base = os.environ.get("MESHKIT_WEB_URL")
    return f"{base.rstrip('/')}/api/job-runs/{run.id}" if base else f"meshkit jobs show {run.id}"


def _email(job: Job, run: JobRun, address: str, models: list[dict], kind: str,
           mesh_name: str) -> dict[str, Any]:
    ended = f" at {utc_iso(run.finished_at)}" if run.finished_at else ""
    took = f" after {run.seconds:.1f} s" if run.seconds is not None else ""
    subject = f"[meshkit] {job.name} run {run.id} {_HEADLINE[kind]}"
    if models:
        subject += f": {len(models)} model{'s' if len(models) != 1 else ''}"
    lines = [f"Job {job.name} of mesh {mesh_name} (environment {run.environment}) run {run.id} "
             f"ended {run.status}{ended}{took}.", f"Why it ran: {run.reason}"]
    if run.message:
        lines.append(f"Message: {run.message}")
    if models:
        lines += ["", "Your models that failed:" if kind == "failure" else "Your models this run built:"]
        for model in models:
            group = (f" (group {model['owner']['group']})"
                     if (model.get("owner") or {}).get("group") else "")
            detail = f": {model['status']}" + (f" — {model['message']}" if model.get("message") else "")
            lines.append(f"  - {model['node']}{group}{detail if kind == 'failure' else ''}")
    lines += ["", f"Details: {_run_link(run)}"]
    smtp = job.notify.smtp if job.notify else None
    return {"to": [address], "subject": subject, "body": "\n".join(lines) + "\n",
            "smtp": {"host": smtp.host, "port": smtp.port, "from": smtp.sender, "tls": smtp.tls}
            if smtp else {}}


def _webhook(job: Job, run: JobRun, owner: dict | None, models: list[dict], kind: str,
             mesh_name: str) -> dict[str, Any]:
    event = {"failure": "job_run.failed", "success": "job_run.succeeded",
             "canceled": "job_run.canceled"}[kind]
    body = {"event": event, "mesh": mesh_name, "job": job.name,
            "run": {"id": run.id, "status": run.status, "environment": run.environment,
                    "cause": run.cause, "reason": run.reason, "message": run.message,
                    "attempt": run.attempt, "started_at": run.started_at,
                    "finished_at": run.finished_at, "build_run_id": run.build_run_id,
                    "link": _run_link(run)},
            "owner": owner,
            "models": [{k: m.get(k) for k in ("node", "unique_id", "project", "status", "message")}
                       | {"group": (m.get("owner") or {}).get("group")} for m in models]}
    return {"url": job.notify.webhook if job.notify else None, "body": body}


# -- sending -------------------------------------------------------------------------------
def deliver_pending(store: JobStore, run_id: int | None = None,
                    log: Callable[[str], None] | None = None, now: float | None = None) -> int:
    """Send what the outbox holds (for one run, or all that are due); returns how many went."""
    sent = 0
    for row in store.claim_notifications(run_id, now):
        payload = json.loads(row["payload"])
        try:
            if row["channel"] == "email":
                send_email(payload)
            else:
                send_webhook(payload)
        except Exception as exc:  # any failure is recorded and retried; delivery never crashes a run
            error = f"{type(exc).__name__}: {exc}"
            store.notification_done(row["id"], error)
            if log:
                log(f"notification of run {row['run_id']} to {row['recipient']} ({row['channel']}) "
                    f"failed (attempt {row['attempts']}): {error}")
            continue
        store.notification_done(row["id"], None)
        sent += 1
        if log:
            log(f"notified {row['recipient']} ({row['channel']}) of run {row['run_id']}")
    return sent


def smtp_settings(payload_smtp: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SMTP server to send with: mesh.yml's `notify.smtp`, else the MESHKIT_SMTP_*
    variables (port: 465 with ssl, else 25; sender: meshkit@<host>)."""
    given = payload_smtp or {}
    tls = (given.get("tls") or os.environ.get("MESHKIT_SMTP_TLS") or "none").lower()
    port = given.get("port") or os.environ.get("MESHKIT_SMTP_PORT") or (465 if tls == "ssl" else 25)
    return {"host": given.get("host") or os.environ.get("MESHKIT_SMTP_HOST"), "port": int(port),
            "from": given.get("from") or os.environ.get("MESHKIT_SMTP_FROM")
            or f"meshkit@{socket.gethostname()}", "tls": tls,
            "user": os.environ.get("MESHKIT_SMTP_USER"), "password": os.environ.get("MESHKIT_SMTP_PASSWORD")}


def send_email(payload: dict[str, Any]) -> None:
    """Send one outbox email. Raises RuntimeError (recorded with the attempt) without a server
    or when sending fails."""
    settings = smtp_settings(payload.get("smtp"))
    if not settings["host"]:
        raise RuntimeError("no SMTP server: set MESHKIT_SMTP_HOST or notify.smtp.host in mesh.yml")
    message = EmailMessage()
    message["From"] = settings["from"]
    message["To"] = ", ".join(payload["to"])
    message["Subject"] = payload["subject"]
    message.set_content(payload["body"])
    if settings["tls"] == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings["host"], settings["port"], timeout=30,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings["host"], settings["port"], timeout=30)
    with client:
        if settings["tls"] == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings["user"]:
            client.login(settings["user"], settings["password"] or "")
        client.send_message(message)


def send_webhook(payload: dict[str, Any]) -> None:
    """POST one outbox payload as JSON (with MESHKIT_WEBHOOK_TOKEN as a bearer token). Raises
    RuntimeError (recorded with the attempt) without a URL or on a failed request."""
    if not payload.get("url"):
        raise RuntimeError("no webhook URL")
    headers = {"Content-Type": "application/json", "User-Agent": "meshkit"}
    if token := os.environ.get("MESHKIT_WEBHOOK_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(payload["url"], data=json.dumps(payload["body"]).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the webhook answered {exc.code} {exc.reason}") from None


def failed_models(graph, rows: Iterable[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
    """Model entries (with owners) for (unique_id, status, message) rows."""
    return [model_entry(graph, uid, status, message) for uid, status, message in rows]
