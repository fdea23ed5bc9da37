"""The plan: which nodes to rebuild, in which waves, as which dbt invocations.

A wave holds, per project, one `dbt build --select …`. A node goes into the first wave after
every rebuilt parent of another project; parents of the same project share its wave, since
dbt orders those itself. Projects may therefore depend on each other both ways, as long as
the models form no cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from meshkit.dbt.nodes import is_latest
from meshkit.errors import MeshError
from meshkit.graph.cycles import Cycle, dependency_order
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.selection import EXECUTABLE, Selector
from meshkit.orchestrate.state import Decision, StateInputs, decide, label

if TYPE_CHECKING:
    from meshkit.orchestrate.parse import ParsedProject


@dataclass(frozen=True)
class Unit:
    """One dbt invocation: a project's rebuilt nodes of one wave."""

    project: str
    wave: int
    nodes: tuple[str, ...]
    tests: tuple[str, ...] = ()      # tests deferred to this unit (see _defer_tests)
    excluded: tuple[str, ...] = ()   # tests of these nodes that run in a later unit

    @property
    def key(self) -> tuple[str, int]:
        return (self.project, self.wave)


@dataclass
class Plan:
    environment: str
    graph: MeshGraph
    selected: list[str]                     # topological order
    decisions: dict[str, Decision]
    units: list[Unit]
    depends: dict[tuple[str, int], set[tuple[str, int]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)   # selector terms that matched nothing
    # Models this run publishes as public before their readers build (orchestrate.access):
    # the readers' invocations get placeholders for them instead of refusals.
    public_in_run: set[str] = field(default_factory=set)

    @property
    def noop(self) -> bool:
        return not self.units

    def rebuilt(self) -> list[str]:
        return [uid for uid in self.selected if self.decisions[uid].rebuild]

    def waves(self) -> list[list[Unit]]:
        count = max((u.wave for u in self.units), default=-1) + 1
        return [[u for u in self.units if u.wave == w] for w in range(count)]


def resolve_placeholders(graph: MeshGraph) -> None:
    """Point edges at models that exist: an unpinned ref parsed against a placeholder names
    `model.p.m`, while the producer's working copy has `model.p.m.v2` (its latest version)."""
    latest: dict[tuple[str, str], str] = {}
    for uid, node in graph.nodes.items():
        if node.resource_type == "model" and (
                node.version is None or is_latest(node)):
            latest[(graph.owner[uid], node.name)] = uid
    for child, parents in graph.parents.items():
        fixed = []
        for parent in parents:
            if parent not in graph.nodes and parent not in graph.sources and parent.startswith("model."):
                _, project, name = parent.split(".", 2)
                fixed.append(latest.get((project, name.split(".v")[0]), parent))
            else:
                fixed.append(parent)
        if fixed != parents:
            for old in set(parents) - set(fixed):
                siblings = graph.children.get(old, [])
                if child in siblings:
                    siblings.remove(child)
            for new in set(fixed) - set(parents):
                graph.children.setdefault(new, []).append(child)
            graph.parents[child] = fixed


def check_cycles(graph: MeshGraph) -> list[str]:
    """Executable nodes in dependency order; a model-level cycle is refused with its path."""
    nodes = [uid for uid, n in graph.nodes.items() if n.resource_type in EXECUTABLE]
    edges = {uid: [p for p in graph.parents.get(uid, []) if p in graph.nodes
                   and graph.nodes[p].resource_type in EXECUTABLE] for uid in nodes}
    try:
        return dependency_order(edges)
    except Cycle as exc:
        cycle = [label(graph, uid) for uid in exc.path]
        raise MeshError(f"models form a cycle across projects: {' → '.join(cycle)}",
                        hint="a model may not depend on itself through other projects; "
                             "move one of these refs or split the model") from None


@dataclass
class PlannedBuild:
    """A build's plan and what planning learnt on the way, as the executor needs them."""

    plan: Plan
    parsed: dict[str, ParsedProject]
    fingerprints: dict[str, str]           # unique id → fingerprint of the code it builds
    source_loaded_at: dict[str, str]       # source id → max_loaded_at read before planning


def make_plan(graph: MeshGraph, environment: str, select: list[str] | None,
              exclude: list[str] | None, inputs: StateInputs, modified: set[str],
              available: set[str], producer_envs: dict[str, str] | None = None) -> Plan:
    """The whole mesh planned at once. `available`: nodes already built and published (usable
    without rebuilding); `producer_envs`: the environment each project's consumers read it from.
    Raises MeshError for a cycle, an unresolved ref or an upstream never built."""
    plan = Plan(environment, graph, [], {}, [], {})
    selected = select_nodes(graph, check_cycles(graph), select, exclude, modified, available,
                            inputs, producer_envs or {}, environment)
    extend_plan(plan, selected, inputs, {})
    return plan


def select_nodes(graph: MeshGraph, order: list[str], select: list[str] | None,
                 exclude: list[str] | None, modified: set[str], available: set[str],
                 inputs: StateInputs, producer_envs: dict[str, str], environment: str,
                 projects: frozenset[str] | None = None) -> list[str]:
    """The nodes of `order` that `--select`/`--exclude` choose (with the nodes they need), in
    that order; the one selection both planners make (the staged one per project). Raises
    MeshError for an unresolved ref or an upstream neither selected nor built."""
    selector = Selector(graph, frozenset(modified), projects=projects or frozenset())
    chosen = selector.with_needed(selector.select(select, exclude))
    selected = [uid for uid in order if uid in chosen]
    check_unresolved(graph, selected)
    check_upstream_available(graph, selected, chosen, available, inputs, producer_envs, environment)
    return selected


def extend_plan(plan: Plan, selected: list[str], inputs: StateInputs,
                wave: dict[str, int]) -> tuple[dict[str, Decision], list[Unit]]:
    """Decide `selected` (after the nodes `plan` holds) and add them and their units to
    `plan`; `wave` carries node waves across calls. Returns the new decisions and units."""
    decisions = decide(plan.graph, selected, inputs, plan.decisions)
    units, depends = assign_units(plan.graph, selected, decisions, wave)
    plan.selected += selected
    plan.decisions.update(decisions)
    plan.units += units
    plan.depends.update(depends)
    return decisions, units


def check_unresolved(graph: MeshGraph, selected: list[str]) -> None:
    """Raises MeshError when a selected node refs a node of another mesh project that is not a
    model (cross-project refs reach models only)."""
    for uid in selected:
        for parent in graph.parents.get(uid, []):
            if parent in graph.nodes or parent in graph.sources or not parent.startswith("model."):
                continue
            project = parent.split(".")[1]
            if project in graph.projects:
                node = graph.nodes[uid]
                name = parent.split(".", 2)[2]
                where = f"{graph.owner[uid]}/{node.original_file_path}"
                other = next((n for i, n in graph.nodes.items() if graph.owner.get(i) == project
                              and n.name == name and n.resource_type != "model"), None)
                if other is not None:
                    raise MeshError(
                        f"{label(graph, uid)} refs {project}.{name}, which is a {other.resource_type} "
                        f"of project '{project}'; only public models can be referenced from another "
                        f"project", file=where,
                        hint=f"add a model to '{project}' that selects from ref('{name}'), set "
                             f"`access: public` on it, and ref that model")
                raise MeshError(f"{label(graph, uid)} refs {project}.{name}, "
                                f"which does not exist in project '{project}'", file=where,
                                hint=f"check the model name, or add it to '{project}' and make it public")


def check_upstream_available(graph: MeshGraph, selected: list[str], chosen: set[str],
                             available: set[str], inputs: StateInputs,
                             producer_envs: dict[str, str], environment: str) -> None:
    """Selected models whose upstream in another project is neither selected nor built."""
    for uid in selected:
        for parent in graph.parents.get(uid, []):
            node = graph.nodes.get(parent)
            if node is None or node.resource_type not in EXECUTABLE or parent in chosen:
                continue
            if graph.owner[parent] == graph.owner[uid]:
                continue
            if parent in available or parent in inputs.states:
                continue
            producer = graph.owner[parent]
            producer_env = producer_envs.get(producer, environment)
            raise MeshError(
                f"{label(graph, uid)} needs {label(graph, parent)}, which has never been built "
                f"or published in environment '{producer_env}'",
                hint=f"build it first: `meshkit build --project {producer} --env {producer_env}`"
                     + (f", or select it too (`+{label(graph, uid).replace('.', ':', 1)}`)"
                        if producer_env == environment else ""))


def _delay_to_fewer_invocations(graph: MeshGraph, selected: list[str], wave: dict[str, int]) -> None:
    """Move nodes as late as their children allow, into their project's later invocations.

    The first pass puts each node in its earliest wave; a project's independent staging
    models would then get an invocation of their own (each costs seconds of dbt start-up).
    Sliding nodes back, children first, keeps the plan correct and merges those units.
    """
    last: dict[str, int] = {}
    for uid, level in wave.items():
        last[graph.owner[uid]] = max(last.get(graph.owner[uid], 0), level)
    for uid in reversed(selected):
        if uid not in wave:
            continue
        project = graph.owner[uid]
        latest = last[project]
        for child in graph.children.get(uid, []):
            if child in wave:
                latest = min(latest, wave[child] - (graph.owner[child] != project))
        wave[uid] = max(wave[uid], latest)


def assign_units(graph: MeshGraph, selected: list[str], decisions: dict[str, Decision],
                 wave: dict[str, int]):
    """Units for the rebuilt nodes of `selected`, each in its earliest wave after its parents.

    `wave` holds the waves of nodes planned before (a staged build plans project by project);
    it is extended with the new nodes' waves, and their units depend on those earlier units.
    """
    planned_before = set(wave)
    for uid in selected:
        if not decisions[uid].rebuild:
            continue
        project = graph.owner[uid]
        level = 0
        for parent in graph.parents.get(uid, []):
            if parent in wave:
                level = max(level, wave[parent] + (graph.owner[parent] != project))
        wave[uid] = level
    _delay_to_fewer_invocations(graph, selected, wave)
    grouped: dict[tuple[str, int], list[str]] = {}
    for uid in selected:
        if uid in wave and uid not in planned_before:
            grouped.setdefault((graph.owner[uid], wave[uid]), []).append(uid)
    units = [Unit(project, level, tuple(nodes)) for (project, level), nodes in
             sorted(grouped.items(), key=lambda item: (item[0][1], item[0][0]))]
    units = _defer_tests(graph, units, wave)
    depends: dict[tuple[str, int], set[tuple[str, int]]] = {u.key: set() for u in units}
    for unit in units:
        for uid in unit.nodes + unit.tests:
            for parent in graph.parents.get(uid, []):
                if parent in wave and (graph.owner[parent], wave[parent]) != unit.key:
                    depends[unit.key].add((graph.owner[parent], wave[parent]))
        # Two dbt processes must never share a project folder (target/, partial parse).
        depends[unit.key] |= {u.key for u in units if u.project == unit.project and u.wave < unit.wave}
    return units, depends


def _defer_tests(graph: MeshGraph, units: list[Unit], wave: dict[str, int]) -> list[Unit]:
    """Run each test after every parent this plan rebuilds, not with the first of them.

    dbt runs a test with any selected parent. A test that also reads a model rebuilt in a
    later invocation (another project's model built from the tested one, say) would then
    run before that model exists or is current: it is excluded there, and runs in its
    project's invocation of the wave after its last rebuilt parent (added if need be).
    """
    by_key = {u.key: u for u in units}
    tests: dict[tuple[str, int], list[str]] = {}
    excluded: dict[tuple[str, int], list[str]] = {}
    seen: set[str] = set()
    for unit in units:
        for uid in unit.nodes:
            for test in graph.tests_of(uid):
                tid = test.unique_id
                if tid in seen or graph.owner.get(tid) != unit.project:
                    continue
                seen.add(tid)
                rebuilt = [p for p in graph.parents.get(tid, []) if p in wave]
                due = max(wave[p] + (graph.owner[p] != unit.project) for p in rebuilt)
                first = min(wave[p] for p in rebuilt if graph.owner[p] == unit.project)
                if due == first:
                    continue   # all its parents are built by then: dbt runs it with them
                tests.setdefault((unit.project, due), []).append(tid)
                for parent in rebuilt:
                    if graph.owner[parent] == unit.project and wave[parent] < due:
                        excluded.setdefault((unit.project, wave[parent]), []).append(tid)
    for key in tests.keys() - by_key.keys():
        by_key[key] = Unit(key[0], key[1], ())
    return [replace(u, tests=tuple(tests.get(u.key, ())),
                    excluded=tuple(dict.fromkeys(excluded.get(u.key, ()))))
            for _, u in sorted(by_key.items(), key=lambda item: (item[0][1], item[0][0]))]
