"""The resource page (node.html): a model's, source's or exposure's description, columns
with their lineage, tests, versions, freshness, owner and neighbours."""

from __future__ import annotations

import heapq
from collections import defaultdict

from meshkit.catalog.columns import with_column_lineage
from meshkit.catalog.index import LINEAGE_TYPES, MODEL_LIKE, Catalog
from meshkit.catalog.project import run_view
from meshkit.catalog.views import (
    ColumnView,
    ConstraintView,
    FreshnessView,
    NodeView,
    OwnerView,
    RelatedSummary,
    SourceFreshnessView,
    TestView,
    VersionView,
)
from meshkit.dbt.artifacts import Column, Constraint, Node
from meshkit.dbt.nodes import LATEST, exposure_owner, meta_of, owner_of, version_key, version_text
from meshkit.status import NodeStatus

RELATED_SHOWN = 50


def node_view(catalog: Catalog, node_id: str) -> NodeView | None:
    """A model's, seed's, snapshot's, test's, source's or exposure's page, or None."""
    node = catalog.graph.nodes.get(node_id)
    if node is not None:
        return _node_view(catalog, node)
    source = catalog.graph.sources.get(node_id)
    if source is not None:
        return _source_view(catalog, node_id)
    exposure = catalog.graph.exposures.get(node_id)
    if exposure is not None:
        return _exposure_view(catalog, node_id)
    return None


def _owner(catalog: Catalog, node: Node) -> OwnerView | None:
    """The model's owner as governance and notifications name it (meshkit.dbt.nodes)."""
    owner = owner_of(node, catalog.graph.groups)
    if owner is None:
        return None
    return OwnerView(owner.group, owner.name, owner.email, owner.group_description)


def _related(catalog: Catalog, distances: dict[str, int], sign: int) -> RelatedSummary:
    wanted = {n: d for n, d in distances.items()
              if catalog.resource_type_of(n) in LINEAGE_TYPES}
    by_project: dict[str, int] = defaultdict(int)
    for node_id in wanted:
        by_project[catalog.project_of(node_id)] += 1
    nearest = heapq.nsmallest(RELATED_SHOWN, wanted, key=lambda n: (wanted[n], catalog.label_of(n)))
    return RelatedSummary(len(wanted), dict(sorted(by_project.items())),
                          [catalog.ref(n, sign * wanted[n]) for n in nearest])


def _tests(catalog: Catalog, node_id: str) -> list[TestView]:
    found = []
    for test in catalog.graph.tests_of(node_id):
        kind = test.test_metadata.name if test.test_metadata else test.name
        found.append(TestView(test.unique_id, test.name, test.column_name, kind,
                              test.config.severity, catalog.result_of(test.unique_id)))
    return sorted(found, key=lambda t: (t.column or "", t.kind, t.id))


def _columns(catalog: Catalog, node_id: str, columns: dict[str, Column], constraints: list[Constraint],
             tests: list[TestView], package: str) -> list[ColumnView]:
    state = catalog.graph.projects.get(catalog.project_of(node_id))
    catalog_columns = {}
    if state and state.catalog:
        entry = state.catalog.nodes.get(node_id) or state.catalog.sources.get(node_id)
        if entry:
            catalog_columns = {c.name.lower(): c for c in
                               sorted(entry.columns.values(), key=lambda c: c.index)}
    views = []
    for column in columns.values():
        known = catalog_columns.pop(column.name.lower(), None)
        data_type, origin = ((known.type, "catalog") if known else
                             (column.data_type, "contract" if column.data_type else None))
        column_constraints = [_constraint(c) for c in column.constraints]
        column_constraints += [_constraint(c) for c in constraints if column.name in c.columns]
        views.append(ColumnView(column.name, data_type, origin,
                                catalog.resolve_docs(column.description, package),
                                [t for t in tests if (t.column or "").lower() == column.name.lower()],
                                column_constraints, list(column.tags), dict(column.meta)))
    for extra in catalog_columns.values():
        views.append(ColumnView(extra.name, extra.type, "catalog", extra.comment or "",
                                [t for t in tests if (t.column or "").lower() == extra.name.lower()]))
    return with_column_lineage(catalog.graph, node_id, views)


def types_note(catalog: Catalog, node_id: str, columns: list[ColumnView]) -> str | None:
    """Why the warehouse types of a model's or source's columns are not shown, or None."""
    if columns and all(c.data_type for c in columns):
        return None
    state = catalog.graph.projects.get(catalog.project_of(node_id))
    if state is None:
        return None
    if state.catalog is None:
        where = (f"the last published run of {state.name}" if state.run is not None
                 else f"{state.name}'s target folder")
        return (f"Column types come from the warehouse, and {where} has no catalog.json: "
                "build with `meshkit build --docs` (or run `dbt docs generate` before "
                "`meshkit publish`).")
    if node_id not in state.catalog.nodes and node_id not in state.catalog.sources:
        return ("catalog.json does not list this relation (it did not exist when "
                "`dbt docs generate` ran): the next build with --docs adds it.")
    return None


def _versions_of(catalog: Catalog, node: Node) -> list[VersionView]:
    siblings = catalog.versions(node.package_name, node.name)
    latest = version_text(node.latest_version)
    views = []
    for sibling in siblings:
        version = version_text(sibling.version) or ""
        state = LATEST if version == latest else (
            "prerelease" if version_key(version) > version_key(latest) else "old")
        views.append(VersionView(version, sibling.unique_id, version == latest, state,
                                 sibling.deprecation_date,
                                 catalog.is_deprecated(sibling.unique_id),
                                 sibling.unique_id == node.unique_id))
    return sorted(views, key=lambda v: version_key(v.version))


def _freshness_of(catalog: Catalog, node_id: str, upstream: dict[str, int],
                  node: Node | None) -> FreshnessView | None:
    view = FreshnessView()
    if node is not None and node.config.freshness and node.config.freshness.build_after:
        after = node.config.freshness.build_after
        if after.count and after.period:
            view.build_after = f"{after.count} {after.period} (updates on {after.updates_on})"
    result = catalog.result_of(node_id)
    view.last_built_at = result.completed_at if result and result.status == NodeStatus.SUCCESS else None
    sources = sorted((n for n in upstream if n in catalog.graph.sources),
                     key=lambda n: (upstream[n], n))[:50]
    for source_id in sources:
        view.sources.append(_source_freshness(catalog, source_id, upstream[source_id]))
    if not view.build_after and not view.last_built_at and not view.sources:
        return None
    return view


def _source_freshness(catalog: Catalog, source_id: str, distance: int | None) -> SourceFreshnessView:
    source = catalog.graph.sources[source_id]
    fresh = catalog.freshness_result(source_id)
    config = source.freshness
    return SourceFreshnessView(
        catalog.ref(source_id, -distance if distance else None),
        fresh.status if fresh else None,
        fresh.max_loaded_at if fresh else None, fresh.snapshotted_at if fresh else None,
        fresh.max_loaded_at_time_ago_in_s if fresh else None,
        _period(config.warn_after) if config else None,
        _period(config.error_after) if config else None)


def _node_view(catalog: Catalog, node: Node) -> NodeView:
    node_id = node.unique_id
    project = catalog.project_of(node_id)
    ref = catalog.ref(node_id)
    upstream = catalog.graph.upstream(node_id)
    downstream = catalog.graph.downstream(node_id)
    tests = _tests(catalog, node_id)
    down = _related(catalog, downstream, 1)
    used_by = sorted({p for p in (catalog.project_of(n) for n in downstream
                                  if catalog.resource_type_of(n) in LINEAGE_TYPES) if p != project})
    columns = _columns(catalog, node_id, node.columns, node.constraints, tests, node.package_name)
    return NodeView(
        id=node_id, name=node.name, label=ref.label, project=project,
        resource_type=node.resource_type, package=node.package_name,
        description=catalog.resolve_docs(node.description, node.package_name),
        original_file_path=node.original_file_path, relation_name=node.relation_name,
        access=ref.access, materialized=node.config.materialized,
        owner=_owner(catalog, node),
        contract_enforced=node.config.contract.enforced, tags=catalog.tags_of(node_id),
        meta=meta_of(node), version=ref.version,
        latest_version=version_text(node.latest_version),
        deprecation_date=node.deprecation_date, deprecated=catalog.is_deprecated(node_id),
        versions=_versions_of(catalog, node) if node.version is not None else [],
        columns=columns, constraints=[_constraint(c) for c in node.constraints],
        language=node.language, raw_code=node.raw_code, compiled_code=node.compiled_code,
        upstream=_related(catalog, upstream, -1), downstream=down, used_by=used_by,
        result=catalog.result_of(node_id), tests=tests,
        freshness=_freshness_of(catalog, node_id, upstream, node),
        run=run_view(catalog, project),
        types_note=None if node.resource_type not in MODEL_LIKE
        or node.config.materialized == "ephemeral" else types_note(catalog, node_id, columns))


def _source_view(catalog: Catalog, node_id: str) -> NodeView:
    source = catalog.graph.sources[node_id]
    project = catalog.project_of(node_id)
    ref = catalog.ref(node_id)
    downstream = catalog.graph.downstream(node_id)
    tests = _tests(catalog, node_id)
    description = source.description or source.source_description
    freshness = FreshnessView(sources=[_source_freshness(catalog, node_id, None)])
    columns = _columns(catalog, node_id, source.columns, [], tests, source.package_name)
    return NodeView(
        id=node_id, name=ref.name, label=ref.label, project=project, resource_type="source",
        package=source.package_name,
        description=catalog.resolve_docs(description, source.package_name),
        original_file_path=source.original_file_path, relation_name=source.relation_name,
        access=None, materialized=None, owner=None, contract_enforced=False,
        tags=catalog.tags_of(node_id), meta=dict(source.meta), version=None,
        latest_version=None, deprecation_date=None, deprecated=False, versions=[],
        columns=columns, types_note=types_note(catalog, node_id, columns),
        constraints=[], language=None, raw_code="", compiled_code=None,
        upstream=RelatedSummary(0, {}, []), downstream=_related(catalog, downstream, 1),
        used_by=sorted({catalog.project_of(n) for n in downstream} - {project}),
        result=None, tests=tests, freshness=freshness, run=run_view(catalog, project),
        extra={"source_name": source.source_name, "loader": source.loader,
               "loaded_at_field": source.loaded_at_field,
               "source_description": source.source_description})


def _exposure_view(catalog: Catalog, node_id: str) -> NodeView:
    exposure = catalog.graph.exposures[node_id]
    project = catalog.project_of(node_id)
    ref = catalog.ref(node_id)
    upstream = catalog.graph.upstream(node_id)
    owner = exposure_owner(exposure.owner)
    return NodeView(
        id=node_id, name=exposure.name, label=ref.label, project=project,
        resource_type="exposure", package=exposure.package_name,
        description=catalog.resolve_docs(exposure.description, exposure.package_name),
        original_file_path=exposure.original_file_path, relation_name=None, access=None,
        materialized=None,
        owner=OwnerView(None, owner.name, owner.email) if owner is not None else None,
        contract_enforced=False, tags=catalog.tags_of(node_id), meta=dict(exposure.meta),
        version=None, latest_version=None, deprecation_date=None, deprecated=False,
        versions=[], columns=[], constraints=[], language=None, raw_code="",
        compiled_code=None, upstream=_related(catalog, upstream, -1),
        downstream=RelatedSummary(0, {}, []), used_by=[], result=None, tests=[],
        freshness=_freshness_of(catalog, node_id, upstream, None), run=run_view(catalog, project),
        extra={"type": exposure.type, "url": exposure.url, "maturity": exposure.maturity,
               "label": exposure.label})


def _constraint(constraint: Constraint) -> ConstraintView:
    return ConstraintView(constraint.type, list(constraint.columns), constraint.expression,
                          constraint.name)


def _period(value: dict | None) -> str | None:
    if not value or not value.get("count") or not value.get("period"):
        return None
    return f"{value['count']} {value['period']}"
