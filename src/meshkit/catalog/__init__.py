"""What the catalog shows, built from the mesh graph: pages as plain data, lineage with
server-side layouts, and an in-memory search index. No web imports here: meshkit.web renders
these views as HTML and JSON."""

from meshkit.catalog.index import Catalog
from meshkit.catalog.lineage import Lineage, LineageFilters
from meshkit.catalog.live import CatalogSource, load_catalog
from meshkit.catalog.search import SearchFilters

__all__ = ["Catalog", "CatalogSource", "Lineage", "LineageFilters", "SearchFilters",
           "load_catalog"]
