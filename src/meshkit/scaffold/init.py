"""`meshkit init`: a mesh.yml around dbt projects that already sit side by side.

Teams that already run several dbt projects (joined by sources, by dbt-loom, or not at all) get a
mesh without moving a file: every dbt project below the folder becomes a mesh project, the ones
other projects install with `local:` become the mesh's internal packages, and the production
environment uses the target the projects' profiles default to. A project that read its upstreams
through dbt-loom (`dbt_loom.config.yml`) gets their names in its dependencies.yml, the file dbt
Mesh declares cross-project dependencies in.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshkit.config.mesh import MESH_FILE, load_mesh
from meshkit.errors import MeshError
from meshkit.files.yamltext import dump, guess_style, load
from meshkit.scaffold import mesh_name
from meshkit.scaffold.profiles import find_profile

# Folders that hold installed packages, build output or tooling, never a project of the mesh.
_SKIPPED = {"dbt_packages", "dbt_modules", "target", "logs", "node_modules", "site-packages",
            "venv", "__pycache__"}
_LOOM_FILES = ("dbt_loom.config.yml", "dbt_loom.config.yaml")


@dataclass
class FoundProject:
    """A dbt project found below the mesh's folder."""

    name: str
    path: Path            # its folder
    profile: str | None   # `profile:` of its dbt_project.yml
    local_packages: list[Path] = field(default_factory=list)  # folders it installs with local:
    # manifests dbt-loom injected: (its name in dbt_loom.config.yml, its file if a local one)
    loom_upstreams: list[tuple[str, Path | None]] = field(default_factory=list)


@dataclass
class InitPlan:
    """What `meshkit init` writes: mesh.yml's text and each dependencies.yml it edits."""

    root: Path
    mesh_text: str
    projects: list[FoundProject]
    packages: list[FoundProject]
    files: dict[str, str]          # path relative to root → new text
    notes: list[str] = field(default_factory=list)


def find_projects(root: Path) -> list[FoundProject]:
    """Every dbt project below `root` (a folder with dbt_project.yml), sorted by path.

    Installed packages (dbt_packages/), build output and hidden folders are skipped, and a
    project's own subfolders are not searched further.

    Raises:
        MeshError: a dbt_project.yml that cannot be read or has no name.
    """
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED)
        if "dbt_project.yml" in files:
            found.append(_read_project(Path(folder)))
            dirs[:] = []
    return found


def plan_init(root: Path, name: str | None = None) -> InitPlan:
    """The mesh.yml and dependencies.yml edits that make the dbt projects below `root` a mesh.

    Raises:
        MeshError: mesh.yml exists already, no dbt project is found, or two projects share a
            name.
    """
    root = root.resolve()
    if (root / MESH_FILE).exists():
        raise MeshError("a mesh is already defined here", file=root / MESH_FILE,
                        hint="edit its `projects:` to add a project, or run `meshkit init` in "
                             "another folder")
    found = find_projects(root)
    if not found:
        raise MeshError(f"no dbt project (dbt_project.yml) below {root}",
                        hint="run `meshkit init` in the folder that holds your dbt projects, or "
                             "create one with `meshkit new project NAME`")
    _check_unique(found, root)
    installed = {p.resolve() for project in found for p in project.local_packages}
    projects = [p for p in found if p.path.resolve() not in installed]
    packages = [p for p in found if p.path.resolve() in installed]
    plan = InitPlan(root, "", projects, packages, {})
    target = _production_target(projects, plan.notes)
    plan.mesh_text = _mesh_text(name or mesh_name(root), target, projects, packages, root)
    for project in projects:
        _declare_loom_upstreams(project, projects, plan)
    return plan


def write_init(plan: InitPlan) -> list[Path]:
    """Write mesh.yml and the edited dependencies.yml files; check the mesh loads.

    Returns:
        The files written, mesh.yml first.

    Raises:
        MeshError: the written mesh does not load (everything written is put back).
    """
    files = {MESH_FILE: plan.mesh_text, **plan.files}
    before = {rel: (plan.root / rel).read_bytes() if (plan.root / rel).is_file() else None
              for rel in files}
    try:
        for rel, text in files.items():
            _replace(plan.root / rel, text.encode())
        load_mesh(plan.root / MESH_FILE)
    except BaseException:
        for rel, old in before.items():
            if old is None:
                (plan.root / rel).unlink(missing_ok=True)
            else:
                (plan.root / rel).write_bytes(old)
        raise
    return [plan.root / rel for rel in files]


def _replace(path: Path, data: bytes) -> None:
    """Write a whole file or leave the old one: a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.meshkit-tmp")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# -- reading the projects -------------------------------------------------------------------------
def _read_project(folder: Path) -> FoundProject:
    file = folder / "dbt_project.yml"
    data = _read_yaml(file)
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise MeshError("dbt_project.yml has no `name:`", file=file,
                        hint="every dbt project needs a name; dbt refuses it too")
    profile = data.get("profile")
    project = FoundProject(name, folder, profile if isinstance(profile, str) else None)
    for packages_file in ("packages.yml", "dependencies.yml"):
        entries = _read_yaml(folder / packages_file).get("packages") or []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("local"), str):
                project.local_packages.append((folder / entry["local"]).resolve())
    for loom_file in _LOOM_FILES:
        manifests = _read_yaml(folder / loom_file).get("manifests") or []
        for manifest in manifests if isinstance(manifests, list) else []:
            if isinstance(manifest, dict) and isinstance(manifest.get("name"), str):
                project.loom_upstreams.append((manifest["name"], _loom_file(folder, manifest)))
    return project


def _loom_file(folder: Path, manifest: dict) -> Path | None:
    """The local manifest.json a dbt-loom `type: file` entry reads (relative to the project)."""
    config = manifest.get("config")
    path = config.get("path") if isinstance(config, dict) else None
    if manifest.get("type", "file") != "file" or not isinstance(path, str) or "://" in path:
        return None
    return (folder / path).resolve()


# A two-argument ref, `ref('core', 'orders')`: its first argument is a project.
_PROJECT_REF_RE = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*,""")


def _projects_referenced(folder: Path) -> set[str]:
    """The projects the SQL, YAML and Python files of a project (not its installed packages)
    name in two-argument refs — a text search, enough to leave unused dbt-loom manifests
    undeclared."""
    found: set[str] = set()
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED]
        for name in files:
            if name.endswith((".sql", ".yml", ".yaml", ".py")):
                text = Path(dirpath, name).read_text(encoding="utf-8", errors="replace")
                found.update(_PROJECT_REF_RE.findall(text))
    return found


def _read_yaml(file: Path) -> dict[str, Any]:
    if not file.is_file():
        return {}
    data = load(file.read_text(encoding="utf-8"), str(file))
    return data if isinstance(data, dict) else {}


def _check_unique(found: list[FoundProject], root: Path) -> None:
    seen: dict[str, Path] = {}
    for project in found:
        if project.name in seen:
            first = seen[project.name].relative_to(root)
            raise MeshError(f"two dbt projects are named '{project.name}': {first} and "
                            f"{project.path.relative_to(root)}",
                            file=project.path / "dbt_project.yml",
                            hint="a mesh refers to projects by name: rename one (its `name:`)")
        seen[project.name] = project.path


# -- mesh.yml -------------------------------------------------------------------------------------
def _default_target(project: FoundProject) -> tuple[str | None, set[str]]:
    """The target the project's profile defaults to, and every target it has."""
    profile = find_profile(project.path, project.profile)
    if profile is None:
        return None, set()
    outputs = profile.get("outputs")
    return (str(profile.get("target") or "") or None,
            set(outputs) if isinstance(outputs, dict) else set())


def _production_target(projects: list[FoundProject], notes: list[str]) -> str:
    """The dbt target of the production environment: the one every profile defaults to, else
    `prod` where every profile has it, else the first project's default."""
    defaults = {p.name: _default_target(p) for p in projects}
    chosen = {target for target, _ in defaults.values() if target}
    if len(chosen) == 1:
        return chosen.pop()
    if defaults and all("prod" in targets for _, targets in defaults.values()):
        return "prod"
    first = next((target for target, _ in defaults.values() if target), None) or "prod"
    missing = [name for name, (_, targets) in defaults.items() if first not in targets]
    if missing:
        notes.append(f"production uses target '{first}', which the profiles of "
                     f"{', '.join(missing)} lack: add it, or edit `environments:` in mesh.yml")
    return first


def _mesh_text(name: str, target: str, projects: list[FoundProject],
               packages: list[FoundProject], root: Path) -> str:
    lines = ["# The mesh around the dbt projects below this folder, written by `meshkit init`.",
             f"name: {name}",
             "# Where every project publishes its artifacts after a successful build.",
             "store: .meshkit/store",
             "# Each environment maps to a dbt target in every project's profile.",
             "environments:", "  prod:", f"    target: {target}", "    type: production",
             "projects:"]
    lines += [f"  {p.name}: {p.path.relative_to(root).as_posix()}" for p in projects]
    if packages:
        lines.append("# dbt packages the projects install with `local:`")
        lines.append("packages:")
        lines += [f"  {p.name}: {p.path.relative_to(root).as_posix()}" for p in packages]
    return "\n".join(lines) + "\n"


# -- dependencies.yml from dbt-loom ---------------------------------------------------------------
def _declare_loom_upstreams(project: FoundProject, found: list[FoundProject],
                            plan: InitPlan) -> None:
    """dbt-loom injects upstream manifests without a declaration; dbt Mesh (and meshkit) reads
    cross-project dependencies from dependencies.yml `projects:`. A dbt-loom entry's name is
    free text, so a local manifest is matched to the project whose folder holds it."""
    upstreams: list[str] = []
    referenced = _projects_referenced(project.path) if project.loom_upstreams else set()
    for name, manifest in project.loom_upstreams:
        owner = next((p.name for p in found if manifest is not None and
                      manifest.is_relative_to(p.path.resolve())), None)
        owner = owner or (name if any(p.name == name for p in found) else None)
        if owner is None:
            plan.notes.append(f"{project.name}: dbt-loom reads '{name}', which is no project "
                              "below this folder: add it to mesh.yml `projects:` with its path")
        elif owner != project.name and owner not in upstreams:
            if owner in referenced:
                upstreams.append(owner)
            else:
                plan.notes.append(f"{project.name}: dbt-loom reads {owner}, but no file refs it "
                                  "(`ref('" + owner + "', ...)`): not declared")
    if not upstreams:
        return
    file = project.path / "dependencies.yml"
    text = file.read_text(encoding="utf-8") if file.is_file() else ""
    data = load(text, str(file)) if text.strip() else None
    data = data if isinstance(data, dict) else {}
    declared = data.get("projects") or []
    have = {e.get("name") for e in declared if isinstance(e, dict)}
    added = [u for u in upstreams if u not in have]
    if not added:
        return
    data["projects"] = list(declared) + [{"name": u} for u in added]
    rel = file.relative_to(plan.root).as_posix()
    plan.files[rel] = dump(data, guess_style(text) if text else (2, 4, 2))
    plan.notes.append(f"{project.name}: declared {', '.join(added)} in {rel} (from dbt-loom); "
                      "meshkit injects them, so dbt_loom.config.yml can go")
