"""What the catalog shows of a column's lineage: its upstream and downstream columns across
projects with the lens of each step, and a description inherited through passthrough and
rename steps where the column has none of its own."""

from __future__ import annotations

from collections import deque

from meshkit.catalog.views import ColumnLineageView, ColumnRef, ColumnView, InheritedDescription
from meshkit.columns.lineage import ColumnLineage, Lens, SourceColumn
from meshkit.graph.columns import ColumnGraph, ColumnStep, column_graph
from meshkit.graph.mesh_graph import MeshGraph

_SAME_VALUE = (Lens.PASSTHROUGH, Lens.RENAME)
LIST_LIMIT = 200   # columns listed each way on a page or in one API answer


def columns_of(graph: MeshGraph) -> ColumnGraph:
    """The mesh's column lineage, built once per loaded graph."""
    cached = graph.__dict__.get("_column_graph")
    if cached is None:
        cached = graph.__dict__["_column_graph"] = column_graph(graph)
    return cached


def column_lineage_view(graph: MeshGraph, node: str, column: str, up: int | None = None,
                        down: int | None = None) -> ColumnLineageView | None:
    """A column with its upstream (`up` steps, None: all) and downstream columns, or None when
    no published lineage has the node's column."""
    columns = columns_of(graph)
    found = columns.column(node, column)
    if found is None:   # a source's or seed's column: known by the models that read it
        readers = columns.children(SourceColumn(node, column))
        if not readers:
            return None
        found = ColumnLineage(readers[0].parent.column)
    start = SourceColumn(node, found.name)
    own = _description(graph, start)
    return ColumnLineageView(
        node, found.name, found.lens, found.transform, found.unresolved, found.detail, own,
        None if own else inherited_description(graph, start),
        [_ref(graph, s, s.edge.child) for s in columns.upstream(start, up)[:LIST_LIMIT]],
        [_ref(graph, s, s.edge.parent) for s in columns.downstream(start, down)[:LIST_LIMIT]],
        [f"{graph.label(r.node)}.{r.column}" for r in found.rows])


def inherited_description(graph: MeshGraph, start: SourceColumn) -> InheritedDescription | None:
    """The nearest upstream description reached through passthrough and rename steps only."""
    columns = columns_of(graph)
    seen, queue = {start}, deque([start])
    while queue:
        current = queue.popleft()
        for edge in columns.parents(current):
            if edge.lens not in _SAME_VALUE or edge.parent in seen:
                continue
            text = _description(graph, edge.parent)
            if text:
                return InheritedDescription(text, edge.parent.node, graph.label(edge.parent.node),
                                            edge.parent.column)
            seen.add(edge.parent)
            queue.append(edge.parent)
    return None


def _description(graph: MeshGraph, column: SourceColumn) -> str:
    resource = graph.nodes.get(column.node) or graph.sources.get(column.node)
    if resource is None:
        return ""
    folded = column.column.casefold()
    return next((c.description for c in resource.columns.values()
                 if c.name.casefold() == folded and c.description), "")


def _ref(graph: MeshGraph, step: ColumnStep, via: SourceColumn) -> ColumnRef:
    return ColumnRef(step.column.node, graph.label(step.column.node), step.column.column,
                     step.distance, step.edge.lens, step.edge.transform,
                     f"{graph.label(via.node)}.{via.column}")


def with_column_lineage(graph: MeshGraph, node: str, views: list) -> list:
    """A page's column views (catalog.views.ColumnView) with each one's lineage (a source's
    columns: where they go), plus the columns only the lineage knows (a model without YAML or
    catalog.json)."""
    model = columns_of(graph).models.get(node)
    listed = {v.name.casefold() for v in views}
    views = views + [ColumnView(c.name, None, None) for c in (model.columns if model else [])
                     if c.name.casefold() not in listed]
    for view in views:
        view.lineage = column_lineage_view(graph, node, view.name)
    return views
