"""Mesh CI on plain data: what changed and what it reaches, PR names, compare SQL (run on an
in-memory DuckDB), ages for cleanup, primary keys, the report."""

from __future__ import annotations

import duckdb
import pytest

from meshkit.ci.changes import Why, find_changes
from meshkit.ci.cleanup import PrRelation, older_than
from meshkit.ci.compare import Comparison, Relation, column_changes, comparison_sql, read_results
from meshkit.ci.keys import primary_key
from meshkit.ci.outcome import Outcome
from meshkit.ci.scope import PrScope, pr_of
from meshkit.dbt.artifacts import (Column, Constraint, DependsOn, Manifest, ManifestMetadata,
                                   Node, TestMetadata)
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.orchestrate.plan import check_cycles

# analytics.stg → analytics.fct_orders → finance.revenue → finance.report; finance.alone;
# marketing.m reads nothing that changes.
EDGES = {"analytics.stg": [], "analytics.fct_orders": ["analytics.stg"],
         "finance.revenue": ["analytics.fct_orders"], "finance.report": ["finance.revenue"],
         "finance.alone": [], "marketing.m": ["finance.alone"]}


def _uid(name: str) -> str:
    return "model." + name


def _graph(extra: dict[str, list[Node]] | None = None) -> MeshGraph:
    projects: dict[str, dict[str, Node]] = {}
    for name, parents in EDGES.items():
        project, model = name.split(".")
        projects.setdefault(project, {})[_uid(name)] = Node(
            unique_id=_uid(name), resource_type="model", package_name=project, name=model,
            original_file_path=f"models/{model}.sql", fqn=[project, model],
            depends_on=DependsOn(nodes=[_uid(p) for p in parents]))
    for project, nodes in (extra or {}).items():
        for node in nodes:
            projects[project][node.unique_id] = node
    graph = MeshGraph()
    for project, nodes in projects.items():
        graph.add_project(ProjectState(project, Manifest(ManifestMetadata(project_name=project), nodes)))
    return graph


def _test(project: str, name: str, model: str, kind: str, column: str | None = None,
          **kwargs) -> Node:
    return Node(unique_id=f"test.{project}.{name}", resource_type="test", package_name=project,
                name=name, original_file_path="models/models.yml", column_name=column,
                attached_node=_uid(f"{project}.{model}"),
                test_metadata=TestMetadata(name=kind, kwargs=kwargs),
                depends_on=DependsOn(nodes=[_uid(f"{project}.{model}")]))


def test_a_change_reaches_its_downstream_in_every_project_and_nothing_else():
    graph = _graph()
    production = {_uid(n): "same" for n in EDGES}
    current = dict(production, **{_uid("analytics.fct_orders"): "edited"})
    changes = find_changes(graph, check_cycles(graph), current, production)
    assert changes.reached == {_uid("analytics.fct_orders"): Why.MODIFIED,
                               _uid("finance.revenue"): Why.DOWNSTREAM,
                               _uid("finance.report"): Why.DOWNSTREAM}
    assert changes.projects == ["analytics", "finance"]     # marketing never runs
    assert changes.modified == [_uid("analytics.fct_orders")]


def test_a_change_in_finance_alone_never_builds_analytics():
    graph = _graph()
    production = {_uid(n): "same" for n in EDGES}
    current = dict(production, **{_uid("finance.report"): "edited"})
    changes = find_changes(graph, check_cycles(graph), current, production)
    assert list(changes.reached) == [_uid("finance.report")] and changes.projects == ["finance"]


def test_new_models_and_changed_tests_are_changes_unchanged_mesh_is_empty():
    test = _test("finance", "accepted_revenue", "revenue", "accepted_values", "revenue")
    graph = _graph({"finance": [test]})
    production = {_uid(n): "same" for n in EDGES} | {test.unique_id: "t1"}
    assert find_changes(graph, check_cycles(graph), dict(production), production).empty
    current = dict(production, **{test.unique_id: "t2"})
    del production[_uid("finance.alone")]
    changes = find_changes(graph, check_cycles(graph), current, production)
    assert changes.reached[_uid("finance.revenue")] is Why.TEST_MODIFIED
    assert changes.reached[_uid("finance.alone")] is Why.NEW
    assert changes.reached[_uid("marketing.m")] is Why.DOWNSTREAM


def test_pr_scope_names_and_ownership():
    scope = PrScope("123")
    assert scope.schema("Finance") == "pr_123__finance"
    assert scope.owns("pr_123__finance_staging") and not scope.owns("pr_1234__finance")
    assert pr_of("pr_123__finance") == "123" and pr_of("finance") is None
    # A DuckDB catalog named like its schema cannot bind views: the file's database differs.
    assert scope.database("Finance") == "pr_123__finance__db" != scope.schema("Finance")
    assert scope.owns(scope.database("x")) and pr_of(scope.database("x")) == "123"
    for bad in ("", "1;drop", "a__b", "x" * 41):
        with pytest.raises(MeshError):
            PrScope(bad)


def test_primary_key_from_constraint_then_combination_then_unique():
    graph = _graph({"analytics": [_test("analytics", "u", "fct_orders", "unique", "order_id")]})
    assert primary_key(graph, _uid("analytics.fct_orders")) == ["order_id"]
    assert primary_key(graph, _uid("analytics.stg")) is None
    combo = _test("finance", "c", "revenue", "unique_combination_of_columns",
                  combination_of_columns=["Day", "store"])
    graph = _graph({"finance": [combo]})
    assert primary_key(graph, _uid("finance.revenue")) == ["day", "store"]
    graph.nodes[_uid("finance.revenue")].constraints.append(
        Constraint(type="primary_key", columns=["ID"]))
    assert primary_key(graph, _uid("finance.revenue")) == ["id"]
    graph.nodes[_uid("finance.report")].columns["k"] = Column(
        name="k", constraints=[Constraint(type="primary_key")])
    assert primary_key(graph, _uid("finance.report")) == ["k"]


def _compare(con, key, before_cols, after_cols):
    comparison = Comparison("model.x.t", "x.t", key)
    common = column_changes(comparison, before_cols, after_cols, "duckdb")
    sql = comparison_sql(Relation(None, "pr", "t"), Relation(None, "prod", "t"), comparison.key,
                         common, {c[0].lower() for c in comparison.columns_changed})
    results = []
    for statement in sql:
        cursor = con.execute(statement)
        results.append({"columns": [d[0] for d in cursor.description], "rows": cursor.fetchall()})
    read_results(comparison, common, results)
    return comparison


@pytest.fixture
def warehouse():
    con = duckdb.connect(":memory:")
    con.execute("create schema prod; create schema pr")
    con.execute("create table prod.t as select * from (values (1, 10, 'a'), (2, 20, 'b'), "
                "(3, null, 'c')) v(id, amount, name)")
    con.execute("create table pr.t as select * from (values (1, 10, 1), (2, 25, 2), (3, null, 3), "
                "(4, 40, 4)) v(id, amount, name)")
    return con


def test_compare_by_key_counts_and_samples_changed_added_removed_rows(warehouse):
    warehouse.execute("delete from pr.t where id = 1")
    result = _compare(warehouse, ["id"], [["id", "INTEGER"], ["amount", "INTEGER"],
                                          ["name", "VARCHAR"]],
                      [["id", "INTEGER"], ["amount", "INTEGER"], ["name", "INTEGER"]])
    assert (result.rows_before, result.rows_after) == (3, 3)
    assert (result.added, result.removed, result.changed) == (1, 1, 2)   # nulls compare equal
    assert result.columns_changed == [("name", "VARCHAR", "INTEGER")]
    changed = [s for s in result.sample if s["change"] == "changed"]
    assert changed[0] == {"change": "changed", "key": {"id": 2},
                          "columns": {"amount": [20, 25], "name": ["b", "2"]}}
    assert {s["change"]: s["key"] for s in result.sample if s["change"] != "changed"} == \
        {"added": {"id": 4}, "removed": {"id": 1}}


def test_compare_without_key_counts_whole_rows_and_columns(warehouse):
    warehouse.execute("alter table pr.t drop column name; alter table pr.t add column extra int")
    result = _compare(warehouse, None, [["id", "INTEGER"], ["amount", "INTEGER"],
                                        ["name", "VARCHAR"]],
                      [["id", "INTEGER"], ["amount", "INTEGER"], ["extra", "INTEGER"]])
    assert (result.columns_added, result.columns_removed) == (["extra"], ["name"])
    assert (result.added, result.removed, result.changed) == (2, 1, None)
    assert not result.identical


def test_identical_relations_compare_equal(warehouse):
    warehouse.execute("create or replace table pr.t as select * from prod.t")
    cols = [["id", "INTEGER"], ["amount", "INTEGER"], ["name", "VARCHAR"]]
    result = _compare(warehouse, ["id"], cols, cols)
    assert result.identical and (result.added, result.removed, result.changed) == (0, 0, 0)


def test_older_than_drops_whole_prs_by_their_newest_relation():
    day = 86400.0
    relations = [PrRelation("1", "schema", "db.pr_1__a", 0.0, "a"),
                 PrRelation("1", "schema", "db.pr_1__b", 9 * day, "b"),
                 PrRelation("2", "file", "/w/pr_2__a.duckdb", 1 * day, "a"),
                 PrRelation("3", "schema", "db.pr_3__a", None, "a")]
    assert [r.name for r in older_than(relations, 7 * day, now=10 * day)] == ["/w/pr_2__a.duckdb"]


def test_dbt_statuses_map_to_outcomes():
    assert Outcome.of("pass") is Outcome.SUCCESS and Outcome.of("runtime error") is Outcome.ERROR
    assert Outcome.of("fail").failed and not Outcome.of("warn").failed


# -- units in worker slots (orchestrate.slots, as `meshkit ci --workers` runs them) ---------

def _slots(units, depends, files, workers, run):
    from meshkit.orchestrate.resources import Resources
    from meshkit.orchestrate.slots import run_in_slots

    resources = {p: Resources(frozenset(w), frozenset(r)) for p, (w, r) in files.items()}
    run_in_slots(units, depends, workers, resources.__getitem__, run)


def test_independent_units_run_side_by_side_and_colliding_files_never_do():
    import threading
    import time

    from meshkit.orchestrate.plan import Unit

    a, b, c, d = (Unit(p, 0, (f"model.{p}.m",)) for p in "abcd")
    files = {"a": ({"a.db"}, set()), "b": ({"b.db"}, set()),
             "c": ({"c.db"}, {"a.db"}),     # reads the file a writes: never beside a
             "d": ({"d.db"}, set())}
    side_by_side = threading.Barrier(2, timeout=10)    # a and b must both be running
    active, overlaps, order = set(), [], []
    lock = threading.Lock()

    def run(unit):
        with lock:
            active.add(unit.project)
            overlaps.append(frozenset(active))
        if unit.project in "ab":
            side_by_side.wait()
        time.sleep(0.05)
        with lock:
            active.discard(unit.project)
            order.append(unit.project)

    _slots([a, b, c, d], {u.key: set() for u in (a, b, c, d)} | {("d", 0): {("c", 0)}},
           files, 2, run)
    assert sorted(order) == ["a", "b", "c", "d"] and order.index("c") < order.index("d")
    assert not any({"a", "c"} <= seen for seen in overlaps) and max(map(len, overlaps)) == 2


def test_a_failing_unit_stops_the_units_after_it_and_is_raised():
    from meshkit.orchestrate.plan import Unit

    a, b = Unit("a", 0, ("model.a.m",)), Unit("b", 1, ("model.b.m",))
    ran = []

    def run(unit):
        ran.append(unit.project)
        raise MeshError(f"{unit.project} refused")

    with pytest.raises(MeshError, match="a refused"):
        _slots([a, b], {a.key: set(), b.key: {a.key}}, {"a": (set(), set()), "b": (set(), set())},
               2, run)
    assert ran == ["a"]


def test_production_fingerprints_are_the_owners_not_a_consumers_injected_copy():
    from meshkit.ci.build import owned_fingerprints

    graph = _graph()
    fct, revenue = _uid("analytics.fct_orders"), _uid("finance.revenue")
    finance_manifest = {fct: "injected-copy", revenue: "r1", "model.finance.gone": "g1"}
    assert owned_fingerprints(finance_manifest, "finance", graph) == {
        revenue: "r1", "model.finance.gone": "g1"}
    assert owned_fingerprints({fct: "f1"}, "analytics", graph) == {fct: "f1"}
