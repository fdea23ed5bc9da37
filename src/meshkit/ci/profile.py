"""The dbt profile a PR build runs with: production's output, pointed at PR-scoped relations.

The user's project and profiles.yml are never edited: meshkit writes a profiles.yml of its
own (under the mesh's state folder) holding one output, `meshkit_ci`, copied from the
production target's, and runs dbt with `--profiles-dir` and `--target meshkit_ci`. The copy
changes only where models are written: `schema` is the PR's schema for the project; on
DuckDB, `path` and `database` are the PR's own file, and production files (the project's own,
for deferred models, and those it attached) plus the PR files of upstream projects built in
this PR are attached read-only. Credentials stay as written (Jinja), never rendered to disk.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from meshkit.ci.scope import PrScope
from meshkit.config import Project
from meshkit.errors import MeshError
from meshkit.orchestrate.resources import profile_output, render

CI_TARGET = "meshkit_ci"


@dataclass(frozen=True)
class PrTarget:
    """Where a project's PR build writes: `database` is None when it shares production's."""

    project: str
    profiles_dir: Path
    adapter: str
    schema: str
    database: str | None = None      # DuckDB: the PR file's database name
    file: Path | None = None         # DuckDB: the PR file


def production_output(project: Project, target: str) -> tuple[str, dict]:
    """(profile name, the production target's output as written). MeshError when missing."""
    found = profile_output(project.path, target)
    if found is None:
        raise MeshError(f"project '{project.name}' has no dbt target '{target}' in its profile",
                        file=project.path / "profiles.yml",
                        hint="mesh CI builds from the production environment's target; add it "
                             "or pass --env")
    return found[1], found[2]


def duckdb_file(project: Project, output: dict, scope: PrScope) -> Path | None:
    """The PR's DuckDB file for a project: beside its production file. None off DuckDB."""
    if output.get("type") != "duckdb":
        return None
    path = _resolved(project, output.get("path"))
    if path is None:
        raise MeshError(f"project '{project.name}' writes no DuckDB file mesh CI can give a "
                        f"PR sibling (path: {output.get('path')!r})",
                        file=project.path / "profiles.yml",
                        hint="give the production target a file path")
    return path.parent / f"{scope.database(project.name)}.duckdb"


def write_pr_profile(project: Project, target: str, scope: PrScope, folder: Path,
                     upstream_files: list[Path]) -> PrTarget:
    """Write `folder/profiles.yml` for the project's PR build; `upstream_files`: the PR
    DuckDB files of upstream projects this PR built (attached read-only)."""
    name, output = production_output(project, target)
    ci = copy.deepcopy(output)
    ci["schema"] = scope.schema(project.name)
    database = file = None
    if output.get("type") == "duckdb":
        file = duckdb_file(project, output, scope)
        assert file is not None     # a DuckDB output always has its PR file
        database = file.stem
        ci["path"] = str(file)
        ci["database"] = database
        ci["attach"] = _attachments(project, output, upstream_files)
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({name: {"target": CI_TARGET, "outputs": {CI_TARGET: ci}}},
                          sort_keys=False)
    (folder / "profiles.yml").write_text(text, encoding="utf-8")
    return PrTarget(project.name, folder, str(output.get("type")), ci["schema"], database, file)


def _attachments(project: Project, output: dict, upstream_files: list[Path]) -> list[dict]:
    """Production's own file and attachments, then the PR's upstream files, all read-only."""
    entries = []
    own = _resolved(project, output.get("path"))
    own_name = render(output.get("database")) or (own.stem if own else None)
    if own is not None:
        entries.append({"path": str(own), "alias": own_name, "read_only": True})
    for entry in output.get("attach") or []:
        if not isinstance(entry, dict):
            continue
        kept = dict(entry)
        path = _resolved(project, entry.get("path"))
        if path is not None:
            kept["path"] = str(path)
        kept["read_only"] = True
        entries.append(kept)
    entries += [{"path": str(f), "read_only": True} for f in upstream_files if f.exists()]
    return entries


def _resolved(project: Project, value) -> Path | None:
    text = render(value) if isinstance(value, str) else None
    if not text or text == ":memory:" or "://" in text or text.startswith("md:"):
        return None
    return (project.path / text).resolve()
