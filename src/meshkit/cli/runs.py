"""`meshkit runs` and `meshkit runs show ID`: the mesh's run history."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.text import Text

from meshkit.cli import console, main, mesh_option, reports_errors
from meshkit.cli.render import Column, fit_table, short_error, status_text
from meshkit.config import load_mesh
from meshkit.errors import MeshError


@main.group(invoke_without_command=True)
@mesh_option
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def runs(ctx, mesh_path, limit, as_json) -> None:
    """List recent runs (newest first)."""
    ctx.ensure_object(dict)["mesh_path"] = mesh_path
    if ctx.invoked_subcommand:
        return
    from meshkit.orchestrate.build import open_history

    history = open_history(load_mesh(mesh_path))
    rows = [dict(r) for r in history.runs(limit)]
    history.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = [Column("run", justify="right"), Column("status"), Column("env", drop=2),
               Column("started"), Column("seconds", drop=3, justify="right"),
               Column("nodes", prose=True, drop=1), Column("command", prose=True)]
    table_rows = []
    for row in rows:
        summary = json.loads(row["summary"] or "{}").get("nodes", {})
        seconds = f"{row['finished_at'] - row['started_at']:.1f}" if row["finished_at"] else "—"
        table_rows.append([str(row["id"]), status_text(row["status"]), row["environment"],
                           _when(row["started_at"]), seconds,
                           ", ".join(f"{n} {s}" for s, n in sorted(summary.items())), row["command"]])
    console.print(fit_table(console, columns, table_rows))


def _node_row(row: dict) -> dict:
    """A run_nodes row as shown: `reason` in words, its kind and facts beside it."""
    from meshkit.orchestrate.reasons import Kind, describe_stored

    details = row.pop("details", None)
    known = row["reason"] in Kind.__members__.values()
    words = describe_stored(row["reason"], details)
    return {**row, "reason": words, "reason_kind": row["reason"] if known else None,
            "reason_details": json.loads(details) if details else None}


@runs.command()
@click.argument("run_id", type=int)
@click.option("--log", "show_log", is_flag=True, help="Also print dbt's output of each invocation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_errors
def show(ctx, run_id, show_log, as_json) -> None:
    """One run: every node's decision, reason, status and timing, and the dbt invocations."""
    from meshkit.orchestrate.build import open_history

    mesh = load_mesh(ctx.obj.get("mesh_path"))
    history = open_history(mesh)
    run = history.run(run_id)
    if run is None:
        history.close()
        raise MeshError(f"there is no run {run_id}", file=history.path, hint="`meshkit runs` lists them")
    nodes = [_node_row(dict(r)) for r in history.run_nodes(run_id)]
    invocations = [dict(r) for r in history.invocations(run_id)]
    history.close()
    if as_json:
        click.echo(json.dumps({"run": dict(run), "nodes": nodes, "invocations": invocations}, indent=2))
        return
    console.print(Text.assemble((f"run {run_id}", "bold"), " · ", status_text(run["status"]),
                                f" · environment {run['environment']} · started "
                                f"{_when(run['started_at'])} · {run['command']}"))
    columns = [Column("node"), Column("decision", drop=2), Column("status"),
               Column("seconds", drop=1, justify="right"), Column("reason", prose=True)]
    rows = []
    for node in nodes:
        reason = node["reason"] + (f" — {short_error(node['message'])}" if node["message"] else "")
        seconds = f"{node['seconds']:.2f}" if node["seconds"] is not None else ""
        rows.append([node["unique_id"], node["decision"], status_text(node["status"]), seconds, reason])
    console.print(fit_table(console, columns, rows))
    for invocation in invocations:
        args = " ".join(json.loads(invocation["args"]))
        console.print(Text.assemble((invocation["project"], "bold"),
                                    f" wave {invocation['wave'] + 1}: dbt {args} → exit "
                                    f"{invocation['returncode']}"))
        if show_log and invocation["log"]:
            console.print(invocation["log"], highlight=False, markup=False)
    if not show_log and any(node["status"] in ("error", "fail") for node in nodes):
        console.print(f"dbt's full errors: `meshkit runs show {run_id} --log`", highlight=False)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
