"""The project page (project.html): a project's counts, groups, models, last run and the
projects it reads from and is read by."""

from __future__ import annotations

from collections import defaultdict

from meshkit.catalog.index import LINEAGE_TYPES, Catalog
from meshkit.catalog.views import GroupView, ProjectLink, ProjectSummary, ProjectView, RunView
from meshkit.dbt.artifacts import FAILED_STATUSES
from meshkit.dbt.nodes import access_of, group_of

PROJECT_MODELS_SHOWN = 1000


def project_view(catalog: Catalog, name: str) -> ProjectView | None:
    """The project page's view, or None when no published run of `name` was loaded."""
    return catalog.cached(("project", name), lambda: _build_project_view(catalog, name))


def run_view(catalog: Catalog, project: str) -> RunView | None:
    """The project's last published run with its result counts, or None if it has none."""
    return catalog.cached(("run", project), lambda: _build_run_view(catalog, project))


def _build_run_view(catalog: Catalog, project: str) -> RunView | None:
    state = catalog.graph.projects.get(project)
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
                failures.append(catalog.ref(result.unique_id))
    run = state.run
    return RunView(run.run_id, run.environment, run.status, run.completed_at, run.published_at,
                   run.dbt_version, run.git_sha, dict(sorted(counts.items())), failures,
                   round(elapsed, 2))


def project_summary(catalog: Catalog, name: str) -> ProjectSummary:
    """A project's counts for the overview: models, public ones, enforced contracts, sources
    and failures in its last run."""
    models = catalog.graph.models(name)
    public = sum(1 for m in models if access_of(m) == "public")
    contracts = sum(1 for m in models if m.config.contract.enforced)
    sources = sum(1 for s in catalog.graph.sources if catalog.graph.owner.get(s) == name)
    state = catalog.graph.projects[name]
    failures = len(state.run_results.failures()) if state.run_results else 0
    run = state.run
    return ProjectSummary(name, len(models), public, contracts, sources, failures,
                          run.status if run else None, run.completed_at if run else None,
                          run.run_id if run else None)


def _build_project_view(catalog: Catalog, name: str) -> ProjectView | None:
    state = catalog.graph.projects.get(name)
    if state is None:
        return None
    models = sorted(catalog.graph.models(name), key=lambda n: catalog.label_of(n.unique_id))
    public = [catalog.ref(m.unique_id) for m in models if access_of(m) == "public"]
    groups = []
    for group in sorted((g for g in catalog.graph.groups.values() if g.package_name == name),
                        key=lambda g: g.name):
        email = group.owner.email
        groups.append(GroupView(group.name, group.owner.name,
                                ", ".join(email) if isinstance(email, list) else email,
                                group.description,
                                sum(1 for m in models if group_of(m) == group.name)))
    summary = project_summary(catalog, name)
    counts = {"models": summary.models, "public_models": summary.public_models,
              "contracts": summary.contracts, "sources": summary.sources,
              "tests": sum(1 for n in catalog.graph.nodes.values()
                           if n.resource_type == "test" and catalog.graph.owner[n.unique_id] == name),
              "exposures": sum(1 for e in catalog.graph.exposures if catalog.graph.owner[e] == name),
              "groups": len(groups), "failures": summary.failures}
    overview = state.manifest.docs.get(f"doc.{name}.__overview__")
    return ProjectView(
        name=name, environment=state.environment, origin=state.origin,
        run=run_view(catalog, name), counts=counts, groups=groups, public_models=public,
        models=[catalog.ref(m.unique_id) for m in models[:PROJECT_MODELS_SHOWN]],
        models_total=len(models), used_by=_links(catalog, name, downstream=True),
        upstream=_links(catalog, name, downstream=False),
        overview=overview.block_contents if overview else None)


def _links(catalog: Catalog, name: str, downstream: bool) -> list[ProjectLink]:
    links = []
    for (producer, consumer), count in sorted(catalog.project_edge_counts().items()):
        if (producer if downstream else consumer) != name:
            continue
        other = consumer if downstream else producer
        read = sorted({parent for child, parents in catalog.graph.parents.items()
                       if catalog.project_of(child) == consumer
                       and catalog.resource_type_of(child) in LINEAGE_TYPES
                       for parent in parents if catalog.project_of(parent) == producer})
        links.append(ProjectLink(other, count, [catalog.ref(n) for n in read]))
    return links
