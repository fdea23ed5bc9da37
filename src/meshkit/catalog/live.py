"""The catalog as the store holds it now: loaded once, refreshed when a project publishes.

`CatalogSource.refresh()` reads each project's `latest` pointer; when the set of published
runs differs from the one the current catalog was built from, it builds a new catalog and
swaps it in. Projects whose run did not change are not decoded again (their state is kept
per run id), so a publish of one project costs one manifest decode, not thirty.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from meshkit.catalog.index import Catalog, catalog_from_states
from meshkit.catalog.lineage import project_graph
from meshkit.catalog.overview import overview_view
from meshkit.catalog.search import search_index
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import ProjectState, load_from_store
from meshkit.store.store import Store

log = logging.getLogger("meshkit.catalog")


def load_catalog(store: Store, env: str, *, mesh_name: str = "mesh",
                 require: bool = True) -> Catalog:
    """Every project's last successful run in `env`, as one catalog."""
    graph = load_from_store(store, env)
    if require and not graph.projects:
        raise MeshError(f"no project has published to environment '{env}' yet",
                        file=store.url, hint="run `meshkit build` (or `meshkit publish` after a "
                                             "dbt build) first")
    return Catalog(graph, mesh_name=mesh_name, environment=env)


class CatalogSource:
    """Holds the current catalog; `refresh()` swaps in a new one after a publish."""

    def __init__(self, store: Store | None, env: str, *, mesh_name: str = "mesh",
                 catalog: Catalog | None = None, interval: float = 5.0) -> None:
        self.store = store
        self.env = env
        self.mesh_name = mesh_name
        self.interval = interval
        self._states: dict[tuple[str, str], ProjectState] = {}
        self._pointers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loaded_at = time.time()
        self.refreshes = 0
        self.last_error: str | None = None
        if catalog is not None:
            self._catalog = catalog
        elif store is None:
            raise TypeError("a CatalogSource without a catalog reads one from a store")
        else:
            self._catalog = Catalog(load_from_store(store, env, projects=[]), mesh_name=mesh_name,
                                    environment=env)
            self.refresh()

    @classmethod
    def fixed(cls, catalog: Catalog) -> "CatalogSource":
        """A catalog that never changes (tests, benchmarks)."""
        return cls(None, catalog.environment or "prod", mesh_name=catalog.mesh_name, catalog=catalog)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def _published(self) -> dict[str, str]:
        assert self.store is not None
        found = {}
        for project in self.store.projects():
            record = self.store.latest(project, self.env)
            if record is not None:
                found[project] = record.run_id
        return found

    def refresh(self) -> bool:
        """Rebuild the catalog if any project published since the last look."""
        if self.store is None:
            return False
        with self._lock:
            try:
                pointers = self._published()
                if pointers == self._pointers and self.refreshes:
                    return False
                states = []
                for project, run_id in sorted(pointers.items()):
                    state = self._states.get((project, run_id))
                    if state is None:
                        loaded = load_from_store(self.store, self.env, projects=[project])
                        state = loaded.projects.get(project)
                        if state is None:
                            continue
                        if state.run is not None and state.run.run_id != run_id:
                            pointers[project] = state.run.run_id  # published again meanwhile
                        self._states[(project, state.run.run_id if state.run else run_id)] = state
                    states.append(state)
                keep = {(s.name, s.run.run_id if s.run else "") for s in states}
                self._states = {k: v for k, v in self._states.items() if k in keep}
                catalog = catalog_from_states(states, mesh_name=self.mesh_name,
                                              environment=self.env)
                warm(catalog)
            except MeshError as exc:
                # A half-written or corrupt run must not take the catalog down: keep serving
                # the last good one and say why.
                self.last_error = exc.render()
                log.warning("catalog refresh failed: %s", self.last_error)
                return False
            self._catalog = catalog
            self._pointers = pointers
            self.refreshes += 1
            # The catalog lives until the next publish: keep the cyclic collector from
            # walking its hundreds of thousands of objects during requests.
            gc.collect()
            gc.freeze()
            self.loaded_at = time.time()
            self.last_error = None
            return True

    # -- background polling ----------------------------------------------------------------
    def start(self) -> None:
        if self.store is None or self._thread is not None or self.interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="meshkit-catalog-refresh",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a refresh bug must not kill the server
                log.exception("catalog refresh crashed")


def warm(catalog: Catalog) -> Catalog:
    """Build what the first request would otherwise wait for: the search index, the project
    graph, the filter menus and the overview."""
    search_index(catalog)
    project_graph(catalog)
    catalog.facets()
    overview_view(catalog)
    return catalog
