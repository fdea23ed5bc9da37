"""Staged builds: plan each project as soon as it and its upstream projects are parsed.

On a cold mesh, `dbt parse` is most of the planning time. When the projects' declared
dependencies form no cycle and the selection only looks upstream, nothing downstream of a
project can change its decisions, so its dbt invocations may start while the projects after
it are still being parsed. Otherwise (projects depending on each other both ways, `+x` or
`@x` selectors, `--verify-relations`) build.py plans the whole mesh before running it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from meshkit.config import Mesh
from meshkit.graph.cycles import Cycle, dependency_order
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.projects import project_dependencies
from meshkit.graph.selection import EXECUTABLE
from meshkit.orchestrate.access import check_refused_refs
from meshkit.orchestrate.context import BuildOptions, PlanningContext
from meshkit.orchestrate.freshness import source_loaded_at, tracked_sources
from meshkit.orchestrate.history import History
from meshkit.orchestrate.parse import ParsedProject, add_to_graph, dbt_environment, parse_project
from meshkit.orchestrate.plan import (
    Plan,
    PlannedBuild,
    Unit,
    extend_plan,
    resolve_placeholders,
    select_nodes,
)

# Selector terms whose matches depend on a node's descendants: `+x`, `2+x`, `@x`.
_LOOKS_DOWNSTREAM = re.compile(r"^(@|\d*\+)")


def staging_order(mesh: Mesh, ctx: PlanningContext,
                  options: BuildOptions) -> dict[str, list[str]] | None:
    """The projects in build order, each with its upstream projects, when they can be
    planned one by one; else None."""
    if options.verify_relations:
        return None
    terms = [part for expression in (ctx.select or []) + (ctx.exclude or [])
             for term in expression.split() for part in term.split(",")]
    if any(_LOOKS_DOWNSTREAM.match(term) for term in terms):
        return None
    declared = project_dependencies(mesh)
    graph = {name: [d for d in declared.get(name, []) if d in ctx.names] for name in ctx.names}
    try:
        return {name: graph[name] for name in dependency_order(graph)}
    except Cycle:
        return None


@dataclass(frozen=True)
class Task:
    """Planning work for a worker slot: parse a project, or read its sources' freshness."""

    kind: str                          # parse | freshness
    project: str
    run: Callable[[], object]
    touches_warehouse: bool            # freshness opens the project's database files


class StagedPlanner:
    """Grows one plan project by project; the executor asks it for work and for new units."""

    def __init__(self, mesh: Mesh, ctx: PlanningContext, history: History,
                 upstream: dict[str, list[str]], on_line: Callable[[str, str], None] | None = None) -> None:
        self.mesh, self.ctx, self.history, self.on_line = mesh, ctx, history, on_line
        self.plan = Plan(ctx.env.name, MeshGraph(), [], {}, [], {})
        self.parsed: dict[str, ParsedProject] = {}
        self.fingerprints: dict[str, str] = {}
        self.inputs = ctx.state_inputs(self.fingerprints)
        self.run_id: int | None = None
        self._upstream = upstream
        self._to_parse = list(upstream)
        self._in_flight: set[str] = set()
        self._ready: dict[str, list[str]] = {}     # parsed, upstream planned: selected nodes
        self._planned: set[str] = set()
        self._wave: dict[str, int] = {}

    @property
    def planned(self) -> PlannedBuild:
        """The plan as it grows (its dicts fill in while the build runs)."""
        return PlannedBuild(self.plan, self.parsed, self.fingerprints, self.inputs.source_loaded_at)

    # -- what the executor asks --------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self._to_parse or self._in_flight or len(self._planned) < len(self._upstream))

    def next_task(self, warehouse_busy: Callable[[str], bool]) -> Task | None:
        """Source freshness of a project waiting on it, else the next parse in build order."""
        for name, selected in self._ready.items():
            if name not in self._in_flight and not warehouse_busy(name):
                self._in_flight.add(name)
                return Task("freshness", name, partial(self._loaded_at, name, selected), True)
        if self._to_parse:
            name = self._to_parse.pop(0)
            self._in_flight.add(name)
            return Task("parse", name, partial(self._parse, name), False)
        return None

    def finish(self, task: Task, result) -> list[Unit]:
        """Absorb a finished task; returns the units of every project it let be planned."""
        self._in_flight.discard(task.project)
        units: list[Unit] = []
        if task.kind == "parse":
            self.parsed[task.project] = result
        else:
            self.inputs.source_loaded_at.update(result)
            units += self._plan_project(task.project, self._ready.pop(task.project))
        progress = True
        while progress:
            progress = False
            for name in self._upstream:
                if name in self.parsed and name not in self._planned and name not in self._ready \
                        and all(u in self._planned for u in self._upstream[name]):
                    units += self._select(name)
                    progress = True
        return units

    # -- planning one project ----------------------------------------------------------------
    def _parse(self, name: str) -> ParsedProject:
        return parse_project(self.mesh, self.ctx.env, self.history, self.mesh.project(name),
                             self.on_line, self.ctx.upstream_key(self.mesh, name), self.ctx.dbt_vars)

    def _select(self, name: str) -> list[Unit]:
        graph = self.plan.graph
        self.fingerprints.update(add_to_graph(graph, self.parsed[name], self.ctx.env.name))
        self.ctx.compare_interface(graph, name)
        resolve_placeholders(graph)
        ctx = self.ctx
        selected = select_nodes(graph, _project_order(graph, name), ctx.select, ctx.exclude,
                                ctx.modified(self.fingerprints), ctx.available, self.inputs,
                                ctx.producer_envs, ctx.env.name, projects=frozenset(ctx.names))
        if not self.ctx.full and tracked_sources(graph, selected):
            self._ready[name] = selected      # planned once its sources' freshness is known
            return []
        return self._plan_project(name, selected)

    def _loaded_at(self, name: str, selected: list[str]) -> dict[str, str]:
        return source_loaded_at(self.mesh, self.plan.graph, selected, self.ctx.env.target,
                                dbt_environment(self.mesh, self.ctx.env), self.on_line,
                                self.ctx.dbt_vars)

    def _plan_project(self, name: str, selected: list[str]) -> list[Unit]:
        plan = self.plan
        decisions, units = extend_plan(plan, selected, self.inputs, self._wave)
        if selected:   # before any of its invocations runs
            plan.public_in_run |= check_refused_refs(plan.graph, plan.decisions, {name},
                                                     list(self.parsed[name].refusals),
                                                     self.ctx.available)
        if self.run_id is not None:
            self.history.record_decisions(self.run_id, [d.history_row for d in decisions.values()])
        self._planned.add(name)
        return units


def _project_order(graph: MeshGraph, project: str) -> list[str]:
    """The project's executable nodes, parents first (dbt refuses cycles inside a project)."""
    own = sorted(uid for uid, owner in graph.owner.items() if owner == project
                 and uid in graph.nodes and graph.nodes[uid].resource_type in EXECUTABLE)
    members = set(own)
    return dependency_order({uid: [p for p in graph.parents.get(uid, []) if p in members]
                             for uid in own})
