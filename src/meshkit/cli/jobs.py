"""`meshkit jobs ls|run|history|show|cancel` and `meshkit scheduler`."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import datetime

import click
from rich.text import Text

from meshkit.cli import console, err_console, main, mesh_option, reports_errors
from meshkit.cli.render import Column, fit_table, status_text
from meshkit.config import load_mesh
from meshkit.status import RunStatus


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else "—"


def _open(mesh_path):
    from meshkit.jobs.queue import JobStore

    mesh = load_mesh(mesh_path)
    return mesh, JobStore.for_mesh(mesh)


@main.group()
def jobs() -> None:
    """Jobs from mesh.yml: list them, run one now, see their runs."""


@jobs.command("ls")
@mesh_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def list_jobs(mesh_path, as_json) -> None:
    """Every job: what it builds, when it runs, its last run."""
    from meshkit.jobs.service import job_rows, scheduler_info

    mesh, store = _open(mesh_path)
    try:
        rows = job_rows(mesh, store)
        info = scheduler_info(store)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"jobs": rows, "scheduler": {"running": info.alive, "pids": info.pids}},
                              indent=2))
        return
    if not rows:
        console.print(f"no jobs in {mesh.file}: add a `jobs:` section", highlight=False)
        return
    columns = [Column("job"), Column("env", drop=3), Column("builds", prose=True),
               Column("runs when", prose=True), Column("options", prose=True, drop=2),
               Column("last run", prose=True, drop=1)]
    table_rows = []
    for row in rows:
        when = []
        if row["schedule"]:
            upcoming = row["schedule"]["next"]
            when.append(f"{row['schedule']['cron']} ({row['schedule']['timezone']}), next "
                        f"{upcoming.replace('T', ' ') if upcoming else 'never'}")
        if row["trigger"]:
            when.append(row["trigger"]["text"])
        options = [name for name, on in (("docs", row["generate_docs"]),
                                          ("freshness", row["source_freshness"])) if on]
        if row["overlap"] == "skip":
            options.append("skip overlaps")
        if row["retries"]:
            options.append(f"{row['retries']} retries")
        if row["timeout"]:
            options.append(f"timeout {row['timeout']:g} s")
        last = row["last_run"]
        table_rows.append([row["name"], row["environment"], row["builds"], "\n".join(when) or "on demand",
                           ", ".join(options),
                           Text.assemble(status_text(last["status"]),
                                         f" #{last['id']} {_when(last['queued_at'])}")
                           if last else "never"])
    console.print(fit_table(console, columns, table_rows))
    if not info.alive:
        console.print("no scheduler is running: start `meshkit scheduler` to run schedules and "
                      "triggered jobs", style="yellow", highlight=False)


@jobs.command("run")
@click.argument("name")
@mesh_option
@click.option("--queue", "only_queue", is_flag=True,
              help="Only queue the run, for a running `meshkit scheduler` to start.")
@click.option("--downstream", is_flag=True,
              help="Also run, here, the jobs this run triggers (and theirs).")
@click.option("--quiet", "-q", is_flag=True, help="Do not echo dbt's output.")
@click.option("--json", "as_json", is_flag=True, help="Print the run(s) as JSON.")
@reports_errors
def run_job(name, mesh_path, only_queue, downstream, quiet, as_json) -> None:
    """Run a job now, in this terminal ("Run now").

    The jobs it triggers are queued for the scheduler (or run here with --downstream).
    """
    from meshkit.jobs import service

    mesh, store = _open(mesh_path)
    say = (lambda line: err_console.print(line, highlight=False, markup=False, soft_wrap=True)) \
        if as_json else (lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))
    try:
        definition = service.job(mesh, name)
        run = service.queue_run(store, definition, "manual")
        if only_queue:
            info = service.scheduler_info(store)
            if as_json:
                click.echo(json.dumps({"runs": [run.to_json()]}, indent=2))
            else:
                console.print(f"queued {name} run {run.id}"
                              + ("" if info.alive else " — no scheduler is running; start "
                                 "`meshkit scheduler` to run it"), highlight=False)
            return
        echo = not (quiet or as_json)
        if downstream:
            finished = service.run_with_downstream(mesh, store, run, echo=echo, log=say)
        else:
            finished = [service.run_in_foreground(mesh, store, run, echo=echo, log=say)]
        queued_after = [r for f in finished for r in store.triggered_by(f.id)
                        if r.status == RunStatus.QUEUED and all(r.id != x.id for x in finished)]
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"runs": [r.to_json() for r in finished],
                               "queued": [r.to_json() for r in queued_after]}, indent=2))
    else:
        for done in finished:
            console.print(Text.assemble(
                f"{done.job} run {done.id}: ", status_text(done.status),
                f" in {done.seconds:.1f} s" if done.seconds is not None else "",
                f" — {done.message}" if done.message else ""))
        for later in queued_after:
            console.print(Text(f"queued {later.job} run {later.id} ({later.reason}); `meshkit "
                               "scheduler` runs it, or run this again with --downstream"))
    if any(r.status in (RunStatus.ERROR, RunStatus.CANCELED, RunStatus.INTERRUPTED) for r in finished):
        sys.exit(1)


@jobs.command("history")
@click.argument("name")
@mesh_option
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def history(name, mesh_path, limit, as_json) -> None:
    """A job's runs, newest first.

    Each run's status, why it ran, how long it took and what it said.
    """
    from meshkit.jobs import service

    mesh, store = _open(mesh_path)
    try:
        if name not in mesh.jobs and not store.runs(name, limit=1):
            service.job(mesh, name)       # unknown and never ran: one clear error
        found = store.runs(name, limit=limit)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"job": name, "runs": [r.to_json() for r in found]}, indent=2))
        return
    if not found:
        console.print(f"{name} has not run yet: `meshkit jobs run {name}`", highlight=False)
        return
    columns = [Column("run", justify="right"), Column("status"), Column("why", prose=True),
               Column("queued", drop=3), Column("seconds", drop=2, justify="right"),
               Column("build", drop=1, justify="right"), Column("message", prose=True)]
    rows = [[str(run.id), status_text(run.status), run.reason, _when(run.queued_at),
             f"{run.seconds:.1f}" if run.seconds is not None else "—",
             str(run.build_run_id or "—"), run.message or ""] for run in found]
    console.print(fit_table(console, columns, rows))


@jobs.command("show")
@click.argument("run_id", type=int)
@mesh_option
@click.option("--log", "show_log", is_flag=True, help="Also print the run's log (dbt's output).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def show(run_id, mesh_path, show_log, as_json) -> None:
    """One job run in detail.

    Why it ran, its steps, what it triggered and whom it notified.
    """
    from meshkit.errors import MeshError
    from meshkit.jobs import service

    mesh, store = _open(mesh_path)
    try:
        run = store.run(run_id)
        if run is None:
            raise MeshError(f"there is no job run {run_id}", hint="`meshkit jobs history NAME` lists them")
        detail = service.run_detail(store, run)
    finally:
        store.close()
    if show_log:
        detail["log"] = service.read_log(mesh, run_id)
    if as_json:
        click.echo(json.dumps(detail, indent=2))
        return
    say = lambda *parts: console.print(Text.assemble(*parts))  # noqa: E731 (text, never markup)
    say((f"{run.job} run {run.id}", "bold"), " · ", status_text(run.status),
        f" · environment {run.environment} · attempt {run.attempt}")
    say(f"why: {run.reason}")
    say(f"queued {_when(run.queued_at)} · started {_when(run.started_at)} · finished "
        f"{_when(run.finished_at)}" + (f" · {run.seconds:.1f} s" if run.seconds else ""))
    if run.message:
        say(f"message: {run.message}")
    if run.build_run_id:
        say(f"build: run {run.build_run_id} (`meshkit runs show {run.build_run_id}`)")
    for step in run.summary.get("steps", []):
        where = f" {step['project']}" if step.get("project") else ""
        say(f"  step {step['step']}{where}: ", status_text(step["status"]),
            f" — {step['message']}" if step.get("message") else "")
    for model in run.summary.get("failed", []):
        say(f"  failed: {model['node']} ({model['status']})"
            + (f" — {model['message']}" if model.get("message") else ""))
    for later in detail["triggered"]:
        say(f"  triggered: {later['job']} run {later['id']} (", status_text(later["status"]), ")")
    for note in detail["notifications"]:
        say(f"  notified {note['recipient']} by {note['channel']}: {note['status']}"
            + (f" ({note['error']})" if note["error"] else ""))
    if show_log:
        console.print(detail["log"], highlight=False, markup=False)


@jobs.command("cancel")
@click.argument("run_id", type=int)
@mesh_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def cancel(run_id, mesh_path, as_json) -> None:
    """Cancel a queued or running job run."""
    from meshkit.jobs import service

    mesh, store = _open(mesh_path)
    try:
        run = service.cancel(mesh, store, run_id, by=service.who())
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(run.to_json(), indent=2))
        return
    if run.status == RunStatus.RUNNING:
        console.print(f"{run.job} run {run.id}: cancel requested; the scheduler running it stops it",
                      highlight=False)
    else:
        console.print(Text.assemble(f"{run.job} run {run.id}: ", status_text(run.status)))


@main.command()
@mesh_option
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Job runs that may run at once.")
@click.option("--poll", type=float, default=1.0, show_default=True, help="Seconds between ticks.")
@click.option("--until-idle", is_flag=True,
              help="Stop when nothing is queued or running (for cron and CI).")
@click.option("--in-process", is_flag=True,
              help="Run jobs in threads of the scheduler instead of worker processes "
                   "(no kill on timeout or cancel; for tests and embedding).")
@reports_errors
def scheduler(mesh_path, workers, poll, until_idle, in_process) -> None:
    """Run schedules and triggered jobs until stopped (Ctrl-C or SIGTERM)."""
    from meshkit.jobs.scheduler import Scheduler

    mesh = load_mesh(mesh_path)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runner = Scheduler(mesh, workers=workers, in_process=in_process,
                       log=lambda line: click.echo(line, err=False))
    try:
        runner.run(stop, poll=poll, until_idle=until_idle)
    except KeyboardInterrupt:
        pass
    finally:
        runner.close()
