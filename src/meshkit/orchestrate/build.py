"""Build mesh projects in dependency order and publish each one after a successful run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from meshkit.config import Mesh, Project
from meshkit.consumer import ENV_VAR
from meshkit.config.mesh import MESH_ENV_VAR
from meshkit.dbt.artifacts import decode_run_results
from meshkit.dbt.runner import DbtResult, needs_deps, run_dbt
from meshkit.errors import MeshError
from meshkit.graph.projects import build_order, project_dependencies
from meshkit.store.publish import publish_artifacts
from meshkit.store.records import RunRecord
from meshkit.store.store import Store


@dataclass
class ProjectOutcome:
    project: str
    status: str                     # success | error | skipped
    counts: dict[str, int] = field(default_factory=dict)
    published: RunRecord | None = None
    reason: str = ""
    seconds: float = 0.0


@dataclass
class BuildOptions:
    env: str | None = None
    projects: list[str] | None = None      # None = the whole mesh
    dbt_args: list[str] = field(default_factory=list)
    full_refresh: bool = False


def build_mesh(mesh: Mesh, options: BuildOptions,
               on_line: Callable[[str, str], None] | None = None) -> list[ProjectOutcome]:
    env = mesh.environment(options.env)
    store = Store(mesh.store_url)
    order = build_order(mesh)
    wanted = set(options.projects or order)
    for name in wanted:
        mesh.project(name)  # unknown names fail before anything runs
    deps = project_dependencies(mesh)
    outcomes: dict[str, ProjectOutcome] = {}
    for name in (n for n in order if n in wanted):
        project = mesh.projects[name]
        if env.name not in project.environments:
            outcomes[name] = ProjectOutcome(name, "skipped", reason=f"no '{env.name}' environment")
            continue
        failed = [u for u in deps[name] if u in outcomes and outcomes[u].status != "success"]
        if failed:
            outcomes[name] = ProjectOutcome(name, "skipped",
                                            reason=f"upstream {', '.join(failed)} did not succeed")
            continue
        outcomes[name] = _build_project(mesh, store, project, env.name, env.target, options, on_line)
    return list(outcomes.values())


def _build_project(mesh: Mesh, store: Store, project: Project, env: str, target: str,
                   options: BuildOptions, on_line) -> ProjectOutcome:
    variables = {MESH_ENV_VAR: str(mesh.file), ENV_VAR: env}
    echo = (lambda line: on_line(project.name, line)) if on_line else None
    seconds = 0.0
    if needs_deps(project.path):
        deps = run_dbt(["deps"], project.path, variables, echo)
        seconds += deps.seconds
        if not deps.ok:
            return ProjectOutcome(project.name, "error", reason="dbt deps failed", seconds=seconds)
    args = ["build", "--target", target, *options.dbt_args]
    if options.full_refresh:
        args.append("--full-refresh")
    started = time.time()
    result = run_dbt(args, project.path, variables, echo)
    seconds += result.seconds
    counts = _counts(project, started)
    if not result.ok:
        return ProjectOutcome(project.name, "error", counts, reason=_first_error(result),
                              seconds=seconds)
    record = publish_artifacts(store, project.path / "target", env, project_dir=project.path)
    return ProjectOutcome(project.name, "success", counts, record, seconds=seconds)


def _counts(project: Project, since: float) -> dict[str, int]:
    """Result statuses of the run that just ended (a run_results.json older than it is stale)."""
    path = project.path / "target" / "run_results.json"
    if not path.is_file() or path.stat().st_mtime < since:
        return {}
    try:
        results = decode_run_results(path.read_bytes(), source=str(path))
    except MeshError:
        return {}
    counts: dict[str, int] = {}
    for item in results.results:
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts


def _first_error(result: DbtResult) -> str:
    lines = result.output.splitlines()
    for index, line in enumerate(lines):
        if "Error" in line and ("Encountered an error" in line or "Error in" in line
                                or "Runtime Error" in line or "Compilation Error" in line):
            detail = [l.strip() for l in lines[index:index + 4] if l.strip()]
            return " ".join(detail)[:400]
    return f"dbt exited with code {result.returncode}"
