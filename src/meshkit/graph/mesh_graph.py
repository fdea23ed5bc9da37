"""The mesh graph: every project's nodes in one graph, with edges across projects.

Node ids are dbt's own unique ids. They are unique across the mesh because a node's package
is its project, and a consumer's manifest already names upstream models by the producer's
id (`model.analytics.fct_orders.v2`), so the union of the projects' manifests is the mesh.
Each project contributes only the nodes it owns; the copies of upstream models injected
into a consumer are edges, not nodes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from meshkit.columns.lineage import ProjectLineage
from meshkit.dbt.artifacts import (
    Catalog,
    Exposure,
    Group,
    Manifest,
    Node,
    RunResults,
    Source,
    SourceFreshnessResults,
    decode_catalog,
    decode_manifest,
    decode_run_results,
    decode_source_freshness,
)
from meshkit.dbt.nodes import label
from meshkit.errors import MeshError
from meshkit.status import NodeStatus
from meshkit.store.records import RunRecord
from meshkit.store.store import Store


@dataclass
class ProjectState:
    """One project as last published (or as its working copy's target/ holds it)."""

    name: str
    manifest: Manifest
    environment: str | None = None
    run: RunRecord | None = None
    run_results: RunResults | None = None
    catalog: Catalog | None = None
    freshness: SourceFreshnessResults | None = None
    origin: str = ""   # the store location or the target folder it was read from
    # Earlier published runs, newest first, for what the last run did not build: a model a
    # state-aware build reused, or built in an earlier wave of the same meshkit build.
    earlier: list[tuple[RunRecord, RunResults]] = field(default_factory=list)
    # Reads the run's column lineage as published with it (read when first asked for).
    columns_loader: Callable[[], ProjectLineage | None] | None = field(default=None, repr=False)

    def published_columns(self) -> ProjectLineage | None:
        """The column lineage published with this run; None for a working copy or a run
        published without one."""
        if self.columns_loader is not None:
            self.__dict__["_columns"] = self.columns_loader()
            self.columns_loader = None
        return self.__dict__.get("_columns")


@dataclass
class MeshGraph:
    projects: dict[str, ProjectState] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    exposures: dict[str, Exposure] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)   # unique id → the project that builds it

    # -- building --------------------------------------------------------------------------
    def add_project(self, state: ProjectState) -> None:
        self.projects[state.name] = state
        manifest = state.manifest
        # Injected upstream models have no file; everything else (the project's own nodes
        # and those of packages it installs) is built by this project.
        own = [n for n in (*manifest.nodes.values(), *manifest.functions.values())
               if n.original_file_path]
        for node in own:
            self.nodes[node.unique_id] = node
            self.owner[node.unique_id] = state.name
        for source in manifest.sources.values():
            self.sources[source.unique_id] = source
            self.owner[source.unique_id] = state.name
        for exposure in manifest.exposures.values():
            self.exposures[exposure.unique_id] = exposure
            self.owner[exposure.unique_id] = state.name
        for group in manifest.groups.values():
            self.groups[group.unique_id] = group
        for node in own:
            self._link(node.unique_id, node.depends_on.nodes)
        for exposure in manifest.exposures.values():
            self._link(exposure.unique_id, exposure.depends_on.nodes)

    def _link(self, child: str, parents: Iterable[str]) -> None:
        unique = list(dict.fromkeys(parents))
        self.parents[child] = unique
        for parent in unique:
            self.children.setdefault(parent, []).append(child)

    # -- questions -------------------------------------------------------------------------
    def project_of(self, unique_id: str) -> str | None:
        """The project that builds a node; for a node no loaded project has, its package."""
        if unique_id in self.owner:
            return self.owner[unique_id]
        return unique_id.split(".")[1] if unique_id.count(".") >= 2 else None

    def label(self, unique_id: str) -> str:
        """How people name a node: analytics.fct_orders.v2, analytics.jaffle_shop.orders."""
        project = self.project_of(unique_id)
        source = self.sources.get(unique_id)
        if source is not None:
            return f"{project}.{source.source_name}.{source.name}"
        node = self.nodes.get(unique_id) or self.exposures.get(unique_id)
        if node is None:
            return unique_id
        return f"{project}.{label(node.name, getattr(node, 'version', None))}"

    def models(self, project: str | None = None) -> list[Node]:
        return [n for n in self.nodes.values() if n.resource_type == "model"
                and (project is None or self.owner[n.unique_id] == project)]

    def upstream(self, unique_id: str, depth: int | None = None) -> dict[str, int]:
        """Ancestors with their distance, across projects."""
        return _walk(unique_id, self.parents, depth)

    def downstream(self, unique_id: str, depth: int | None = None) -> dict[str, int]:
        """Descendants with their distance, across projects."""
        return _walk(unique_id, self.children, depth)

    def cross_project_edges(self) -> list[tuple[str, str]]:
        """(parent, child) pairs whose projects differ."""
        return [(parent, child) for child, parents in self.parents.items() for parent in parents
                if self.project_of(parent) != self.project_of(child)]

    def tests_of(self, unique_id: str) -> list[Node]:
        return [self.nodes[c] for c in self.children.get(unique_id, [])
                if c in self.nodes and self.nodes[c].resource_type == "test"]


def _walk(start: str, edges: dict[str, list[str]], depth: int | None) -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = deque([(start, 0)])
    while queue:
        current, distance = queue.popleft()
        if depth is not None and distance >= depth:
            continue
        for nxt in edges.get(current, []):
            if nxt not in seen and nxt != start:
                seen[nxt] = distance + 1
                queue.append((nxt, distance + 1))
    return seen


# -- loading -------------------------------------------------------------------------------
def load_from_store(store: Store, env: str, projects: Iterable[str] | None = None,
                    *, with_extras: bool = True) -> MeshGraph:
    """The mesh as last published to `env`: every project in the store (hybrid ones too)."""
    graph = MeshGraph()
    for name in projects if projects is not None else store.projects():
        record = store.latest(name, env)
        if record is None:
            continue
        graph.add_project(_state_from_store(store, record, with_extras))
    return graph


def _state_from_store(store: Store, record: RunRecord, with_extras: bool) -> ProjectState:
    where = store.describe(record.project, record.environment, f"runs/{record.run_id}")
    manifest = decode_manifest(store.read(record, "manifest.json"), source=f"{where}/manifest.json")
    state = ProjectState(record.project, manifest, record.environment, record, origin=where,
                         columns_loader=lambda: store.column_lineage(record))
    if with_extras:
        if "run_results.json" in record.files:    # absent from a publish after `dbt parse`
            state.run_results = decode_run_results(store.read(record, "run_results.json"),
                                                   source=f"{where}/run_results.json")
        if "catalog.json" in record.files:
            state.catalog = decode_catalog(store.read(record, "catalog.json"),
                                           source=f"{where}/catalog.json")
        if "sources.json" in record.files:
            state.freshness = decode_source_freshness(store.read(record, "sources.json"),
                                                      source=f"{where}/sources.json")
        state.earlier = _earlier_results(store, record, manifest, state.run_results)
    return state


LOOKBACK_RUNS = 20   # earlier runs read, at most, for results the last run does not have


def _earlier_results(store: Store, record: RunRecord, manifest: Manifest,
                     latest: RunResults | None) -> list[tuple[RunRecord, RunResults]]:
    """Earlier runs' results, newest first, read until every model, seed, snapshot and test
    of the manifest has a result (a model: a successful one) or LOOKBACK_RUNS were read.
    Ephemeral models are never built, so never looked for."""
    wanted = {uid for uid, n in manifest.nodes.items() if n.original_file_path
              and (n.resource_type in ("seed", "snapshot", "test")
                   or n.resource_type == "model" and n.config.materialized != "ephemeral")}
    wanted -= _covered(latest, manifest)
    found: list[tuple[RunRecord, RunResults]] = []
    if not wanted:
        return found
    for earlier in _runs_before(store, record):
        where = store.describe(earlier.project, earlier.environment, f"runs/{earlier.run_id}")
        try:
            results = decode_run_results(store.read(earlier, "run_results.json"),
                                         source=f"{where}/run_results.json")
        except MeshError:
            continue           # a pruned or damaged older run: the newer ones still count
        covered = _covered(results, manifest) & wanted
        if covered:
            found.append((earlier, results))
            wanted -= covered
        if not wanted:
            break
    return found


def _runs_before(store: Store, record: RunRecord) -> list[RunRecord]:
    """Up to LOOKBACK_RUNS complete runs that completed before `record`, newest first. Run
    ids start with their completion second, so only the newest few records are read."""
    second = record.run_id.split("-", 1)[0]
    ids = sorted((r for r in store.run_ids(record.project, record.environment)
                  if r != record.run_id and r.split("-", 1)[0] <= second), reverse=True)
    runs = []
    for run_id in ids[:LOOKBACK_RUNS + 5]:           # a few more: same-second ties
        try:
            earlier = store.record(record.project, record.environment, run_id)
        except MeshError:
            continue           # an incomplete or damaged run folder
        if earlier.order_key < record.order_key:
            runs.append(earlier)
    return sorted(runs, key=lambda r: r.order_key, reverse=True)[:LOOKBACK_RUNS]


def _covered(results: RunResults | None, manifest: Manifest) -> set[str]:
    """Ids with a result that counts: a test's any result, a model's a successful build."""
    if results is None:
        return set()
    return {r.unique_id for r in results.results
            if r.status == NodeStatus.SUCCESS or manifest.nodes.get(r.unique_id) is not None
            and manifest.nodes[r.unique_id].resource_type == "test"}


def load_manifest_file(path: Path) -> ProjectState:
    """A single manifest.json given by path (for diffs and one-off checks)."""
    manifest = decode_manifest(path.read_bytes(), source=str(path))
    name = manifest.metadata.project_name or path.parent.parent.name
    return ProjectState(name, manifest, origin=str(path))
