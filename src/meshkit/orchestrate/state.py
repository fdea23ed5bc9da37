"""State-aware decisions: rebuild a model only when something it depends on changed.

A model is rebuilt when it was never built, its code or config changed, its entry in the
project's published interface differs from the code (latest_version, access, deprecation date,
relation, contract, columns…), its last build was never published, its last build or tests
failed, its relation is missing, an upstream model (in any project) was rebuilt since
it was, or a source it reads has new data. `config.freshness.build_after` (which dbt Core
parses and ignores) delays rebuilds caused by new data until `count × period` has passed
since the model's last build; `updates_on: all` waits until every parent has new data. A
code change always rebuilds (dbt State's rule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from meshkit.dbt.artifacts import Node
from meshkit.dbt.nodes import label as versioned_name
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.orchestrate.history import ModelState

_PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Decision:
    unique_id: str
    project: str
    rebuild: bool
    reason: str

    @property
    def label(self) -> str:
        return f"{'rebuilt' if self.rebuild else 'reused'}: {self.reason}"

    @property
    def history_row(self) -> tuple[str, str, str, str, str | None]:
        """(unique_id, project, decision, reason, status), as run history records it."""
        return (self.unique_id, self.project, "rebuild" if self.rebuild else "reuse", self.reason,
                None if self.rebuild else "reused")


@dataclass
class StateInputs:
    states: dict[str, ModelState]
    fingerprints: dict[str, str]
    source_loaded_at: dict[str, str] = field(default_factory=dict)   # source id → max_loaded_at
    missing_relations: set[str] = field(default_factory=set)
    unpublished: set[str] = field(default_factory=set)   # projects with no intact run in the store
    # unique id → how the store's published entry differs from the code (latest_version 1 → 2)
    interface_changes: dict[str, str] = field(default_factory=dict)
    full: bool = False
    now: float = field(default_factory=time.time)


def decide(graph: MeshGraph, order: list[str], inputs: StateInputs,
           earlier: dict[str, Decision] | None = None) -> dict[str, Decision]:
    """Decisions for the selected nodes, parents before children (`order`); `earlier`
    holds the decisions on upstream nodes planned before these (a staged build)."""
    decisions: dict[str, Decision] = dict(earlier or {})
    for uid in order:
        project = graph.owner[uid]
        rebuild, reason = _decide_one(graph, uid, inputs, decisions)
        decisions[uid] = Decision(uid, project, rebuild, reason)
    return {uid: decisions[uid] for uid in order}


def _decide_one(graph: MeshGraph, uid: str, inputs: StateInputs,
                decisions: dict[str, Decision]) -> tuple[bool, str]:
    node = graph.nodes[uid]
    state = inputs.states.get(uid)
    if inputs.full:
        return True, "full build requested (--full)"
    if state is None:
        return True, "never built"
    if graph.owner[uid] in inputs.unpublished:
        return True, f"{graph.owner[uid]} has no intact published run in the store"
    if inputs.fingerprints.get(uid) != state.fingerprint:
        return True, "code or config changed"
    if uid in inputs.interface_changes:
        return True, f"public interface changed: {inputs.interface_changes[uid]}"
    if state.status not in ("success", "unpublished"):
        return True, f"last build failed (run {state.run_id})"
    if not state.tests_passed:
        return True, f"tests failed in run {state.run_id}"
    if state.status == "unpublished":
        return True, f"built in run {state.run_id}, but that run was never published"
    if uid in inputs.missing_relations:
        return True, f"relation {node.relation_name or node.name} is missing"
    fresh, waiting = _new_data(graph, node, state, inputs, decisions)
    if not fresh:
        return False, f"unchanged since run {state.run_id}"
    rule = _build_after(node)
    if rule is not None:
        count, period, updates_on = rule
        if updates_on == "all" and waiting:
            return False, (f"waiting for new data from all parents (updates_on: all): "
                           f"{', '.join(_label(graph, w) for w in waiting)} unchanged")
        window = count * _PERIOD_SECONDS.get(period, 0)
        elapsed = inputs.now - state.built_at
        if elapsed < window:
            return False, (f"new data from {', '.join(fresh)}, but build_after {count} {period}(s) "
                           f"has not passed since run {state.run_id}")
    return True, " and ".join(fresh)


def _new_data(graph: MeshGraph, node: Node, state: ModelState, inputs: StateInputs,
              decisions: dict[str, Decision]) -> tuple[list[str], list[str]]:
    """Reasons of parents with new data since this model's last build; parents without."""
    fresh, waiting = [], []
    for parent in graph.parents.get(node.unique_id, []):
        if parent in graph.sources:
            source = graph.sources[parent]
            seen = state.sources_seen.get(parent)
            now = inputs.source_loaded_at.get(parent)
            if now is None:
                continue  # not tracked: no loaded_at_field / freshness on this source
            if seen is None or now > seen:
                fresh.append(f"source {source.source_name}.{source.name} has new data")
            else:
                waiting.append(parent)
            continue
        if parent not in graph.nodes or graph.nodes[parent].resource_type == "test":
            continue
        decision = decisions.get(parent)
        parent_state = inputs.states.get(parent)
        change = inputs.interface_changes.get(parent)
        if change and graph.owner.get(parent) != graph.owner.get(node.unique_id):
            fresh.append(f"{_label(graph, parent)} changed its public interface ({change})")
        elif decision is not None and decision.rebuild:
            fresh.append(f"{_label(graph, parent)} was rebuilt")
        elif parent_state is not None and parent_state.built_at > state.built_at:
            fresh.append(f"{_label(graph, parent)} was rebuilt in run {parent_state.run_id}")
        else:
            waiting.append(parent)
    return fresh, waiting


def _build_after(node: Node) -> tuple[int, str, str] | None:
    freshness = node.config.freshness
    if freshness is None or freshness.build_after is None:
        return None
    rule = freshness.build_after
    return (rule.count or 0, rule.period or "minute", rule.updates_on or "any")


def _label(graph: MeshGraph, uid: str) -> str:
    """analytics.fct_orders (v2 shown only when a model has versions)."""
    node = graph.nodes.get(uid)
    project = graph.project_of(uid)
    if node is None:
        return uid
    return f"{project}.{versioned_name(node.name, node.version)}"


label = _label
