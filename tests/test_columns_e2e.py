"""Column lineage of the example mesh, as `meshkit build` publishes it, across projects."""

from __future__ import annotations

from meshkit.columns.lineage import Lens, SourceColumn, Transform
from meshkit.graph.columns import load_column_graph
from meshkit.store.store import Store

AGG = "model.finance.agg_customer_payment_journey"
FCT = "model.analytics.fct_orders.v2"


def _graph(mesh):
    return load_column_graph(Store(str(mesh / ".meshkit" / "store")), "prod")


def test_finance_total_amount_traces_to_the_raw_payments_column(built_mesh_template):
    graph = _graph(built_mesh_template)
    assert graph.projects["finance"].compiled and graph.projects["analytics"].compiled
    total = graph.column(AGG, "total_amount")
    assert (total.lens, total.transform) == (Lens.TRANSFORMED, Transform.AGGREGATE)
    upstream = {(s.column, s.distance) for s in graph.upstream(SourceColumn(AGG, "total_amount"))}
    assert upstream == {(SourceColumn("model.finance.stg_payments", "amount"), 1),
                        (SourceColumn("source.finance.stripe.payment", "amount"), 2)}
    # its value is stg_payments' amount; which payments it sums, analytics decides: the join
    # on fct_orders' order_id and the grouping by its days_as_customer_at_purchase
    assert set(total.rows) == {SourceColumn(FCT, "order_id"),
                               SourceColumn(FCT, "days_as_customer_at_purchase"),
                               SourceColumn("model.finance.stg_payments", "order_id")}


def test_a_finance_column_traces_through_analytics_to_its_raw_column_and_back(built_mesh_template):
    graph = _graph(built_mesh_template)
    days = SourceColumn(AGG, "days_as_customer_at_purchase")
    steps = {s.column: s for s in graph.upstream(days)}
    assert steps[SourceColumn(FCT, "days_as_customer_at_purchase")].edge.lens == Lens.PASSTHROUGH
    assert steps[SourceColumn("model.analytics.stg_orders", "order_date")].distance == 2
    raw = SourceColumn("source.analytics.jaffle_shop.orders", "order_date")
    assert raw in steps
    down = {s.column for s in graph.downstream(raw)}
    assert days in down and SourceColumn(FCT, "order_date") in down
    # analytics' public interface lists fct_orders' columns for consumers' `select *`
    assert "is_return" in {c.name for c in graph.models[FCT].columns}


def test_the_columns_api_and_inherited_descriptions(built_mesh):
    from test_web_app import get, get_json, serve

    with serve(built_mesh) as server:
        total = get_json(server.url + f"/api/columns/{AGG}/total_amount?up=all")
        assert (total["lens"], total["transform"]) == ("transformed", "aggregate")
        assert [(r["label"], r["column"], r["distance"]) for r in total["upstream"]] == [
            ("finance.stg_payments", "amount", 1), ("finance.stripe.payment", "amount", 2)]
        assert "analytics.fct_orders.v2.order_id" in total["rows"]
        raw = get_json(server.url + "/api/columns/source.analytics.jaffle_shop.orders/order_date"
                       "?down=all")
        assert ("finance.agg_customer_payment_journey", "days_as_customer_at_purchase") in {
            (r["label"], r["column"]) for r in raw["downstream"]}
        one_step = get_json(server.url + "/api/columns/source.analytics.jaffle_shop.orders/"
                            "order_date?down=1")
        assert {r["label"] for r in one_step["downstream"]} == {"analytics.stg_orders"}
        # fct_orders.order_id has an empty description: stg_orders' is inherited, marked so
        order_id = get_json(server.url + f"/api/columns/{FCT}/order_id")
        assert order_id["description"] == ""
        assert order_id["inherited"]["text"] == "Primary key of an order."
        assert order_id["inherited"]["label"] == "analytics.stg_orders"
        status, _, _ = get(server.url + f"/api/columns/{FCT}/no_such_column")
        assert status == 404
        # the graph page draws at most `limit` columns and says what it left out: one step
        # each way already finds 4, so the walk stops there
        status, _, html = get(server.url + f"/columns/{AGG}/days_as_customer_at_purchase?limit=3")
        assert status == 200 and ('<strong id="column-graph-more">1 more column not drawn, and '
                                  'more beyond 1 step not counted</strong>') in html
        assert html.count('"classes":"column') == 3 and "+1 more" in html
        status, _, _ = get(server.url + f"/columns/{FCT}/no_such_column")
        assert status == 404
