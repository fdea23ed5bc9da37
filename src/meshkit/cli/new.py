"""`meshkit new project NAME` and `meshkit new package NAME`: self-serve templates."""

from __future__ import annotations

import json
from pathlib import Path

import click

from meshkit.cli import console, main, mesh_option, reports_errors


@main.group()
def new() -> None:
    """Create a domain project or an internal package from meshkit's template."""


def _report(created, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"kind": created.kind, "name": created.name, "path": str(created.path),
                               "mesh": str(created.mesh_file), "mesh_created": created.mesh_created,
                               "files": [str(f) for f in created.files], "notes": created.notes},
                              indent=2))
        return
    console.print(f"[bold green]created[/] {created.kind} [bold]{created.name}[/] in {created.path}",
                  highlight=False)
    for file in created.files:
        console.print(f"  {file}", highlight=False, soft_wrap=True)
    if created.mesh_created:
        console.print(f"  (new mesh: {created.mesh_file})", highlight=False)
    for note in created.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if created.kind == "project":
        console.print(f"next: `meshkit build --project {created.name}` and "
                      f"`meshkit check --project {created.name}`", highlight=False)


@new.command("project")
@click.argument("name")
@mesh_option
@click.option("--path", type=click.Path(path_type=Path, file_okay=False),
              help="The project's folder (default: NAME beside mesh.yml).")
@click.option("--group", help="The group its models belong to (default: NAME).")
@click.option("--owner-name", help="The group's owner (default: 'NAME team').")
@click.option("--owner-email", help="The owner's email (for CODEOWNERS and the catalog).")
@click.option("--upstream", multiple=True, help="A mesh project it reads (repeatable).")
@click.option("--package", "packages", multiple=True,
              help="An internal package to install (repeatable): a registered package, a name "
                   "under packages/, or a folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
@reports_errors
def new_project(name, mesh_path, path, group, owner_name, owner_email, upstream, packages, as_json):
    """A domain project: private by default, its group, dependencies.yml, profile, CI; in mesh.yml."""
    from meshkit.scaffold.create import new_project as create

    created = create(name, mesh_path=mesh_path, path=path, group=group, owner_name=owner_name,
                     owner_email=owner_email, upstream=tuple(upstream), packages=tuple(packages))
    _report(created, as_json)


@new.command("package")
@click.argument("name")
@mesh_option
@click.option("--path", type=click.Path(path_type=Path, file_okay=False),
              help="The package's folder (default: packages/NAME beside mesh.yml).")
@click.option("--add-to", "add_to", multiple=True,
              help="Install it in this mesh project (repeatable): adds `local:` to its packages.")
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
@reports_errors
def new_package(name, mesh_path, path, add_to, as_json):
    """An internal package of macros for the mesh's projects, with CI; in mesh.yml."""
    from meshkit.scaffold.create import new_package as create

    created = create(name, mesh_path=mesh_path, path=path, add_to=tuple(add_to))
    _report(created, as_json)
