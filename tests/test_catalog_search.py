"""The in-memory search index: matching, ranking, operators and filters."""

from __future__ import annotations

from meshkit.catalog.search import SearchDoc, SearchFilters, SearchIndex


def _index() -> SearchIndex:
    return SearchIndex([
        SearchDoc("model.finance.agg_customer_payment_journey", "agg_customer_payment_journey",
                  "finance.agg_customer_payment_journey", "finance", "model", "protected", "table",
                  "finance", ["marts"], "How payment methods vary along a customer's journey.",
                  {"total_amount": "Sum of all payments"}),
        SearchDoc("model.finance.stg_payments", "stg_payments", "finance.stg_payments", "finance",
                  "model", "protected", "view", None, ["staging"], "Payments, renamed.",
                  {"payment_method": "credit_card, coupon, …", "amount": "in cents"}),
        SearchDoc("model.analytics.fct_orders.v2", "fct_orders", "analytics.fct_orders v2",
                  "analytics", "model", "public", "table", "core", [],
                  "Customer and order details", {"order_id": "", "is_return": "returned?"}, "2"),
        SearchDoc("model.analytics.fct_orders.v1", "fct_orders", "analytics.fct_orders v1",
                  "analytics", "model", "public", "table", "core", [],
                  "Customer and order details", {"order_id": "", "status": ""}, "1", False),
        SearchDoc("source.finance.stripe.payment", "stripe.payment", "finance.stripe.payment",
                  "finance", "source", description="Raw Stripe payments."),
        SearchDoc("model.analytics.orders_summary", "orders_summary", "analytics.orders_summary",
                  "analytics", "model", "protected", "view", None, [],
                  "Mentions the payment journey in passing.", {}),
    ])


def _ids(results):
    return [h.id for h in results.hits]


def test_names_rank_above_descriptions_and_plurals_meet_singulars():
    results = _index().search("payment")
    ids = _ids(results)
    assert set(ids[:3]) == {"model.finance.agg_customer_payment_journey",
                            "model.finance.stg_payments", "source.finance.stripe.payment"}
    assert ids[-1] == "model.analytics.orders_summary"      # description only
    assert results.total == 4


def test_prefixes_match_and_every_term_must_match():
    assert "model.finance.stg_payments" in _ids(_index().search("paym"))
    assert _ids(_index().search("payment journey"))[0] == "model.finance.agg_customer_payment_journey"
    assert _index().search("payment nonexistentword").total == 0


def test_columns_and_tags_are_searched_and_reported():
    hit = _index().search("is_return").hits[0]
    assert hit.id == "model.analytics.fct_orders.v2"
    assert "column is_return" in hit.matched
    assert _ids(_index().search("staging")) == ["model.finance.stg_payments"]


def test_exact_name_wins_and_latest_version_first():
    ids = _ids(_index().search("fct_orders"))
    assert ids[:2] == ["model.analytics.fct_orders.v2", "model.analytics.fct_orders.v1"]


def test_exclusion_and_phrases():
    ids = _ids(_index().search("payment -stg"))
    assert "model.finance.stg_payments" not in ids and ids
    assert _ids(_index().search('"payment journey"')) == ["model.analytics.orders_summary"]
    assert "model.finance.agg_customer_payment_journey" not in _ids(_index().search('payment -"journey"'))


def test_filters_and_browsing_without_a_query():
    index = _index()
    public = index.search("", SearchFilters.of(access=["public"]))
    assert set(_ids(public)) == {"model.analytics.fct_orders.v1", "model.analytics.fct_orders.v2"}
    sources = index.search("payment", SearchFilters.of(types=["source"]))
    assert _ids(sources) == ["source.finance.stripe.payment"]
    assert index.search("payment", SearchFilters.of(projects=["analytics"], materialized=["view"])).total == 1
    assert index.search("order", SearchFilters.of(groups=["core"])).total == 2
    assert index.search("", SearchFilters.of(tags=["marts"])).total == 1


def test_facets_count_matches_before_filtering():
    results = _index().search("payment", SearchFilters.of(projects=["analytics"]), facets=True)
    assert results.facets["project"] == {"finance": 3, "analytics": 1}
    assert results.facets["access"] == {"protected": 3} and results.total == 1
    assert _index().search("payment").facets == {}


def test_paging():
    index = _index()
    first = index.search("order", limit=1)
    second = index.search("order", limit=1, offset=1)
    assert first.total == second.total >= 2
    assert first.hits[0].id != second.hits[0].id
