"""`meshkit connect plan|apply`: the source hack and the package hack as cross-project refs."""

from __future__ import annotations

import json
import sys

import click

from meshkit.cli import console, main, mesh_option, reports_errors


@main.group()
def connect() -> None:
    """Turn sources that read another project's model, and mesh projects installed as
    packages, into cross-project refs."""


def _plan(mesh_path, as_json: bool):
    from meshkit.config import load_mesh
    from meshkit.split.connect import parse_mesh, plan_connect

    mesh = load_mesh(mesh_path)
    status = None if as_json else console.status("dbt parse …")
    if status:
        status.start()

    def on_line(line: str) -> None:
        if status and line.strip():
            status.update(f"dbt parse · {line.strip()[-90:]}")
    try:
        sources = parse_mesh(mesh, on_line)
    finally:
        if status:
            status.stop()
    return plan_connect(mesh, sources)


@connect.command("plan")
@mesh_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@reports_errors
def connect_plan(mesh_path, as_json) -> None:
    """Show what connect would change, changing nothing; exit 1 if it cannot convert everything."""
    plan = _plan(mesh_path, as_json)
    _report(plan, as_json, applied=None)
    if plan.blockers:
        sys.exit(1)


@connect.command("apply")
@mesh_option
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@reports_errors
def connect_apply(mesh_path, as_json) -> None:
    """Convert both hacks in the mesh's projects: every file or none."""
    from meshkit.split.connect import apply_connect

    plan = _plan(mesh_path, as_json)
    written = apply_connect(plan)
    _report(plan, as_json, applied=written)


def plan_json(plan, applied) -> dict:
    """The `--json` form of a connect plan: conversions (kind, project, what it reads, change,
    file, line), public models, dependencies, files written or deleted (relative to the mesh),
    folders removed, warnings, blockers, and whether the plan was applied."""
    return {
        "conversions": [{"kind": c.kind, "project": c.consumer, "reads": c.producer, "change": c.detail,
                         "file": c.file, "line": c.line} for c in plan.conversions],
        "public": plan.public,
        "dependencies": plan.upstream,
        "files": [plan.relative(p) + (" (deleted)" if t is None else "") for p, t in plan.files.items()],
        "removed": [plan.relative(p) for p in plan.remove_dirs],
        "warnings": plan.warnings,
        "blockers": [{"message": b.message, "file": b.file, "line": b.line, "hint": b.hint}
                     for b in plan.blockers],
        "applied": applied is not None,
    }


def _report(plan, as_json: bool, applied) -> None:
    if as_json:
        click.echo(json.dumps(plan_json(plan, applied), indent=2))
        return
    out = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    if not plan.conversions and not plan.blockers:
        out("nothing to connect: no source reads another project's model, and no mesh project "
            "is installed as a package")
        return
    for c in plan.conversions:
        where = f"{c.file}:{c.line}" if c.line else c.file
        out(f"  {c.consumer} → {c.producer}  {c.detail}  [dim]{c.kind} hack · {where}[/]")
    for consumer, producers in plan.upstream.items():
        out(f"  {consumer}/dependencies.yml  projects: {', '.join(producers)}")
    for public in plan.public:
        out(f"  public: {public}")
    verb = "changed" if applied is not None else "would change"
    out(f"\n[bold]{verb}[/] {len(plan.files)} file(s)"
        + (f", removes {', '.join(plan.relative(p) for p in plan.remove_dirs)}" if plan.remove_dirs else ""))
    for path, text in plan.files.items():
        out(f"  {plan.relative(path)}{' (deleted)' if text is None else ''}")
    for warning in plan.warnings:
        out(f"[yellow]warning:[/] {warning}")
    if plan.blockers:
        out(f"\n[bold red]cannot connect automatically[/] ({len(plan.blockers)})")
        for b in plan.blockers:
            out(f"  [red]✗[/] {b.render()}")
    elif applied is None:
        out("\nnext: `meshkit connect apply`, then `meshkit build`")
    else:
        out("\nnext: `meshkit build`")
