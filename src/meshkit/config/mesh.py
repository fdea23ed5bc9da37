"""The mesh definition, mesh.yml: its projects, internal packages, environments and store."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from meshkit.config.jobs import parse_jobs
from meshkit.config.yamlfile import convert, line_of, read_yaml, resolve_path, shorten
from meshkit.errors import MeshError

MESH_FILE = "mesh.yml"
MESH_ENV_VAR = "MESHKIT_MESH"
EnvironmentType = Literal["production", "staging", "development"]
# Environment (and project) names become folders of the artifact store: one plain segment.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class _EnvironmentSpec(msgspec.Struct, forbid_unknown_fields=True):
    target: str | None = None
    type: EnvironmentType | None = None
    # Which producer environment cross-project refs read, overriding dbt Cloud's rule.
    upstream_environment: str | None = None


class _ProjectSpec(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    environments: list[str] | None = None


class _PackageSpec(msgspec.Struct, forbid_unknown_fields=True):
    path: str


class _CatalogSpec(msgspec.Struct, forbid_unknown_fields=True):
    # true: every https image; a list: these origins (https://img.example.com); false: none
    remote_images: bool | list[str] = False


class _MeshSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    projects: dict[str, Any]
    packages: dict[str, Any] | None = None
    store: str = ".meshkit/store"
    environments: dict[str, Any] | None = None
    default_environment: str | None = None
    governance: dict[str, Any] | None = None
    jobs: dict[str, Any] | None = None
    catalog: dict[str, Any] | None = None


@dataclass(frozen=True)
class Environment:
    name: str
    target: str
    type: EnvironmentType
    upstream_environment: str | None = None


@dataclass(frozen=True)
class Project:
    name: str
    path: Path
    environments: tuple[str, ...]


@dataclass(frozen=True)
class Package:
    """An internal dbt package of the mesh: macros its projects install with `local:`."""

    name: str
    path: Path


@dataclass(frozen=True)
class LocalInstall:
    """One `- local: PATH` entry of a project's packages.yml or dependencies.yml."""

    file: Path
    line: int | None
    path: Path          # the folder it names, resolved


@dataclass(frozen=True)
class Mesh:
    name: str
    file: Path
    store_url: str
    environments: dict[str, Environment]
    default_environment: str | None     # None only when loaded without a production environment
    projects: dict[str, Project] = field(default_factory=dict)
    packages: dict[str, Package] = field(default_factory=dict)
    # The `governance:` mapping as read (with line numbers); meshkit.config.policy parses it.
    policy_doc: Any = field(default=None, compare=False, repr=False)
    # The `jobs:` mapping, validated by meshkit.config.jobs (job name → Job).
    jobs: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # `catalog: {remote_images}`: origins whose images catalog pages load ("https:": any).
    remote_images: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        """Local working state: run history (SQLite) and cached parses, beside the store."""
        return self.root / ".meshkit"

    def environment(self, name: str | None) -> Environment:
        name = name or self.default_environment
        if name is None:
            raise MeshError("this mesh has no production environment to read by default",
                            file=self.file, hint="pass --env NAME, or give one environment "
                                                 "`type: production` in mesh.yml")
        if name not in self.environments:
            raise MeshError(f"unknown environment '{name}'", file=self.file,
                            hint=f"environments in this mesh: {', '.join(self.environments)}")
        return self.environments[name]

    def project(self, name: str) -> Project:
        if name not in self.projects:
            raise MeshError(f"unknown project '{name}'", file=self.file,
                            hint=f"projects in this mesh: {', '.join(self.projects)}")
        return self.projects[name]

    def production_environment(self) -> Environment:
        return next(e for e in self.environments.values() if e.type == "production")


def find_mesh_file(start: Path | None = None) -> Path | None:
    """MESHKIT_MESH (a mesh.yml or its folder), else the nearest mesh.yml above `start`."""
    if explicit := os.environ.get(MESH_ENV_VAR):
        path = Path(explicit).expanduser()
        return path / MESH_FILE if path.is_dir() else path
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / MESH_FILE).is_file():
            return folder / MESH_FILE
    return None


def load_mesh(path: Path | None = None, *, require_production: bool = True) -> Mesh:
    """Load and validate mesh.yml; `path` may be the file or None to search for it.

    `require_production=False` (governance, which only reads artifacts) accepts a mesh whose
    environments include no production one; it then has no default environment unless
    `default_environment` names one, and its jobs are not read."""
    file = path if path is not None else find_mesh_file()
    if file is None:
        raise MeshError(f"no {MESH_FILE} found in this folder or any folder above it",
                        hint=f"run meshkit inside a mesh, pass --mesh PATH, or set {MESH_ENV_VAR}; "
                             "`meshkit init` writes one around the dbt projects of a folder")
    file = file / MESH_FILE if file.is_dir() else file
    if not file.is_file():
        raise MeshError("mesh definition not found", file=file,
                        hint=f"create {MESH_FILE} or point --mesh / {MESH_ENV_VAR} at an existing one")
    file = file.resolve()
    doc = read_yaml(file)
    if not isinstance(doc, dict):
        raise MeshError("expected a mapping with 'name' and 'projects'", file=file, line=1)
    spec = convert(doc, _MeshSpec, file=file)
    environments = _environments(spec, doc, file, require_production)
    default = spec.default_environment or next(
        (e.name for e in environments.values() if e.type == "production"), None)
    if default is not None and default not in environments:
        raise MeshError(f"default_environment '{default}' is not one of the environments",
                        file=file, line=line_of(doc, "$.default_environment"))
    projects = {name: _project(name, entry, spec, doc, file, environments)
                for name, entry in spec.projects.items()}
    packages = {name: _package(name, entry, doc, file, projects)
                for name, entry in (spec.packages or {}).items()}
    jobs = parse_jobs(doc.get("jobs"), doc=doc, file=file, environments=environments,
                      default_environment=default, projects=projects) if default else {}
    store_url = _store_url(spec.store, file, line_of(doc, "$.store"))
    return Mesh(name=spec.name, file=file, store_url=store_url,
                environments=environments, default_environment=default, projects=projects,
                packages=packages, policy_doc=doc.get("governance"), jobs=jobs,
                remote_images=_remote_images(spec, doc, file))


def _remote_images(spec: _MeshSpec, doc: dict, file: Path) -> tuple[str, ...]:
    """`catalog.remote_images` as origins; "https:" stands for every https image."""
    if spec.catalog is None:
        return ()
    entry = convert(spec.catalog, _CatalogSpec, file=file, doc=doc, at="$.catalog")
    if entry.remote_images is True:
        return ("https:",)
    if entry.remote_images is False:
        return ()
    origins = []
    for index, text in enumerate(entry.remote_images):
        parts = urlsplit(text.strip())
        if parts.scheme != "https" or not parts.netloc or parts.path.strip("/") or parts.query:
            raise MeshError(f"catalog.remote_images: '{text}' is not an https origin", file=file,
                            line=line_of(doc, f"$.catalog.remote_images[{index}]")
                            or line_of(doc, "$.catalog"),
                            hint="write origins such as https://images.example.com, or true for "
                                 "every https image")
        origins.append(f"https://{parts.netloc.lower()}")
    return tuple(origins)


def _environments(spec: _MeshSpec, doc: dict, file: Path,
                  require_production: bool = True) -> dict[str, Environment]:
    if not spec.environments:
        return {"prod": Environment("prod", "prod", "production")}
    result = {}
    for name, entry in spec.environments.items():
        if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
            raise MeshError(f"environment name {name!r} is not allowed: it names a folder of the "
                            "artifact store", file=file, line=_key_line(doc["environments"], name),
                            hint="use letters, digits, '_', '-' and '.', starting with a letter, "
                                 "digit or '_' (e.g. prod, staging, dev_alice)")
        given = convert(entry or {}, _EnvironmentSpec, file=file, doc=doc,
                        at=f"$.environments.{name}")
        kind = given.type or ("production" if name in ("prod", "production") else "development")
        result[name] = Environment(name, given.target or name, kind, given.upstream_environment)
    production = [e.name for e in result.values() if e.type == "production"]
    if len(production) > 1 or (require_production and not production):
        raise MeshError(f"exactly one environment must have type: production (found {len(production)})",
                        file=file, line=line_of(doc, "$.environments"))
    for env in result.values():
        if env.upstream_environment and env.upstream_environment not in result:
            raise MeshError(f"environment '{env.name}' reads upstream_environment "
                            f"'{env.upstream_environment}', which is not defined", file=file,
                            line=line_of(doc, f"$.environments.{env.name}.upstream_environment"))
    return result


def _key_line(mapping: Any, key: Any) -> int | None:
    """The line of a key that a dotted path cannot spell (it may hold dots or slashes)."""
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _project(name: str, entry: Any, spec: _MeshSpec, doc: dict, file: Path,
             environments: dict[str, Environment]) -> Project:
    entry = convert({"path": entry} if isinstance(entry, str) else entry, _ProjectSpec,
                    file=file, doc=doc, at=f"$.projects.{name}")
    line = line_of(doc, f"$.projects.{name}")
    path = _dbt_folder("project", name, entry.path, file, line)
    envs = tuple(entry.environments or environments)
    unknown = [e for e in envs if e not in environments]
    if unknown:
        raise MeshError(f"project '{name}' lists unknown environment(s) {', '.join(unknown)}",
                        file=file, line=line)
    return Project(name=name, path=path, environments=envs)


def _package(name: str, entry: Any, doc: dict, file: Path, projects: dict[str, Project]) -> Package:
    entry = convert({"path": entry} if isinstance(entry, str) else entry, _PackageSpec,
                    file=file, doc=doc, at=f"$.packages.{name}")
    line = line_of(doc, f"$.packages.{name}")
    if name in projects:
        raise MeshError(f"'{name}' is registered both as a project and as a package", file=file,
                        line=line, hint="a dbt project is one or the other: remove one of the entries")
    return Package(name=name, path=_dbt_folder("package", name, entry.path, file, line))


def _dbt_folder(kind: str, name: str, relative: str, file: Path, line: int | None) -> Path:
    """The folder of a project or package entry, which must hold a dbt project of that name."""
    path = resolve_path(file.parent, relative, file=file, line=line, what=f"{kind} '{name}'")
    try:
        found = (path / "dbt_project.yml").is_file()
        missing = not path.exists()
    except OSError as exc:             # a name too long, a folder we may not read
        raise MeshError(f"{kind} '{name}': cannot use path '{shorten(relative)}': "
                        f"{exc.strerror or exc}",
                        file=file, line=line) from None
    if not found:
        what = "does not exist" if missing else "has no dbt_project.yml"
        raise MeshError(f"{kind} '{name}': path '{relative}' {what}", file=file, line=line,
                        hint=f"point the {kind} at the folder that holds its dbt_project.yml")
    declared = dbt_project_name(path)
    if declared != name:
        raise MeshError(f"{kind} '{name}': {relative}/dbt_project.yml is named '{declared}'",
                        file=file, line=line,
                        hint=f"use the dbt project name as the key: '{declared}:'")
    return path


def local_installs(project_dir: Path) -> list[LocalInstall]:
    """The `local:` packages a project installs, from the file dbt reads them from."""
    file = project_dir / "packages.yml"
    if not file.is_file():
        file = project_dir / "dependencies.yml"
        if not file.is_file():
            return []
    doc = read_yaml(file)
    entries = doc.get("packages") if isinstance(doc, dict) else None
    found = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        local = entry.get("local") if isinstance(entry, dict) else None
        if isinstance(local, str) and "{{" not in local:      # a Jinja path is dbt's to render
            line = line_of(doc, f"$.packages[{index}]")
            found.append(LocalInstall(file, line, resolve_path(
                project_dir, local, file=file, line=line, what="local package")))
    return found


def dbt_project_name(path: Path) -> str | None:
    """The `name:` of a folder's dbt_project.yml."""
    doc = read_yaml(path / "dbt_project.yml")
    return doc.get("name") if isinstance(doc, dict) else None


def _store_url(store: str, file: Path, line: int | None) -> str:
    """Plain paths are relative to mesh.yml; URLs (s3://, file://, memory://) pass through.

    The store may not be the mesh's own folder or one above it: its listing of projects would
    then be the mesh's folders.
    """
    root = file.parent
    path = resolve_path(root, store, file=file, line=line, what="store")   # checks the text too
    if "://" in store:
        return store
    if path == root or path in root.parents:
        raise MeshError(f"store: '{store}' is the mesh's own folder"
                        + (" or one above it" if path != root else ""), file=file, line=line,
                        hint="give the store a folder of its own, such as .meshkit/store "
                             "(the default), or a URL such as s3://bucket/mesh")
    return str(path)
