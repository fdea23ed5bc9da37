"""Model-level lineage across projects: a neighbourhood, filtered, laid out, cached.

The lineage of a node is its ancestors up to `up` steps and its descendants up to `down`
steps, across every project. Filters keep only nodes of some projects, access levels,
materializations, groups or tags; the centre always stays, and a hidden node's edges are
bridged so that what is shown stays connected (bridged edges are marked `indirect`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from meshkit.catalog.index import LINEAGE_TYPES, Catalog
from meshkit.catalog.layout import force_layout, layered_layout
from meshkit.catalog.project import project_summary
from meshkit.dbt.nodes import group_of

MAX_NODES = 2000
PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#65a30d",
           "#db2777", "#4f46e5", "#ea580c", "#0d9488", "#9333ea", "#ca8a04", "#e11d48")


@dataclass(frozen=True)
class LineageFilters:
    projects: frozenset[str] = frozenset()
    access: frozenset[str] = frozenset()
    materialized: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @classmethod
    def of(cls, **values: Iterable[str] | None) -> "LineageFilters":
        return cls(**{k: frozenset(v for v in (values.get(k) or ()) if v)
                      for k in ("projects", "access", "materialized", "groups", "tags")})

    @property
    def active(self) -> bool:
        return any((self.projects, self.access, self.materialized, self.groups, self.tags))

    def key(self) -> tuple:
        return tuple(tuple(sorted(v)) for v in (self.projects, self.access, self.materialized,
                                                self.groups, self.tags))

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(getattr(self, k)) for k in
                ("projects", "access", "materialized", "groups", "tags")}


@dataclass
class LineageNode:
    id: str
    label: str
    name: str
    project: str
    resource_type: str
    access: str | None
    materialized: str | None
    group: str | None
    tags: list[str]
    version: str | None
    distance: int              # < 0 upstream, 0 the centre, > 0 downstream
    x: float
    y: float
    color: str
    published: bool = True
    status: str | None = None
    deprecated: bool = False


@dataclass
class LineageEdge:
    source: str
    target: str
    cross_project: bool
    indirect: bool = False


@dataclass
class Lineage:
    centre: str
    up: int | None
    down: int | None
    filters: LineageFilters
    version: str
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: int = 0           # nodes within the depth that were left out (MAX_NODES)
    hidden: int = 0              # nodes within the depth that the filters hid
    projects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filters"] = self.filters.as_dict()
        return data


def lineage_view(catalog: Catalog, node_id: str, up: int | None = 2, down: int | None = 2,
                 filters: LineageFilters | None = None, limit: int = MAX_NODES) -> Lineage:
    """The lineage page's view of `node_id`: `up`/`down` steps each way (None: all), laid
    out; kept per (centre, depths, filters, limit, graph version) in `catalog.lineage_cache`."""
    filters = filters or LineageFilters()
    key = (node_id, up, down, filters.key(), limit, catalog.version)
    found = catalog.lineage_cache.get(key)
    if found is None:
        found = compute_lineage(catalog, node_id, up, down, filters, max_nodes=limit)
        catalog.lineage_cache.put(key, found)
    return found


def project_color(catalog: Catalog, project: str) -> str:
    """A project's colour in lineage graphs: its place among the catalog's projects in the
    palette, so it stays the same from page to page."""
    names = catalog.project_names
    index = names.index(project) if project in names else len(names) + sum(map(ord, project))
    return PALETTE[index % len(PALETTE)]


def compute_lineage(catalog: Catalog, centre: str, up: int | None, down: int | None,
                    filters: LineageFilters, max_nodes: int = MAX_NODES) -> Lineage:
    """The lineage around node `centre`: its ancestors up to `up` steps and descendants up to
    `down` (None: all), kept by `filters`, at most `max_nodes` nodes, laid out left to right."""
    graph = catalog.graph
    result = Lineage(centre, up, down, filters, catalog.version)
    distance: dict[str, int] = {centre: 0}
    for node_id, d in _bounded_walk(centre, graph.parents, up, catalog).items():
        distance[node_id] = -d
    for node_id, d in _bounded_walk(centre, graph.children, down, catalog).items():
        distance.setdefault(node_id, d)
    if len(distance) > max_nodes:
        ranked = sorted(distance, key=lambda n: (abs(distance[n]), n))
        keep = set(ranked[:max_nodes])
        result.truncated = len(distance) - max_nodes
        distance = {n: d for n, d in distance.items() if n in keep}
    shown = {n for n in distance if n == centre or _passes(catalog, n, filters)}
    result.hidden = len(distance) - len(shown)

    edges: dict[tuple[str, str], bool] = {}          # (parent, child) → indirect
    for child in distance:
        if child not in shown:
            continue
        for parent in graph.parents.get(child, ()):
            if parent not in distance:
                continue
            if parent in shown:
                edges[(parent, child)] = False
                continue
            for ancestor in _nearest_shown(parent, graph.parents, distance, shown):
                edges.setdefault((ancestor, child), True)

    ordered = sorted(shown, key=lambda n: (distance[n], catalog.label_of(n)))
    layout = layered_layout(ordered, list(edges))
    projects: set[str] = set()
    for node_id in ordered:
        x, y = layout.positions.get(node_id, (0.0, 0.0))
        ref = catalog.ref(node_id)
        node = graph.nodes.get(node_id)
        project = ref.project
        projects.add(project)
        result.nodes.append(LineageNode(
            id=node_id, label=ref.label, name=ref.name, project=project,
            resource_type=ref.resource_type, access=ref.access, materialized=ref.materialized,
            group=group_of(node) if node else None,
            tags=catalog.tags_of(node_id), version=ref.version, distance=distance[node_id],
            x=round(x, 1), y=round(y, 1), color=project_color(catalog, project),
            published=ref.published, status=ref.status,
            deprecated=catalog.is_deprecated(node_id)))
    for (parent, child), indirect in edges.items():
        result.edges.append(LineageEdge(
            parent, child, catalog.project_of(parent) != catalog.project_of(child), indirect))
    result.projects = sorted(projects)
    return result


def _bounded_walk(start: str, edges: dict[str, list[str]], depth: int | None,
                  catalog: Catalog) -> dict[str, int]:
    """Breadth-first distances, through lineage resources only (tests are skipped)."""
    seen: dict[str, int] = {}
    if depth is not None and depth <= 0:
        return seen
    queue = deque([(start, 0)])
    while queue:
        current, d = queue.popleft()
        for nxt in edges.get(current, ()):
            if nxt in seen or nxt == start or catalog.resource_type_of(nxt) not in LINEAGE_TYPES:
                continue
            seen[nxt] = d + 1
            if depth is None or d + 1 < depth:
                queue.append((nxt, d + 1))
    return seen


def _nearest_shown(start: str, parents: dict[str, list[str]], within: dict[str, int],
                   shown: set[str]) -> list[str]:
    found: list[str] = []
    seen = {start}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for parent in parents.get(current, ()):
            if parent in seen or parent not in within:
                continue
            seen.add(parent)
            if parent in shown:
                found.append(parent)
            else:
                queue.append(parent)
    return found


def _passes(catalog: Catalog, node_id: str, filters: LineageFilters) -> bool:
    if not filters.active:
        return True
    ref = catalog.ref(node_id)
    if filters.projects and ref.project not in filters.projects:
        return False
    if filters.access and (ref.access or "") not in filters.access:
        return False
    if filters.materialized and (ref.materialized or "") not in filters.materialized:
        return False
    node = catalog.graph.nodes.get(node_id)
    if filters.groups and (not node or group_of(node) not in filters.groups):
        return False
    if filters.tags and not filters.tags.intersection(catalog.tags_of(node_id)):
        return False
    return True


@dataclass
class ProjectGraph:
    """Projects as nodes, cross-project references as edges with counts, laid out."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


def project_graph(catalog: Catalog) -> ProjectGraph:
    """Projects laid out with their cross-project edges (built once per graph version)."""
    return catalog.cached("project_graph", lambda: _build_project_graph(catalog))


def _build_project_graph(catalog: Catalog) -> ProjectGraph:
    counts = catalog.project_edge_counts()
    names = catalog.project_names
    extra = sorted({p for pair in counts for p in pair} - set(names))
    everyone = [*names, *extra]
    layout = layered_layout(everyone, list(counts), layer_gap=260.0, row_gap=110.0)
    positions = layout.positions
    if layout.reversed_edges and len(everyone) <= 300:
        # Bidirectional dependencies: layers would string the loops out in a long line.
        positions = force_layout(everyone, list(counts))
    nodes = []
    for name in everyone:
        x, y = positions.get(name, (0.0, 0.0))
        summary = project_summary(catalog, name) if name in catalog.graph.projects else None
        nodes.append({"id": name, "label": name, "x": round(x, 1), "y": round(y, 1),
                      "color": project_color(catalog, name),
                      "models": summary.models if summary else 0,
                      "public": summary.public_models if summary else 0,
                      "status": summary.status if summary else "unpublished",
                      "published": summary is not None})
    edges = [{"source": s, "target": t, "count": n, "bidirectional": (t, s) in counts}
             for (s, t), n in sorted(counts.items())]
    return ProjectGraph(nodes, edges)
