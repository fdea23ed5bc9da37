"""The column lineage graph: a column's upstream and downstream columns across projects,
grouped by model and project and laid out for drawing.

Value steps come from the mesh's column lineage (graph/columns.py), each with its lens
(passthrough, rename, transformed). A column that only decides which rows another is computed
over (a join key, filter or grouping) is one `rows` step from it and is not followed further.
What could not be traced is listed with its reason, never drawn as an edge. At most `limit`
columns are drawn, the nearest first; the rest are counted (`truncated`), and each drawn
column says how many of its neighbours were left out (`more`). The walk goes one step each
way at a time and stops after the step that passes the limit (`stopped_at`), so a raw column
that a whole mesh reads costs what is drawn, not the whole mesh.

Layout: models are layered left to right by their column edges (catalog/layout.py); each
project is a horizontal band of its models, and each model a box of its columns, so neither
kind of group overlaps another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from meshkit.catalog.columns import columns_of
from meshkit.catalog.index import Catalog
from meshkit.catalog.layout import layered_layout
from meshkit.catalog.views import NodeRef
from meshkit.columns.lineage import SourceColumn, Unresolved
from meshkit.graph.columns import ColumnGraph

COLUMN_LIMIT = 250       # columns drawn at most: the page stays fast on any mesh
MAX_COLUMN_LIMIT = 2000  # what a page may ask for (`?limit=`)
NOTE_LIMIT = 100         # not-traced entries listed at most
ROWS = "rows"            # edge kinds beside the lenses: decides rows, not values;
UNKNOWN = "unknown"      # a certain source of an unresolved column, its lens not known
NO_LINEAGE = "no_column_lineage"   # a model its project published without column lineage

LAYER_GAP = 380.0        # px between model layers (left to right)
HEADER = 30.0            # px above a model box's first column (its title)
ROW = 38.0               # px per column inside a model box
STACK_GAP = 40.0         # px between model boxes in one layer of a band
BAND_GAP = 80.0          # px between project bands
BAND_MARGIN_X = 175.0    # px from a layer's centre to its band's edge (columns are <= 280 wide)
BAND_MARGIN_Y = 16.0     # px from a band's edge to its first model's title


@dataclass
class ColumnNode:
    id: str                        # node|column (casefolded)
    node: str                      # the model's (source's, seed's) unique id
    column: str
    project: str
    distance: int                  # < 0 upstream, 0 the chosen column, > 0 downstream
    lens: str | None = None        # how this column is computed from its own sources
    transform: str | None = None
    unresolved: str | None = None  # why its sources are not all known
    detail: str | None = None
    rows_only: bool = False        # reached only as deciding rows
    more: int = 0                  # its neighbours within the depth that were not drawn
    x: float = 0.0
    y: float = 0.0


@dataclass
class ColumnModel:
    """A box of columns: a model, source, seed or snapshot."""

    id: str
    label: str
    project: str
    resource_type: str
    published: bool


@dataclass
class ProjectBand:
    """A project's rectangle behind its models' boxes (centre x, y; width, height in px)."""

    project: str
    x: float
    y: float
    w: float
    h: float


@dataclass
class ColumnGraphEdge:
    source: str                    # ColumnNode ids: `source` is read to compute `target`
    target: str
    kind: str                      # passthrough | rename | transformed | rows | unknown
    transform: str | None = None
    cross_project: bool = False


@dataclass
class NotTraced:
    """Lineage that stops here: a column (or, `column` None, a whole model) and why."""

    node: str
    label: str
    column: str | None
    reason: str
    detail: str | None = None


@dataclass
class ColumnGraphView:
    node: str
    column: str
    up: int | None
    down: int | None
    centre: str                    # the chosen column's ColumnNode id
    nodes: list[ColumnNode] = field(default_factory=list)
    models: list[ColumnModel] = field(default_factory=list)
    edges: list[ColumnGraphEdge] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    bands: list[ProjectBand] = field(default_factory=list)
    not_traced: list[NotTraced] = field(default_factory=list)
    not_traced_more: int = 0       # entries beyond NOTE_LIMIT
    truncated: int = 0             # columns within the depth that were not drawn
    stopped_at: int | None = None  # the step the walk stopped at (too many): more lie beyond

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def column_graph_view(catalog: Catalog, node: str, column: str, up: int | None = None,
                      down: int | None = None, limit: int = COLUMN_LIMIT) -> ColumnGraphView | None:
    """The graph of `node`.`column` (`up`/`down` steps each way, None: all), or None when no
    published lineage knows the column; cached per graph version."""
    key = ("columns", node, column.casefold(), up, down, limit, catalog.version)
    found = catalog.lineage_cache.get(key)
    if found is None:
        graph = catalog.graph
        found = build_column_graph(
            columns_of(graph), node, column, up, down, describe=catalog.ref,
            children_of=lambda n: graph.children.get(n, ()), limit=limit)
        if found is None:
            return None
        catalog.lineage_cache.put(key, found)
    return found


@dataclass
class _Reach:
    column: SourceColumn
    distance: int
    rows_only: bool = False


def build_column_graph(columns: ColumnGraph, node: str, column: str, up: int | None,
                       down: int | None, *, describe: Callable[[str], NodeRef],
                       children_of: Callable[[str], Iterable[str]],
                       limit: int = COLUMN_LIMIT) -> ColumnGraphView | None:
    """The column graph on plain data: `describe` names a node (label, project, type),
    `children_of` gives the nodes that read a node (for what could not be traced)."""
    own = columns.column(node, column)
    if own is None:   # a source's or seed's column: known by the models that read it
        readers = columns.children(SourceColumn(node, column))
        if not readers:
            return None
        start = readers[0].parent
    else:
        start = SourceColumn(node, own.name)
    found, rows_edges, stopped = _walk(columns, start, up, down, limit)
    ordered = sorted(found.values(), key=lambda r: (abs(r.distance), r.rows_only, r.distance,
                                                    r.column.node, r.column.column.casefold()))
    shown = {_id(r.column): r for r in ordered[:max(1, limit)]}
    view = ColumnGraphView(node, start.column, up, down, _id(start),
                           truncated=len(found) - len(shown), stopped_at=stopped)
    view.edges = _edges_among(columns, shown, rows_edges, describe)
    view.nodes = [_node(columns, reach, describe) for reach in shown.values()]
    _count_left_out(columns, view.nodes, shown, found, rows_edges)
    view.models = [_model(describe(n)) for n in dict.fromkeys(c.node for c in view.nodes)]
    view.projects = sorted({m.project for m in view.models})
    notes = _not_traced(columns, shown, up, down, describe, children_of)
    view.not_traced, view.not_traced_more = notes[:NOTE_LIMIT], max(0, len(notes) - NOTE_LIMIT)
    _lay_out(view)
    return view


def _id(column: SourceColumn) -> str:
    return f"{column.node}|{column.column.casefold()}"


def _walk(columns: ColumnGraph, start: SourceColumn, up: int | None, down: int | None,
          limit: int) -> tuple[dict[str, _Reach], list[tuple[SourceColumn, SourceColumn]], int | None]:
    """Every column within the depths, nearest first, one step each way at a time, and the
    `rows` steps taken. The walk stops after the first step that finds more than `limit`
    columns (a raw column read by a whole mesh reaches 100,000): that step is returned when
    columns lie beyond it, else None."""
    found = {_id(start): _Reach(start, 0)}
    rows: list[tuple[SourceColumn, SourceColumn]] = []
    ups, downs = [start], [start]
    step = 0
    while ups or downs:
        step += 1
        ups = _step(columns, ups, -step, found, rows) if _within(up, step) else []
        downs = _step(columns, downs, step, found, rows) if _within(down, step) else []
        if len(found) > limit:
            beyond = ((_within(up, step + 1) and _goes_on(columns, ups, True, found))
                      or (_within(down, step + 1) and _goes_on(columns, downs, False, found)))
            return found, rows, step if beyond else None
    return found, rows, None


def _within(depth: int | None, step: int) -> bool:
    return depth is None or step <= depth


def _neighbours(columns: ColumnGraph, here: SourceColumn, upstream: bool
                ) -> tuple[list[SourceColumn], list[tuple[SourceColumn, SourceColumn]]]:
    """Value neighbours one step up or down, and the (decider, decided) `rows` pairs."""
    if upstream:
        lineage = columns.column(here.node, here.column)
        return ([e.parent for e in columns.parents(here)],
                [(decider, here) for decider in (lineage.rows if lineage else ())])
    return ([e.child for e in columns.children(here)],
            [(here, decided) for decided in columns.rows_decided_by(here)])


def _step(columns: ColumnGraph, frontier: list[SourceColumn], distance: int,
          found: dict[str, _Reach], rows: list[tuple[SourceColumn, SourceColumn]]
          ) -> list[SourceColumn]:
    """Records the columns one step beyond `frontier` (upstream when `distance` < 0) in
    `found`; returns those to walk on from (a rows-only column ends its path)."""
    upstream = distance < 0
    steps = [_neighbours(columns, here, upstream) for here in frontier]
    reached: list[SourceColumn] = []
    for values, _ in steps:                       # value steps first: they go on
        for other in values:
            known = found.get(_id(other))
            if known is None:
                found[_id(other)] = _Reach(other, distance)
            elif known.rows_only:
                known.rows_only = False           # reached by value too
            else:
                continue
            reached.append(other)
    for _, pairs in steps:
        for pair in pairs:
            rows.append(pair)
            other = pair[0] if upstream else pair[1]
            found.setdefault(_id(other), _Reach(other, distance, True))
    return reached


def _goes_on(columns: ColumnGraph, frontier: list[SourceColumn], upstream: bool,
             found: dict[str, _Reach]) -> bool:
    """Whether any column not yet found lies one step beyond `frontier`."""
    for here in frontier:
        values, pairs = _neighbours(columns, here, upstream)
        others = values + [pair[0] if upstream else pair[1] for pair in pairs]
        if any(_id(other) not in found for other in others):
            return True
    return False


def _edges_among(columns: ColumnGraph, shown: dict[str, _Reach],
                 rows: list[tuple[SourceColumn, SourceColumn]],
                 describe: Callable[[str], NodeRef]) -> list[ColumnGraphEdge]:
    """Value edges between drawn columns, then `rows` edges where no value edge joins them."""
    edges: dict[tuple[str, str], ColumnGraphEdge] = {}
    for reach in shown.values():
        lineage = columns.column(reach.column.node, reach.column.column)
        for edge in columns.parents(reach.column):
            source, target = _id(edge.parent), _id(edge.child)
            if source not in shown:
                continue
            if lineage is not None and lineage.unresolved:   # a certain source, how unknown
                edges[(source, target)] = ColumnGraphEdge(source, target, UNKNOWN)
            else:
                edges[(source, target)] = ColumnGraphEdge(
                    source, target, str(edge.lens), str(edge.transform) if edge.transform else None)
    for decider, decided in rows:
        source, target = _id(decider), _id(decided)
        if source in shown and target in shown:
            edges.setdefault((source, target), ColumnGraphEdge(source, target, ROWS))
    for drawn in edges.values():
        drawn.cross_project = (describe(shown[drawn.source].column.node).project
                               != describe(shown[drawn.target].column.node).project)
    return list(edges.values())


def _node(columns: ColumnGraph, reach: _Reach, describe: Callable[[str], NodeRef]) -> ColumnNode:
    lineage = columns.column(reach.column.node, reach.column.column)
    node = ColumnNode(_id(reach.column), reach.column.node, reach.column.column,
                      describe(reach.column.node).project, reach.distance,
                      rows_only=reach.rows_only)
    if lineage is not None:
        node.column = lineage.name
        node.lens = str(lineage.lens) if lineage.lens else None
        node.transform = str(lineage.transform) if lineage.transform else None
        node.unresolved = str(lineage.unresolved) if lineage.unresolved else None
        node.detail = lineage.detail
    return node


def _count_left_out(columns: ColumnGraph, nodes: list[ColumnNode], shown: dict[str, _Reach],
                    found: dict[str, _Reach], rows: list[tuple[SourceColumn, SourceColumn]]) -> None:
    """Each drawn column's neighbours that the limit left out."""
    hidden: dict[str, set[str]] = defaultdict(set)
    for reach in shown.values():
        here = _id(reach.column)
        neighbours = [e.parent for e in columns.parents(reach.column)]
        neighbours += [e.child for e in columns.children(reach.column)]
        for other in neighbours:
            if _id(other) in found and _id(other) not in shown:
                hidden[here].add(_id(other))
    for decider, decided in rows:
        a, b = _id(decider), _id(decided)
        if (a in shown) != (b in shown):
            hidden[a if a in shown else b].add(b if a in shown else a)
    for node in nodes:
        node.more = len(hidden.get(node.id, ()))


def _model(ref: NodeRef) -> ColumnModel:
    return ColumnModel(ref.id, ref.label, ref.project, ref.resource_type, ref.published)


def _not_traced(columns: ColumnGraph, shown: dict[str, _Reach], up: int | None,
                down: int | None, describe: Callable[[str], NodeRef],
                children_of: Callable[[str], Iterable[str]]) -> list[NotTraced]:
    """Where the lineage stops without an answer: drawn columns whose sources are not all
    known, upstream models without lineage, and models reading a drawn column whose lineage
    does not say what they do with it."""
    notes: dict[tuple[str, str | None], NotTraced] = {}

    def note(node: str, column: str | None, reason: str, detail: str | None) -> None:
        notes.setdefault((node, column and column.casefold()),
                         NotTraced(node, describe(node).label, column, reason, detail))

    for reach in shown.values():
        where = reach.column
        lineage = columns.column(where.node, where.column)
        if lineage is not None and lineage.unresolved:
            note(where.node, lineage.name, str(lineage.unresolved), lineage.detail)
        elif lineage is None and reach.distance <= 0 and not reach.rows_only:
            _model_note(columns, where, describe, note)
        if reach.rows_only or reach.distance < 0 or (down is not None and reach.distance >= down):
            continue
        for child in children_of(where.node):
            _reader_notes(columns, child, where, shown, describe, note)
    return sorted(notes.values(), key=lambda n: (n.label, n.column or ""))


def _model_note(columns: ColumnGraph, read: SourceColumn, describe, note) -> None:
    """Why a model's column `read` has no lineage (sources and seeds need none)."""
    node = read.node
    if describe(node).resource_type != "model":
        return
    model = columns.models.get(node)
    if model is None:
        note(node, None, NO_LINEAGE, "its project's run was published without column lineage "
             "(an older meshkit): publish it again")
    elif model.unresolved:
        note(node, None, str(model.unresolved), model.detail)
    else:
        note(node, read.column, str(Unresolved.COLUMN_NOT_FOUND),
             "read by a model downstream, but not among this model's traced columns")


def _reader_notes(columns: ColumnGraph, child: str, read: SourceColumn,
                  shown: dict[str, _Reach], describe, note) -> None:
    """A model reading `read`'s node whose lineage may hide a use of `read`."""
    if describe(child).resource_type != "model":
        return
    model = columns.models.get(child)
    if model is None or model.unresolved:
        _model_note(columns, SourceColumn(child, ""), describe, note)
        return
    if model.reads_column(read) is False:
        return
    for column in model.columns:
        if column.unresolved and _id(SourceColumn(child, column.name)) not in shown:
            note(child, column.name, str(column.unresolved), column.detail)


def _lay_out(view: ColumnGraphView) -> None:
    """Positions for the columns: models layered by their edges, each project a band."""
    by_model: dict[str, list[ColumnNode]] = defaultdict(list)
    for node in view.nodes:
        by_model[node.node].append(node)
    where = {n.id: n.node for n in view.nodes}
    model_edges = {(where[e.source], where[e.target]) for e in view.edges}
    layout = layered_layout(list(by_model), model_edges)
    project_of = {m.id: m.project for m in view.models}
    bands: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for model in sorted(by_model, key=lambda m: layout.positions[m][1]):
        bands[project_of[model]][layout.layers[model]].append(model)
    order = sorted(bands, key=lambda p: (min(bands[p]), p))
    top = 0.0
    for project in order:
        height = 0.0
        for layer, models in bands[project].items():
            y = top
            for model in models:
                cells = sorted(by_model[model], key=lambda n: (n.distance, n.column.casefold()))
                for i, cell in enumerate(cells):
                    cell.x, cell.y = layer * LAYER_GAP, y + HEADER + i * ROW
                y += HEADER + len(cells) * ROW + STACK_GAP
            height = max(height, y - top)
        view.bands.append(_band(project, list(bands[project]), top, top + height - STACK_GAP))
        top += height + BAND_GAP


def _band(project: str, layers: list[int], top: float, bottom: float) -> ProjectBand:
    """A plain rectangle, not a box the models sit in: nested boxes make cytoscape draw
    several times slower."""
    left = min(layers) * LAYER_GAP - BAND_MARGIN_X
    right = max(layers) * LAYER_GAP + BAND_MARGIN_X
    y1, y2 = top - BAND_MARGIN_Y, bottom + BAND_MARGIN_Y
    return ProjectBand(project, (left + right) / 2, (y1 + y2) / 2, right - left, y2 - y1)
