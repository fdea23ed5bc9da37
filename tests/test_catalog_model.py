"""The catalog's views over a synthetic mesh: bidirectional projects, unpublished upstreams,
doc blocks, lineage filters and caching (no dbt needed)."""

from __future__ import annotations

from datetime import datetime, timezone

from meshkit.catalog.lineage import LineageFilters, lineage_view, project_graph
from meshkit.catalog.node import node_view
from meshkit.catalog.overview import overview_view
from meshkit.catalog.project import project_view
from meshkit.catalog.index import catalog_from_states
from meshkit.dbt.artifacts import (Column, Constraint, Contract, DependsOn, Doc, Group, Manifest,
                                   ManifestMetadata, Node, NodeConfig, Owner, RunResult,
                                   RunResults, RunResultsMetadata, Source, TestMetadata)
from meshkit.graph.mesh_graph import ProjectState

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _model(project: str, name: str, parents=(), *, access="protected", version=None,
           latest=None, deprecation=None, group=None, materialized="view", tags=(),
           description="", columns=None, contract=False) -> Node:
    uid = f"model.{project}.{name}" + (f".v{version}" if version is not None else "")
    return Node(unique_id=uid, resource_type="model", package_name=project, name=name,
                original_file_path=f"models/{name}.sql", access=access, group=group,
                version=version, latest_version=latest, deprecation_date=deprecation,
                description=description, columns=columns or {},
                config=NodeConfig(materialized=materialized, access=access, group=group,
                                  tags=list(tags), contract=Contract(enforced=contract)),
                depends_on=DependsOn(nodes=list(parents)), raw_code=f"select 1 as {name}")


def _injected(project: str, name: str) -> Node:
    """An upstream public model as the meshkit plugin injects it into a consumer."""
    return Node(unique_id=f"model.{project}.{name}", resource_type="model", package_name=project,
                name=name, original_file_path="", access="public")


def _state(name: str, nodes: list[Node], *, sources=(), groups=(), docs=(), results=()) -> ProjectState:
    manifest = Manifest(
        metadata=ManifestMetadata(dbt_schema_version="https://schemas.getdbt.com/dbt/manifest/v12.json",
                                  project_name=name, invocation_id=f"inv-{name}"),
        nodes={n.unique_id: n for n in nodes}, sources={s.unique_id: s for s in sources},
        groups={g.unique_id: g for g in groups}, docs={d.unique_id: d for d in docs})
    run_results = RunResults(metadata=RunResultsMetadata(),
                             results=[RunResult(uid, status) for uid, status in results])
    return ProjectState(name, manifest, "prod", run_results=run_results)


def _mesh():
    sales_src = Source(unique_id="source.sales.crm.accounts", package_name="sales", name="accounts",
                       source_name="crm", original_file_path="models/sources.yml")
    not_null = Node(unique_id="test.sales.not_null_accounts_id.1", resource_type="test",
                    package_name="sales", name="not_null_accounts_id", original_file_path="x.yml",
                    column_name="account_id", test_metadata=TestMetadata(name="not_null"),
                    depends_on=DependsOn(nodes=["model.sales.accounts"]))
    sales = _state("sales", [
        _model("sales", "stg_accounts", ["source.sales.crm.accounts"]),
        _model("sales", "accounts", ["model.sales.stg_accounts"], access="public", group="revenue",
               materialized="table", tags=["pii"], contract=True,
               description='{{ doc("accounts_doc") }}',
               columns={"account_id": Column("account_id", "Primary key", "integer",
                                             constraints=[Constraint("not_null")])}),
        _model("sales", "pipeline", ["model.billing.invoices"], access="public", materialized="table"),
        _model("sales", "orders", ["model.sales.stg_accounts"], access="public", version=1, latest=2,
               deprecation="2025-06-30T00:00:00+00:00"),
        _model("sales", "orders", ["model.sales.stg_accounts"], access="public", version=2, latest=2),
        _model("sales", "orders", ["model.sales.stg_accounts"], access="public", version=3, latest=2),
        not_null, _injected("billing", "invoices"),
    ], sources=[sales_src],
        groups=[Group(unique_id="group.sales.revenue", name="revenue", package_name="sales",
                      owner=Owner(name="Revenue team", email="rev@example.com"))],
        docs=[Doc(unique_id="doc.sales.accounts_doc", name="accounts_doc", package_name="sales",
                  block_contents="One row per **account**.")],
        results=[("model.sales.accounts", "success"), ("test.sales.not_null_accounts_id.1", "fail")])
    billing = _state("billing", [
        _model("billing", "invoices", ["model.sales.accounts"], access="public", materialized="table"),
        _model("billing", "revenue", ["model.billing.invoices", "model.ledger.entries"]),
        _injected("sales", "accounts"),
    ])
    marketing = _state("marketing", [_injected("sales", "accounts")])   # declared, no ref yet
    return catalog_from_states([sales, billing, marketing], mesh_name="test", environment="prod",
                               now=NOW)


def test_overview_counts_and_bidirectional_project_edges():
    catalog = _mesh()
    view = overview_view(catalog)
    assert view.counts["models"] == 8 and view.counts["public_models"] == 6
    assert view.counts["contracts"] == 1 and view.counts["failures"] == 1
    edges = {(e.source, e.target): (e.count, e.bidirectional) for e in view.project_edges}
    assert edges[("sales", "billing")] == (1, True)
    assert edges[("billing", "sales")] == (1, True)
    assert edges[("sales", "marketing")] == (0, False)           # declared, not referenced
    assert edges[("ledger", "billing")] == (1, False)            # never published
    graph = project_graph(catalog)
    assert {n["id"]: n["published"] for n in graph.nodes}["ledger"] is False
    assert {(e["source"], e["target"]): e["bidirectional"] for e in graph.edges}[("billing", "sales")]
    spots = {(n["x"], n["y"]) for n in graph.nodes}
    assert len(spots) == len(graph.nodes)


def test_project_page_lists_owners_users_and_upstreams():
    view = project_view(_mesh(), "sales")
    assert [(g.name, g.owner_name, g.owner_email, g.models) for g in view.groups] == \
        [("revenue", "Revenue team", "rev@example.com", 1)]
    assert {link.project for link in view.used_by} == {"billing", "marketing"}
    assert [link.project for link in view.upstream] == ["billing"]
    billing = next(link for link in view.used_by if link.project == "billing")
    assert [r.id for r in billing.models] == ["model.sales.accounts"]
    assert view.counts["failures"] == 1


def test_model_page_doc_blocks_columns_tests_and_owner():
    view = node_view(_mesh(), "model.sales.accounts")
    assert view.description == "One row per **account**."
    assert view.owner.name == "Revenue team" and view.access == "public" and view.contract_enforced
    column = view.columns[0]
    assert (column.name, column.data_type, column.type_source) == ("account_id", "integer", "contract")
    assert [t.kind for t in column.tests] == ["not_null"]
    assert column.tests[0].result.status == "fail"
    assert [c.type for c in column.constraints] == ["not_null"]
    assert view.used_by == ["billing"]            # marketing declares sales but refs nothing
    assert view.downstream.by_project == {"billing": 2, "sales": 1}


def test_versions_latest_prerelease_and_past_deprecation():
    view = node_view(_mesh(), "model.sales.orders.v1")
    states = {v.version: (v.state, v.is_latest, v.deprecated) for v in view.versions}
    assert states == {"1": ("old", False, True), "2": ("latest", True, False),
                      "3": ("prerelease", False, False)}
    assert view.deprecated and [v.current for v in view.versions] == [True, False, False]


def test_unpublished_upstream_is_a_reference_not_a_page():
    catalog = _mesh()
    ref = catalog.ref("model.ledger.entries")
    assert not ref.published and ref.project == "ledger" and ref.label == "ledger.entries"
    assert node_view(catalog, "model.ledger.entries") is None
    lineage = lineage_view(catalog, "model.billing.revenue", 1, 0)
    assert {n.id: n.published for n in lineage.nodes}["model.ledger.entries"] is False


def test_lineage_crosses_projects_and_filters_bridge_hidden_nodes():
    catalog = _mesh()
    lineage = lineage_view(catalog, "model.billing.invoices", None, None)
    ids = {n.id for n in lineage.nodes}
    assert {"source.sales.crm.accounts", "model.sales.accounts", "model.sales.pipeline",
            "model.billing.revenue"} <= ids
    assert "test.sales.not_null_accounts_id.1" not in ids
    cross = {(e.source, e.target) for e in lineage.edges if e.cross_project}
    assert ("model.sales.accounts", "model.billing.invoices") in cross
    distances = {n.id: n.distance for n in lineage.nodes}
    assert distances["model.sales.accounts"] == -1 and distances["source.sales.crm.accounts"] == -3
    assert distances["model.billing.invoices"] == 0

    public = lineage_view(catalog, "model.billing.revenue", None, 0, LineageFilters.of(access=["public"]))
    shown = {n.id for n in public.nodes}
    assert "model.sales.stg_accounts" not in shown and "model.billing.revenue" in shown
    assert public.hidden >= 2
    through_billing = lineage_view(catalog, "model.sales.pipeline", None, 0,
                                      LineageFilters.of(projects=["sales"]))
    edges = {(e.source, e.target): e.indirect for e in through_billing.edges}
    assert "model.billing.invoices" not in {n.id for n in through_billing.nodes}
    assert edges[("model.sales.accounts", "model.sales.pipeline")] is True   # bridged, drawn dotted
    by_project = lineage_view(catalog, "model.billing.invoices", None, None,
                                 LineageFilters.of(projects=["billing"]))
    assert {n.project for n in by_project.nodes} == {"billing"}
    edge = {(e.source, e.target): e.indirect for e in by_project.edges}
    assert edge[("model.billing.invoices", "model.billing.revenue")] is False


def test_filters_by_tag_group_and_materialization():
    catalog = _mesh()
    assert {n.id for n in lineage_view(catalog, "model.sales.stg_accounts", 0, None,
                                          LineageFilters.of(tags=["pii"])).nodes} == \
        {"model.sales.stg_accounts", "model.sales.accounts"}
    assert {n.id for n in lineage_view(catalog, "model.sales.stg_accounts", 0, 1,
                                          LineageFilters.of(groups=["revenue"])).nodes} == \
        {"model.sales.stg_accounts", "model.sales.accounts"}
    tables = lineage_view(catalog, "model.sales.stg_accounts", 0, None, LineageFilters.of(materialized=["table"]))
    assert all(n.materialized == "table" for n in tables.nodes if n.distance != 0)


def test_lineage_layouts_are_cached_per_depth_filters_and_version():
    catalog = _mesh()
    first = lineage_view(catalog, "model.sales.accounts", 2, 2)
    assert lineage_view(catalog, "model.sales.accounts", 2, 2) is first
    assert catalog.lineage_cache.hits == 1
    assert lineage_view(catalog, "model.sales.accounts", 1, 2) is not first
    assert lineage_view(catalog, "model.sales.accounts", 2, 2, LineageFilters.of(access=["public"])) is not first
    every = {(n.x, n.y) for n in first.nodes}
    assert len(every) == len(first.nodes), "no two nodes share a position"


def test_depth_limits_and_truncation():
    catalog = _mesh()
    one = lineage_view(catalog, "model.billing.invoices", 1, 1)
    assert {n.distance for n in one.nodes} == {-1, 0, 1}
    from meshkit.catalog.lineage import compute_lineage

    capped = compute_lineage(catalog, "model.billing.invoices", None, None, LineageFilters(),
                             max_nodes=3)
    assert len(capped.nodes) == 3 and capped.truncated > 0


def test_find_by_project_and_name_prefers_latest_version():
    catalog = _mesh()
    assert catalog.find("sales.orders") == "model.sales.orders.v2"
    assert catalog.find("accounts") == "model.sales.accounts"
    assert catalog.find("sales.nothing") is None


def test_warehouse_types_and_undocumented_columns_come_from_catalog_json():
    from meshkit.dbt.artifacts import Catalog, CatalogColumn, CatalogEntry, CatalogTable

    catalog = _mesh()
    state = catalog.graph.projects["sales"]
    state.catalog = Catalog(nodes={"model.sales.accounts": CatalogEntry(
        metadata=CatalogTable(type="BASE TABLE"),
        columns={"ACCOUNT_ID": CatalogColumn("ACCOUNT_ID", "BIGINT", 1),
                 "LOADED_AT": CatalogColumn("LOADED_AT", "TIMESTAMP", 2)})})
    columns = {c.name: (c.data_type, c.type_source) for c in node_view(catalog, "model.sales.accounts").columns}
    assert columns == {"account_id": ("BIGINT", "catalog"), "LOADED_AT": ("TIMESTAMP", "catalog")}


def test_freshness_of_upstream_sources():
    from meshkit.dbt.artifacts import FreshnessResult, SourceFreshness

    catalog = _mesh()
    source = catalog.graph.sources["source.sales.crm.accounts"]
    source.freshness = SourceFreshness(warn_after={"count": 12, "period": "hour"},
                                       error_after={"count": 1, "period": "day"})
    catalog._freshness["source.sales.crm.accounts"] = FreshnessResult(
        "source.sales.crm.accounts", "warn", max_loaded_at="2025-12-31T10:00:00Z")
    view = node_view(catalog, "model.sales.accounts").freshness
    assert [(s.source.id, s.status, s.warn_after, s.error_after) for s in view.sources] == \
        [("source.sales.crm.accounts", "warn", "12 hour", "1 day")]
    assert view.worst == "warn"
    assert node_view(catalog, "source.sales.crm.accounts").freshness.sources[0].status == "warn"


def test_one_owner_for_governance_notifications_and_the_catalog():
    """A model owned only through meta.owner is owned in all three places, the same way; a
    group's owner comes first; a group that names no one falls back to meta.owner."""
    from meshkit.govern.view import MeshView
    from meshkit.jobs.notify import owner_of as notify_owner

    groups = [Group("group.sales.revenue", "revenue", "sales", Owner("Rev Team", "rev@x.io")),
              Group("group.sales.empty", "empty", "sales", Owner())]
    only_meta = _model("sales", "only_meta")
    only_meta.config.meta["owner"] = "ana@x.io"
    grouped = _model("sales", "grouped", group="revenue")
    grouped.config.meta["owner"] = "ignored@x.io"
    empty_group = _model("sales", "empty_group", group="empty")
    empty_group.meta["owner"] = {"name": "Bo", "email": "bo@x.io"}
    nobody = _model("sales", "nobody")
    catalog = catalog_from_states([_state("sales", [only_meta, grouped, empty_group, nobody],
                                          groups=groups)], now=NOW)
    view = MeshView.build(catalog.graph)
    expected = {"only_meta": (None, "ana@x.io", None), "grouped": ("Rev Team", "rev@x.io", "revenue"),
                "empty_group": ("Bo", "bo@x.io", "empty"), "nobody": None}
    for name, want in expected.items():
        uid = f"model.sales.{name}"
        shown = node_view(catalog, uid).owner
        notified = notify_owner(catalog.graph, uid)
        governed = view.owner_of(view.models[uid])
        if want is None:
            assert (shown, notified, governed) == (None, None, None)
            continue
        owner_name, email, group = want
        assert (shown.name, shown.email, shown.group) == want
        assert notified == {"group": group, "name": owner_name, "emails": [email]}
        assert governed == (owner_name or email)


def _publish(store, tmp_path, builder, built: dict[str, str], at: str, catalog: bool = False) -> str:
    """Publish the builder's manifest with run results for `built` (id → status) at `at`."""
    import json

    from meshkit.store.publish import publish_artifacts

    target = tmp_path / f"run-{at.replace(':', '').replace('.', '')}" / "target"
    builder.write(target.parent)
    timing = [{"name": "execute", "started_at": at, "completed_at": at}]
    (target / "run_results.json").write_text(json.dumps({
        "metadata": {"generated_at": at, "invocation_id": at},
        "results": [{"unique_id": uid, "status": status, "execution_time": 0.5, "timing": timing}
                    for uid, status in built.items()]}))
    if catalog:
        (target / "catalog.json").write_text(json.dumps({
            "metadata": {}, "sources": {}, "nodes": {uid: {
                "unique_id": uid, "metadata": {}, "stats": {},
                "columns": {"id": {"name": "id", "type": "INTEGER", "index": 1}}}
                for uid in built if uid.startswith("model.")}}))
    return publish_artifacts(store, target, "prod").run_id


def test_a_reused_model_shows_its_last_successful_build_and_tests(tmp_path):
    """A state-aware run (or a later wave of one build) publishes only what it built; the
    catalog shows the other models' last successful build and tests from the earlier run."""
    from fixtures.govern.builder import ProjectBuilder
    from meshkit.catalog.live import load_catalog
    from meshkit.store.store import Store
    from meshkit.web.pages import PageRenderer
    from meshkit.web.render import Links

    a = ProjectBuilder("analytics")
    reused = a.model("reused", columns={"id": "an id"})
    rebuilt = a.model("rebuilt", depends_on=[reused], columns={"id": "an id"})
    test = a.test(reused, "unique", "id")
    store = Store(str(tmp_path / "store"))
    _publish(store, tmp_path, a, {reused: "success", test: "warn", rebuilt: "success"},
             "2026-01-01T10:00:00Z")
    # Two waves of one build, in the same second: run ids alone cannot order them.
    first = _publish(store, tmp_path, a, {reused: "success", test: "pass"},
                     "2026-01-02T10:00:00.100000Z")
    last = _publish(store, tmp_path, a, {rebuilt: "success"}, "2026-01-02T10:00:00.900000Z")
    catalog = load_catalog(store, "prod")
    view = node_view(catalog, reused)
    assert view.result.status == "success" and view.result.earlier_run == first
    assert view.run.run_id == last
    assert [(t.kind, t.result.status, t.result.earlier_run) for t in view.tests] == [
        ("unique", "pass", first)]
    assert node_view(catalog, rebuilt).result.earlier_run is None
    html = PageRenderer(catalog, Links(), live=True).node(reused)
    assert "Not in the project" not in html and "not run" not in html and first in html


def test_blank_column_types_say_why(tmp_path):
    from fixtures.govern.builder import ProjectBuilder
    from meshkit.catalog.live import load_catalog
    from meshkit.store.store import Store

    a = ProjectBuilder("finance")
    model = a.model("revenue", columns={"id": "an id"})
    store = Store(str(tmp_path / "store"))
    _publish(store, tmp_path, a, {model: "success"}, "2026-01-01T10:00:00Z")
    note = node_view(load_catalog(store, "prod"), model).types_note
    assert "no catalog.json" in note and "meshkit build --docs" in note
    _publish(store, tmp_path, a, {model: "success"}, "2026-01-02T10:00:00Z", catalog=True)
    view = node_view(load_catalog(store, "prod"), model)
    assert view.types_note is None and view.columns[0].data_type == "INTEGER"


def test_a_static_catalog_stays_hostable_at_scale(tmp_path):
    """benchmarks/catalog.py's budget, per resource: 40 MB for ~10,350 resources at 10,000
    models (the fixed static/ assets aside). One HTML file per resource made it 289 MB."""
    from meshkit.web.static_site import generate_site

    columns = {f"col_{i}": Column(f"col_{i}", f"Column {i}: what it holds, in a sentence.",
                                  "integer") for i in range(8)}
    states = []
    for p in range(3):
        nodes, previous = [], []
        for i in range(50):
            parents = sorted({previous[i // 2], previous[i // 3]}) if i else []   # a wide DAG
            node = _model(f"p{p}", f"model_{i:03d}", parents, columns=dict(columns),
                          description=f"Model {i} of project {p}: grain, keys and how it is built.",
                          tags=["daily"])
            nodes.append(node)
            previous.append(node.unique_id)
        states.append(_state(f"p{p}", nodes, results=[(n.unique_id, "success") for n in nodes]))
    catalog = catalog_from_states(states, now=NOW)
    report = generate_site(catalog, tmp_path / "site", workers=1)
    size = sum(f.stat().st_size for f in (tmp_path / "site").rglob("*")
               if f.is_file() and "static" not in f.relative_to(tmp_path / "site").parts)
    assert report.nodes == 150
    assert size / report.nodes <= 40 * 2**20 / 10_350, f"{size / report.nodes:.0f} bytes a resource"
