"""Breaking changes between two states of a mesh, each with the models it breaks downstream."""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.govern.builder import ProjectBuilder, view_of
from meshkit.govern.diff import KINDS, breaking_changes

TODAY = date(2026, 1, 15)
COLUMNS = {"id": {"description": "k", "data_type": "integer",
                  "constraints": [{"type": "not_null"}]},
           "status": {"description": "s", "data_type": "varchar"}}


def analytics(change: str | None = None) -> ProjectBuilder:
    a = ProjectBuilder("analytics")
    columns = {k: dict(v) for k, v in COLUMNS.items()}
    orders = dict(access="public", contract=True, description="d", columns=columns)
    if change == "model_removed":
        orders = None
    elif change == "access_downgraded":
        orders["access"] = "protected"
    elif change == "contract_removed":
        orders["contract"] = False
    elif change == "column_removed":
        del columns["status"]
    elif change == "column_type_changed":
        columns["id"] = {**columns["id"], "data_type": "bigint"}
    elif change == "constraint_removed":
        columns["id"] = {**columns["id"], "constraints": []}
    elif change == "column_added":
        columns["placed_at"] = {"description": "t", "data_type": "timestamp"}
    if orders is not None:
        a.model("orders", **orders)
    latest = 3 if change == "latest_version_changed" else 2
    for v in (1, 2, 3):
        if change == "version_removed" and v == 1:
            continue
        a.model("customers", version=v, latest_version=latest, access="public", contract=True,
                description="d", columns={"id": {"description": "k", "data_type": "integer"}})
    return a


def finance() -> ProjectBuilder:
    f = ProjectBuilder("finance")
    f.inject("model.analytics.orders")
    f.model("revenue", depends_on=["model.analytics.orders"], refs=[("orders", "analytics")])
    f.model("churn", depends_on=["model.analytics.customers.v1"],
            refs=[("customers", "analytics", 1)])
    f.model("segments", depends_on=["model.analytics.customers.v2"],
            refs=[("customers", "analytics")])
    f.exposure("board", ["model.analytics.orders"])
    return f


def breaking(old, new):
    """The breaking changes, without the notes on what could not be compared."""
    return [c for c in breaking_changes(old, new) if c.kind != "columns_not_compared"]


def diff(change: str):
    old = view_of(analytics(), finance(), today=TODAY)
    new = view_of(analytics(change), finance(), today=TODAY)
    return breaking(old, new)


@pytest.mark.parametrize("kind, subject, downstream", [
    ("model_removed", "analytics.orders", ("finance.board", "finance.revenue")),
    ("access_downgraded", "analytics.orders", ("finance.board", "finance.revenue")),
    ("contract_removed", "analytics.orders", ("finance.board", "finance.revenue")),
    ("column_removed", "analytics.orders", ("finance.board", "finance.revenue")),
    ("column_type_changed", "analytics.orders", ("finance.board", "finance.revenue")),
    ("constraint_removed", "analytics.orders", ("finance.board", "finance.revenue")),
    ("version_removed", "analytics.customers.v1", ("finance.churn",)),
    ("latest_version_changed", "analytics.customers", ("finance.segments",)),
])
def test_each_breaking_change_lists_its_downstream(kind, subject, downstream):
    changes = diff(kind)
    assert [(c.kind, c.label) for c in changes] == [(kind, subject)]
    [change] = changes
    assert change.downstream == downstream
    assert change.severity == "error"
    assert all(d in change.message for d in downstream)


def test_every_kind_is_tested():
    tested = {"model_removed", "access_downgraded", "contract_removed", "column_removed",
              "column_type_changed", "constraint_removed", "version_removed",
              "latest_version_changed", "columns_not_compared"}
    assert set(KINDS) == tested


def test_change_details():
    assert diff("column_type_changed")[0].detail == "column id changed type: integer → bigint"
    assert diff("column_removed")[0].detail == "column status was removed"
    assert diff("constraint_removed")[0].detail == "constraint not_null on id was removed"
    assert "it had no deprecation date" in diff("model_removed")[0].detail


def test_additive_change_is_not_breaking():
    assert diff("column_added") == []
    assert diff(None) == []


def test_uncontracted_public_model_changes_are_warnings():
    old_a = ProjectBuilder("analytics")
    old_a.model("orders", access="public", columns={"id": "k", "status": "s"})
    new_a = ProjectBuilder("analytics")
    new_a.model("orders", access="public", columns={"id": "k"})
    [change] = breaking_changes(view_of(old_a, finance()), view_of(new_a, finance()))
    assert (change.kind, change.severity) == ("column_removed", "warn")


def test_removal_after_the_deprecation_date_is_not_breaking():
    def mesh(with_v1: bool):
        a = ProjectBuilder("analytics")
        for v in (1, 2):
            if v == 1 and not with_v1:
                continue
            a.model("customers", version=v, latest_version=2, access="public", contract=True,
                    deprecation_date="2025-12-31" if v == 1 else None)
        return a
    old, new = view_of(mesh(True), today=TODAY), view_of(mesh(False), today=TODAY)
    assert breaking(old, new) == []
    early_old = view_of(mesh(True), today=date(2025, 12, 1))
    early_new = view_of(mesh(False), today=date(2025, 12, 1))
    [change] = breaking(early_old, early_new)
    assert change.kind == "version_removed" and "2025-12-31" in change.detail


def test_a_model_that_gains_versions_is_compared_with_its_latest():
    old_a = ProjectBuilder("analytics")
    old_a.model("orders", access="public", contract=True, columns={"id": "k", "status": "s"})
    new_a = ProjectBuilder("analytics")
    new_a.model("orders", version=1, latest_version=1, access="public", contract=True,
                columns={"id": "k"})
    [change] = breaking_changes(view_of(old_a), view_of(new_a))
    assert change.kind == "column_removed"


def test_projects_absent_from_the_new_side_are_not_reported_as_removed():
    old = view_of(analytics(), finance())
    new = view_of(finance())
    assert breaking_changes(old, new) == []


# -- like with like: never a change on unchanged code (issue 15) ---------------------------------
def published(columns: dict, *, contract: bool, catalog: dict | None,
              adapter: str = "duckdb") -> ProjectBuilder:
    a = ProjectBuilder("analytics", adapter=adapter)
    uid = a.model("orders", access="public", contract=contract, description="d", columns=columns)
    if catalog is not None:
        a.catalog[uid] = catalog
    return a


INT_COLUMNS = {"order_id": {"description": "k", "data_type": "int"},
               "status": {"description": "s", "data_type": "varchar"}}
BUILT = {"ORDER_ID": "INTEGER", "STATUS": "VARCHAR"}


def test_a_contract_read_from_yaml_matches_its_published_catalog():
    old = published(INT_COLUMNS, contract=True, catalog=BUILT)
    new = published(INT_COLUMNS, contract=True, catalog=None)
    assert breaking_changes(view_of(old), view_of(new)) == []


def test_a_respelled_type_is_no_change_but_a_new_type_is():
    old = published(INT_COLUMNS, contract=True, catalog=None)
    respelled = published({**INT_COLUMNS, "order_id": {"data_type": "INTEGER"}}, contract=True,
                          catalog=None)
    assert breaking_changes(view_of(old), view_of(respelled)) == []
    widened = published({**INT_COLUMNS, "order_id": {"data_type": "bigint"}}, contract=True,
                        catalog=None)
    [change] = breaking_changes(view_of(old), view_of(widened))
    assert change.detail == "column order_id changed type: integer → bigint"


def test_a_type_only_the_new_yaml_states_is_compared_with_the_warehouse():
    old = published({"order_id": "k"}, contract=False, catalog={"order_id": "INTEGER"})
    same = published({"order_id": {"data_type": "int4"}}, contract=True, catalog=None)
    assert breaking(view_of(old), view_of(same)) == []
    other = published({"order_id": {"data_type": "varchar"}}, contract=True, catalog=None)
    [change] = breaking(view_of(old), view_of(other))
    assert change.detail == "column order_id changed type: integer → varchar"


def test_undeclared_columns_are_not_reported_removed_but_named_as_not_compared():
    old = published({}, contract=False, catalog=BUILT)
    new = published({}, contract=False, catalog=None)
    [note] = breaking_changes(view_of(old), view_of(new))
    assert (note.kind, note.severity, note.label) == ("columns_not_compared", "info",
                                                      "analytics.orders")
    assert "declares no columns" in note.message and "meshkit build --docs" in note.message


def test_catalogs_on_both_sides_catch_a_renamed_undeclared_column():
    old = published({}, contract=False, catalog=BUILT)
    same = published({}, contract=False, catalog=BUILT)
    assert breaking_changes(view_of(old), view_of(same)) == []
    renamed = published({}, contract=False, catalog={"ORDER_ID": "INTEGER", "STATE": "VARCHAR"})
    [change] = breaking_changes(view_of(old), view_of(renamed))
    assert (change.kind, change.detail, change.severity) == \
        ("column_removed", "column STATUS was removed", "warn")


def test_catalogs_of_two_warehouses_compare_declared_types():
    """A dev build on DuckDB against prod on Snowflake: NUMBER and INTEGER are not a change
    the code made; the contract's types (unchanged) are what to compare."""
    old = published(INT_COLUMNS, contract=True, catalog={"ORDER_ID": "NUMBER", "STATUS": "TEXT"},
                    adapter="snowflake")
    new = published(INT_COLUMNS, contract=True, catalog={"order_id": "INTEGER", "status": "VARCHAR"})
    assert breaking_changes(view_of(old), view_of(new)) == []


def test_stale_documentation_is_not_a_removed_column():
    """An uncontracted model documents a column its table no longer has: with catalogs on
    both sides the tables are compared, and unchanged code reports nothing."""
    documented = {"order_id": "k", "gone_long_ago": "an outdated description"}
    old = published(documented, contract=False, catalog=BUILT)
    new = published(documented, contract=False, catalog=BUILT)
    assert breaking_changes(view_of(old), view_of(new)) == []


def test_a_column_change_names_the_columns_that_read_it_and_not_models_reading_others():
    def finance_compiled() -> ProjectBuilder:
        f = ProjectBuilder("finance", adapter="duckdb")
        orders = f.inject("model.analytics.orders")
        relation = analytics().nodes[orders]["relation_name"]
        f.nodes[orders]["relation_name"] = relation
        revenue = f.model("revenue", depends_on=[orders], refs=[("orders", "analytics")])
        f.nodes[revenue]["compiled_code"] = f"select id, count(*) as n from {relation} group by id"
        statuses = f.model("statuses", depends_on=[orders], refs=[("orders", "analytics")])
        f.nodes[statuses]["compiled_code"] = f"select upper(status) as order_status from {relation}"
        returns = f.model("returns", depends_on=[orders], refs=[("orders", "analytics")])
        f.nodes[returns]["compiled_code"] = f"select id from {relation} where status = 'returned'"
        f.exposure("board", [orders])
        return f

    old = view_of(analytics(), finance_compiled(), today=TODAY)
    new = view_of(analytics("column_removed"), finance_compiled(), today=TODAY)
    [change] = breaking(old, new)
    assert change.downstream == ("finance.board", "finance.returns",
                                 "finance.statuses.order_status")
