"""The relations pull requests left in the warehouse: list them, drop them.

What a PR owns is found in the warehouse itself, not in a local record (CI machines are
thrown away): on DuckDB its `pr_<n>__<project>__db.duckdb` files beside the production files; on
other adapters its `pr_<n>__…` schemas, listed and dropped through dbt's adapter. A PR's age
is its newest file's modification time, or the time `meshkit ci` wrote in the marker table
`meshkit_ci_pr` of each project's PR schema.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from meshkit.ci.profile import duckdb_file, production_output
from meshkit.ci.scope import PrScope, pr_of
from meshkit.config import Environment, Mesh
from meshkit.dbt.nodes import parse_time
from meshkit.dbt.warehouse import Warehouse
from meshkit.orchestrate.resources import profile_output, render

MARKER = "meshkit_ci_pr"


@dataclass(frozen=True)
class PrRelation:
    """A PR's file (DuckDB) or schema. `created`: Unix seconds, None when unknown."""

    pr: str
    kind: str                   # "file" | "schema"
    name: str                   # the file path, or database.schema
    created: float | None
    project: str                # the project whose warehouse holds it (first found)


def list_pr_relations(mesh: Mesh, env: Environment, projects: list[str] | None = None
                      ) -> list[PrRelation]:
    """Every PR file or schema in the warehouses of the environment's projects."""
    found: dict[str, PrRelation] = {}
    for name in projects or [p for p in mesh.projects if env.name in mesh.projects[p].environments]:
        project = mesh.project(name)
        _, output = production_output(project, env.target)
        if output.get("type") == "duckdb":
            for relation in _pr_files(project.name, duckdb_file(project, output, PrScope("0"))):
                found.setdefault(relation.name, relation)
        else:
            for relation in _pr_schemas(mesh, env, name, output):
                found.setdefault(relation.name, relation)
    return sorted(found.values(), key=lambda r: (r.pr, r.name))


def drop_pr_relations(mesh: Mesh, env: Environment, relations: list[PrRelation]) -> None:
    """Delete the files, drop the schemas (with everything in them)."""
    by_project: dict[str, list[dict]] = {}
    for relation in relations:
        if relation.kind == "file":
            for path in (Path(relation.name), Path(relation.name + ".wal")):
                path.unlink(missing_ok=True)
        else:
            database, _, schema = relation.name.rpartition(".")
            by_project.setdefault(relation.project, []).append(
                {"drop_schema": [database or None, schema]})
    for project, ops in by_project.items():
        _warehouse(mesh, env, project).run(ops)


def drop_pr(mesh: Mesh, env: Environment, scope: PrScope, projects: list[str]) -> None:
    """Drop what an earlier run of this PR left (a re-run starts empty), then mark the
    schemas of non-DuckDB projects with their creation time, for `cleanup --older-than`."""
    drop_pr_relations(mesh, env, [r for r in list_pr_relations(mesh, env, projects)
                                  if r.pr == scope.pr])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in projects:
        _, output = production_output(mesh.project(name), env.target)
        if output.get("type") == "duckdb":
            continue
        database = _database(output)
        schema = scope.schema(name)
        _warehouse(mesh, env, name).run([
            {"create_schema": [database, schema]},
            {"sql": f'create table "{database}"."{schema}"."{MARKER}" as '
                    f"select cast('{stamp}' as varchar(20)) as created_at"}])


def older_than(relations: list[PrRelation], seconds: float, now: float | None = None
               ) -> list[PrRelation]:
    """The relations of every PR whose newest relation is older than `seconds` (a PR with
    no known age is kept)."""
    now = time.time() if now is None else now
    newest: dict[str, float | None] = {}
    for relation in relations:
        if relation.created is None:
            newest.setdefault(relation.pr, None)
        else:
            newest[relation.pr] = max(newest.get(relation.pr) or 0.0, relation.created)
    stale = {pr for pr, created in newest.items() if created is not None and now - created > seconds}
    return [r for r in relations if r.pr in stale]


def _pr_files(project: str, sibling: Path | None) -> list[PrRelation]:
    if sibling is None or not sibling.parent.is_dir():
        return []
    return [PrRelation(pr, "file", str(path), path.stat().st_mtime, project)
            for path in sorted(sibling.parent.glob("pr_*__*.duckdb"))
            if (pr := pr_of(path.stem)) is not None]


def _pr_schemas(mesh: Mesh, env: Environment, project: str, output: dict) -> list[PrRelation]:
    database = _database(output)
    warehouse = _warehouse(mesh, env, project)
    schemas, marked = warehouse.run([
        {"schemas": database},
        {"sql": "select table_schema from information_schema.tables "
                f"where lower(table_name) = '{MARKER}'"}])
    owned = [s for s in schemas if pr_of(s) is not None]
    stamps: dict[str, float] = {}
    with_marker = [row[0] for row in marked["rows"] if row[0] in owned]
    if with_marker:
        union = " union all ".join(f"select '{s}', created_at from \"{database}\".\"{s}\".\"{MARKER}\""
                                   for s in with_marker)
        for schema, created in warehouse.run([{"sql": union}])[0]["rows"]:
            when = parse_time(created)
            if when is not None:
                stamps[schema] = when.timestamp()
    return [PrRelation(pr_of(s) or "", "schema", f"{database}.{s}", stamps.get(s), project)
            for s in owned]


def _database(output: dict) -> str:
    return str(render(output.get("dbname") or output.get("database") or ""))


def _warehouse(mesh: Mesh, env: Environment, project: str) -> Warehouse:
    folder = mesh.project(project)
    found = profile_output(folder.path, env.target)
    profiles_dir = found[0].parent if found else folder.path
    return Warehouse(folder.path, profiles_dir, env.target)
