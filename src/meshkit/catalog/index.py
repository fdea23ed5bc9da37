"""The catalog's index of a mesh: the lookups every page needs, computed once per graph version.

A `Catalog` is built once per graph version (the set of published runs it was read from)
and is immutable afterwards, apart from its caches; a live server swaps in a new one when a
project publishes. Lookups that pages need per node (run results, versions, tags, labels)
are indexed at build time so that no page walks the whole mesh. Each page's view is built
by its own module (overview, project, node, lineage, search), which reads this index and
keeps what it builds in `Catalog.cached`; this module imports none of them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict, defaultdict
from datetime import datetime, timezone
from typing import Any, Callable, Hashable, Iterable, TypeVar

from meshkit.catalog.views import NodeRef, ResultView
from meshkit.dbt.artifacts import FreshnessResult, Node, RunResult
from meshkit.dbt.nodes import access_of, is_latest, parse_time, version_text
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.status import NodeStatus

SEARCHABLE_TYPES = frozenset({"model", "seed", "snapshot", "source", "exposure"})
LINEAGE_TYPES = frozenset({"model", "seed", "snapshot", "source", "exposure"})
MODEL_LIKE = frozenset({"model", "seed", "snapshot"})
_DOC_RE = re.compile(r"""\{\{\s*doc\(\s*(['"])([^'"]+)\1\s*(?:,\s*(['"])([^'"]+)\3\s*)?\)\s*\}\}""")
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class BoundedCache:
    """Values per key, least recently used dropped beyond `size`; counts hits and misses."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return found

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Catalog:
    def __init__(self, graph: MeshGraph, *, mesh_name: str = "mesh",
                 environment: str | None = None, now: datetime | None = None) -> None:
        self.graph = graph
        self.mesh_name = mesh_name
        self.environment = environment
        self.now = now or _now()
        self.project_names = sorted(graph.projects)
        self.version = _graph_version(graph)
        self._refs: dict[str, NodeRef] = {}
        self._results: dict[str, RunResult] = {}
        self._freshness: dict[str, FreshnessResult] = {}
        self._result_runs: dict[str, str] = {}     # id → the earlier run its result is from
        for state in graph.projects.values():
            if state.run_results:
                for result in state.run_results.results:
                    self._results[result.unique_id] = result
            self._add_earlier(state)
            if state.freshness:
                for fresh in state.freshness.results:
                    self._freshness[fresh.unique_id] = fresh
        self._versions: dict[tuple[str, str], list[Node]] = defaultdict(list)
        for node in graph.nodes.values():
            if node.resource_type == "model" and node.version is not None:
                self._versions[(node.package_name, node.name)].append(node)
        self._docs: dict[tuple[str, str], str] = {}
        for state in graph.projects.values():
            for doc in state.manifest.docs.values():
                self._docs.setdefault((doc.package_name, doc.name), doc.block_contents)
        self._declared = _declared_dependencies(graph)
        self._edge_counts = self._count_project_edges()
        self._tags: dict[str, list[str]] = {}
        self._views: dict[Hashable, Any] = {}            # page views, built once (cached)
        self.lineage_cache = BoundedCache()               # lineages: many keys, bounded

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()`'s value, computed once per key for this graph version (page modules'
        views: the overview, a project, a run, the project graph, the search index)."""
        if key not in self._views:
            self._views[key] = build()
        return self._views[key]

    def _add_earlier(self, state: ProjectState) -> None:
        """Results of earlier runs for what the last run did not build (a model reused by a
        state-aware build, or built in an earlier wave): its last successful build, and
        each test's last result."""
        for record, results in state.earlier:
            for result in results.results:
                node = self.graph.nodes.get(result.unique_id)
                if node is None or self.graph.owner.get(result.unique_id) != state.name:
                    continue
                current = self._results.get(result.unique_id)
                if current is not None and (current.status == NodeStatus.SUCCESS
                                            or node.resource_type == "test"):
                    continue
                if node.resource_type != "test" and result.status != NodeStatus.SUCCESS:
                    continue
                self._results[result.unique_id] = result
                self._result_runs[result.unique_id] = record.run_id

    # -- small lookups -------------------------------------------------------------------
    def resource_type_of(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id)
        if node is not None:
            return node.resource_type
        if node_id in self.graph.sources:
            return "source"
        if node_id in self.graph.exposures:
            return "exposure"
        return node_id.split(".", 1)[0]

    def project_of(self, node_id: str) -> str:
        return self.graph.project_of(node_id) or "?"

    def label_of(self, node_id: str) -> str:
        return self.ref(node_id).label

    def tags_of(self, node_id: str) -> list[str]:
        found = self._tags.get(node_id)
        if found is None:
            found = self._tags[node_id] = self._collect_tags(node_id)
        return found

    def _collect_tags(self, node_id: str) -> list[str]:
        node = self.graph.nodes.get(node_id) or self.graph.sources.get(node_id) \
            or self.graph.exposures.get(node_id)
        if node is None:
            return []
        tags = list(node.tags)
        config_tags = getattr(getattr(node, "config", None), "tags", None)
        if isinstance(config_tags, str):
            config_tags = [config_tags]
        for tag in config_tags or ():
            if tag not in tags:
                tags.append(tag)
        return tags

    def is_deprecated(self, node_id: str) -> bool:
        node = self.graph.nodes.get(node_id)
        if node is None or not node.deprecation_date:
            return False
        when = parse_time(node.deprecation_date)
        return when is not None and when <= self.now

    def result_of(self, node_id: str) -> ResultView | None:
        result = self._results.get(node_id)
        if result is None:
            return None
        completed = next((t.completed_at for t in result.timing if t.name == "execute"), None)
        return ResultView(result.status, round(result.execution_time, 3), completed,
                          result.message, result.failures, self._result_runs.get(node_id))

    def ref(self, node_id: str, distance: int | None = None) -> NodeRef:
        cached = self._refs.get(node_id)
        if cached is None:
            cached = self._make_ref(node_id)
            self._refs[node_id] = cached
        if distance is None:
            return cached
        return NodeRef(**{**cached.__dict__, "distance": distance})

    def _make_ref(self, node_id: str) -> NodeRef:
        result = self._results.get(node_id)
        status = result.status if result else None
        node = self.graph.nodes.get(node_id)
        if node is not None:
            project = self.project_of(node_id)
            version = version_text(node.version)
            access = access_of(node) if node.resource_type == "model" else None
            label = f"{project}.{node.name}" + (f" v{version}" if version else "")
            return NodeRef(node_id, node.name, label, project, node.resource_type, access, version,
                           node.config.materialized, status=status)
        source = self.graph.sources.get(node_id)
        if source is not None:
            project = self.project_of(node_id)
            name = f"{source.source_name}.{source.name}"
            fresh = self._freshness.get(node_id)
            return NodeRef(node_id, name, f"{project}.{name}", project, "source",
                           status=fresh.status if fresh else None)
        exposure = self.graph.exposures.get(node_id)
        if exposure is not None:
            project = self.project_of(node_id)
            return NodeRef(node_id, exposure.name, f"{project}.{exposure.name}", project, "exposure")
        # Referenced but not built by any loaded project (its project never published).
        parts = node_id.split(".")
        kind = parts[0]
        project = parts[1] if len(parts) > 1 else "?"
        name = ".".join(parts[2:3]) if kind != "source" else ".".join(parts[2:4])
        version = None
        if kind == "model" and len(parts) > 3 and parts[3].startswith("v"):
            version = parts[3][1:]
        label = f"{project}.{name}" + (f" v{version}" if version else "")
        return NodeRef(node_id, name or node_id, label, project, kind, version=version,
                       published=False)

    def resolve_docs(self, text: str, package: str) -> str:
        """Expand `{{ doc('name') }}` blocks that reached the manifest unrendered."""
        if "doc(" not in text:
            return text

        def replace(match: re.Match) -> str:
            first, second = match.group(2), match.group(4)
            if second:
                found = self._docs.get((first, second))
            else:
                found = self._docs.get((package, first))
                if found is None:
                    found = next((v for (_, n), v in self._docs.items() if n == first), None)
            return found if found is not None else match.group(0)

        return _DOC_RE.sub(replace, text)

    # -- finding nodes -----------------------------------------------------------------------
    def has_node(self, node_id: str) -> bool:
        return (node_id in self.graph.nodes or node_id in self.graph.sources
                or node_id in self.graph.exposures)

    def find(self, text: str) -> str | None:
        """A node id from an id, `project.name`, or a bare name (latest version preferred)."""
        if self.has_node(text):
            return text
        project, _, name = text.rpartition(".")
        candidates = [n for n in self.graph.nodes.values()
                      if n.resource_type in MODEL_LIKE and n.name == (name or text)
                      and (not project or self.project_of(n.unique_id) == project)]
        if not candidates:
            return None
        latest = [n for n in candidates
                  if n.version is None or is_latest(n)]
        return sorted(latest or candidates, key=lambda n: n.unique_id)[0].unique_id

    def freshness_result(self, node_id: str) -> FreshnessResult | None:
        """The source's last `dbt source freshness` result, from its project's last run."""
        return self._freshness.get(node_id)

    def versions(self, package: str, name: str) -> list[Node]:
        """Every version of a versioned model, in manifest order."""
        return self._versions.get((package, name), [])

    def run_results(self) -> Iterable[tuple[str, RunResult]]:
        """(node id, its last result) for every node that has one."""
        return self._results.items()

    def _count_project_edges(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for child, parents in self.graph.parents.items():
            if self.resource_type_of(child) not in LINEAGE_TYPES:
                continue
            child_project = self.project_of(child)
            for parent in parents:
                parent_project = self.project_of(parent)
                if parent_project != child_project:
                    counts[(parent_project, child_project)] += 1
        for consumer, producers in self._declared.items():
            for producer in producers:
                counts.setdefault((producer, consumer), 0)
        return dict(counts)

    def project_edge_counts(self) -> dict[tuple[str, str], int]:
        return self._edge_counts

    def facets(self) -> dict[str, list[str]]:
        """The values the filter menus offer."""
        return self.cached("facets", self._collect_facets)

    def _collect_facets(self) -> dict[str, list[str]]:
        models = [n for n in self.graph.nodes.values() if n.resource_type in MODEL_LIKE]
        return {
            "projects": self.project_names,
            "types": sorted(SEARCHABLE_TYPES),
            "access": sorted({access_of(n) for n in models if n.resource_type == "model"}),
            "materialized": sorted({n.config.materialized for n in models if n.config.materialized}),
            "groups": sorted({g.name for g in self.graph.groups.values()}),
            "tags": sorted({t for n in models for t in self.tags_of(n.unique_id)})[:500],
        }


def _graph_version(graph: MeshGraph) -> str:
    parts = []
    for name in sorted(graph.projects):
        state = graph.projects[name]
        marker = state.run.run_id if state.run else (state.manifest.metadata.invocation_id or "")
        parts.append(f"{name}={marker}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _declared_dependencies(graph: MeshGraph) -> dict[str, set[str]]:
    """Upstream projects each project declares (dependencies.yml): the meshkit plugin injects
    their public models into its manifest, whether or not a model refs them yet."""
    declared: dict[str, set[str]] = {}
    for name, state in graph.projects.items():
        found = {n.package_name for n in state.manifest.nodes.values()
                 if not n.original_file_path and n.package_name != name
                 and n.package_name in graph.projects}
        if found:
            declared[name] = found
    return declared


def catalog_from_states(states: Iterable[ProjectState], **kwargs) -> Catalog:
    """A catalog of these project states (keyword arguments go to Catalog)."""
    graph = MeshGraph()
    for state in states:
        graph.add_project(state)
    return Catalog(graph, **kwargs)
