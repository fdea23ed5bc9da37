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
from typing import Iterable

from meshkit.config import Mesh
from meshkit.dbt.artifacts import (Catalog, Exposure, Group, Manifest, Node, RunResults, Source,
                                   SourceFreshnessResults, decode_catalog, decode_manifest,
                                   decode_run_results, decode_source_freshness)
from meshkit.errors import MeshError
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
        own = [n for n in manifest.nodes.values() if n.original_file_path]
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
    state = ProjectState(record.project, manifest, record.environment, record, origin=where)
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
    return state


def load_from_working_copies(mesh: Mesh, projects: Iterable[str] | None = None,
                             target_path: str = "target") -> MeshGraph:
    """The mesh as each project's last local dbt invocation saw it (target/manifest.json)."""
    graph = MeshGraph()
    for name in projects if projects is not None else mesh.projects:
        folder = mesh.project(name).path / target_path
        path = folder / "manifest.json"
        if not path.is_file():
            raise MeshError(f"project '{name}' has no {target_path}/manifest.json", file=path,
                            hint=f"run `dbt parse` in {mesh.project(name).path} first")
        graph.add_project(ProjectState(name, decode_manifest(path.read_bytes(), source=str(path)),
                                       origin=str(folder)))
    return graph


def load_manifest_file(path: Path) -> ProjectState:
    """A single manifest.json given by path (for diffs and one-off checks)."""
    manifest = decode_manifest(path.read_bytes(), source=str(path))
    name = manifest.metadata.project_name or path.parent.parent.name
    return ProjectState(name, manifest, origin=str(path))
