"""Each project's current manifest, from `dbt parse` or from the cache when nothing changed.

A planning parse runs dbt with the plugin in lenient mode, so a project can be planned
before its upstreams have published (bootstrap, bidirectional meshes), and with the plugin
recording refused refs to non-public models instead of failing: whether one stands depends on
what this run publishes (meshkit.orchestrate.access). The parsed manifest and its refusals
are cached under the project's content fingerprint: an unchanged mesh is planned without
starting dbt at all.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from meshkit.config import Environment, Mesh, Project
from meshkit.config.dbt_vars import NO_VARS, DbtVars
from meshkit.dbt.artifacts import decode_manifest
from meshkit.dbt.runner import needs_deps, run_dbt, stop_all, strip_ansi
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.orchestrate.access import Refusal, read_refusals
from meshkit.orchestrate.fingerprint import node_fingerprints, project_fingerprint
from meshkit.orchestrate.history import History


@dataclass(frozen=True)
class ParsedProject:
    name: str
    manifest_path: Path
    from_cache: bool
    seconds: float = 0.0
    refusals: tuple[Refusal, ...] = ()   # refs the parse refused, judged after planning


def dbt_environment(mesh: Mesh, env: Environment, lenient: bool = True) -> dict[str, str]:
    """Variables meshkit sets for every dbt it starts, so the plugin knows the mesh and env."""
    from meshkit.config.mesh import MESH_ENV_VAR
    from meshkit.consumer import ENV_VAR, LENIENT_VAR

    return {MESH_ENV_VAR: str(mesh.file), ENV_VAR: env.name, LENIENT_VAR: "1" if lenient else "0"}


def parse_projects(mesh: Mesh, env: Environment, history: History,
                   projects: list[str], workers: int = 2,
                   on_line: Callable[[str, str], None] | None = None,
                   upstream_key: Callable[[str], str] = lambda name: "",
                   dbt_vars: DbtVars = NO_VARS) -> dict[str, ParsedProject]:
    """Parse these projects with `dbt parse` (or their cached parse), `workers` at a time;
    project → its parse. `on_line(project, line)` receives dbt output; `upstream_key`
    gives each project a digest of the interfaces it reads (see parse_project); `dbt_vars`
    are passed to every dbt. Ctrl-C stops every dbt process before it returns.

    Raises MeshError for a project whose parse fails."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {name: pool.submit(parse_project, mesh, env, history, mesh.project(name), on_line,
                                     upstream_key(name), dbt_vars)
                   for name in projects}
        try:
            return {name: future.result() for name, future in futures.items()}
        except KeyboardInterrupt:
            stop_all()          # Ctrl-C: the pool's threads return once their dbt is gone
            raise


def add_to_graph(graph: MeshGraph, parsed: ParsedProject, environment: str) -> dict[str, str]:
    """Add a parsed project to the graph; returns the fingerprints of the nodes it builds."""
    data = parsed.manifest_path.read_bytes()
    graph.add_project(ProjectState(parsed.name, decode_manifest(data, source=str(parsed.manifest_path)),
                                   environment=environment, origin=str(parsed.manifest_path)))
    return {uid: fp for uid, fp in node_fingerprints(data).items()
            if graph.owner.get(uid) == parsed.name}


def parse_project(mesh: Mesh, env: Environment, history: History, project: Project,
                  on_line=None, upstream_key: str = "", dbt_vars: DbtVars = NO_VARS) -> ParsedProject:
    """`upstream_key`: a digest of the upstream interfaces the project's refs resolve against
    (an unpinned ref follows latest_version): when one changes, the cached parse is stale.
    `dbt_vars`: --vars, given to dbt deps and parse (a var can enable a model)."""
    from meshkit.consumer import REFUSALS_VAR

    key = parse_key(env, project, upstream_key, dbt_vars)
    cached = history.cached_parse(project.name, env.name, key)
    if cached:
        return ParsedProject(project.name, cached, from_cache=True,
                             refusals=tuple(read_refusals(_refusals_path(cached))))
    echo = (lambda line: on_line(project.name, line)) if on_line else None
    recorded = _refusals_path(_cache_path(mesh, env, project)).with_suffix(".tmp")
    recorded.parent.mkdir(parents=True, exist_ok=True)
    recorded.unlink(missing_ok=True)
    variables = {**dbt_environment(mesh, env), REFUSALS_VAR: str(recorded)}
    seconds = 0.0
    if needs_deps(project.path):
        deps = run_dbt(["deps", *dbt_vars.args], project.path, variables, echo)
        seconds += deps.seconds
        if not deps.ok:
            raise MeshError(f"`dbt deps` failed in project '{project.name}'",
                            file=project.path / "dependencies.yml", hint=_tail(deps.output))
        key = parse_key(env, project, upstream_key, dbt_vars)
    result = run_dbt(["parse", "--target", env.target, *dbt_vars.args], project.path, variables, echo)
    seconds += result.seconds
    if not result.ok:
        raise _parse_error(project, result.output)
    refusals = read_refusals(recorded)
    cache = save_parse(mesh, env, history, project, key, recorded)
    return ParsedProject(project.name, cache, from_cache=False, seconds=seconds,
                         refusals=tuple(refusals))


def parse_key(env: Environment, project: Project, upstream_key: str,
              dbt_vars: DbtVars = NO_VARS) -> str:
    """What a cached parse of the project is valid for: its files, the environment, the
    upstream interfaces its refs resolved against and the --vars it was parsed with."""
    extra = f"{env.name}|{env.target}|{upstream_key}" + (f"|{dbt_vars.key}" if dbt_vars.values else "")
    return project_fingerprint(project.path, extra=extra)


def save_parse(mesh: Mesh, env: Environment, history: History, project: Project, key: str,
               refusals: Path | None = None) -> Path:
    """Keep the project's target/manifest.json as its cached parse under `key`, with the refs
    its planning parse recorded as refused (the file `refusals`; none for a build's). A build's
    manifest serves too: it is dbt's parse of the same files, against published upstreams."""
    cache = _cache_path(mesh, env, project)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    shutil.copyfile(project.path / "target" / "manifest.json", tmp)
    if refusals is not None and refusals.exists():
        refusals.replace(_refusals_path(cache))
    else:
        _refusals_path(cache).unlink(missing_ok=True)
    tmp.replace(cache)
    history.save_parse(project.name, env.name, key, cache)
    return cache


def _cache_path(mesh: Mesh, env: Environment, project: Project) -> Path:
    return mesh.state_dir / "parsed" / f"{project.name}.{env.name}.manifest.json"


def _refusals_path(manifest: Path) -> Path:
    """The refused refs recorded with a cached planning parse, next to its manifest."""
    return manifest.with_name(manifest.name.replace(".manifest.json", "") + ".refusals.json")


def parse_in_place(mesh: Mesh, env: Environment, project: Project) -> None:
    """`dbt parse` in the project's folder, so its target/manifest.json describes its current
    code (no cache: the caller reads that file). Raises MeshError with dbt's words on failure."""
    variables = dbt_environment(mesh, env)
    if needs_deps(project.path):
        deps = run_dbt(["deps"], project.path, variables)
        if not deps.ok:
            raise MeshError(f"`dbt deps` failed in project '{project.name}'",
                            file=project.path / "dependencies.yml", hint=_tail(deps.output))
    result = run_dbt(["parse", "--target", env.target], project.path, variables)
    if not result.ok:
        raise _parse_error(project, result.output)


def _parse_error(project: Project, output: str) -> MeshError:
    """The plugin's own refusal verbatim; any other dbt error with dbt's words."""
    from meshkit.consumer import ERROR_MARKER, REFUSAL_MARKER

    text = strip_ansi(output)
    marker = next((m for m in (REFUSAL_MARKER, ERROR_MARKER, "get_nodes: ") if m in text), None)
    if marker:
        refusal = text[text.index(marker) + len(marker):].strip()
        return MeshError(f"project '{project.name}': " + "\n".join(
            line.strip() if i else line for i, line in enumerate(refusal.splitlines()[:6])))
    return MeshError(f"`dbt parse` failed in project '{project.name}'",
                     file=project.path / "dbt_project.yml", hint=_tail(text))


def _tail(output: str, lines: int = 12) -> str:
    """The part of dbt's output that says what went wrong."""
    kept = [line for line in strip_ansi(output).splitlines() if line.strip()]
    for index, line in enumerate(kept):
        if "Error" in line or "error" in line.split(" ", 2)[-1][:40]:
            return "\n    ".join(kept[index:index + lines])
    return "\n    ".join(kept[-lines:])
