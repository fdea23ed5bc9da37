"""`meshkit store ...`: what the artifact store holds, and keeping it small."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click
from rich.text import Text

from meshkit.cli import console, main, mesh_option, reports_errors
from meshkit.cli.render import Column, fit_table, status_text
from meshkit.dbt.nodes import parse_time, version_key
from meshkit.errors import MeshError, close_matches

store_option = click.option("--store", "store_url",
                            help="Store URL or folder (default: the `store:` of mesh.yml).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


@main.group()
def store() -> None:
    """Inspect and maintain the mesh's artifact store."""


def _open(mesh_path, store_url):
    from meshkit.config import load_mesh
    from meshkit.store.store import Store

    if store_url:
        return None, Store(store_url)
    mesh = load_mesh(mesh_path)
    return mesh, Store(mesh.store_url)


@store.command("ls")
@mesh_option
@store_option
@click.option("--project", "projects", multiple=True, help="Only this project (repeatable).")
@click.option("--env", help="Only this environment.")
@click.option("--latest", "latest_only", is_flag=True, help="Only the run each `latest` names.")
@json_option
@reports_errors
def ls(mesh_path, store_url, projects, env, latest_only, as_json) -> None:
    """Projects, environments and their runs: when, which dbt, status; → marks `latest`."""
    mesh, st = _open(mesh_path, store_url)
    for project in projects:
        _known_project(st, mesh, project)
    listing = [_listing_entry(st, project, environment, latest_only)
               for project in projects or st.projects()
               for environment in ([env] if env else st.environments(project))]
    if as_json:
        click.echo(json.dumps({"store": st.url, "environments": listing}, indent=2))
        return
    if not listing:
        console.print(f"the store at {st.url} is empty: nothing has been published yet",
                      highlight=False, soft_wrap=True)
        return
    columns = [Column("project"), Column("env"), Column("run (→ latest)"),
               Column("completed"), Column("status", prose=True),
               Column("models", drop=2), Column("dbt", drop=3)]
    rows = []
    now = datetime.now(timezone.utc)
    for entry in listing:
        names = [entry["project"], entry["environment"]]
        if entry["problem"]:
            rows.append([*names, "! —", "—", Text(entry["problem"], style="red"), "", "—"])
            names = ["", ""]
        if not entry["runs"] and not entry["problem"]:
            rows.append([*names, "—", "—", Text("never published", style="yellow"), "", "—"])
        for run in entry["runs"]:
            rows.append([*names, ("→ " if run["latest"] else "  ") + run["run_id"],
                         _when(run["completed_at"], now, relative_only=True),
                         status_text(run["status"]), f"{run['public_models']} public / {run['models']}",
                         run["dbt_version"]])
            names = ["", ""]
    console.print(fit_table(console, columns, rows, title=f"meshkit store · {st.url}"))


def _listing_entry(st, project: str, environment: str, latest_only: bool) -> dict:
    """One project's runs in one environment, newest first, with its `latest` run and any
    problem with that pointer."""
    entry: dict[str, Any] = {"project": project, "environment": environment, "latest": None,
                             "problem": None, "runs": []}
    try:
        pointer = st.pointer(project, environment)
        if pointer is not None:
            entry["latest"] = pointer.run_id
            st.latest(project, environment)  # a pointer to a missing run is a problem
    except MeshError as exc:
        entry["problem"] = exc.message
    runs = st.runs(project, environment)
    if latest_only:
        runs = [r for r in runs if r.run_id == entry["latest"]]
    entry["runs"] = [_run_json(r, r.run_id == entry["latest"]) for r in reversed(runs)]
    return entry


def _run_json(record, latest: bool) -> dict:
    return {"run_id": record.run_id, "latest": latest, "completed_at": record.completed_at,
            "published_at": record.published_at, "dbt_version": record.dbt_version,
            "meshkit_version": record.meshkit_version, "status": record.status,
            "git_sha": record.git_sha, "invocation_id": record.invocation_id,
            "models": record.models, "public_models": record.public_models,
            "files": sorted(record.files)}


def _when(iso: str, now: datetime, relative_only: bool = False) -> str:
    moment = parse_time(iso)
    if moment is None:
        return iso
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            ago = f"{seconds // size} {unit} ago"
            break
    else:
        ago = f"{seconds} s ago"
    return ago if relative_only else f"{moment:%Y-%m-%d %H:%M:%S}Z ({ago})"


@store.command()
@mesh_option
@store_option
@click.argument("project")
@click.option("--env", help="Environment (default: the mesh's default environment).")
@json_option
@reports_errors
def show(mesh_path, store_url, project, env, as_json) -> None:
    """The public models and versions PROJECT offers other projects, from its latest run."""
    mesh, st = _open(mesh_path, store_url)
    if env is None:
        env = mesh.environment(None).name if mesh else "prod"
    _known_project(st, mesh, project)
    found = st.interface(project, env)
    if found is None:
        published = [e for e in st.published_environments(project)]
        where = (f"it has published to: {', '.join(published)}" if published
                 else "it has never published")
        hint = (f"`meshkit build --project {project} --env {env}`"
                if mesh and project in mesh.projects else
                f"`meshkit publish --project-dir PATH/TO/{project} --env {env}` after its dbt build")
        raise MeshError(f"project '{project}' has no published run in environment '{env}' "
                        f"({where})", file=st.describe(project, env), hint=f"publish it: {hint}")
    record, interface = found
    models = [{"name": m.name, "version": m.version, "latest_version": m.latest_version,
               "is_latest": m.version is None or m.version == m.latest_version,
               "relation": m.relation_name, "database": m.database, "schema": m.schema_,
               "identifier": m.identifier, "contract_enforced": m.contract_enforced,
               "deprecation_date": m.deprecation_date, "group": m.group}
              for m in sorted(interface.models, key=lambda m: (m.name, version_key(m.version)))]
    if as_json:
        click.echo(json.dumps({"project": project, "environment": env,
                               "run": _run_json(record, True), "models": models,
                               "restricted": [{"name": r.name, "access": r.access, "group": r.group}
                                              for r in interface.restricted]}, indent=2))
        return
    now = datetime.now(timezone.utc)
    console.print(f"[bold]{project}[/] · {env} · run {record.run_id} · completed "
                  f"{_when(record.completed_at, now)} · dbt {record.dbt_version} · {record.status}",
                  highlight=False)
    if not models:
        console.print("no public models: other projects cannot ref anything in it yet "
                      "(set `access: public` on a model and publish again)", highlight=False, soft_wrap=True)
        return
    columns = [Column("model"), Column("version"), Column("relation"), Column("contract", drop=2),
               Column("deprecation", drop=1), Column("group", drop=3)]
    rows = [[m["name"], "—" if m["version"] is None else f"v{m['version']}"
             + (" (latest)" if m["is_latest"] else ""), m["relation"] or "",
             "enforced" if m["contract_enforced"] else "", (m["deprecation_date"] or "")[:10],
             m["group"] or ""]
            for m in models]
    console.print(fit_table(console, columns, rows, title=f"public models of {project} ({len(models)})"))
    hidden = len(interface.restricted)
    if hidden:
        console.print(f"{hidden} protected or private model(s) are not offered to other projects.",
                      highlight=False, soft_wrap=True)


def _known_project(st, mesh, project: str) -> None:
    """An unknown name is a typo, not a project that never published: say so, with the likely
    meanings."""
    known = set(st.projects()) | set(mesh.projects if mesh else ())
    if project in known:
        return
    close = close_matches(project, known)
    raise MeshError(f"no such project '{project}' in the mesh or the store", file=st.url,
                    hint=(f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "")
                    + "`meshkit store ls` lists the store's projects")


@store.command()
@mesh_option
@store_option
@click.option("--keep", type=click.IntRange(min=1), required=True,
              help="How many of the newest complete runs to keep per project and environment.")
@click.option("--project", "projects", multiple=True, help="Only this project (repeatable).")
@click.option("--env", help="Only this environment.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@json_option
@reports_errors
def prune(mesh_path, store_url, keep, projects, env, dry_run, as_json) -> None:
    """Delete old runs: keep the KEEP newest of each project × environment, and always the run
    `latest` names; also remove runs left half-written more than an hour ago."""
    from meshkit.store import maintenance

    _, st = _open(mesh_path, store_url)
    results = maintenance.prune(st, keep, projects=list(projects) or None, env=env,
                                dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({"store": st.url, "dry_run": dry_run, "keep": keep, "environments": [
            {"project": r.project, "environment": r.environment, "kept": r.kept,
             "deleted": r.deleted, "incomplete_removed": r.incomplete} for r in results]}, indent=2))
        return
    verb = "would delete" if dry_run else "deleted"
    columns = [Column("project"), Column("env"), Column("kept"), Column(verb),
               Column("incomplete", drop=1)]
    rows = [[r.project, r.environment, str(len(r.kept)), "\n".join(r.deleted) or "—",
             str(len(r.incomplete)) if r.incomplete else "—"] for r in results]
    console.print(fit_table(console, columns, rows, title=f"meshkit store prune --keep {keep}"
                            + (" (dry run)" if dry_run else "")))
    deleted = sum(len(r.deleted) for r in results)
    incomplete = sum(len(r.incomplete) for r in results)
    console.print(f"{verb} {deleted} run(s)"
                  + (f" and {incomplete} half-written run folder(s)" if incomplete else ""),
                  highlight=False, soft_wrap=True)


@store.command()
@mesh_option
@store_option
@click.argument("project")
@click.option("--env", help="Only this environment (default: every environment of PROJECT).")
@json_option
@reports_errors
def repair(mesh_path, store_url, project, env, as_json) -> None:
    """Point PROJECT's `latest` back at its newest intact run.

    Every run is checked against its record's checksums; a damaged run loses its record (prune
    removes it later). With no intact run left the pointer is removed, and consumers are told
    to publish the project again.
    """
    from meshkit.store import maintenance

    mesh, st = _open(mesh_path, store_url)
    _known_project(st, mesh, project)
    environments = [env] if env else st.environments(project)
    if not environments:
        raise MeshError(f"project '{project}' has nothing in the store", file=st.url,
                        hint="check the project name: `meshkit store ls`")
    results = [maintenance.repair(st, project, e) for e in environments]
    if as_json:
        click.echo(json.dumps([{"project": r.project, "environment": r.environment,
                                "before": r.before, "after": r.after, "damaged": r.damaged}
                               for r in results], indent=2))
        return
    for r in results:
        for run_id, problems in r.damaged.items():
            console.print(f"{project} · {r.environment}: run {run_id} is damaged "
                          f"({'; '.join(problems)}); it is no longer a candidate", highlight=False, soft_wrap=True)
        if r.after is None:
            console.print(f"{project} · {r.environment}: no intact run left; `latest` removed. "
                          f"Publish again: `meshkit build --project {project} --env {r.environment}`",
                          highlight=False, soft_wrap=True)
        elif r.after == r.before and not r.damaged:
            console.print(f"{project} · {r.environment}: latest run {r.after} is intact; "
                          "nothing to repair", highlight=False, soft_wrap=True)
        else:
            console.print(f"{project} · {r.environment}: latest now names run {r.after}"
                          + (f" (was {r.before})" if r.before and r.before != r.after else ""),
                          highlight=False, soft_wrap=True)
