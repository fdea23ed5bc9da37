"""What the catalog shows, built from the mesh graph: pages as plain data, lineage with
server-side layouts, and an in-memory search index. No web imports here: meshkit.web renders
these views as HTML and JSON.

`index.Catalog` holds the lookups and caches every page shares; each page of
web/templates/ has its builder module here (overview, project, node, lineage, column_graph,
search), a function of the catalog that keeps its view in `Catalog.cached`."""

from meshkit.catalog.index import Catalog
from meshkit.catalog.lineage import Lineage, LineageFilters
from meshkit.catalog.live import CatalogSource, load_catalog
from meshkit.catalog.search import SearchFilters

__all__ = ["Catalog", "CatalogSource", "Lineage", "LineageFilters", "SearchFilters",
           "load_catalog"]
