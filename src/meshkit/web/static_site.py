"""`meshkit docs generate`: the whole catalog as a folder of static files.

    index.html            the mesh overview
    search.html           search, run in the browser over search-index.js
    projects/<name>.html  one page per project
    nodes/<id>.html       one page per model, seed, snapshot, source and exposure
    lineage/<id>.html     the lineage of each of them (2 steps up and down, laid out here)
    static/               styles, meshkit.js and the vendored cytoscape
    catalog.json          what was generated, from which runs

The folder opens from disk (file://) or from any static host. Large meshes are rendered by
several processes (fork), each writing its share of the pages.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from meshkit import __version__
from meshkit.catalog.lineage import LINEAGE_TYPES
from meshkit.catalog.model import Catalog
from meshkit.catalog.views import PackageView
from meshkit.errors import MeshError
from meshkit.web.app import STATIC_DIR
from meshkit.web.pages import PageRenderer, search_index_payload
from meshkit.web.render import Links, embed_json, file_name

MARKER = "catalog.json"
PARALLEL_THRESHOLD = 300       # below this many resources, forking costs more than it saves


@dataclass
class SiteReport:
    out: Path
    projects: int
    nodes: int
    pages: int
    seconds: float
    workers: int


def _page_ids(catalog: Catalog) -> list[str]:
    ids = [n.unique_id for n in catalog.graph.nodes.values() if n.resource_type in LINEAGE_TYPES]
    ids.extend(catalog.graph.sources)
    ids.extend(catalog.graph.exposures)
    return ids


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MeshError("the output path exists and is not a folder", file=out,
                        hint="choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise MeshError("the output folder is not empty and holds no meshkit catalog", file=out,
                        hint="choose an empty or new folder for --out (meshkit only replaces "
                             "a folder it generated)")
    for sub in ("nodes", "lineage", "projects", "static"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("nodes", "lineage", "projects"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(STATIC_DIR, out / "static")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _render_nodes(catalog: Catalog, out: Path, ids: Sequence[str],
                  remote_images: Sequence[str] = ()) -> int:
    renderer = PageRenderer(catalog, Links(static=True), live=False, remote_images=remote_images)
    written = 0
    for node_id in ids:
        name = file_name(node_id)
        html = renderer.node(node_id)
        if html is None:
            continue
        _write(out / "nodes" / f"{name}.html", html)
        lineage = renderer.lineage(node_id)
        if lineage is not None:
            _write(out / "lineage" / f"{name}.html", lineage)
        written += 2
    return written


# Forked workers find the catalog here (inherited memory; nothing is pickled).
_SHARED: dict[str, object] = {}


def _worker(chunk: list[str]) -> int:
    return _render_nodes(_SHARED["catalog"], _SHARED["out"], chunk,  # type: ignore[arg-type]
                         _SHARED["remote_images"])  # type: ignore[arg-type]


def generate_site(catalog: Catalog, out: Path, *, workers: int | None = None,
                  progress: Callable[[str], None] | None = None,
                  packages: Sequence[PackageView] = (),
                  remote_images: Sequence[str] = ()) -> SiteReport:
    """Write the static catalog to `out`; remote_images: origins of remote images its pages
    may load (mesh.yml catalog.remote_images; none by default)."""
    started = time.perf_counter()
    say = progress or (lambda _: None)
    out = out.resolve()
    _prepare(out)
    catalog.warm()
    renderer = PageRenderer(catalog, Links(static=True), live=False, packages=packages,
                            remote_images=remote_images)
    pages = 0
    _write(out / "index.html", renderer.overview())
    _write(out / "search.html", renderer.search())
    _write(out / "search-index.js",
           f"window.MESHKIT_SEARCH = {embed_json(search_index_payload(catalog))};\n")
    pages += 2
    for name in catalog.project_names:
        html = renderer.project(name)
        if html is not None:
            _write(out / "projects" / f"{file_name(name)}.html", html)
            pages += 1
    ids = _page_ids(catalog)
    say(f"rendering {len(ids)} resource pages and their lineage")
    count = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if count > 1 and len(ids) >= PARALLEL_THRESHOLD and "fork" in multiprocessing.get_all_start_methods():
        _SHARED.update(catalog=catalog, out=out, remote_images=tuple(remote_images))
        size = max(50, len(ids) // (count * 8))
        chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
        try:
            with multiprocessing.get_context("fork").Pool(count) as pool:
                pages += sum(pool.imap_unordered(_worker, chunks))
        finally:
            _SHARED.clear()
    else:
        count = 1
        pages += _render_nodes(catalog, out, ids, remote_images)
    meta = {"generator": f"meshkit {__version__}", "mesh": catalog.mesh_name,
            "environment": catalog.environment, "version": catalog.version,
            "projects": {name: (state.run.run_id if state.run else None)
                         for name, state in sorted(catalog.graph.projects.items())},
            "pages": pages}
    (out / MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return SiteReport(out, len(catalog.project_names), len(ids), pages,
                      time.perf_counter() - started, count)
