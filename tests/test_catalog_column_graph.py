"""The column lineage graph's builder on plain data: lenses and `rows` on the edges, depths,
the limit with its counts, what is not traced, and the grouped layout."""

from __future__ import annotations

from meshkit.catalog.column_graph import NO_LINEAGE, ROWS, build_column_graph
from meshkit.catalog.views import NodeRef
from meshkit.columns.lineage import (ColumnLineage, Lens, ModelLineage, ProjectLineage,
                                     SourceColumn, Transform, Unresolved)
from meshkit.graph.columns import ColumnGraph

RAW = "source.analytics.shop.orders"
STG = "model.analytics.stg_orders"
FCT = "model.analytics.fct_orders.v2"
AGG = "model.finance.agg"
AMBIGUOUS = "model.finance.joined"
PYTHON = "model.finance.scored"
OLD = "model.finance.old"            # its project published without lineage: no ModelLineage
MIXED = "model.finance.mixed"


def col(node: str, name: str) -> SourceColumn:
    return SourceColumn(node, name)


def lineage(name: str, *sources: SourceColumn, lens=Lens.PASSTHROUGH, transform=None,
            rows=(), unresolved=None, detail=None) -> ColumnLineage:
    return ColumnLineage(name, list(sources), None if unresolved and not sources else lens,
                         transform, unresolved, detail, list(rows))


def mesh(fan_out: int = 0) -> tuple[ColumnGraph, dict[str, list[str]]]:
    """raw.id → stg.order_id (rename) → fct.order_id; raw.amount → stg.amount → fct.amount_usd
    (cast) → finance agg.total (aggregate, rows decided by fct.order_id); finance models whose
    lineage does not say what they read; `fan_out` more finance models copying amount_usd."""
    analytics = ProjectLineage("analytics", "duckdb", True, {
        STG: ModelLineage(STG, "1", [lineage("order_id", col(RAW, "id"), lens=Lens.RENAME),
                                     lineage("amount", col(RAW, "amount"))]),
        FCT: ModelLineage(FCT, "2", [
            lineage("order_id", col(STG, "order_id")),
            lineage("amount_usd", col(STG, "amount"), lens=Lens.TRANSFORMED,
                    transform=Transform.CAST)]),
    })
    finance = ProjectLineage("finance", "duckdb", True, {
        AGG: ModelLineage(AGG, "3", [lineage("total", col(FCT, "amount_usd"), lens=Lens.TRANSFORMED,
                                             transform=Transform.AGGREGATE,
                                             rows=[col(FCT, "order_id")])]),
        AMBIGUOUS: ModelLineage(AMBIGUOUS, "4", [
            lineage("amount_usd", unresolved=Unresolved.AMBIGUOUS_COLUMN, detail="amount_usd")]),
        PYTHON: ModelLineage(PYTHON, "5", unresolved=Unresolved.NOT_SQL),
        MIXED: ModelLineage(MIXED, "7", [
            lineage("boosted", col(FCT, "order_id"), unresolved=Unresolved.UNKNOWN_RELATION,
                    detail="ext_bonus AS t")], reads=[col(FCT, "order_id")]),
        **{f"model.finance.copy{i}": ModelLineage(f"model.finance.copy{i}", "6", [
            lineage("amount_usd", col(FCT, "amount_usd"))]) for i in range(fan_out)},
    })
    graph = ColumnGraph()
    graph.add(analytics)
    graph.add(finance)
    children = {RAW: [STG], STG: [FCT],
                FCT: [AGG, AMBIGUOUS, PYTHON, OLD, MIXED, *(f"model.finance.copy{i}" for i in range(fan_out))]}
    return graph, children


def describe(node: str) -> NodeRef:
    kind, project, *name = node.split(".")
    return NodeRef(node, ".".join(name), f"{project}.{'.'.join(name)}", project, kind)


def build(node: str, column: str, up=None, down=None, fan_out=0, limit=250):
    graph, children = mesh(fan_out)
    return build_column_graph(graph, node, column, up, down, describe=describe,
                              children_of=lambda n: children.get(n, []), limit=limit)


def edges(view) -> dict[tuple[str, str], str]:
    name = {n.id: f"{describe(n.node).label}.{n.column}" for n in view.nodes}
    return {(name[e.source], name[e.target]): e.kind + (f" · {e.transform}" if e.transform else "")
            for e in view.edges}


def test_each_step_is_drawn_with_its_lens_and_rows_only_columns_with_rows():
    view = build(AGG, "total")
    assert edges(view) == {
        ("analytics.shop.orders.amount", "analytics.stg_orders.amount"): "passthrough",
        ("analytics.stg_orders.amount", "analytics.fct_orders.v2.amount_usd"): "transformed · cast",
        ("analytics.fct_orders.v2.amount_usd", "finance.agg.total"): "transformed · aggregate",
        ("analytics.fct_orders.v2.order_id", "finance.agg.total"): ROWS,
    }
    by_column = {(n.node, n.column): n for n in view.nodes}
    assert by_column[(FCT, "order_id")].rows_only and by_column[(FCT, "order_id")].distance == -1
    assert by_column[(RAW, "amount")].distance == -3
    centre = by_column[(AGG, "total")]
    assert (centre.id, centre.lens, centre.transform) == (view.centre, "transformed", "aggregate")
    cross = {e.cross_project for e in view.edges if e.target == view.centre}
    assert cross == {True}
    # a column that only decides rows is not followed further: stg_orders.order_id is not drawn
    assert (STG, "order_id") not in by_column
    assert not view.not_traced and view.truncated == 0


def test_downstream_renames_and_the_columns_whose_rows_it_decides():
    view = build(RAW, "id")                              # a source column: known by its readers
    assert edges(view) == {
        ("analytics.shop.orders.id", "analytics.stg_orders.order_id"): "rename",
        ("analytics.stg_orders.order_id", "analytics.fct_orders.v2.order_id"): "passthrough",
        ("analytics.fct_orders.v2.order_id", "finance.agg.total"): ROWS,
        ("analytics.fct_orders.v2.order_id", "finance.mixed.boosted"): "unknown",
    }
    assert [n.distance for n in view.nodes] == [0, 1, 2, 3, 3]


def test_depths_bound_value_and_rows_steps_alike():
    one_up = build(AGG, "total", up=1, down=0)
    assert {(n.node, n.column) for n in one_up.nodes} == {
        (AGG, "total"), (FCT, "amount_usd"), (FCT, "order_id")}
    nothing = build(AGG, "total", up=0, down=0)
    assert [n.id for n in nothing.nodes] == [nothing.centre] and not nothing.edges
    down_one = build(STG, "order_id", up=0, down=1)
    assert {(n.node, n.column) for n in down_one.nodes} == {(STG, "order_id"), (FCT, "order_id")}


def test_what_could_not_be_traced_is_listed_with_its_reason_and_never_drawn():
    view = build(FCT, "amount_usd", up=0)
    notes = {(n.node, n.column): n.reason for n in view.not_traced}
    assert notes == {(AMBIGUOUS, "amount_usd"): "ambiguous_column",
                     (PYTHON, None): "not_sql", (OLD, None): NO_LINEAGE}
    drawn = {n.node for n in view.nodes}
    assert not drawn & {AMBIGUOUS, PYTHON, OLD}
    assert next(n for n in view.not_traced if n.node == AMBIGUOUS).detail == "amount_usd"
    # the downstream depth bounds the notes too: none one step further than drawn
    assert build(STG, "amount", up=0, down=1).not_traced == []


def test_an_unresolved_column_keeps_its_reason_and_only_its_certain_edges():
    view = build(AMBIGUOUS, "amount_usd")
    (centre,) = view.nodes
    assert (centre.unresolved, centre.lens, view.edges) == ("ambiguous_column", None, [])
    assert [(n.column, n.reason) for n in view.not_traced] == [("amount_usd", "ambiguous_column")]


def test_a_certain_source_of_an_unresolved_column_is_drawn_without_a_lens():
    view = build(FCT, "order_id", up=0)
    assert edges(view) == {
        ("analytics.fct_orders.v2.order_id", "finance.mixed.boosted"): "unknown",
        ("analytics.fct_orders.v2.order_id", "finance.agg.total"): ROWS}
    # the drawn unresolved column and, as for any reader, what the others do is not known
    assert [(n.label, n.column, n.reason, n.detail) for n in view.not_traced] == [
        ("finance.joined", "amount_usd", "ambiguous_column", "amount_usd"),
        ("finance.mixed", "boosted", "unknown_relation", "ext_bonus AS t"),
        ("finance.old", None, NO_LINEAGE, view.not_traced[2].detail),
        ("finance.scored", None, "not_sql", None)]


def test_the_limit_keeps_the_nearest_and_says_how_many_more():
    view = build(FCT, "amount_usd", fan_out=40, limit=10)
    assert len(view.nodes) == 10 and view.nodes[0].id == view.centre
    # one step each way finds stg's amount, agg's total and 40 copies: 42, of which 9 drawn
    assert view.truncated == 42 - 9
    assert view.stopped_at == 1                         # raw's amount, two steps up: not walked
    assert {n.node: n.more for n in view.nodes}[FCT] == 33
    assert all(e.source in {n.id for n in view.nodes} for e in view.edges)
    # nothing lies beyond the step it stopped at: the count is complete
    assert build(FCT, "amount_usd", up=1, fan_out=40, limit=10).stopped_at is None


def test_unknown_columns_have_no_graph():
    assert build(FCT, "no_such_column") is None
    assert build(RAW, "never_read") is None


def test_columns_sit_in_their_model_box_and_projects_in_separate_bands():
    view = build(RAW, "amount", fan_out=3)
    by_model: dict[str, list] = {}
    for n in view.nodes:
        by_model.setdefault(n.node, []).append(n)
    for cells in by_model.values():
        assert len({c.x for c in cells}) == 1           # one model: one column of cells
    bands = {}
    for n in view.nodes:
        low, high = bands.get(n.project, (n.y, n.y))
        bands[n.project] = (min(low, n.y), max(high, n.y))
    assert bands["analytics"][1] < bands["finance"][0]  # analytics' band above finance's
    xs = {n.node: n.x for n in view.nodes}
    assert xs[RAW] < xs[STG] < xs[FCT] < xs[AGG]         # parents left of children
    assert {m.id: m.project for m in view.models}[AGG] == "finance"
    assert sorted(view.projects) == ["analytics", "finance"]
    band = {b.project: b for b in view.bands}
    for n in view.nodes:                                # every column lies on its project's band
        b = band[n.project]
        assert abs(n.x - b.x) < b.w / 2 - 140 and abs(n.y - b.y) < b.h / 2 - 12
    a, f = band["analytics"], band["finance"]
    assert a.y + a.h / 2 < f.y - f.h / 2                # bands never overlap


def test_a_static_catalog_links_no_column_graph():
    from meshkit.web.render import Links

    assert Links(static=True).columns(FCT, "order_id") is None     # the page is served live
    assert Links().columns(FCT, "order id", up=1) == f"/columns/{FCT}/order%20id?up=1"
    assert Links().column(FCT, "Order_ID") == f"/nodes/{FCT}#column-order_id"
