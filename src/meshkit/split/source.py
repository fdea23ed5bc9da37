"""The project being split: its manifest (from `dbt parse`), catalog, configuration and files.

The project folder is only ever read: dbt parses it with its target and log folders pointed
at a temporary directory, so not even `target/` changes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshkit.dbt.artifacts import (
    Catalog,
    ProjectManifest,
    decode_catalog,
    decode_group_owners,
    decode_project_manifest,
)
from meshkit.errors import MeshError

# Folders a project's files never come from.
_SKIP_DIRS = {"target", "dbt_packages", "dbt_modules", "logs", ".git", "node_modules", "__pycache__",
              ".venv", "venv", ".meshkit"}
_SKIP_FILES = {".user.yml", "package-lock.yml", ".DS_Store"}

_PATH_KEYS = {
    "model": ("model-paths", ["models"]),
    "seed": ("seed-paths", ["seeds"]),
    "snapshot": ("snapshot-paths", ["snapshots"]),
    "analysis": ("analysis-paths", ["analyses"]),
    "test": ("test-paths", ["tests"]),
    "macro": ("macro-paths", ["macros"]),
}


@dataclass
class SourceProject:
    root: Path
    name: str
    manifest: ProjectManifest
    groups: dict[str, dict[str, Any]]        # group name → its owner, with every key it has
    config: dict[str, Any]                   # dbt_project.yml as plain data
    config_text: str
    catalog: Catalog | None = None
    catalog_file: Path | None = None
    manifest_file: str = ""
    files: list[str] = field(default_factory=list)     # every file, relative, posix
    paths: dict[str, list[str]] = field(default_factory=dict)

    @property
    def adapter(self) -> str:
        return self.manifest.metadata.adapter_type or ""

    @property
    def profile(self) -> str:
        return str(self.config.get("profile") or self.name)

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")

    def read_bytes(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def kind_of_path(self, relative: str) -> str | None:
        """Which resource folder (model, seed, …) a file sits in."""
        for kind, folders in self.paths.items():
            if any(relative == f or relative.startswith(f.rstrip("/") + "/") for f in folders):
                return kind
        return None


def load_source(project_dir: Path, *, manifest: Path | None = None,
                catalog: Path | None = None, on_line=None) -> SourceProject:
    """The project to split: its dbt_project.yml, manifest (given, else from `dbt parse`),
    catalog when given, and its files. `on_line` receives `dbt parse`'s output lines.

    Raises MeshError for a folder without dbt_project.yml, invalid YAML in it, or a parse
    that fails."""
    project_dir = project_dir.resolve()
    config_file = project_dir / "dbt_project.yml"
    if not config_file.is_file():
        raise MeshError("no dbt_project.yml here", file=project_dir,
                        hint="give the folder of the dbt project to split")
    config_text = config_file.read_text(encoding="utf-8")
    try:
        config = yaml.safe_load(config_text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MeshError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=config_file,
                        line=mark.line + 1 if mark else None) from None
    name = config.get("name")
    if not isinstance(name, str):
        raise MeshError("dbt_project.yml has no `name:`", file=config_file, line=1)
    if manifest is not None:
        data, origin = _read(manifest), str(manifest)
    else:
        data, origin = _parse(project_dir, on_line), f"dbt parse of {project_dir}"
    decoded = decode_project_manifest(data, source=origin)
    owners = decode_group_owners(data, source=origin)
    if decoded.metadata.project_name not in (None, name):
        raise MeshError(f"the manifest is of project '{decoded.metadata.project_name}', not '{name}'",
                        file=origin, hint="give the manifest of the project being split")
    source = SourceProject(
        root=project_dir, name=name, manifest=decoded, config=config, config_text=config_text,
        groups={g.name: owners.get(uid, {}) for uid, g in decoded.groups.items() if g.package_name == name},
        manifest_file=origin)
    catalog = catalog if catalog is not None else _default_catalog(project_dir, config)
    if catalog is not None and catalog.is_file():
        source.catalog = decode_catalog(catalog.read_bytes(), source=str(catalog))
        source.catalog_file = catalog
    source.paths = {kind: _folders(config, key, default) for kind, (key, default) in _PATH_KEYS.items()}
    if "docs-paths" in config:
        source.paths["docs"] = _folders(config, "docs-paths", [])
    extra = {str(config.get(key)).strip("/").split("/")[0] for key in
             ("target-path", "log-path", "packages-install-path") if config.get(key)}
    source.files = list_files(project_dir, skip=extra)
    return source


def _folders(config: dict, key: str, default: list[str]) -> list[str]:
    value = config.get(key, default)
    if isinstance(value, str):
        value = [value]
    return [str(v).strip("/").removeprefix("./") for v in value or []]


def _default_catalog(project_dir: Path, config: dict) -> Path | None:
    target = config.get("target-path") or "target"
    path = project_dir / str(target) / "catalog.json"
    return path if path.is_file() else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MeshError(f"cannot read the manifest: {exc.strerror}", file=path) from None


def _parse(project_dir: Path, on_line) -> bytes:
    """`dbt parse` with target and logs in a temporary folder: the project is left untouched."""
    from meshkit.dbt.runner import run_dbt, strip_ansi

    with tempfile.TemporaryDirectory(prefix="meshkit-split-") as scratch:
        env = {"DBT_TARGET_PATH": scratch, "DBT_LOG_PATH": scratch,
               "DBT_PARTIAL_PARSE": "false"}
        result = run_dbt(["parse", "--target-path", scratch, "--log-path", scratch,
                          "--no-partial-parse"], project_dir, env, on_line)
        manifest = Path(scratch) / "manifest.json"
        if not result.ok or not manifest.is_file():
            raise MeshError(f"`dbt parse` failed, so the project cannot be analysed:\n"
                            f"{_excerpt(strip_ansi(result.output))}", file=project_dir / "dbt_project.yml",
                            hint="fix the error (run `dbt deps` first if the project installs "
                                 "packages), or pass --manifest target/manifest.json")
        return manifest.read_bytes()


def _excerpt(output: str) -> str:
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if "Error" in line or "error" in line.split(" ", 2)[-1][:40]:
            return "\n".join("  " + text.strip() for text in lines[index:index + 6])
    return "\n".join("  " + text.strip() for text in lines[-6:])


def list_files(root: Path, skip: Collection[str] = frozenset()) -> list[str]:
    """The project's files as sorted POSIX paths relative to `root`, without build output,
    dbt's and meshkit's folders, and the top-level folders named in `skip`."""
    found = []
    for folder, dirs, files in os.walk(root):
        top = Path(folder) == root
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not (top and d in skip))
        for name in sorted(files):
            if name in _SKIP_FILES or name.endswith((".pyc", ".duckdb", ".duckdb.wal")):
                continue
            found.append((Path(folder) / name).relative_to(root).as_posix())
    return found
