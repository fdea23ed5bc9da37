"""`meshkit docs generate`: the whole catalog as a folder of static files.

    index.html            the mesh overview
    search.html           search, run in the browser over search-index.js
    projects/<name>.html  one page per project
    node.html?id=<id>     a model, seed, snapshot, source or exposure
    lineage.html?id=<id>  its lineage (2 steps up and down, laid out here)
    data/<n>.js           those pages, ~SHARD_SIZE resources per file, gzip-compressed
    static/               styles, meshkit.js and the vendored cytoscape
    catalog.json          what was generated, from which runs

One HTML file per resource made a 10,000-model catalog 289 MB (20,000 files of mostly the
same markup). The resource pages are rendered here as before, then stored by shard — the
shard of an id is FNV-1a(utf-8 id) mod the shard count, computed the same way by meshkit.js
— as gzip, base64 in a script (a `file://` page may load scripts but not fetch files).
node.html reads `?id=`, loads the shard and puts the page's rendered, sanitized HTML in its
<main> (browsers with DecompressionStream: Chrome 80, Firefox 113, Safari 16.4).

The folder opens from disk (file://) or from any static host. Large meshes are rendered by
several processes (fork), each writing whole shards.
"""

from __future__ import annotations

import base64
import gzip
import html as html_text
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from meshkit import __version__
from meshkit.catalog.index import Catalog
from meshkit.catalog.lineage import LINEAGE_TYPES
from meshkit.catalog.live import warm
from meshkit.catalog.views import PackageView
from meshkit.errors import MeshError
from meshkit.web.app import STATIC_DIR
from meshkit.web.pages import PageRenderer, search_index_payload
from meshkit.web.render import Links, embed_json, file_name

MARKER = "catalog.json"
PARALLEL_THRESHOLD = 300       # below this many resources, forking costs more than it saves
SHARD_SIZE = 100               # resources per data/<n>.js: ~150 KB at the benchmark's pages


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
    for sub in ("nodes", "lineage", "projects", "static", "data"):   # nodes, lineage: older layout
        shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("projects", "data"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(STATIC_DIR, out / "static")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def shard_of(unique_id: str, count: int) -> int:
    """The data/<n>.js holding a resource: 32-bit FNV-1a of its UTF-8 id, mod count
    (meshkit.js computes the same)."""
    value = 0x811C9DC5
    for byte in unique_id.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value % count


def _parts(page: str) -> tuple[str, str]:
    """(title text, the inside of <main>) of a rendered page."""
    title = page[page.index("<title>") + 7:page.index("</title>")]
    main = page[page.index("<main>") + 6:page.rindex("</main>")]
    return html_text.unescape(title), main.strip("\n")


def _render_shards(catalog: Catalog, out: Path, shards: Sequence[tuple[int, list[str]]],
                   remote_images: Sequence[str] = ()) -> int:
    """Write data/<n>.js for each (n, ids); returns the number of pages they hold."""
    renderer = PageRenderer(catalog, Links(static=True), live=False, remote_images=remote_images)
    written = 0
    for index, ids in shards:
        entries: dict[str, list[str]] = {}
        for node_id in ids:
            page = renderer.node(node_id)
            if page is None:
                continue
            entry = list(_parts(page))
            lineage = renderer.lineage(node_id)
            if lineage is not None:
                entry += _parts(lineage)
            entries[node_id] = entry
            written += len(entry) // 2
        packed = gzip.compress(json.dumps(entries, separators=(",", ":")).encode(), 6, mtime=0)
        _write(out / "data" / f"{index}.js",
               f'meshkitShard({index},"{base64.b64encode(packed).decode()}");\n')
    return written


# Forked workers find the catalog here (inherited memory; nothing is pickled).
_SHARED: dict[str, object] = {}


def _worker(chunk: list[tuple[int, list[str]]]) -> int:
    # _SHARED holds values of three types under fixed keys, set just before the fork.
    return _render_shards(_SHARED["catalog"], _SHARED["out"], chunk,  # type: ignore[arg-type]
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
    warm(catalog)
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
    count_shards = max(1, -(-len(ids) // SHARD_SIZE))
    by_shard: dict[int, list[str]] = {}
    for node_id in ids:
        by_shard.setdefault(shard_of(node_id, count_shards), []).append(node_id)
    shards = sorted(by_shard.items())
    for kind in ("node", "lineage"):
        _write(out / f"{kind}.html", renderer.shell(kind, count_shards))
    say(f"rendering {len(ids)} resource pages and their lineage into {count_shards} shards")
    count = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if count > 1 and len(ids) >= PARALLEL_THRESHOLD and "fork" in multiprocessing.get_all_start_methods():
        _SHARED.update(catalog=catalog, out=out, remote_images=tuple(remote_images))
        size = max(1, len(shards) // (count * 4))
        chunks = [shards[i:i + size] for i in range(0, len(shards), size)]
        try:
            with multiprocessing.get_context("fork").Pool(count) as pool:
                pages += sum(pool.imap_unordered(_worker, chunks))
        finally:
            _SHARED.clear()
    else:
        count = 1
        pages += _render_shards(catalog, out, shards, remote_images)
    meta = {"generator": f"meshkit {__version__}", "mesh": catalog.mesh_name,
            "environment": catalog.environment, "version": catalog.version,
            "projects": {name: (state.run.run_id if state.run else None)
                         for name, state in sorted(catalog.graph.projects.items())},
            "pages": pages, "shards": count_shards}
    (out / MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return SiteReport(out, len(catalog.project_names), len(ids), pages,
                      time.perf_counter() - started, count)
