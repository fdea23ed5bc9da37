"""`meshkit build` and `meshkit plan`: parse, decide, plan in waves, run, record, publish."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from meshkit.config import Mesh
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.dbt.artifacts import decode_manifest
from meshkit.orchestrate.execute import ExecutionOptions, Executor, UnitOutcome
from meshkit.orchestrate.fingerprint import node_fingerprints
from meshkit.orchestrate.freshness import source_loaded_at
from meshkit.orchestrate.history import History
from meshkit.orchestrate.parse import ParsedProject, dbt_environment, parse_projects
from meshkit.dbt.relations import missing_relations
from meshkit.orchestrate.plan import Plan, make_plan, resolve_placeholders
from meshkit.orchestrate.state import StateInputs
from meshkit.store.resolve import producer_environment
from meshkit.store.store import Store

Echo = Callable[[str, str], None]


@dataclass
class BuildOptions:
    env: str | None = None
    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    full: bool = False               # ignore state: rebuild everything selected
    full_refresh: bool = False       # pass --full-refresh to dbt
    workers: int = 2
    verify_relations: bool = False   # ask the warehouse whether reused models' relations exist
    generate_docs: bool = False      # run `dbt docs generate` before publishing each project
    threads: int | None = None       # dbt --threads (default: the profile's)
    kind: str = "build"              # runs.kind: build, or job for a job's build
    command: str | None = None       # runs.command (default: this process's command line)
    before_publish: Callable[[str, Path], None] | None = None  # (project, target dir) hook


@dataclass
class BuildReport:
    plan: Plan
    parsed: dict[str, ParsedProject]
    run_id: int | None = None
    status: str = "planned"
    executor: Executor | None = None

    @property
    def units(self) -> list[UnitOutcome]:
        return self.executor.units if self.executor else []

    def node_status(self, uid: str) -> str:
        if not self.plan.decisions[uid].rebuild:
            return "reused"
        if self.executor and uid in self.executor.outcomes:
            return self.executor.outcomes[uid].status
        return "planned"


def open_history(mesh: Mesh) -> History:
    return History(mesh.state_dir / "history.db")


def plan_mesh(mesh: Mesh, options: BuildOptions, history: History,
              on_line: Echo | None = None) -> tuple[Plan, dict[str, ParsedProject], dict, dict]:
    env = mesh.environment(options.env)
    store = Store(mesh.store_url)
    for name in options.projects:
        mesh.project(name)  # unknown project names fail before anything runs
    names = [p for p in mesh.projects if env.name in mesh.projects[p].environments]
    parsed = parse_projects(mesh, env, store, history, names, options.workers, on_line)
    graph = MeshGraph()
    fingerprints: dict[str, str] = {}
    for name in names:
        data = parsed[name].manifest_path.read_bytes()
        graph.add_project(ProjectState(name, decode_manifest(data, source=str(parsed[name].manifest_path)),
                                       environment=env.name, origin=str(parsed[name].manifest_path)))
        fingerprints.update({uid: fp for uid, fp in node_fingerprints(data).items()
                             if graph.owner.get(uid) == name})
    resolve_placeholders(graph)
    states = history.model_states(env.name)
    modified = {uid for uid, fp in fingerprints.items()
                if uid not in states or states[uid].fingerprint != fp}
    select = options.select or ([f"project:{p}" for p in options.projects] if options.projects else [])
    if options.select and options.projects:
        select = [f"project:{p},{term}" for p in options.projects for expr in options.select
                  for term in expr.split()]
    inputs = StateInputs(states, fingerprints, full=options.full,
                         unpublished=_unpublished(store, env.name, names))
    warnings: list[str] = []
    if options.verify_relations and not options.full:
        inputs.missing_relations, warnings = _missing_relations(mesh, env.target, graph, states)
    producer_envs = {name: producer_environment(mesh, env, name, store) for name in names}
    building = set(options.projects or names)
    plan = make_plan(graph, env.name, select or None, options.exclude or None, inputs, modified,
                     _published(mesh, store, env, names, building), producer_envs)
    if not options.full:
        loaded = source_loaded_at(mesh, graph, plan.selected, env.target,
                                  dbt_environment(mesh, env), on_line)
        if loaded:
            inputs.source_loaded_at = loaded
            plan = make_plan(graph, env.name, select or None, options.exclude or None, inputs,
                             modified, _published(mesh, store, env, names, building), producer_envs)
    plan.warnings = warnings
    return plan, parsed, fingerprints, inputs.source_loaded_at


def _missing_relations(mesh: Mesh, target: str, graph: MeshGraph, states) -> tuple[set[str], list[str]]:
    """Nodes built before whose relation no longer exists in the warehouse."""
    by_relation: dict[tuple[str, str, str, str], str] = {}
    for uid, state in states.items():
        node = graph.nodes.get(uid)
        if node is None or state.status != "success" or node.config.materialized == "ephemeral":
            continue
        folder = str(mesh.project(graph.owner[uid]).path)
        by_relation[(folder, node.database or "", node.schema_ or "", node.alias or node.name)] = uid
    requests = {}
    for folder, database, schema, identifier in by_relation:
        requests.setdefault(folder, []).append([database, schema, identifier])
    missing, warnings = missing_relations([{"project_dir": f, "target": target, "relations": r}
                                           for f, r in requests.items()])
    return {by_relation[key] for key in missing if key in by_relation}, warnings


def _published(mesh: Mesh, store: Store, env, names: list[str], building: set[str]) -> set[str]:
    """Public models that consumers can read from the store without rebuilding them.

    A damaged store entry of a project this build rebuilds is skipped (the build republishes
    it); one that consumers would have to read stops the build with the store's message.
    """
    available: set[str] = set()
    for name in set(names) | set(store.projects()):
        try:
            found = store.interface(name, producer_environment(mesh, env, name, store))
        except MeshError:
            if name in building:
                continue
            raise
        if found:
            available |= {m.unique_id for m in found[1].models}
    return available


def _unpublished(store: Store, env: str, names: list[str]) -> set[str]:
    """Projects with no intact latest run in this environment: they must rebuild to publish."""
    missing = set()
    for name in names:
        try:
            record = store.latest(name, env)
            if record is not None:
                store.read(record, "interface.json")
        except MeshError:
            record = None
        if record is None:
            missing.add(name)
    return missing


def build_mesh(mesh: Mesh, options: BuildOptions, on_line: Echo | None = None,
               dry_run: bool = False) -> BuildReport:
    history = open_history(mesh)
    try:
        plan, parsed, fingerprints, loaded = plan_mesh(mesh, options, history, on_line)
        report = BuildReport(plan, parsed)
        if dry_run:
            return report
        env = mesh.environment(options.env)
        report.run_id = history.start_run(env.name, options.command or shlex.join(
            ["meshkit", *sys.argv[1:]]), kind=options.kind)
        history.record_decisions(report.run_id, [
            (uid, d.project, "rebuild" if d.rebuild else "reuse", d.reason,
             None if d.rebuild else "reused") for uid, d in plan.decisions.items()])
        executor = Executor(mesh, Store(mesh.store_url), history, report.run_id, plan,
                            ExecutionOptions(workers=options.workers,
                                             full_refresh=options.full_refresh,
                                             dbt_env=dbt_environment(mesh, env), target=env.target,
                                             generate_docs=options.generate_docs,
                                             threads=options.threads,
                                             before_publish=options.before_publish),
                            fingerprints, loaded, on_line)
        report.executor = executor
        try:
            executor.run()
        except BaseException:
            history.finish_run(report.run_id, "interrupted", _summary(report))
            raise
        failed = any(o.status not in ("success", "reused") for o in executor.outcomes.values()) \
            or any(u.error for u in executor.units)
        report.status = "noop" if plan.noop else ("error" if failed else "success")
        history.finish_run(report.run_id, report.status, _summary(report))
        return report
    finally:
        history.close()


def _summary(report: BuildReport) -> dict:
    counts: dict[str, int] = {}
    for uid in report.plan.selected:
        status = report.node_status(uid)
        counts[status] = counts.get(status, 0) + 1
    return {"nodes": counts, "units": len(report.plan.units),
            "waves": len(report.plan.waves())}
