"""The catalog of a mesh: every page's data, computed from the mesh graph.

A `Catalog` is built once per graph version (the set of published runs it was read from)
and is immutable afterwards, apart from its caches; a live server swaps in a new one when a
project publishes. Lookups that pages need per node (run results, versions, tags, labels)
are indexed at build time so that no page walks the whole mesh.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable

from meshkit.catalog.columns import with_column_lineage
from meshkit.catalog.lineage import (LINEAGE_TYPES, MAX_NODES, Lineage, LineageCache,
                                     LineageFilters, ProjectGraph, compute_lineage, project_graph)
from meshkit.catalog.search import SearchDoc, SearchFilters, SearchIndex, SearchResults
from meshkit.catalog.views import (ColumnView, ConstraintView, FreshnessView, GroupView, NodeRef,
                                   NodeView, OverviewView, OwnerView, ProjectEdge, ProjectLink,
                                   ProjectSummary, ProjectView, RelatedSummary, ResultView,
                                   RunView, SourceFreshnessView, TestView, VersionView)
from meshkit.dbt.artifacts import FAILED_STATUSES, Column, Constraint, FreshnessResult, Node, RunResult
from meshkit.graph.mesh_graph import MeshGraph, ProjectState
from meshkit.graph.owners import exposure_owner, owner_of_node
from meshkit.store.interface import access_of, version_text

SEARCHABLE_TYPES = frozenset({"model", "seed", "snapshot", "source", "exposure"})
MODEL_LIKE = frozenset({"model", "seed", "snapshot"})
RELATED_SHOWN = 50
PROJECT_MODELS_SHOWN = 1000
_DOC_RE = re.compile(r"""\{\{\s*doc\(\s*(['"])([^'"]+)\1\s*(?:,\s*(['"])([^'"]+)\3\s*)?\)\s*\}\}""")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text[:10])
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class Catalog:
    def __init__(self, graph: MeshGraph, *, mesh_name: str = "mesh",
                 environment: str | None = None, now: datetime | None = None) -> None:
        self.graph = graph
        self.mesh_name = mesh_name
        self.environment = environment
        self.now = now or _now()
        self.project_names = sorted(graph.projects)
        self.version = _graph_version(graph)
        self._refs: dict[str, NodeRef] = {}
        self._results: dict[str, RunResult] = {}
        self._freshness: dict[str, FreshnessResult] = {}
        self._result_runs: dict[str, str] = {}     # id → the earlier run its result is from
        for state in graph.projects.values():
            if state.run_results:
                for result in state.run_results.results:
                    self._results[result.unique_id] = result
            self._add_earlier(state)
            if state.freshness:
                for fresh in state.freshness.results:
                    self._freshness[fresh.unique_id] = fresh
        self._versions: dict[tuple[str, str], list[Node]] = defaultdict(list)
        for node in graph.nodes.values():
            if node.resource_type == "model" and node.version is not None:
                self._versions[(node.package_name, node.name)].append(node)
        self._docs: dict[tuple[str, str], str] = {}
        for state in graph.projects.values():
            for doc in state.manifest.docs.values():
                self._docs.setdefault((doc.package_name, doc.name), doc.block_contents)
        self._declared = _declared_dependencies(graph)
        self._edge_counts = self._count_project_edges()
        self._lineage_cache = LineageCache()
        self._project_graph: ProjectGraph | None = None
        self._search: SearchIndex | None = None
        self._tags: dict[str, list[str]] = {}
        self._facets: dict[str, list[str]] | None = None
        self._overview: OverviewView | None = None
        self._project_views: dict[str, ProjectView | None] = {}
        self._run_views: dict[str, RunView | None] = {}

    def _add_earlier(self, state: ProjectState) -> None:
        """Results of earlier runs for what the last run did not build (a model reused by a
        state-aware build, or built in an earlier wave): its last successful build, and
        each test's last result."""
        for record, results in state.earlier:
            for result in results.results:
                node = self.graph.nodes.get(result.unique_id)
                if node is None or self.graph.owner.get(result.unique_id) != state.name:
                    continue
                current = self._results.get(result.unique_id)
                if current is not None and (current.status == "success"
                                            or node.resource_type == "test"):
                    continue
                if node.resource_type != "test" and result.status != "success":
                    continue
                self._results[result.unique_id] = result
                self._result_runs[result.unique_id] = record.run_id

    # -- small lookups -------------------------------------------------------------------
    def resource_type_of(self, node_id: str) -> str:
        node = self.graph.nodes.get(node_id)
        if node is not None:
            return node.resource_type
        if node_id in self.graph.sources:
            return "source"
        if node_id in self.graph.exposures:
            return "exposure"
        return node_id.split(".", 1)[0]

    def project_of(self, node_id: str) -> str:
        return self.graph.project_of(node_id) or "?"

    def label_of(self, node_id: str) -> str:
        return self.ref(node_id).label

    def tags_of(self, node_id: str) -> list[str]:
        found = self._tags.get(node_id)
        if found is None:
            found = self._tags[node_id] = self._collect_tags(node_id)
        return found

    def _collect_tags(self, node_id: str) -> list[str]:
        node = self.graph.nodes.get(node_id) or self.graph.sources.get(node_id) \
            or self.graph.exposures.get(node_id)
        if node is None:
            return []
        tags = list(node.tags)
        config_tags = getattr(getattr(node, "config", None), "tags", None)
        if isinstance(config_tags, str):
            config_tags = [config_tags]
        for tag in config_tags or ():
            if tag not in tags:
                tags.append(tag)
        return tags

    def is_deprecated(self, node_id: str) -> bool:
        node = self.graph.nodes.get(node_id)
        if node is None or not node.deprecation_date:
            return False
        when = parse_time(node.deprecation_date)
        return when is not None and when <= self.now

    def result_of(self, node_id: str) -> ResultView | None:
        result = self._results.get(node_id)
        if result is None:
            return None
        completed = next((t.completed_at for t in result.timing if t.name == "execute"), None)
        return ResultView(result.status, round(result.execution_time, 3), completed,
                          result.message, result.failures, self._result_runs.get(node_id))

    def ref(self, node_id: str, distance: int | None = None) -> NodeRef:
        cached = self._refs.get(node_id)
        if cached is None:
            cached = self._make_ref(node_id)
            self._refs[node_id] = cached
        if distance is None:
            return cached
        return NodeRef(**{**cached.__dict__, "distance": distance})

    def _make_ref(self, node_id: str) -> NodeRef:
        result = self._results.get(node_id)
        status = result.status if result else None
        node = self.graph.nodes.get(node_id)
        if node is not None:
            project = self.project_of(node_id)
            version = version_text(node.version)
            access = access_of(node) if node.resource_type == "model" else None
            label = f"{project}.{node.name}" + (f" v{version}" if version else "")
            return NodeRef(node_id, node.name, label, project, node.resource_type, access, version,
                           node.config.materialized, status=status)
        source = self.graph.sources.get(node_id)
        if source is not None:
            project = self.project_of(node_id)
            name = f"{source.source_name}.{source.name}"
            fresh = self._freshness.get(node_id)
            return NodeRef(node_id, name, f"{project}.{name}", project, "source",
                           status=fresh.status if fresh else None)
        exposure = self.graph.exposures.get(node_id)
        if exposure is not None:
            project = self.project_of(node_id)
            return NodeRef(node_id, exposure.name, f"{project}.{exposure.name}", project, "exposure")
        # Referenced but not built by any loaded project (its project never published).
        parts = node_id.split(".")
        kind = parts[0]
        project = parts[1] if len(parts) > 1 else "?"
        name = ".".join(parts[2:3]) if kind != "source" else ".".join(parts[2:4])
        version = None
        if kind == "model" and len(parts) > 3 and parts[3].startswith("v"):
            version = parts[3][1:]
        label = f"{project}.{name}" + (f" v{version}" if version else "")
        return NodeRef(node_id, name or node_id, label, project, kind, version=version,
                       published=False)

    def resolve_docs(self, text: str, package: str) -> str:
        """Expand `{{ doc('name') }}` blocks that reached the manifest unrendered."""
        if "doc(" not in text:
            return text

        def replace(match: re.Match) -> str:
            first, second = match.group(2), match.group(4)
            if second:
                found = self._docs.get((first, second))
            else:
                found = self._docs.get((package, first))
                if found is None:
                    found = next((v for (_, n), v in self._docs.items() if n == first), None)
            return found if found is not None else match.group(0)

        return _DOC_RE.sub(replace, text)

    # -- node pages ------------------------------------------------------------------------
    def has_node(self, node_id: str) -> bool:
        return (node_id in self.graph.nodes or node_id in self.graph.sources
                or node_id in self.graph.exposures)

    def find(self, text: str) -> str | None:
        """A node id from an id, `project.name`, or a bare name (latest version preferred)."""
        if self.has_node(text):
            return text
        project, _, name = text.rpartition(".")
        candidates = [n for n in self.graph.nodes.values()
                      if n.resource_type in MODEL_LIKE and n.name == (name or text)
                      and (not project or self.project_of(n.unique_id) == project)]
        if not candidates:
            return None
        latest = [n for n in candidates
                  if n.version is None or version_text(n.version) == version_text(n.latest_version)]
        return sorted(latest or candidates, key=lambda n: n.unique_id)[0].unique_id

    def node(self, node_id: str) -> NodeView | None:
        node = self.graph.nodes.get(node_id)
        if node is not None:
            return self._node_view(node)
        source = self.graph.sources.get(node_id)
        if source is not None:
            return self._source_view(node_id)
        exposure = self.graph.exposures.get(node_id)
        if exposure is not None:
            return self._exposure_view(node_id)
        return None

    def _owner(self, node: Node) -> OwnerView | None:
        """The model's owner as governance and notifications name it (graph/owners.py)."""
        owner = owner_of_node(self.graph, node)
        if owner is None:
            return None
        return OwnerView(owner.group, owner.name, owner.email, owner.group_description)

    def _related(self, distances: dict[str, int], sign: int) -> RelatedSummary:
        wanted = {n: d for n, d in distances.items()
                  if self.resource_type_of(n) in LINEAGE_TYPES}
        by_project: dict[str, int] = defaultdict(int)
        for node_id in wanted:
            by_project[self.project_of(node_id)] += 1
        nearest = heapq.nsmallest(RELATED_SHOWN, wanted, key=lambda n: (wanted[n], self.label_of(n)))
        return RelatedSummary(len(wanted), dict(sorted(by_project.items())),
                              [self.ref(n, sign * wanted[n]) for n in nearest])

    def _tests(self, node_id: str) -> list[TestView]:
        found = []
        for test in self.graph.tests_of(node_id):
            kind = test.test_metadata.name if test.test_metadata else test.name
            found.append(TestView(test.unique_id, test.name, test.column_name, kind,
                                  test.config.severity, self.result_of(test.unique_id)))
        return sorted(found, key=lambda t: (t.column or "", t.kind, t.id))

    def _columns(self, node_id: str, columns: dict[str, Column], constraints: list[Constraint],
                 tests: list[TestView], package: str) -> list[ColumnView]:
        state = self.graph.projects.get(self.project_of(node_id))
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
                                    self.resolve_docs(column.description, package),
                                    [t for t in tests if (t.column or "").lower() == column.name.lower()],
                                    column_constraints, list(column.tags), dict(column.meta)))
        for extra in catalog_columns.values():
            views.append(ColumnView(extra.name, extra.type, "catalog", extra.comment or "",
                                    [t for t in tests if (t.column or "").lower() == extra.name.lower()]))
        return with_column_lineage(self.graph, node_id, views)

    def types_note(self, node_id: str, columns: list[ColumnView]) -> str | None:
        """Why the warehouse types of a model's or source's columns are not shown, or None."""
        if columns and all(c.data_type for c in columns):
            return None
        state = self.graph.projects.get(self.project_of(node_id))
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

    def _versions_of(self, node: Node) -> list[VersionView]:
        siblings = self._versions.get((node.package_name, node.name), [])
        latest = version_text(node.latest_version)
        views = []
        for sibling in siblings:
            version = version_text(sibling.version) or ""
            state = "latest" if version == latest else (
                "prerelease" if _version_key(version) > _version_key(latest or "") else "old")
            views.append(VersionView(version, sibling.unique_id, version == latest, state,
                                     sibling.deprecation_date,
                                     self.is_deprecated(sibling.unique_id),
                                     sibling.unique_id == node.unique_id))
        return sorted(views, key=lambda v: _version_key(v.version))

    def _freshness_of(self, node_id: str, upstream: dict[str, int],
                      node: Node | None) -> FreshnessView | None:
        view = FreshnessView()
        if node is not None and node.config.freshness and node.config.freshness.build_after:
            after = node.config.freshness.build_after
            if after.count and after.period:
                view.build_after = f"{after.count} {after.period} (updates on {after.updates_on})"
        result = self.result_of(node_id)
        view.last_built_at = result.completed_at if result and result.status == "success" else None
        sources = sorted((n for n in upstream if n in self.graph.sources),
                         key=lambda n: (upstream[n], n))[:50]
        for source_id in sources:
            view.sources.append(self._source_freshness(source_id, upstream[source_id]))
        if not view.build_after and not view.last_built_at and not view.sources:
            return None
        return view

    def _source_freshness(self, source_id: str, distance: int | None) -> SourceFreshnessView:
        source = self.graph.sources[source_id]
        fresh = self._freshness.get(source_id)
        config = source.freshness
        return SourceFreshnessView(
            self.ref(source_id, -distance if distance else None),
            fresh.status if fresh else None,
            fresh.max_loaded_at if fresh else None, fresh.snapshotted_at if fresh else None,
            fresh.max_loaded_at_time_ago_in_s if fresh else None,
            _period(config.warn_after) if config else None,
            _period(config.error_after) if config else None)

    def _node_view(self, node: Node) -> NodeView:
        node_id = node.unique_id
        project = self.project_of(node_id)
        ref = self.ref(node_id)
        upstream = self.graph.upstream(node_id)
        downstream = self.graph.downstream(node_id)
        tests = self._tests(node_id)
        down = self._related(downstream, 1)
        used_by = sorted({p for p in (self.project_of(n) for n in downstream
                                      if self.resource_type_of(n) in LINEAGE_TYPES) if p != project})
        columns = self._columns(node_id, node.columns, node.constraints, tests, node.package_name)
        return NodeView(
            id=node_id, name=node.name, label=ref.label, project=project,
            resource_type=node.resource_type, package=node.package_name,
            description=self.resolve_docs(node.description, node.package_name),
            original_file_path=node.original_file_path, relation_name=node.relation_name,
            access=ref.access, materialized=node.config.materialized,
            owner=self._owner(node),
            contract_enforced=node.config.contract.enforced, tags=self.tags_of(node_id),
            meta={**node.config.meta, **node.meta}, version=ref.version,
            latest_version=version_text(node.latest_version),
            deprecation_date=node.deprecation_date, deprecated=self.is_deprecated(node_id),
            versions=self._versions_of(node) if node.version is not None else [],
            columns=columns, constraints=[_constraint(c) for c in node.constraints],
            language=node.language, raw_code=node.raw_code, compiled_code=node.compiled_code,
            upstream=self._related(upstream, -1), downstream=down, used_by=used_by,
            result=self.result_of(node_id), tests=tests,
            freshness=self._freshness_of(node_id, upstream, node),
            run=self.run_view(project),
            types_note=None if node.resource_type not in MODEL_LIKE
            or node.config.materialized == "ephemeral" else self.types_note(node_id, columns))

    def _source_view(self, node_id: str) -> NodeView:
        source = self.graph.sources[node_id]
        project = self.project_of(node_id)
        ref = self.ref(node_id)
        downstream = self.graph.downstream(node_id)
        tests = self._tests(node_id)
        description = source.description or source.source_description
        freshness = FreshnessView(sources=[self._source_freshness(node_id, None)])
        columns = self._columns(node_id, source.columns, [], tests, source.package_name)
        return NodeView(
            id=node_id, name=ref.name, label=ref.label, project=project, resource_type="source",
            package=source.package_name,
            description=self.resolve_docs(description, source.package_name),
            original_file_path=source.original_file_path, relation_name=source.relation_name,
            access=None, materialized=None, owner=None, contract_enforced=False,
            tags=self.tags_of(node_id), meta=dict(source.meta), version=None,
            latest_version=None, deprecation_date=None, deprecated=False, versions=[],
            columns=columns, types_note=self.types_note(node_id, columns),
            constraints=[], language=None, raw_code="", compiled_code=None,
            upstream=RelatedSummary(0, {}, []), downstream=self._related(downstream, 1),
            used_by=sorted({self.project_of(n) for n in downstream} - {project}),
            result=None, tests=tests, freshness=freshness, run=self.run_view(project),
            extra={"source_name": source.source_name, "loader": source.loader,
                   "loaded_at_field": source.loaded_at_field,
                   "source_description": source.source_description})

    def _exposure_view(self, node_id: str) -> NodeView:
        exposure = self.graph.exposures[node_id]
        project = self.project_of(node_id)
        ref = self.ref(node_id)
        upstream = self.graph.upstream(node_id)
        owner = exposure_owner(exposure.owner)
        return NodeView(
            id=node_id, name=exposure.name, label=ref.label, project=project,
            resource_type="exposure", package=exposure.package_name,
            description=self.resolve_docs(exposure.description, exposure.package_name),
            original_file_path=exposure.original_file_path, relation_name=None, access=None,
            materialized=None,
            owner=OwnerView(None, owner.name, owner.email) if owner is not None else None,
            contract_enforced=False, tags=self.tags_of(node_id), meta=dict(exposure.meta),
            version=None, latest_version=None, deprecation_date=None, deprecated=False,
            versions=[], columns=[], constraints=[], language=None, raw_code="",
            compiled_code=None, upstream=self._related(upstream, -1),
            downstream=RelatedSummary(0, {}, []), used_by=[], result=None, tests=[],
            freshness=self._freshness_of(node_id, upstream, None), run=self.run_view(project),
            extra={"type": exposure.type, "url": exposure.url, "maturity": exposure.maturity,
                   "label": exposure.label})

    # -- projects --------------------------------------------------------------------------
    def run_view(self, project: str) -> RunView | None:
        if project not in self._run_views:
            self._run_views[project] = self._run_view(project)
        return self._run_views[project]

    def _run_view(self, project: str) -> RunView | None:
        state = self.graph.projects.get(project)
        if state is None or state.run is None:
            return None
        counts: dict[str, int] = defaultdict(int)
        failures = []
        elapsed = 0.0
        if state.run_results:
            elapsed = state.run_results.elapsed_time
            for result in state.run_results.results:
                counts[result.status] += 1
                if result.status in FAILED_STATUSES:
                    failures.append(self.ref(result.unique_id))
        run = state.run
        return RunView(run.run_id, run.environment, run.status, run.completed_at, run.published_at,
                       run.dbt_version, run.git_sha, dict(sorted(counts.items())), failures,
                       round(elapsed, 2))

    def _count_project_edges(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for child, parents in self.graph.parents.items():
            if self.resource_type_of(child) not in LINEAGE_TYPES:
                continue
            child_project = self.project_of(child)
            for parent in parents:
                parent_project = self.project_of(parent)
                if parent_project != child_project:
                    counts[(parent_project, child_project)] += 1
        for consumer, producers in self._declared.items():
            for producer in producers:
                counts.setdefault((producer, consumer), 0)
        return dict(counts)

    def project_edge_counts(self) -> dict[tuple[str, str], int]:
        return self._edge_counts

    def project_summary(self, name: str) -> ProjectSummary:
        models = self.graph.models(name)
        public = sum(1 for m in models if access_of(m) == "public")
        contracts = sum(1 for m in models if m.config.contract.enforced)
        sources = sum(1 for s in self.graph.sources if self.graph.owner.get(s) == name)
        state = self.graph.projects[name]
        failures = len(state.run_results.failures()) if state.run_results else 0
        run = state.run
        return ProjectSummary(name, len(models), public, contracts, sources, failures,
                              run.status if run else None, run.completed_at if run else None,
                              run.run_id if run else None)

    def project(self, name: str) -> ProjectView | None:
        if name not in self._project_views:
            self._project_views[name] = self._project_view(name)
        return self._project_views[name]

    def _project_view(self, name: str) -> ProjectView | None:
        state = self.graph.projects.get(name)
        if state is None:
            return None
        models = sorted(self.graph.models(name), key=lambda n: self.label_of(n.unique_id))
        public = [self.ref(m.unique_id) for m in models if access_of(m) == "public"]
        groups = []
        for group in sorted((g for g in self.graph.groups.values() if g.package_name == name),
                            key=lambda g: g.name):
            email = group.owner.email
            groups.append(GroupView(group.name, group.owner.name,
                                    ", ".join(email) if isinstance(email, list) else email,
                                    group.description,
                                    sum(1 for m in models if (m.group or m.config.group) == group.name)))
        summary = self.project_summary(name)
        counts = {"models": summary.models, "public_models": summary.public_models,
                  "contracts": summary.contracts, "sources": summary.sources,
                  "tests": sum(1 for n in self.graph.nodes.values()
                               if n.resource_type == "test" and self.graph.owner[n.unique_id] == name),
                  "exposures": sum(1 for e in self.graph.exposures if self.graph.owner[e] == name),
                  "groups": len(groups), "failures": summary.failures}
        overview = state.manifest.docs.get(f"doc.{name}.__overview__")
        return ProjectView(
            name=name, environment=state.environment, origin=state.origin,
            run=self.run_view(name), counts=counts, groups=groups, public_models=public,
            models=[self.ref(m.unique_id) for m in models[:PROJECT_MODELS_SHOWN]],
            models_total=len(models), used_by=self._links(name, downstream=True),
            upstream=self._links(name, downstream=False),
            overview=overview.block_contents if overview else None)

    def _links(self, name: str, downstream: bool) -> list[ProjectLink]:
        links = []
        for (producer, consumer), count in sorted(self._edge_counts.items()):
            if (producer if downstream else consumer) != name:
                continue
            other = consumer if downstream else producer
            read = sorted({parent for child, parents in self.graph.parents.items()
                           if self.project_of(child) == consumer
                           and self.resource_type_of(child) in LINEAGE_TYPES
                           for parent in parents if self.project_of(parent) == producer})
            links.append(ProjectLink(other, count, [self.ref(n) for n in read]))
        return links

    # -- the mesh ---------------------------------------------------------------------------
    def overview(self) -> OverviewView:
        if self._overview is None:
            self._overview = self._overview_view()
        return self._overview

    def _overview_view(self) -> OverviewView:
        summaries = [self.project_summary(p) for p in self.project_names]
        models = [n for n in self.graph.nodes.values() if n.resource_type == "model"]
        public = sorted((n for n in models if access_of(n) == "public"),
                        key=lambda n: self.label_of(n.unique_id))
        failures = [self.ref(r) for r, result in self._results.items()
                    if result.status in FAILED_STATUSES]
        counts = {"projects": len(self.project_names), "models": len(models),
                  "public_models": len(public),
                  "contracts": sum(1 for n in models if n.config.contract.enforced),
                  "failures": len(failures), "sources": len(self.graph.sources),
                  "exposures": len(self.graph.exposures),
                  "tests": sum(1 for n in self.graph.nodes.values() if n.resource_type == "test"),
                  "cross_project_edges": sum(self._edge_counts.values())}
        edges = [ProjectEdge(s, t, n, (t, s) in self._edge_counts)
                 for (s, t), n in sorted(self._edge_counts.items())]
        return OverviewView(self.mesh_name, self.environment, self.version, counts, summaries,
                            edges, [self.ref(n.unique_id) for n in public[:200]], len(public),
                            sorted(failures, key=lambda r: r.label)[:100])

    def project_graph(self) -> ProjectGraph:
        if self._project_graph is None:
            self._project_graph = project_graph(self)
        return self._project_graph

    def lineage(self, node_id: str, up: int | None = 2, down: int | None = 2,
                filters: LineageFilters | None = None, limit: int = MAX_NODES) -> Lineage:
        filters = filters or LineageFilters()
        key = (node_id, up, down, filters.key(), limit, self.version)
        found = self._lineage_cache.get(key)
        if found is None:
            found = compute_lineage(self, node_id, up, down, filters, max_nodes=limit)
            self._lineage_cache.put(key, found)
        return found

    @property
    def lineage_cache(self) -> LineageCache:
        return self._lineage_cache

    # -- search -----------------------------------------------------------------------------
    def search_docs(self) -> Iterable[SearchDoc]:
        for node in self.graph.nodes.values():
            if node.resource_type not in SEARCHABLE_TYPES:
                continue
            ref = self.ref(node.unique_id)
            version = version_text(node.version)
            yield SearchDoc(node.unique_id, node.name, ref.label, ref.project, node.resource_type,
                            ref.access, node.config.materialized, node.group or node.config.group,
                            self.tags_of(node.unique_id), node.description,
                            {c.name: c.description for c in node.columns.values()}, version,
                            version is None or version == version_text(node.latest_version))
        for source_id, source in self.graph.sources.items():
            ref = self.ref(source_id)
            yield SearchDoc(source_id, ref.name, ref.label, ref.project, "source", None, None, None,
                            self.tags_of(source_id), source.description or source.source_description,
                            {c.name: c.description for c in source.columns.values()})
        for exposure_id, exposure in self.graph.exposures.items():
            ref = self.ref(exposure_id)
            yield SearchDoc(exposure_id, exposure.name, ref.label, ref.project, "exposure",
                            tags=self.tags_of(exposure_id), description=exposure.description)

    @property
    def search_index(self) -> SearchIndex:
        if self._search is None:
            self._search = SearchIndex(self.search_docs())
        return self._search

    def search(self, query: str, filters: SearchFilters | None = None, limit: int = 50,
               offset: int = 0, facets: bool = False) -> SearchResults:
        return self.search_index.search(query, filters, limit, offset, facets)

    def facets(self) -> dict[str, list[str]]:
        """The values the filter menus offer."""
        if self._facets is None:
            self._facets = self._collect_facets()
        return self._facets

    def _collect_facets(self) -> dict[str, list[str]]:
        models = [n for n in self.graph.nodes.values() if n.resource_type in MODEL_LIKE]
        return {
            "projects": self.project_names,
            "types": sorted(SEARCHABLE_TYPES),
            "access": sorted({access_of(n) for n in models if n.resource_type == "model"}),
            "materialized": sorted({n.config.materialized for n in models if n.config.materialized}),
            "groups": sorted({g.name for g in self.graph.groups.values()}),
            "tags": sorted({t for n in models for t in self.tags_of(n.unique_id)})[:500],
        }

    def warm(self) -> "Catalog":
        """Build what the first request would otherwise wait for."""
        _ = self.search_index
        self.project_graph()
        self.facets()
        self.overview()
        return self


def _graph_version(graph: MeshGraph) -> str:
    parts = []
    for name in sorted(graph.projects):
        state = graph.projects[name]
        marker = state.run.run_id if state.run else (state.manifest.metadata.invocation_id or "")
        parts.append(f"{name}={marker}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _declared_dependencies(graph: MeshGraph) -> dict[str, set[str]]:
    """Upstream projects each project declares (dependencies.yml): the meshkit plugin injects
    their public models into its manifest, whether or not a model refs them yet."""
    declared: dict[str, set[str]] = {}
    for name, state in graph.projects.items():
        found = {n.package_name for n in state.manifest.nodes.values()
                 if not n.original_file_path and n.package_name != name
                 and n.package_name in graph.projects}
        if found:
            declared[name] = found
    return declared


def _constraint(constraint: Constraint) -> ConstraintView:
    return ConstraintView(constraint.type, list(constraint.columns), constraint.expression,
                          constraint.name)


def _period(value: dict | None) -> str | None:
    if not value or not value.get("count") or not value.get("period"):
        return None
    return f"{value['count']} {value['period']}"


def _version_key(version: str) -> tuple:
    try:
        return (0, float(version), version)
    except ValueError:
        return (1, 0.0, version)


def catalog_from_states(states: Iterable[ProjectState], **kwargs) -> Catalog:
    graph = MeshGraph()
    for state in states:
        graph.add_project(state)
    return Catalog(graph, **kwargs)
