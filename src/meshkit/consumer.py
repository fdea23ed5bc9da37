"""What a consuming dbt project asks of the mesh, and whether the mesh allows it.

Plain data only (no dbt imports): the plugin hands in the consumer's folder, name and dbt
target; this module finds the mesh, the environment, each declared upstream's interface in
the store, and refuses refs the mesh forbids, naming file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from meshkit.config import Mesh, find_mesh_file, load_mesh
from meshkit.config.dependencies import declared_projects
from meshkit.errors import MeshError
from meshkit.store.interface import Interface
from meshkit.store.resolve import producer_environment
from meshkit.store.store import Store

ENV_VAR = "MESHKIT_ENV"
# Set by meshkit's orchestrator: an upstream that has not published yet (or lacks a model the
# working copy refs) gets placeholders instead of an error, because the plan builds it first.
LENIENT_VAR = "MESHKIT_LENIENT"
# ref('project', 'model'...) with literal names; refs built by Jinja are left to dbt.
_REF_RE = re.compile(r"""\bref\(\s*(['"])(\w+)\1\s*,\s*(['"])([\w.]+)\3"""
                     r"""(?:\s*,\s*(?:v|version)\s*=\s*['"]?([\w.]+))?""")
_SKIP_DIRS = {"target", "dbt_packages", "dbt_modules", "logs", "node_modules"}
_SCANNED = (".sql", ".yml", ".yaml", ".py")


@dataclass(frozen=True)
class Upstream:
    project: str
    environment: str
    run_id: str
    interface: Interface


@dataclass(frozen=True)
class CrossRef:
    file: Path
    line: int
    project: str
    model: str
    version: str | None = None  # None: the model's latest version

    @property
    def consumer(self) -> str:
        return self.file.stem


def find_consumer_mesh(project_dir: Path) -> Mesh | None:
    file = find_mesh_file(project_dir)
    return load_mesh(file) if file else None


def consumer_environment(mesh: Mesh, target: str | None) -> str:
    """MESHKIT_ENV, else the environment mapped to the dbt target, else the mesh default."""
    if explicit := os.environ.get(ENV_VAR):
        return mesh.environment(explicit).name
    for env in mesh.environments.values():
        if target and env.target == target:
            return env.name
    return mesh.default_environment


def is_lenient() -> bool:
    return os.environ.get(LENIENT_VAR, "") not in ("", "0", "false")


def load_upstreams(mesh: Mesh, store: Store, consumer: str, env: str,
                   declared: list[str], dependencies_file: Path) -> list[Upstream]:
    """Every declared upstream's published interface, or one clear error; never half."""
    upstreams = []
    lenient = is_lenient()
    for producer in declared:
        if producer == consumer:
            continue
        producer_env = producer_environment(mesh, mesh.environment(env), producer, store)
        found = store.interface(producer, producer_env)
        if found is None and lenient:
            continue
        if found is None:
            raise MeshError(
                f"project '{consumer}' depends on '{producer}', which has never published to the "
                f"store in environment '{producer_env}' ({store.describe(producer, producer_env)})",
                file=dependencies_file, hint=_publish_hint(mesh, producer, producer_env))
        record, interface = found
        upstreams.append(Upstream(producer, producer_env, record.run_id, interface))
    return upstreams


def _publish_hint(mesh: Mesh, producer: str, env: str) -> str:
    if producer in mesh.projects:
        return f"build and publish it first: `meshkit build --project {producer} --env {env}`"
    return (f"'{producer}' is not in {mesh.file.name}: after its `dbt build`, publish it with "
            f"`meshkit publish --project-dir PATH/TO/{producer} --env {env}`")


def scan_cross_refs(project_dir: Path) -> list[CrossRef]:
    """Two-argument refs written literally in the project's SQL and YAML files."""
    found = []
    for folder, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if not name.endswith(_SCANNED):
                continue
            path = Path(folder) / name
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if "ref(" not in text:
                continue
            for match in _REF_RE.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(CrossRef(path, line, match.group(2), match.group(4), match.group(5)))
    return found


def check_cross_refs(refs: list[CrossRef], consumer: str, declared: list[str],
                     upstreams: list[Upstream], mesh: Mesh, store: Store, project_dir: Path) -> None:
    """Refuse refs to non-public models and to projects missing from dependencies.yml."""
    restricted_of = {u.project: u.interface.restricted_by_name() for u in upstreams}
    public_of = {u.project: u.interface.public_names() for u in upstreams}
    for ref in refs:
        where = dict(file=_relative(ref.file, project_dir.parent), line=ref.line)
        if ref.project == consumer:
            continue
        if ref.project not in declared:
            if ref.project in mesh.projects or store.environments(ref.project):
                raise MeshError(
                    f"'{ref.consumer}' refs {ref.project}.{ref.model}, but project "
                    f"'{ref.project}' is not declared in {consumer}/dependencies.yml", **where,
                    hint=f"add it under `projects:` in dependencies.yml:  - name: {ref.project}")
            continue
        if ref.project not in restricted_of:
            continue
        restricted = restricted_of[ref.project].get(ref.model)
        if restricted and ref.model not in public_of[ref.project]:
            scope = (f"private to the '{restricted.group}' group" if restricted.access == "private"
                     else f"protected to project '{ref.project}'")
            public = sorted(public_of[ref.project])
            raise MeshError(
                f"'{ref.consumer}' refs {ref.project}.{ref.model}, which is {scope}; only public "
                f"models can be referenced from another project", **where,
                hint=f"ask the owners of '{ref.project}' to set `access: public` on {ref.model} and "
                     f"publish again, or ref a public model ({', '.join(public) or 'none yet'})")


def unresolved_refs(refs: list[CrossRef], declared: list[str],
                    upstreams: list[Upstream]) -> list[CrossRef]:
    """Literal refs to declared projects that no published interface answers (yet)."""
    public = {u.project: u.interface.public_names() for u in upstreams}
    restricted = {u.project: set(u.interface.restricted_by_name()) for u in upstreams}
    return [r for r in refs if r.project in declared
            and r.model not in public.get(r.project, set())
            and r.model not in restricted.get(r.project, set())]


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
