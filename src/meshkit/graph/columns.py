"""Column lineage across the mesh: every project's published lineage joined into one graph.

A consumer's column names its cross-project source by the producer's own unique id
(`model.analytics.fct_orders.v2`), so the union of the projects' lineage is already linked;
this index adds the downstream direction and walks either way, any number of projects deep.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

from meshkit.columns.lineage import (
    ColumnLineage,
    Lens,
    ModelLineage,
    ProjectLineage,
    SourceColumn,
    Transform,
)
from meshkit.columns.project import complete_columns, project_lineage
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.store.store import Store


@dataclass(frozen=True)
class ColumnEdge:
    """`child` is computed from `parent`, as its lens (and transform) say."""

    parent: SourceColumn
    child: SourceColumn
    lens: Lens
    transform: Transform | None = None


@dataclass(frozen=True)
class ColumnStep:
    """A column reached by a walk, `distance` edges away, through `edge`."""

    column: SourceColumn
    distance: int
    edge: ColumnEdge


@dataclass
class ColumnGraph:
    models: dict[str, ModelLineage] = field(default_factory=dict)
    projects: dict[str, ProjectLineage] = field(default_factory=dict)
    _children: dict[tuple[str, str], list[ColumnEdge]] = field(default_factory=dict)
    _decides: dict[tuple[str, str], list[SourceColumn]] = field(default_factory=dict)

    def add(self, lineage: ProjectLineage) -> None:
        self.projects[lineage.project] = lineage
        for unique_id, model in lineage.models.items():
            self.models[unique_id] = model
            for column in model.columns:
                for edge in _edges(unique_id, column):
                    self._children.setdefault(_key(edge.parent), []).append(edge)
                for row in column.rows:
                    self._decides.setdefault(_key(row), []).append(SourceColumn(unique_id, column.name))

    def column(self, node: str, name: str) -> ColumnLineage | None:
        model = self.models.get(node)
        return model.column(name) if model else None

    def parents(self, column: SourceColumn) -> list[ColumnEdge]:
        found = self.column(column.node, column.column)
        return list(_edges(column.node, found)) if found else []

    def children(self, column: SourceColumn) -> list[ColumnEdge]:
        return list(self._children.get(_key(column), []))

    def rows_decided_by(self, column: SourceColumn) -> list[SourceColumn]:
        """The columns whose rows `column` decides (a join key, filter or grouping of theirs)."""
        return list(self._decides.get(_key(column), []))

    def upstream(self, column: SourceColumn, depth: int | None = None) -> list[ColumnStep]:
        """Source columns, nearest first, across projects."""
        return self._walk(column, depth, self.parents, lambda e: e.parent)

    def downstream(self, column: SourceColumn, depth: int | None = None) -> list[ColumnStep]:
        """Columns computed from this one, nearest first, across projects."""
        return self._walk(column, depth, self.children, lambda e: e.child)

    def _walk(self, start: SourceColumn, depth, edges, other) -> list[ColumnStep]:
        seen, steps = {_key(start)}, []
        queue = deque([(start, 0)])
        while queue:
            current, distance = queue.popleft()
            if depth is not None and distance >= depth:
                continue
            for edge in edges(current):
                reached = other(edge)
                if _key(reached) not in seen:
                    seen.add(_key(reached))
                    steps.append(ColumnStep(reached, distance + 1, edge))
                    queue.append((reached, distance + 1))
        return steps


def _key(column: SourceColumn) -> tuple[str, str]:
    return (column.node, column.column.casefold())


def _edges(node: str, column: ColumnLineage) -> Iterable[ColumnEdge]:
    """A resolved column's edges from each source; an unresolved one's certain sources are
    edges of unknown kind (transformed, no transform named)."""
    child = SourceColumn(node, column.name)
    lens = column.lens or Lens.TRANSFORMED
    return (ColumnEdge(source, child, lens, column.transform) for source in column.sources)


def load_column_graph(store: Store, env: str, projects: Iterable[str] | None = None) -> ColumnGraph:
    """Every project's latest published column lineage in `env` (runs published without one,
    by an older meshkit, are left out)."""
    graph = ColumnGraph()
    for name in projects if projects is not None else store.projects():
        record = store.latest(name, env)
        lineage = store.column_lineage(record) if record else None
        if lineage is not None:
            graph.add(lineage)
    return graph


def column_graph(mesh: MeshGraph) -> ColumnGraph:
    """The column lineage of a loaded mesh: each project's as published with its run, else
    computed from its manifest (a working copy's), producers before their consumers so that a
    consumer's `*` over a cross-project ref expands."""
    graph = ColumnGraph()
    known: dict[str, list[str]] = {}
    for name in _producers_first(mesh):
        state = mesh.projects[name]
        lineage = state.published_columns() or project_lineage(state.manifest, name, catalog=state.catalog,
                                                   upstream_columns=known)
        known.update(complete_columns(state.manifest, lineage, state.catalog))
        graph.add(lineage)
    return graph


def _producers_first(mesh: MeshGraph) -> list[str]:
    producers = {name: {n.package_name for n in state.manifest.nodes.values()
                        if not n.original_file_path and n.package_name in mesh.projects
                        and n.package_name != name}
                 for name, state in mesh.projects.items()}
    order: list[str] = []
    while len(order) < len(producers):
        ready = [n for n, ups in producers.items() if n not in order and ups <= set(order)]
        order += sorted(ready) or sorted(n for n in producers if n not in order)[:1]  # a cycle
    return order
