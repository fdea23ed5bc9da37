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
