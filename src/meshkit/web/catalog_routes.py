"""The catalog's routes: HTML pages and the JSON API, over the live catalog.

Pages                               API (JSON)
/                   overview        /api/version        graph version, published runs
/projects/{name}    project         /api/overview       counts, projects, project graph, packages
/nodes/{id}         model, source…  /api/projects[/{name}]
/lineage/{id}       lineage         /api/nodes/{id}
/columns/{id}/{col} column lineage graph (?up=&down=&limit=)
/search?q=…         search          /api/lineage/{id}?up=&down=&project=&access=&materialized=&group=&tag=
                                    /api/columns/{id}/{column}?up=&down=   column lineage
                                    /api/search?q=&projects=&types=&access=&materialized=&groups=&tags=&facets=1
                                    POST /api/refresh   reload now (bearer token)
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from meshkit.catalog.column_graph import COLUMN_LIMIT, MAX_COLUMN_LIMIT
from meshkit.catalog.columns import column_lineage_view
from meshkit.catalog.index import Catalog
from meshkit.catalog.lineage import LineageFilters, lineage_view, project_graph
from meshkit.catalog.node import node_view
from meshkit.catalog.overview import overview_view
from meshkit.catalog.project import project_summary, project_view
from meshkit.catalog.search import SearchFilters
from meshkit.catalog.search import search as search_catalog
from meshkit.web.auth import requires_token
from meshkit.web.pages import PageRenderer, depth_value
from meshkit.web.render import Links


def _catalog(request: Request) -> Catalog:
    return request.app.state.source.catalog


def _renderer(request: Request) -> PageRenderer:
    state = request.app.state
    return PageRenderer(state.source.catalog, Links(), live=True, packages=state.packages,
                        remote_images=state.remote_images)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status)


def _not_found(renderer: PageRenderer) -> HTMLResponse:
    return _html(renderer.not_found("resource with that id"), 404)


def _lineage_args(request: Request) -> tuple[int | None, int | None, LineageFilters]:
    q = request.query_params
    filters = LineageFilters.of(projects=q.getlist("project"), access=q.getlist("access"),
                                materialized=q.getlist("materialized"),
                                groups=q.getlist("group"), tags=q.getlist("tag"))
    return depth_value(q.get("up"), 2), depth_value(q.get("down"), 2), filters


def _search_args(request: Request) -> tuple[str, SearchFilters, int, int]:
    q = request.query_params
    filters = SearchFilters.of(**{key: q.getlist(key) for key in
                                  ("projects", "types", "access", "materialized", "tags", "groups")})
    try:
        limit = max(1, min(int(q.get("limit", 50)), 500))
        offset = max(0, int(q.get("offset", 0)))
    except ValueError:
        limit, offset = 50, 0
    return q.get("q", ""), filters, limit, offset


def _node_id(request: Request) -> str | None:
    """The path's node as a unique id: an id, `project.name` or a bare name (Catalog.find)."""
    return _catalog(request).find(request.path_params["node_id"])


def _no_such_resource() -> JSONResponse:
    return JSONResponse({"error": "no such resource"}, status_code=404)


def _canonical(request: Request, node_id: str, kind: str) -> Response | None:
    """Redirect `analytics.fct_orders` (or a bare name) to the node's unique id."""
    found = _catalog(request).find(node_id)
    if found is None or found == node_id:
        return None
    return RedirectResponse(f"/{kind}/{quote(found, safe='')}", status_code=307)

# -- pages -------------------------------------------------------------------------------

def overview(request: Request) -> Response:
    """GET /: the catalog's overview page."""
    return _html(_renderer(request).overview())


def project(request: Request) -> Response:
    """GET /projects/{name}: a project's page; 404 for an unknown project."""
    renderer = _renderer(request)
    html = renderer.project(request.path_params["name"])
    return _html(html) if html else _html(renderer.not_found("project of that name"), 404)


def node(request: Request) -> Response:
    """GET /nodes/{node_id}: a node's page; a name that is not an id redirects to it."""
    node_id = request.path_params["node_id"]
    renderer = _renderer(request)
    html = renderer.node(node_id)
    if html is None:
        return _canonical(request, node_id, "nodes") or _not_found(renderer)
    return _html(html)


def lineage(request: Request) -> Response:
    """GET /lineage/{node_id}: a node's lineage graph (`up`, `down`, filters in the query)."""
    node_id = request.path_params["node_id"]
    up, down, filters = _lineage_args(request)
    renderer = _renderer(request)
    html = renderer.lineage(node_id, up, down, filters)
    if html is None:
        return _canonical(request, node_id, "lineage") or _not_found(renderer)
    return _html(html)


def columns(request: Request) -> Response:
    """A column's lineage graph across projects (`up`/`down`: steps each way, default all;
    `limit`: columns drawn at most);
    `analytics.fct_orders` or a bare name redirects to the node's unique id."""
    given, column = request.path_params["node_id"], request.path_params["column"]
    node_id = _node_id(request) or given
    if node_id != given:
        path = f"/columns/{quote(node_id, safe='')}/{quote(column, safe='')}"
        query = request.url.query
        return RedirectResponse(path + (f"?{query}" if query else ""), status_code=307)
    q = request.query_params
    try:
        limit = max(1, min(int(q.get("limit", COLUMN_LIMIT)), MAX_COLUMN_LIMIT))
    except ValueError:
        limit = COLUMN_LIMIT
    renderer = _renderer(request)
    html = renderer.column_graph(node_id, column, depth_value(q.get("up"), None),
                                 depth_value(q.get("down"), None), limit)
    if html is None:
        return _html(renderer.not_found(f"column lineage for {node_id}.{column} (the column is "
                                        "unknown, or its project was published without column "
                                        "lineage)"), 404)
    return _html(html)


def search(request: Request) -> Response:
    """GET /search: the search page (`q`, filters, `limit`, `offset` in the query)."""
    query, filters, limit, offset = _search_args(request)
    return _html(_renderer(request).search(query, filters, limit, offset))


# -- API ---------------------------------------------------------------------------------

def api_version(request: Request) -> Response:
    """GET /api/version: the catalog's version, mesh, environment and each project's run,
    and when it was loaded, how often refreshed and its last refresh error."""
    source = request.app.state.source
    catalog = source.catalog
    return JSONResponse({
        "version": catalog.version, "mesh": catalog.mesh_name,
        "environment": catalog.environment,
        "projects": {name: (state.run.run_id if state.run else None)
                     for name, state in sorted(catalog.graph.projects.items())},
        "loaded_at": source.loaded_at, "refreshes": source.refreshes,
        "last_error": source.last_error})


def api_overview(request: Request) -> Response:
    """GET /api/overview: the overview's data as JSON."""
    catalog = _catalog(request)
    data: dict[str, Any] = asdict(overview_view(catalog))
    data["project_graph"] = asdict(project_graph(catalog))
    data["packages"] = [asdict(p) for p in request.app.state.packages]
    return JSONResponse(data)


def api_projects(request: Request) -> Response:
    """GET /api/projects: each project's summary as JSON."""
    catalog = _catalog(request)
    return JSONResponse([asdict(project_summary(catalog, p)) for p in catalog.project_names])


def api_project(request: Request) -> Response:
    """GET /api/projects/{name}: a project's data as JSON; 404 for an unknown project."""
    view = project_view(_catalog(request), request.path_params["name"])
    if view is None:
        return JSONResponse({"error": "no such project"}, status_code=404)
    return JSONResponse(asdict(view))


def api_node(request: Request) -> Response:
    """GET /api/nodes/{node_id}: a node's data as JSON; 404 for an unknown node."""
    node_id = _node_id(request)
    view = node_view(_catalog(request), node_id) if node_id is not None else None
    if view is None:
        return _no_such_resource()
    return JSONResponse(asdict(view))


def api_lineage(request: Request) -> Response:
    """GET /api/lineage/{node_id}: a node's lineage graph as JSON."""
    catalog = _catalog(request)
    node_id = _node_id(request)
    if node_id is None:
        return _no_such_resource()
    up, down, filters = _lineage_args(request)
    return JSONResponse(lineage_view(catalog, node_id, up, down, filters).as_dict())


def api_columns(request: Request) -> Response:
    """A column's upstream and downstream columns across projects (`up`/`down`: steps each
    way, default all), with the lens of each step and an inherited description."""
    catalog = _catalog(request)
    node_id = _node_id(request) or request.path_params["node_id"]
    column = request.path_params["column"]
    q = request.query_params
    view = column_lineage_view(catalog.graph, node_id, column, depth_value(q.get("up"), None),
                               depth_value(q.get("down"), None))
    if view is None:
        return JSONResponse({"error": f"no column lineage for {node_id}.{column}: the column is "
                             "unknown, or its project was published without column lineage"},
                            status_code=404)
    return JSONResponse(view.as_dict())


def api_search(request: Request) -> Response:
    """GET /api/search: ranked hits as JSON (`facets=1` also counts them by facet)."""
    query, filters, limit, offset = _search_args(request)
    facets = request.query_params.get("facets", "") not in ("", "0", "false")
    return JSONResponse(asdict(search_catalog(_catalog(request), query, filters, limit, offset, facets)))


def api_refresh(request: Request) -> Response:
    """POST /api/refresh (token): reload what changed in the store; whether anything did."""
    source = request.app.state.source
    changed = source.refresh()
    return JSONResponse({"changed": changed, "version": source.catalog.version,
                         "last_error": source.last_error})


def health(request: Request) -> Response:
    """GET /healthz: ok, with the catalog's version."""
    return JSONResponse({"ok": True, "version": _catalog(request).version})


def index_html(request: Request) -> Response:
    """GET /index.html: redirects to /, as the static site's links do."""
    return RedirectResponse("/", status_code=308)


routes = [
    Route("/", overview),
    Route("/index.html", index_html),
    Route("/projects/{name}", project),
    Route("/nodes/{node_id}", node),
    Route("/lineage/{node_id}", lineage),
    Route("/columns/{node_id}/{column:path}", columns),
    Route("/search", search),
    Route("/healthz", health),
    Route("/api/version", api_version),
    Route("/api/overview", api_overview),
    Route("/api/projects", api_projects),
    Route("/api/projects/{name}", api_project),
    Route("/api/nodes/{node_id}", api_node),
    Route("/api/lineage/{node_id}", api_lineage),
    Route("/api/columns/{node_id}/{column}", api_columns),
    Route("/api/search", api_search),
    Route("/api/refresh", requires_token(api_refresh), methods=["POST"]),
]
