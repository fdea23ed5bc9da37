"""`meshkit build` and `meshkit publish`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from meshkit.cli import console, main, mesh_option, reports_errors
from meshkit.config import load_mesh


@main.command()
@mesh_option
@click.option("--project", "projects", multiple=True, help="Build only this project (repeatable).")
@click.option("--env", help="Environment from mesh.yml (default: the mesh's default).")
@click.option("--full-refresh", is_flag=True, help="Pass --full-refresh to dbt.")
@click.option("--quiet", "-q", is_flag=True, help="Do not echo dbt's output.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@reports_errors
def build(mesh_path, projects, env, full_refresh, quiet, as_json) -> None:
    """Build the mesh's projects in dependency order and publish each successful run."""
    from meshkit.orchestrate.build import BuildOptions, build_mesh

    mesh = load_mesh(mesh_path)
    options = BuildOptions(env=env, projects=list(projects) or None, full_refresh=full_refresh)

    def echo(project: str, line: str) -> None:
        if not quiet and not as_json:
            console.print(Text(f"{project:>12} │ ", style="dim") + Text.from_ansi(line), soft_wrap=True)

    outcomes = build_mesh(mesh, options, echo)
    if as_json:
        click.echo(json.dumps([_outcome_json(o) for o in outcomes], indent=2))
    else:
        _print_outcomes(outcomes, mesh.environment(env).name)
    if any(o.status != "success" for o in outcomes):
        sys.exit(1)


def _outcome_json(outcome) -> dict:
    return {"project": outcome.project, "status": outcome.status, "counts": outcome.counts,
            "reason": outcome.reason, "seconds": round(outcome.seconds, 2),
            "run_id": outcome.published.run_id if outcome.published else None}


def _print_outcomes(outcomes, env: str) -> None:
    table = Table(title=f"meshkit build · environment {env}")
    for column in ("project", "status", "results", "published run", "seconds"):
        table.add_column(column)
    styles = {"success": "green", "error": "red", "skipped": "yellow"}
    for o in outcomes:
        results = ", ".join(f"{n} {s}" for s, n in sorted(o.counts.items())) or o.reason
        table.add_row(o.project, f"[{styles.get(o.status, '')}]{o.status}[/]", results,
                      o.published.run_id if o.published else "—", f"{o.seconds:.1f}")
    console.print(table)
    for o in outcomes:
        if o.status != "success" and o.reason:
            console.print(f"[bold]{o.project}[/]: {o.reason}", highlight=False)


@main.command()
@mesh_option
@click.option("--project-dir", type=click.Path(path_type=Path, file_okay=False), default=".",
              help="The dbt project whose artifacts to publish (default: current folder).")
@click.option("--target-path", type=click.Path(path_type=Path, file_okay=False),
              help="Where dbt wrote its artifacts (default: PROJECT_DIR/target).")
@click.option("--env", help="Environment to publish to (default: the mesh's default).")
@click.option("--allow-failures", is_flag=True, help="Publish even if the run had failures.")
@reports_errors
def publish(mesh_path, project_dir, target_path, env, allow_failures) -> None:
    """Publish a project's artifacts (after a plain `dbt build`) to the mesh's store."""
    from meshkit.store.publish import publish_artifacts
    from meshkit.store.store import Store

    mesh = load_mesh(mesh_path or _mesh_near(project_dir))
    environment = mesh.environment(env)
    target_dir = target_path or project_dir / "target"
    record = publish_artifacts(Store(mesh.store_url), target_dir, environment.name,
                               allow_failures=allow_failures, project_dir=project_dir)
    console.print(f"published [bold]{record.project}[/] to {environment.name}: run {record.run_id} "
                  f"({record.public_models} public of {record.models} models)", highlight=False)


def _mesh_near(project_dir: Path) -> Path | None:
    from meshkit.config import find_mesh_file

    return find_mesh_file(project_dir) or find_mesh_file()
