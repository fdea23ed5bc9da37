"""`meshkit docs generate` and `meshkit serve`, run as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import run

pytestmark = pytest.mark.e2e


def static_page(out, node_id: str, lineage: bool = False) -> str:
    """The inside of <main> of a static catalog's page of a resource, from its shard."""
    import base64
    import gzip

    from meshkit.web.static_site import shard_of

    shards = json.loads((out / "catalog.json").read_text())["shards"]
    text = (out / "data" / f"{shard_of(node_id, shards)}.js").read_text()
    packed = text[text.index('"') + 1:text.rindex('"')]
    entry = json.loads(gzip.decompress(base64.b64decode(packed)))[node_id]
    return entry[3 if lineage else 1]


def test_docs_generate_writes_a_static_catalog(built_mesh, tmp_path):
    out = tmp_path / "catalog"
    report = json.loads(run(["meshkit", "docs", "generate", "--out", str(out), "--json"],
                            cwd=built_mesh).stdout)
    assert report["projects"] == 2 and report["resources"] == 9
    for page in ("index.html", "search.html", "search-index.js", "projects/finance.html",
                 "node.html", "lineage.html", "data/0.js",
                 "static/vendor/cytoscape/cytoscape.min.js", "static/vendor/cytoscape/LICENSE"):
        assert (out / page).is_file(), page
    meta = json.loads((out / "catalog.json").read_text())
    assert set(meta["projects"]) == {"analytics", "finance"} and meta["shards"] == 1
    html = static_page(out, "model.finance.agg_customer_payment_journey")
    assert 'href="node.html?id=model.analytics.fct_orders.v2"' in html
    assert 'href="static/meshkit.css"' in (out / "node.html").read_text()
    overview = (out / "index.html").read_text()     # mesh.yml's internal packages, as served
    assert "<h2>Internal packages</h2>" in overview and "<code>packages/mesh_utils</code>" in overview
    # Generating again replaces the folder it made.
    result = run(["meshkit", "docs", "generate", "--out", str(out)], cwd=built_mesh)
    assert "wrote the catalog of jaffle-mesh" in result.stdout


def test_docs_generate_default_folder_and_refusals(built_mesh, tmp_path):
    run(["meshkit", "docs", "generate"], cwd=built_mesh)
    assert (built_mesh / ".meshkit" / "catalog" / "index.html").is_file()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = run(["meshkit", "docs", "generate", "--out", str(foreign)], cwd=built_mesh, check=False)
    assert result.returncode == 2 and "not empty" in result.stderr and "Traceback" not in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"

    result = run(["meshkit", "docs", "generate", "--env", "nope"], cwd=built_mesh, check=False)
    assert result.returncode == 2 and "unknown environment" in result.stderr


def test_docs_generate_before_anything_was_published(jaffle_mesh):
    result = run(["meshkit", "docs", "generate"], cwd=jaffle_mesh, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no project has published to environment 'prod'" in result.stderr
    assert "meshkit build" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_and_refuses_a_taken_port(built_mesh):
    port = _free_port()
    meshkit = str(Path(sys.executable).parent / "meshkit")
    process = subprocess.Popen([meshkit, "serve", "--port", str(port), "--refresh", "0"],
                               cwd=built_mesh, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.3)
        assert body and body["ok"], process.stderr.read() if process.poll() is not None else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nodes/model.analytics.fct_orders.v2") as r:
            assert "fct_orders" in r.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:     # mesh.yml's packages
            overview = r.read().decode()
        assert "<h2>Internal packages</h2>" in overview and "<code>packages/mesh_utils</code>" in overview
        taken = run(["meshkit", "serve", "--port", str(port)], cwd=built_mesh, check=False)
        assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "serving the catalog of jaffle-mesh" in process.stdout.read()
