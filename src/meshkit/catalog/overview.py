"""The overview page (overview.html): the mesh's counts, projects, cross-project edges,
public models and failures."""

from __future__ import annotations

from meshkit.catalog.index import Catalog
from meshkit.catalog.project import project_summary
from meshkit.catalog.views import OverviewView, ProjectEdge
from meshkit.dbt.artifacts import FAILED_STATUSES
from meshkit.dbt.nodes import access_of


def overview_view(catalog: Catalog) -> OverviewView:
    """The overview page's view (built once per graph version)."""
    return catalog.cached("overview", lambda: _build_overview(catalog))


def _build_overview(catalog: Catalog) -> OverviewView:
    edge_counts = catalog.project_edge_counts()
    summaries = [project_summary(catalog, p) for p in catalog.project_names]
    models = [n for n in catalog.graph.nodes.values() if n.resource_type == "model"]
    public = sorted((n for n in models if access_of(n) == "public"),
                    key=lambda n: catalog.label_of(n.unique_id))
    failures = [catalog.ref(r) for r, result in catalog.run_results()
                if result.status in FAILED_STATUSES]
    counts = {"projects": len(catalog.project_names), "models": len(models),
              "public_models": len(public),
              "contracts": sum(1 for n in models if n.config.contract.enforced),
              "failures": len(failures), "sources": len(catalog.graph.sources),
              "exposures": len(catalog.graph.exposures),
              "tests": sum(1 for n in catalog.graph.nodes.values() if n.resource_type == "test"),
              "cross_project_edges": sum(edge_counts.values())}
    edges = [ProjectEdge(s, t, n, (t, s) in edge_counts)
             for (s, t), n in sorted(edge_counts.items())]
    return OverviewView(catalog.mesh_name, catalog.environment, catalog.version, counts, summaries,
                        edges, [catalog.ref(n.unique_id) for n in public[:200]], len(public),
                        sorted(failures, key=lambda r: r.label)[:100])
