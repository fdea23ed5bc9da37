"""`meshkit init`: make the dbt projects below a folder a mesh."""

from __future__ import annotations

from pathlib import Path

import click

from meshkit.cli import console, main, reports_errors


@main.command()
@click.argument("folder", required=False, default=".",
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--name", help="The mesh's name (default: the folder's name).")
@click.option("--dry-run", is_flag=True, help="Print mesh.yml and the edits; write nothing.")
@reports_errors
def init(folder: Path, name: str | None, dry_run: bool) -> None:
    """Write mesh.yml around the dbt projects below FOLDER (default: here)."""
    from meshkit.scaffold.init import plan_init, write_init

    plan = plan_init(folder, name)
    if dry_run:
        console.print(f"[bold]{folder / 'mesh.yml'}[/]", highlight=False)
        click.echo(plan.mesh_text)
        for rel, text in plan.files.items():
            console.print(f"[bold]{folder / rel}[/]", highlight=False)
            click.echo(text)
    else:
        for path in write_init(plan):
            console.print(f"[bold green]wrote[/] {path}", highlight=False)
    console.print(f"projects: {', '.join(p.name for p in plan.projects)}", highlight=False)
    if plan.packages:
        console.print(f"packages: {', '.join(p.name for p in plan.packages)}", highlight=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if not dry_run:
        console.print("next: `meshkit build` builds every project in order; "
                      "`meshkit check` checks them against the mesh's rules", highlight=False)
