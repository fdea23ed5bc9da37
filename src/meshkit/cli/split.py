"""`meshkit split plan|apply` and `meshkit groups`: from one project to a mesh."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from meshkit.cli import console, main, reports_errors
from meshkit.cli.render import Column, fit_table
from meshkit.errors import MeshError


def split_options(func):
    """The options `split plan` and `split apply` share, added to a click command."""
    options = [
        click.argument("project_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
                       default="."),
        click.option("--by", type=click.Choice(["group"]), default=None,
                     help="Split into one project per group (the default without --select)."),
        click.option("--select", "-s", "select", multiple=True,
                     help="Split these models off into one new project (dbt's selection syntax); "
                          "the rest stays in the project named by --rest."),
        click.option("--exclude", multiple=True, help="Leave these out of --select."),
        click.option("--name", "names", multiple=True, metavar="GROUP=PROJECT | PROJECT",
                     help="By group: the project a group becomes (repeatable; default: the group's "
                          "name). With --select: the new project's name."),
        click.option("--rest", help="With --select: the project that keeps the other models "
                                    "(default: the project's own name)."),
        click.option("--package", help="The internal package for shared macros "
                                       "(default: <project>_utils)."),
        click.option("--mesh-name", help="The mesh's name in mesh.yml (default: <project>-mesh)."),
        click.option("--manifest", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="Use this manifest.json instead of running `dbt parse`."),
        click.option("--catalog", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="catalog.json with column types for contracts "
                          "(default: PROJECT_DIR/target/catalog.json when present)."),
        click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(by, select, exclude, names, rest, package, mesh_name):
    from meshkit.split import SplitOptions

    if select and by:
        raise MeshError("--by group and --select choose the split in two different ways",
                        hint="use one of them")
    if select:
        if len(names) > 1 or any("=" in n for n in names):
            raise MeshError("with --select, --name is the new project's name (once)",
                            hint="e.g. --select +marts/finance --name finance")
        if not names:
            raise MeshError("with --select, name the new project with --name PROJECT")
        return SplitOptions(by="select", select=tuple(select), exclude=tuple(exclude),
                            new_project=names[0], rest=rest, package=package, mesh_name=mesh_name)
    mapping = {}
    for item in names:
        group, sep, project = item.partition("=")
        if not sep or not group or not project:
            raise MeshError(f"--name {item}: expected GROUP=PROJECT", hint="e.g. --name core=analytics")
        mapping[group] = project
    if rest or exclude:
        raise MeshError("--rest and --exclude go with --select")
    return SplitOptions(by="group", names=mapping, package=package, mesh_name=mesh_name)


def _progress(as_json: bool):
    if as_json:
        return None
    status = console.status("dbt parse …")
    status.start()

    def on_line(line: str) -> None:
        text = line.strip()
        if text:
            status.update(f"dbt parse · {text[-90:]}")
    on_line.status = status   # type: ignore[attr-defined]  # the caller stops the spinner
    return on_line


def _run_plan(project_dir, options, manifest, catalog, out, as_json):
    from meshkit.split import plan_split

    on_line = _progress(as_json or manifest is not None)
    try:
        return plan_split(project_dir, options, manifest=manifest, catalog=catalog, out=out,
                          on_line=on_line)
    finally:
        if on_line is not None:
            on_line.status.stop()


@main.group()
def split() -> None:
    """Turn one dbt project into a mesh: one project per group, or a selection split off."""


@split.command("plan")
@split_options
@reports_errors
def split_plan(project_dir, by, select, exclude, names, rest, package, mesh_name, manifest, catalog,
               as_json) -> None:
    """Show what a split would do, before touching anything; exit 1 if it cannot be done."""
    options = _options(by, select, exclude, names, rest, package, mesh_name)
    plan, rendered = _run_plan(project_dir, options, manifest, catalog, None, as_json)
    blockers = plan.blockers + rendered.blockers
    if as_json:
        click.echo(json.dumps(plan_json(plan, rendered), indent=2))
    else:
        print_plan(plan, rendered)
    if blockers:
        sys.exit(1)


@split.command("apply")
@split_options
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="A new folder for the mesh (mesh.yml, one folder per project, packages/).")
@reports_errors
def split_apply(project_dir, by, select, exclude, names, rest, package, mesh_name, manifest, catalog,
                as_json, out) -> None:
    """Write the split mesh into a new folder; the project itself is never changed."""
    from meshkit.split import write_mesh
    from meshkit.split.writer import check_destination

    options = _options(by, select, exclude, names, rest, package, mesh_name)
    check_destination(out, project_dir)
    plan, rendered = _run_plan(project_dir, options, manifest, catalog, out, as_json)
    blockers = plan.blockers + rendered.blockers
    if blockers:
        raise MeshError(f"cannot split {plan.source.name}; nothing was written:\n"
                        + "\n".join(f"  - {b.render()}" for b in blockers),
                        hint=f"`meshkit split plan {project_dir}` shows the whole plan")
    written = write_mesh(rendered, out, plan.source.root)
    if as_json:
        report = plan_json(plan, rendered)
        report["out"] = str(written)
        report["files"] = sorted(rendered.files)
        click.echo(json.dumps(report, indent=2))
        return
    print_plan(plan, rendered)
    console.print(f"\n[bold green]wrote[/] {len(rendered.files)} files to {written}", highlight=False, soft_wrap=True)
    console.print(f"  next: check SPLIT.md, then `cd {out} && meshkit build`", highlight=False, soft_wrap=True)


# -- rendering ---------------------------------------------------------------------------------
def plan_json(plan, rendered) -> dict:
    """The `--json` form of a split plan: the projects with their groups, owners, counts and
    upstream projects, cross-project refs, public models, the files it would write and its
    blockers and warnings."""
    return {
        "source": plan.source.name,
        "by": plan.by,
        "mesh": plan.mesh_name,
        "package": plan.package if plan.uses_package else None,
        "projects": [{"name": p.name, "groups": p.groups, "owners": p.owners, "counts": p.counts,
                      "upstream": p.upstream, "uses_package": p.uses_package}
                     for p in plan.projects.values()],
        "cross_project_refs": [{"from": c.consumer, "kind": c.kind, "to": c.producer, "file": c.file,
                                "line": c.line} for c in plan.cross_refs],
        "public_models": [{"model": f"{p.project}.{p.name}", "access_before": p.access_before,
                           "becomes_public": p.becomes_public, "contract": p.contract,
                           "detail": p.detail, "columns": [list(c) for c in p.columns],
                           "readers": p.readers} for p in plan.public],
        "shared": [{"kind": s.kind, "name": s.name, "in": s.destinations, "how": s.how}
                   for s in plan.shared]
                  + [{"kind": "doc", "name": name, "in": projects, "how": "copied into each"}
                     for name, projects in rendered.shared_docs.items()],
        "project_cycles": plan.project_cycles,
        "warnings": plan.warnings + rendered.warnings,
        "not_copied": rendered.left_out,
        "blockers": [{"message": b.message, "file": b.file, "line": b.line, "hint": b.hint}
                     for b in plan.blockers + rendered.blockers],
    }


def _owner(owners: list[dict]) -> str:
    texts = []
    for owner in owners:
        name, email = owner.get("name"), owner.get("email")
        texts.append(f"{name} <{email}>" if name and email else str(name or email or ""))
    return ", ".join(t for t in texts if t)


def print_plan(plan, rendered) -> None:
    """A split plan on the terminal: one row per project, then refs, public models and
    blockers."""
    how = "by group" if plan.by == "group" else "by selection"
    package = f", internal package [bold]{plan.package}[/]" if plan.uses_package else ""
    console.print(f"[bold]split {plan.source.name}[/] {how}: {len(plan.projects)} projects{package}",
                  highlight=False)
    columns = [Column("project"), Column("groups", prose=True, drop=2),
               Column("models", justify="right"), Column("seeds", drop=4, justify="right"),
               Column("snapshots", drop=5, justify="right"), Column("tests", drop=3, justify="right"),
               Column("reads from", prose=True), Column("owner", prose=True, drop=1)]
    rows = [[p.name, ", ".join(p.groups), str(p.counts.get("model", 0)), str(p.counts.get("seed", 0)),
             str(p.counts.get("snapshot", 0)), str(p.counts.get("test", 0)),
             ", ".join(p.upstream) or "—",
             ", ".join(str(o.get("name") or o.get("email") or "") for o in p.owners)]
            for p in plan.projects.values()]
    console.print(fit_table(console, columns, rows))
    if plan.cross_refs:
        console.print(f"\n[bold]refs that cross a new project boundary[/] ({len(plan.cross_refs)})",
                      highlight=False)
        for c in plan.cross_refs:
            where = f"{c.file}:{c.line}" if c.line else c.file
            console.print(f"  {c.consumer} → {c.producer}  [dim]{c.kind} · {where}[/]", highlight=False)
    if plan.public:
        console.print(f"\n[bold]models other projects will read[/] ({len(plan.public)})", highlight=False)
        for p in plan.public:
            access = f"{p.access_before} → public" if p.becomes_public else "public"
            style = {"enforced": "green", "catalog": "green", "unknown": "yellow",
                     "impossible": "red"}[p.contract]
            console.print(f"  {p.project}.{p.name}  {access} · [{style}]{p.detail}[/]", highlight=False)
    shared = [(s.kind, s.name, s.destinations, s.how) for s in plan.shared]
    shared += [("doc", name, projects, "copied into each") for name, projects in rendered.shared_docs.items()]
    if shared:
        console.print("\n[bold]shared, copied or moved[/]", highlight=False)
        for kind, name, where, note in shared:
            console.print(f"  {kind:<7}{name}  → {', '.join(where)}  [dim]{note}[/]", highlight=False)
    for cycle in plan.project_cycles:
        console.print(f"\n[bold]projects that would depend on each other:[/] {' ↔ '.join(cycle)} "
                      f"[dim](allowed: meshkit builds them in waves, model by model)[/]", highlight=False)
    for warning in plan.warnings + rendered.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if rendered.left_out:
        console.print(f"[dim]not copied: {', '.join(rendered.left_out)}[/]", highlight=False)
    blockers = plan.blockers + rendered.blockers
    if blockers:
        console.print(f"\n[bold red]cannot split[/] ({len(blockers)})", highlight=False)
        for b in blockers:
            console.print(f"  [red]✗[/] {b.render()}", highlight=False)


# -- meshkit groups ----------------------------------------------------------------------------
@main.command()
@click.argument("project_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=".")
@click.option("--manifest", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Use this manifest.json instead of running `dbt parse`.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@reports_errors
def groups(project_dir, manifest, as_json) -> None:
    """One project's groups: models per group, refs between groups, models with no group."""
    from meshkit.split.groups import groups_report
    from meshkit.split.source import load_source

    on_line = _progress(as_json or manifest is not None)
    try:
        source = load_source(project_dir, manifest=manifest, on_line=on_line)
    finally:
        if on_line is not None:
            on_line.status.stop()
    report = groups_report(source)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    total = sum(len(g.models) for g in report.groups) + len(report.ungrouped)
    console.print(f"[bold]{report.project}[/]: {total} models in {len(report.groups)} groups",
                  highlight=False, soft_wrap=True)
    for group in report.groups:
        public = sum(1 for m in group.models if m["access"] == "public")
        owner = _owner([group.owner]) if group.owner else "no owner"
        console.print(f"\n[bold]{group.name}[/] [dim]({owner})[/] · {len(group.models)} models, "
                      f"{public} public", highlight=False, soft_wrap=True)
        names = [f"{m['name']}{' (public)' if m['access'] == 'public' else ''}" for m in group.models]
        console.print("  " + (", ".join(names) or "—"), highlight=False, soft_wrap=True)
    if report.ungrouped:
        console.print(f"\n[bold yellow]no group[/] ({len(report.ungrouped)})", highlight=False, soft_wrap=True)
        for m in report.ungrouped:
            console.print(f"  {m['name']}  [dim]{m['file']}[/]", highlight=False, soft_wrap=True)
    if report.refs:
        console.print(f"\n[bold]refs between groups[/] ({len(report.refs)})", highlight=False, soft_wrap=True)
        for r in report.refs:
            style = "green" if r.access == "public" else "yellow"
            console.print(f"  {r.consumer} → {r.producer}  [{style}]{r.note}[/]", highlight=False, soft_wrap=True)
