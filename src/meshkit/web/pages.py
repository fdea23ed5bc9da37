"""The catalog's pages as HTML: one renderer for the live server and the static folder.

The two modes differ only in their links (`Links`) and in what the browser can ask for
(the live server recomputes a lineage for new depths and filters; a static folder ships the
default one). Graph drawings receive positions computed on the server, as JSON in a
`<script type="application/json">` element that meshkit.js hands to cytoscape.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Sequence

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape

from meshkit import __version__
from meshkit.catalog.column_graph import (
    COLUMN_LIMIT,
    ColumnGraphView,
    ColumnNode,
    column_graph_view,
)
from meshkit.catalog.index import Catalog
from meshkit.catalog.lineage import (
    Lineage,
    LineageFilters,
    lineage_view,
    project_color,
    project_graph,
)
from meshkit.catalog.node import node_view
from meshkit.catalog.overview import overview_view
from meshkit.catalog.project import project_view
from meshkit.catalog.search import SearchFilters, SearchResults, search, search_index
from meshkit.catalog.views import PackageView
from meshkit.web.render import (
    Links,
    content_security_policy,
    duration,
    embed_json,
    render_inline,
    render_markdown,
    short_time,
    time_ago,
)

DEPTH_CHOICES = ("0", "1", "2", "3", "4", "5", "8", "all")
MINI_DEPTH = 1
MINI_LIMIT = 80            # a model page's small drawing: the nearest 80 resources at most


def make_environment() -> Environment:
    """The Jinja environment of the catalog's templates, autoescaping, with meshkit's filters
    (Markdown, times, durations)."""
    env = Environment(loader=PackageLoader("meshkit.web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    # The remote images a page may load come from its renderer (mesh.yml), via the context.
    env.filters["md"] = pass_context(
        lambda ctx, text: render_markdown(text, ctx.get("remote_images", ())))
    env.filters["md_inline"] = pass_context(
        lambda ctx, text: render_inline(text, ctx.get("remote_images", ())))
    env.filters["embed_json"] = embed_json
    env.filters["ago"] = time_ago
    env.filters["when"] = short_time
    env.filters["duration"] = duration
    return env


_ENV = make_environment()


def depth_value(text: str | int | None, default: int | None) -> int | None:
    """'all' → None (unbounded); numbers are clamped to 0..50."""
    if text is None or text == "":
        return default
    if isinstance(text, int):
        return max(0, min(text, 50))
    if text.strip().lower() in ("all", "*", "inf"):
        return None
    try:
        return max(0, min(int(text), 50))
    except ValueError:
        return default


def depth_text(value: int | None) -> str:
    """A lineage depth as the page shows it: a number, or `all` for None."""
    return "all" if value is None else str(value)


class PageRenderer:
    def __init__(self, catalog: Catalog, links: Links, *, live: bool = False,
                 packages: Sequence[PackageView] = (), remote_images: Sequence[str] = ()) -> None:
        self.catalog = catalog
        self.links = links
        self.live = live
        self.remote_images = tuple(remote_images)   # mesh.yml catalog.remote_images
        self.packages = list(packages)      # from mesh.yml: the store knows nothing of them

    def render(self, template: str, depth: int, **context: Any) -> str:
        """`template` (web/templates/) with the catalog, links for a page `depth` folders down,
        and what every page shows; `context` is the page's own (its `page` name, its view)."""
        links = self.links.at(depth)
        return _ENV.get_template(template).render(
            catalog=self.catalog, links=links, live=self.live, meshkit_version=__version__,
            remote_images=self.remote_images,
            csp=content_security_policy(self.remote_images, server=False),
            generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **context)

    # -- graphs as drawing data ------------------------------------------------------------
    def lineage_graph(self, lineage: Lineage, depth: int) -> dict[str, Any]:
        links = self.links.at(depth)
        centre_project = self.catalog.project_of(lineage.centre)
        nodes = []
        for n in lineage.nodes:
            if n.resource_type == "model":
                detail = " · ".join(x for x in (n.access, n.materialized) if x)
            else:
                detail = n.resource_type
            if n.deprecated:
                detail += " · deprecated"
            if not n.published:
                detail = "not published"
            classes = [n.resource_type, n.access or "", "centre" if n.distance == 0 else "",
                       "other-project" if n.project != centre_project else "",
                       "unpublished" if not n.published else "",
                       "deprecated" if n.deprecated else "",
                       f"status-{n.status}" if n.status else ""]
            width = max(130, min(290, 7 * max(len(n.label), len(detail)) + 26))
            nodes.append({"id": n.id, "label": f"{n.label}\n{detail}", "x": n.x, "y": n.y,
                          "w": width, "color": n.color, "distance": n.distance,
                          "href": links.node(n.id) if n.published else None,
                          "classes": " ".join(c for c in classes if c)})
        edges = [{"source": e.source, "target": e.target,
                  "classes": " ".join(c for c in ("cross" if e.cross_project else "",
                                                  "indirect" if e.indirect else "") if c)}
                 for e in lineage.edges]
        return {"kind": "lineage", "centre": lineage.centre, "nodes": nodes, "edges": edges}

    def column_graph_data(self, view: ColumnGraphView, depth: int) -> dict[str, Any]:
        """Models as boxes around their columns (cytoscape compound nodes), on one band per
        project (a rectangle laid out on the server)."""
        links = self.links.at(depth)
        nodes: list[dict[str, Any]] = [
            {"id": f"project:{b.project}", "label": b.project, "x": b.x, "y": b.y, "w": b.w,
             "h": b.h, "color": project_color(self.catalog, b.project),
             "classes": "project-band"} for b in view.bands]
        published = {m.id: m.published for m in view.models}
        for model in view.models:
            nodes.append({"id": model.id, "label": model.label,
                          "color": project_color(self.catalog, model.project),
                          "href": links.node(model.id) if model.published else None,
                          "classes": f"model-box {model.resource_type}"})
        nodes += [self._column_data(view, n, links, published[n.node]) for n in view.nodes]
        edges = [{"source": e.source, "target": e.target,
                  "label": e.kind + (f" · {e.transform}" if e.transform else ""),
                  "classes": e.kind + (" cross" if e.cross_project else "")}
                 for e in view.edges]
        return {"kind": "columns", "centre": view.centre, "nodes": nodes, "edges": edges}

    def _column_data(self, view: ColumnGraphView, n: ColumnNode, links: Links,
                     published: bool) -> dict[str, Any]:
        label = n.column + (f"  +{n.more} more" if n.more else "")
        if n.unresolved:   # the reason is on the drawing, not only in the list below
            label += f"\nunresolved: {n.unresolved.replace('_', ' ')}"
        classes = ["column", "centre" if n.id == view.centre else "",
                   "rows-only" if n.rows_only else "", "unresolved" if n.unresolved else "",
                   "has-more" if n.more else ""]
        return {"id": n.id, "label": label, "parent": n.node, "x": n.x, "y": n.y,
                "w": max(150, min(280, 7 * max(map(len, label.split("\n"))) + 24)),
                "color": project_color(self.catalog, n.project),
                "href": links.column(n.node, n.column) if published else None,
                "classes": " ".join(c for c in classes if c)}

    def project_graph_data(self, depth: int) -> dict[str, Any]:
        links = self.links.at(depth)
        graph = project_graph(self.catalog)
        nodes = [{**n, "label": f"{n['label']}\n{n['models']} models · {n['public']} public",
                  "href": links.project(n["id"]) if n["published"] else None,
                  "classes": "project" + ("" if n["published"] else " unpublished")}
                 for n in graph.nodes]
        edges = [{"source": e["source"], "target": e["target"],
                  "label": str(e["count"]) if e["count"] else "declared",
                  "classes": " ".join(c for c in ("bidirectional" if e["bidirectional"] else "",
                                                  "declared" if not e["count"] else "") if c)}
                 for e in graph.edges]
        return {"kind": "projects", "nodes": nodes, "edges": edges}

    # -- pages -----------------------------------------------------------------------------
    def overview(self) -> str:
        return self.render("overview.html", 0, page="overview", view=overview_view(self.catalog),
                            graph=self.project_graph_data(0), packages=self.packages)

    def project(self, name: str) -> str | None:
        view = project_view(self.catalog, name)
        if view is None:
            return None
        return self.render("project.html", 1, page="project", view=view,
                            packages=[p for p in self.packages if name in p.installed_by])

    def node(self, node_id: str) -> str | None:
        view = node_view(self.catalog, node_id)
        if view is None:
            return None
        lineage = lineage_view(self.catalog, node_id, MINI_DEPTH, MINI_DEPTH, limit=MINI_LIMIT)
        depth = self._resource_depth
        return self.render("node.html", depth, page="node", view=view,
                            graph=self.lineage_graph(lineage, depth), lineage=lineage)

    def lineage(self, node_id: str, up: int | None = 2, down: int | None = 2,
                filters: LineageFilters | None = None) -> str | None:
        if not self.catalog.has_node(node_id):
            return None
        filters = filters or LineageFilters()
        lineage = lineage_view(self.catalog, node_id, up, down, filters)
        depth = self._resource_depth
        return self.render("lineage.html", depth, page="lineage",
                            centre=self.catalog.ref(node_id),
                            lineage=lineage, graph=self.lineage_graph(lineage, depth),
                            up=depth_text(up), down=depth_text(down), filters=filters,
                            depth_choices=DEPTH_CHOICES,
                            facets=self.catalog.facets() if self.live else None)

    def column_graph(self, node_id: str, column: str, up: int | None = None,
                     down: int | None = None, limit: int = COLUMN_LIMIT) -> str | None:
        """The column lineage graph page (at most `limit` columns drawn), or None when no
        published lineage knows the column."""
        view = column_graph_view(self.catalog, node_id, column, up, down, limit)
        if view is None:
            return None
        depth = self._resource_depth
        models = {m.id: m for m in view.models}
        return self.render("column_graph.html", depth, page="columns",
                           centre=self.catalog.ref(node_id), view=view, models=models,
                           centre_node=next(n for n in view.nodes if n.id == view.centre),
                           graph=self.column_graph_data(view, depth),
                           up=depth_text(up), down=depth_text(down),
                           limit=None if limit == COLUMN_LIMIT else limit,
                           depth_choices=DEPTH_CHOICES)

    @property
    def _resource_depth(self) -> int:
        """Folder depth of a resource page: /nodes/<id> live; node.html?id= in a static folder."""
        return 0 if self.links.static else 1

    def shell(self, kind: str, shards: int) -> str:
        """A static folder's node.html or lineage.html: meshkit.js fills <main> with the page
        of `?id=` from its shard (static_site.py)."""
        return self.render("shell.html", 0, page=kind, shards=shards, graph=None)

    def search(self, query: str = "", filters: SearchFilters | None = None,
               limit: int = 50, offset: int = 0) -> str:
        results: SearchResults | None = None
        filters = filters or SearchFilters()
        if self.live and (query.strip() or _any_filter(filters)):
            results = search(self.catalog, query, filters, limit, offset)
        return self.render("search.html", 0, page="search", query=query, filters=filters,
                            results=results, facets=self.catalog.facets(), limit=limit,
                            offset=offset)

    def not_found(self, what: str) -> str:
        return self.render("not_found.html", 0, page="not_found", what=what)


def _any_filter(filters: SearchFilters) -> bool:
    return any(asdict(filters).values())


def search_index_payload(catalog: Catalog) -> list[list[Any]]:
    """The static folder's search data: one compact row per document, for meshkit.js."""
    rows = []
    for doc in search_index(catalog).docs:
        rows.append([doc.id, doc.name, doc.label, doc.project, doc.resource_type, doc.access or "",
                     doc.materialized or "", doc.group or "", doc.tags,
                     " ".join(doc.description.split())[:400], list(doc.columns),
                     1 if doc.is_latest else 0, Links(static=True).node(doc.id)])
    return rows
