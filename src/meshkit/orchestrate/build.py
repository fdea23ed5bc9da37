"""`meshkit build` and `meshkit plan`: parse, decide, plan in waves, run, record, publish."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from typing import Callable

from meshkit.config import Mesh
from meshkit.dbt.relations import missing_relations
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.selection import Selector
from meshkit.orchestrate.access import check_refused_refs
from meshkit.orchestrate.context import BuildOptions, PlanningContext, parse_scope, planning_context
from meshkit.orchestrate.db import mesh_db
from meshkit.orchestrate.execute import BuildEvent, ExecutionOptions, Executor, UnitOutcome
from meshkit.orchestrate.freshness import source_loaded_at
from meshkit.orchestrate.history import History
from meshkit.orchestrate.lock import BuildLock
from meshkit.orchestrate.parse import (
    ParsedProject,
    add_to_graph,
    dbt_environment,
    parse_key,
    parse_projects,
)
from meshkit.orchestrate.plan import Plan, PlannedBuild, make_plan, resolve_placeholders
from meshkit.orchestrate.staged import StagedPlanner, staging_order
from meshkit.status import NodeStatus, PlanStatus, RunStatus

__all__ = ["BuildEvent", "BuildInterrupted", "BuildOptions", "BuildReport", "build_mesh", "open_history",
           "parse_mesh", "plan_mesh"]

Echo = Callable[[str, str], None]


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build: its dbt children are stopped and the run is recorded
    `interrupted` (run_id is None when it came before the run started)."""

    def __init__(self, run_id: int | None, stopped: int) -> None:
        super().__init__(run_id, stopped)
        self.run_id, self.stopped = run_id, stopped


@dataclass
class BuildReport:
    plan: Plan
    parsed: dict[str, ParsedProject]
    run_id: int | None = None
    status: str = RunStatus.PLANNED
    executor: Executor | None = None

    @property
    def units(self) -> list[UnitOutcome]:
        return self.executor.units if self.executor else []

    def node_status(self, uid: str) -> str:
        if not self.plan.decisions[uid].rebuild:
            return PlanStatus.REUSED
        if self.executor and uid in self.executor.outcomes:
            return self.executor.outcomes[uid].status
        return PlanStatus.PLANNED


def open_history(mesh: Mesh) -> History:
    """The mesh's run history (the SQLite database in its state folder)."""
    return History(mesh_db(mesh))


def plan_mesh(mesh: Mesh, options: BuildOptions, history: History, on_line: Echo | None = None,
              ctx: PlanningContext | None = None) -> PlannedBuild:
    """Parse every project, then plan the whole mesh at once. Raises MeshError."""
    ctx = ctx or planning_context(mesh, options, history)
    env = ctx.env
    parsed = parse_projects(mesh, env, history, ctx.names, options.workers, on_line,
                            lambda name: ctx.upstream_key(mesh, name), ctx.dbt_vars)
    graph, fingerprints = _joined(parsed, ctx.names, env.name,
                                  lambda graph, name: ctx.compare_interface(graph, name))
    modified = ctx.modified(fingerprints)
    inputs = ctx.state_inputs(fingerprints)
    warnings: list[str] = []
    if options.verify_relations and not options.full:
        inputs.missing_relations, warnings = _missing_relations(mesh, env.target, graph, ctx.states)
    plan = make_plan(graph, env.name, ctx.select, ctx.exclude, inputs, modified, ctx.available,
                     ctx.producer_envs)
    if not options.full:
        loaded = source_loaded_at(mesh, graph, plan.selected, env.target,
                                  dbt_environment(mesh, env), on_line, ctx.dbt_vars)
        if loaded:
            inputs.source_loaded_at = loaded
            plan = make_plan(graph, env.name, ctx.select, ctx.exclude, inputs, modified,
                             ctx.available, ctx.producer_envs)
    plan.public_in_run = check_refused_refs(
        graph, plan.decisions, {graph.owner[uid] for uid in plan.selected},
        [r for project in parsed.values() for r in project.refusals], ctx.available)
    plan.warnings = warnings
    return PlannedBuild(plan, parsed, fingerprints, inputs.source_loaded_at)


def parse_mesh(mesh: Mesh, env: str | None = None, workers: int = 2,
               on_line: Echo | None = None) -> MeshGraph:
    """The graph `meshkit plan` plans on: every project of environment `env` (default: the
    mesh's) parsed, or read from the parse cache, upstream placeholders resolved.

    Raises MeshError for an unknown environment or a project dbt cannot parse.
    """
    environment = mesh.environment(env)
    names = [p for p in mesh.projects if environment.name in mesh.projects[p].environments]
    history = open_history(mesh)
    try:
        parsed = parse_projects(mesh, environment, history, names, workers, on_line)
    finally:
        history.close()
    return _joined(parsed, names, environment.name)[0]


def _joined(parsed: dict[str, ParsedProject], names: list[str], environment: str,
            on_project: Callable[[MeshGraph, str], None] | None = None,
            ) -> tuple[MeshGraph, dict[str, str]]:
    """The parsed projects as one graph, and the fingerprints of the nodes they build;
    `on_project(graph, name)` runs after each project joins the graph."""
    graph = MeshGraph()
    fingerprints: dict[str, str] = {}
    for name in names:
        fingerprints.update(add_to_graph(graph, parsed[name], environment))
        if on_project is not None:
            on_project(graph, name)
    resolve_placeholders(graph)
    return graph, fingerprints


def _missing_relations(mesh: Mesh, target: str, graph: MeshGraph, states) -> tuple[set[str], list[str]]:
    """Nodes built before whose relation no longer exists in the warehouse."""
    by_relation: dict[tuple[str, str, str, str], str] = {}
    for uid, state in states.items():
        node = graph.nodes.get(uid)
        if node is None or state.status != NodeStatus.SUCCESS or node.config.materialized == "ephemeral":
            continue
        folder = str(mesh.project(graph.owner[uid]).path)
        by_relation[(folder, node.database or "", node.schema_ or "", node.alias or node.name)] = uid
    requests: dict[str, list[list[str]]] = {}
    for folder, database, schema, identifier in by_relation:
        requests.setdefault(folder, []).append([database, schema, identifier])
    missing, warnings = missing_relations([{"project_dir": f, "target": target, "relations": r}
                                           for f, r in requests.items()])
    return {by_relation[key] for key in missing if key in by_relation}, warnings


def build_mesh(mesh: Mesh, options: BuildOptions, on_line: Echo | None = None,
               dry_run: bool = False,
               on_event: Callable[[BuildEvent], None] | None = None) -> BuildReport:
    """Plan and (unless `dry_run`) run a build. `on_line(project, line)` gets dbt's output,
    `on_event` each step (BuildEvent) for a progress display. Raises MeshError, and
    BuildInterrupted on Ctrl-C (after stopping dbt and recording the run interrupted)."""
    history = open_history(mesh)
    command = options.command or shlex.join(["meshkit", *sys.argv[1:]])
    try:
        # Plan under the lock: what another build publishes changes this one's decisions.
        with BuildLock(mesh.state_dir, parse_scope(mesh, options), command=command,
                       wait=options.wait, on_wait=options.on_wait) as lock:
            ctx = planning_context(mesh, options, history)
            return _build_locked(mesh, options, history, ctx, lock, command, on_line, dry_run,
                                 on_event)
    finally:
        history.close()


def _build_locked(mesh: Mesh, options: BuildOptions, history: History, ctx: PlanningContext,
                  lock: BuildLock, command: str, on_line: Echo | None, dry_run: bool,
                  on_event: Callable[[BuildEvent], None] | None) -> BuildReport:
    upstream = None if dry_run else staging_order(mesh, ctx, options)
    planner = StagedPlanner(mesh, ctx, history, upstream, on_line) if upstream else None
    if planner:
        planned = planner.planned
    else:
        if on_event is not None and not dry_run:
            for name in ctx.names:
                on_event(BuildEvent("task", name, task="parse"))
        planned = plan_mesh(mesh, options, history, on_line, ctx)
    plan = planned.plan
    report = BuildReport(plan, planned.parsed)
    if dry_run:
        plan.unmatched = _unmatched(mesh, ctx, plan)
        return report
    report.run_id = history.start_run(ctx.env.name, command, kind=options.kind)
    lock.set_run(report.run_id)
    if options.on_start:
        options.on_start(report.run_id)
    if planner:
        planner.run_id = report.run_id   # it records each project's decisions as it plans
    history.record_decisions(report.run_id, [d.history_row for d in plan.decisions.values()])
    executor = Executor(mesh, ctx.store, history, report.run_id, plan,
                        ExecutionOptions(workers=options.workers,
                                         full_refresh=options.full_refresh,
                                         dbt_env=dbt_environment(mesh, ctx.env),
                                         target=ctx.env.target,
                                         generate_docs=options.generate_docs,
                                         threads=options.threads,
                                         dbt_vars=ctx.dbt_vars,
                                         before_publish=options.before_publish,
                                         parse_key=lambda name: parse_key(
                                             ctx.env, mesh.project(name), ctx.upstream_key(mesh, name),
                                             ctx.dbt_vars),
                                         environment=ctx.env),
                        planned.fingerprints, planned.source_loaded_at, on_line, on_event)
    report.executor = executor
    try:
        executor.run(planner)
    except MeshError:   # a project that failed to parse or plan mid-build
        history.finish_run(report.run_id, RunStatus.ERROR, _summary(report))
        raise
    except KeyboardInterrupt:
        history.finish_run(report.run_id, RunStatus.INTERRUPTED, _summary(report))
        raise BuildInterrupted(report.run_id, executor.stopped) from None
    except BaseException:
        history.finish_run(report.run_id, RunStatus.INTERRUPTED, _summary(report))
        raise
    failed = any(o.status not in (NodeStatus.SUCCESS, PlanStatus.REUSED)
                 for o in executor.outcomes.values()) \
        or any(u.error for u in executor.units) or bool(executor.failed_roots)
    plan.unmatched = _unmatched(mesh, ctx, plan)
    report.status = RunStatus.NOOP if plan.noop else (RunStatus.ERROR if failed else RunStatus.SUCCESS)
    history.finish_run(report.run_id, report.status, _summary(report))
    return report


def _unmatched(mesh: Mesh, ctx: PlanningContext, plan: Plan) -> list[str]:
    """dbt's warning for selector terms that match nothing, over the whole planned graph."""
    if not ctx.select and not ctx.exclude:
        return []
    return Selector(plan.graph, projects=frozenset(mesh.projects)).unmatched(ctx.select, ctx.exclude)


def _summary(report: BuildReport) -> dict:
    counts: dict[str, int] = {}
    for uid in report.plan.selected:
        status = report.node_status(uid)
        counts[status] = counts.get(status, 0) + 1
    return {"nodes": counts, "units": len(report.plan.units),
            "waves": len(report.plan.waves())}
