"""Which database files a project's dbt run writes and reads, so runs never collide.

Warehouses handle concurrent sessions; an embedded DuckDB file does not: while one process
writes it, no other process may even attach it read-only. The files come from the project's
dbt profile (`path`, and dbt-duckdb's `attach` list), rendered like dbt renders them. For any
other adapter the sets are empty and runs only follow the plan's dependencies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from meshkit.config import Project


@dataclass(frozen=True)
class Resources:
    writes: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()

    def conflicts(self, other: "Resources") -> bool:
        return bool(self.writes & (other.writes | other.reads) or other.writes & self.reads)


def project_resources(project: Project, target: str) -> Resources:
    """The DuckDB files a project writes (its target's path) and reads (its attachments, less
    those it writes), resolved from its folder; none for another warehouse."""
    output = _target_output(project, target)
    if not output or output.get("type") != "duckdb":
        return Resources()
    main = _file(project.path, output.get("path"))
    writes = frozenset({main} if main is not None else ())
    attached = {file for a in output.get("attach") or [] if isinstance(a, dict)
                and (file := _file(project.path, a.get("path"))) is not None}
    return Resources(writes, frozenset(attached - writes))


def _target_output(project: Project, target: str) -> dict | None:
    found = profile_output(project.path, target)
    return render(found[2]) if found else None


def profile_output(project_dir: Path, target: str) -> tuple[Path, str, dict] | None:
    """(profiles.yml, profile name, the target's output as written, Jinja unrendered) of
    the profile dbt would use for the project: its folder, DBT_PROFILES_DIR, ~/.dbt."""
    profile_name = _load(project_dir / "dbt_project.yml").get("profile")
    if not isinstance(profile_name, str):
        return None
    for folder in _profile_dirs(project_dir):
        profiles = _load(folder / "profiles.yml")
        if profile_name in profiles:
            outputs = profiles[profile_name].get("outputs") or {}
            output = outputs.get(target)
            return (folder / "profiles.yml", profile_name, output) if isinstance(output, dict) else None
    return None


def _profile_dirs(project_dir: Path) -> list[Path]:
    dirs = [project_dir]
    if os.environ.get("DBT_PROFILES_DIR"):
        dirs.insert(0, Path(os.environ["DBT_PROFILES_DIR"]))
    dirs.append(Path.home() / ".dbt")
    return dirs


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):   # not UTF-8, 2026-02-30: dbt says why later
        return {}
    return data if isinstance(data, dict) else {}


_jinja = jinja2.Environment()
_jinja.globals["env_var"] = lambda name, default=None: os.environ.get(name, default)


def render(value):
    """A profile value (a string, or a mapping or list of them) with `env_var()` rendered from
    this process's environment; a value Jinja cannot render is returned as written."""
    if isinstance(value, str) and "{{" in value:
        try:
            return _jinja.from_string(value).render()
        except jinja2.TemplateError:
            return value
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def _file(project_dir: Path, path) -> str | None:
    if not isinstance(path, str) or path in ("", ":memory:") or "://" in path or path.startswith("md:"):
        return None
    return str((project_dir / path).resolve())


def prepare(resources: Resources) -> None:
    """Create the folders of the database files a run writes, and empty files it attaches
    that no project has written yet.

    dbt-duckdb creates a missing file but not its folder ("Cannot open file"): a freshly split
    or cloned mesh has no warehouse folder yet. In a mesh whose projects depend on each other
    both ways, the first project to run attaches a file its counterpart has not created; an
    empty file is exactly that state.
    """
    for path in resources.writes:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    for path in resources.reads:
        if not Path(path).exists():
            import duckdb  # only reached for DuckDB targets, where dbt-duckdb brings it

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            duckdb.connect(path).close()
