"""State-aware decisions: rebuild a model only when something it depends on changed.

A model is rebuilt when it was never built, its code or config changed, its entry in the
project's published interface differs from the code (latest_version, access, deprecation date,
relation, contract, columns…), its last build was never published, its last build or tests
failed, its relation is missing, an upstream model (in any project) was rebuilt since
it was, or a source it reads has new data. `config.freshness.build_after` (which dbt Core
parses and ignores) delays rebuilds caused by new data until `count × period` has passed
since the model's last build; `updates_on: all` waits until every parent has new data. A
code change always rebuilds (dbt State's rule).

Each check is a rule in `RULES`, asked in order; its answer is a `Reason` with a kind
(orchestrate.reasons), worded only where it is shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from meshkit.dbt.artifacts import Node
from meshkit.dbt.nodes import label as versioned_name
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.orchestrate.history import UNPUBLISHED, ModelState
from meshkit.orchestrate.reasons import Kind, Reason, describe
from meshkit.status import NodeStatus, PlanStatus

_PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Decision:
    unique_id: str
    project: str
    rebuild: bool
    reason: Reason

    @property
    def label(self) -> str:
        """The decision in words: "rebuilt: code or config changed"."""
        return f"{'rebuilt' if self.rebuild else 'reused'}: {describe(self.reason)}"

    @property
    def history_row(self) -> tuple[str, str, str, str, str | None, str | None]:
        """(unique_id, project, decision, reason kind, details JSON, status), as run history
        records it."""
        kind, details = self.reason.to_stored()
        return (self.unique_id, self.project, "rebuild" if self.rebuild else "reuse", kind, details,
                None if self.rebuild else PlanStatus.REUSED)


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
        facts = _Facts(graph, uid, graph.nodes[uid], inputs.states.get(uid), inputs, decisions)
        reason = next(r for r in (rule(facts) for rule in RULES) if r is not None)
        decisions[uid] = Decision(uid, graph.owner[uid], reason.rebuild, reason)
    return {uid: decisions[uid] for uid in order}


@dataclass
class _Facts:
    """What the rules judge one node by."""

    graph: MeshGraph
    uid: str
    node: Node
    state: ModelState | None     # None: never built (the rules after _never_built see one)
    inputs: StateInputs
    decisions: dict[str, Decision]   # of its parents, decided first

    @property
    def run_id(self) -> int:
        assert self.state is not None
        return self.state.run_id


Rule = Callable[[_Facts], "Reason | None"]


def _full(f: _Facts) -> Reason | None:
    return Reason(Kind.FULL) if f.inputs.full else None


def _never_built(f: _Facts) -> Reason | None:
    return Reason(Kind.NEVER_BUILT) if f.state is None else None


def _project_unpublished(f: _Facts) -> Reason | None:
    project = f.graph.owner[f.uid]
    return Reason(Kind.PROJECT_UNPUBLISHED, {"project": project}) \
        if project in f.inputs.unpublished else None


def _code_changed(f: _Facts) -> Reason | None:
    assert f.state is not None
    return Reason(Kind.CODE_CHANGED) if f.inputs.fingerprints.get(f.uid) != f.state.fingerprint \
        else None


def _interface_changed(f: _Facts) -> Reason | None:
    change = f.inputs.interface_changes.get(f.uid)
    return Reason(Kind.INTERFACE_CHANGED, {"change": change}) if change else None


def _failed_last_time(f: _Facts) -> Reason | None:
    assert f.state is not None
    return Reason(Kind.FAILED_LAST_TIME, {"run_id": f.run_id}) \
        if f.state.status not in (NodeStatus.SUCCESS, UNPUBLISHED) else None


def _tests_failed(f: _Facts) -> Reason | None:
    assert f.state is not None
    return Reason(Kind.TESTS_FAILED, {"run_id": f.run_id}) if not f.state.tests_passed else None


def _never_published(f: _Facts) -> Reason | None:
    assert f.state is not None
    return Reason(Kind.NEVER_PUBLISHED, {"run_id": f.run_id}) \
        if f.state.status == UNPUBLISHED else None


def _relation_gone(f: _Facts) -> Reason | None:
    return Reason(Kind.RELATION_GONE, {"relation": f.node.relation_name or f.node.name}) \
        if f.uid in f.inputs.missing_relations else None


def _upstream(f: _Facts) -> Reason:
    """New data from parents (sources, upstream models), held back by `build_after`."""
    assert f.state is not None
    causes, waiting = _new_data(f.graph, f.node, f.state, f.inputs, f.decisions)
    if not causes:
        return Reason(Kind.UNCHANGED, {"run_id": f.run_id})
    rule = _build_after(f.node)
    if rule is not None:
        count, period, updates_on = rule
        if updates_on == "all" and waiting:
            return Reason(Kind.WAITING_FOR_ALL_PARENTS,
                          {"waiting": [_label(f.graph, w) for w in waiting]})
        window = count * _PERIOD_SECONDS.get(period, 0)
        if f.inputs.now - f.state.built_at < window:
            return Reason(Kind.BUILD_AFTER_NOT_DUE,
                          {"count": count, "period": period, "run_id": f.run_id}, tuple(causes))
    return Reason(Kind.NEW_DATA, causes=tuple(causes))


# Asked in order; the first reason given decides. The last rule always gives one.
RULES: tuple[Rule, ...] = (_full, _never_built, _project_unpublished, _code_changed,
                           _interface_changed, _failed_last_time, _tests_failed, _never_published,
                           _relation_gone, _upstream)


def _new_data(graph: MeshGraph, node: Node, state: ModelState, inputs: StateInputs,
              decisions: dict[str, Decision]) -> tuple[list[Reason], list[str]]:
    """The changes of parents with new data since this model's last build; parents without."""
    fresh: list[Reason] = []
    waiting: list[str] = []
    for parent in graph.parents.get(node.unique_id, []):
        if parent in graph.sources:
            source = graph.sources[parent]
            seen = state.sources_seen.get(parent)
            now = inputs.source_loaded_at.get(parent)
            if now is None:
                continue  # not tracked: no loaded_at_field / freshness on this source
            if seen is None or now > seen:
                fresh.append(Reason(Kind.NEW_SOURCE_DATA,
                                    {"source": f"{source.source_name}.{source.name}"}))
            else:
                waiting.append(parent)
            continue
        if parent not in graph.nodes or graph.nodes[parent].resource_type == "test":
            continue
        decision = decisions.get(parent)
        parent_state = inputs.states.get(parent)
        change = inputs.interface_changes.get(parent)
        name = _label(graph, parent)
        if change and graph.owner.get(parent) != graph.owner.get(node.unique_id):
            fresh.append(Reason(Kind.UPSTREAM_INTERFACE_CHANGED, {"parent": name, "change": change}))
        elif decision is not None and decision.rebuild:
            fresh.append(Reason(Kind.UPSTREAM_REBUILT, {"parent": name}))
        elif parent_state is not None and parent_state.built_at > state.built_at:
            fresh.append(Reason(Kind.UPSTREAM_REBUILT_SINCE,
                                {"parent": name, "run_id": parent_state.run_id}))
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
