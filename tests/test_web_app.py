"""The live catalog server over the quickstart mesh's store: pages, JSON API, security
headers, the bearer token, and refreshing when a project publishes."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import run
from meshkit.catalog.live import CatalogSource, load_catalog
from meshkit.catalog.packages import package_views
from meshkit.config import load_mesh
from meshkit.store.store import Store
from meshkit.web.app import create_app
from meshkit.web.auth import BearerAuth
from meshkit.web.render import render_inline, render_markdown
from meshkit.web.server import BackgroundServer
from meshkit.web.static_site import generate_site

pytestmark = pytest.mark.e2e

AGG = "model.finance.agg_customer_payment_journey"


def get(url: str, *, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def get_json(url: str) -> dict:
    status, _, body = get(url)
    assert status == 200, body
    return json.loads(body)


def serve(mesh: Path, **kwargs) -> BackgroundServer:
    source = CatalogSource(Store(str(mesh / ".meshkit" / "store")), "prod", mesh_name="jaffle-mesh",
                           interval=kwargs.pop("interval", 0.3))
    return BackgroundServer(create_app(source, **kwargs))


def republish_finance(mesh: Path, description: str) -> str:
    """Change the finance model's description, build finance with plain dbt, publish it."""
    yml = mesh / "finance" / "models" / "core" / "core.yml"
    text = yml.read_text()
    start = text.index("    description: >")
    end = text.index("    columns:", start)
    block = "    description: |\n" + "".join(f"      {line}\n" for line in description.splitlines())
    yml.write_text(text[:start] + block + text[end:])
    run(["dbt", "build", "--target", "prod"], cwd=mesh / "finance")
    run(["meshkit", "publish", "--project-dir", "finance", "--env", "prod"], cwd=mesh)
    return json.loads((mesh / ".meshkit/store/finance/prod/latest.json").read_text())["run_id"]


def test_pages_render_the_published_mesh(built_mesh):
    with serve(built_mesh) as server:
        status, _, html = get(server.url + "/")
        assert status == 200
        assert "jaffle-mesh" in html and 'href="/projects/analytics"' in html
        assert re.search(r'<span class="value">6</span><span class="label">models', html)
        assert re.search(r'<span class="value">2</span><span class="label">public models', html)

        status, _, html = get(server.url + "/projects/analytics")
        assert status == 200 and "Data Analytics" in html and "analytics@jaffle.example" in html
        assert 'href="/projects/finance"' in html            # used by finance

        status, _, html = get(server.url + f"/nodes/{AGG}")
        assert status == 200
        assert 'href="/nodes/model.analytics.fct_orders.v2">analytics.fct_orders v2</a>' in html
        assert "days_as_customer_at_purchase" in html and "not_null" in html
        assert 'id="lineage-graph-data"' in html and 'type="application/json"' in html

        status, _, html = get(server.url + "/nodes/model.analytics.fct_orders.v1")
        assert "access-public" in html and "contract enforced" in html
        assert re.search(r'data-version="1".*?past-date.*?deprecated', html, re.S)
        assert re.search(r'data-version="2".*?latest', html, re.S)
        assert "<code>integer</code>" in html                # contract types when no catalog.json

        status, _, html = get(server.url + f"/lineage/{AGG}?up=all&down=all")
        assert status == 200 and "analytics.jaffle_shop.orders" in html

        status, _, html = get(server.url + "/search?q=payment")
        assert status == 200
        first = re.search(r'class="result-title" href="([^"]+)"', html).group(1)
        assert first == f"/nodes/{AGG}"


def test_json_api(built_mesh):
    with serve(built_mesh) as server:
        overview = get_json(server.url + "/api/overview")
        assert overview["counts"]["models"] == 6 and overview["counts"]["contracts"] == 2
        assert overview["project_edges"] == [{"source": "analytics", "target": "finance",
                                              "count": 1, "bidirectional": False}]
        node = get_json(server.url + "/api/nodes/analytics.fct_orders")       # finds the latest
        assert node["id"] == "model.analytics.fct_orders.v2" and node["access"] == "public"
        assert [(v["version"], v["is_latest"], v["deprecated"]) for v in node["versions"]] == \
            [("1", False, True), ("2", True, False)]
        assert node["used_by"] == ["finance"]

        lineage = get_json(server.url + f"/api/lineage/{AGG}?up=all&down=0&access=public")
        shown = {n["id"] for n in lineage["nodes"]}
        assert shown == {AGG, "model.analytics.fct_orders.v2"}
        assert lineage["filters"]["access"] == ["public"] and lineage["hidden"] > 0
        assert all(isinstance(n["x"], float) for n in lineage["nodes"])

        found = get_json(server.url + "/api/search?q=payment&types=model")
        assert found["hits"][0]["id"] == AGG and found["total"] == 2
        assert get_json(server.url + "/api/projects")[0]["name"] == "analytics"
        version = get_json(server.url + "/api/version")
        assert set(version["projects"]) == {"analytics", "finance"}


def test_internal_packages_of_mesh_yml_with_the_projects_that_install_them(built_mesh, tmp_path):
    run(["meshkit", "new", "package", "spare_utils"], cwd=built_mesh)      # installed nowhere yet
    mesh = load_mesh(built_mesh / "mesh.yml")
    with serve(built_mesh, settings={"mesh": mesh}) as server:
        assert get_json(server.url + "/api/overview")["packages"] == [
            {"name": "mesh_utils", "path": "packages/mesh_utils", "installed_by": ["finance"]},
            {"name": "spare_utils", "path": "packages/spare_utils", "installed_by": []}]
        _, _, html = get(server.url + "/")
        assert re.search(r'<strong>mesh_utils</strong></td><td><code>packages/mesh_utils</code></td>'
                         r'\s*<td><a href="/projects/finance">finance</a></td>', html)
        assert re.search(r'<strong>spare_utils</strong>.*?no project yet', html, re.S)
        _, _, html = get(server.url + "/projects/finance")
        assert "<h3>Internal packages</h3>" in html and "<code>packages/mesh_utils</code>" in html
        _, _, html = get(server.url + "/projects/analytics")
        assert "Internal packages" not in html
    with serve(built_mesh) as server:              # without a mesh.yml: no packages section
        _, _, html = get(server.url + "/")
        assert "Internal packages" not in html

    catalog = load_catalog(Store(str(built_mesh / ".meshkit" / "store")), "prod")
    generate_site(catalog, tmp_path / "site", packages=package_views(mesh))
    html = (tmp_path / "site" / "index.html").read_text()
    assert '<td><a href="projects/finance.html">finance</a></td>' in html


def test_security_headers_not_found_and_redirects(built_mesh):
    with serve(built_mesh) as server:
        status, headers, _ = get(server.url + "/")
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert headers["x-content-type-options"] == "nosniff"
        status, _, html = get(server.url + "/nodes/model.nope.nothing%3Cscript%3E")
        assert status == 404 and "<script>" not in html.split("<main>")[1]
        assert get(server.url + "/api/nodes/model.nope.x")[0] == 404
        assert get(server.url + "/projects/nope")[0] == 404
        assert get(server.url + "/no/such/page")[0] == 404
        request = urllib.request.Request(server.url + "/nodes/finance.agg_customer_payment_journey")
        with urllib.request.urlopen(request) as response:        # follows the redirect
            assert response.url.endswith(f"/nodes/{AGG}")


def test_bearer_token_guards_acting_endpoints(built_mesh):
    with serve(built_mesh) as server:                 # no token configured: closed
        assert get(server.url + "/api/refresh", method="POST")[0] == 403
    with serve(built_mesh, token="s3cret") as server:
        assert get(server.url + "/api/refresh", method="POST")[0] == 401
        wrong = {"Authorization": "Bearer nope"}
        assert get(server.url + "/api/refresh", method="POST", headers=wrong)[0] == 401
        status, _, body = get(server.url + "/api/refresh", method="POST",
                              headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and json.loads(body)["changed"] is False
        assert get(server.url + "/api/version")[0] == 200          # reading needs no token


def test_other_modules_add_routes(built_mesh):
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from meshkit.web.auth import requires_token

    def trigger(request):
        return JSONResponse({"queued": request.path_params["name"]})

    source = CatalogSource(Store(str(built_mesh / ".meshkit" / "store")), "prod", interval=0)
    routes = [Route("/api/jobs/{name}/run", requires_token(trigger), methods=["POST"])]
    with BackgroundServer(create_app(source, routes=routes, auth=BearerAuth("t"))) as server:
        status, _, body = get(server.url + "/api/jobs/nightly/run", method="POST",
                              headers={"Authorization": "Bearer t"})
        assert status == 200 and json.loads(body) == {"queued": "nightly"}
        assert get(server.url + "/")[0] == 200


def test_catalog_refreshes_when_a_project_publishes(built_mesh):
    with serve(built_mesh, interval=0.3) as server:
        before = get_json(server.url + "/api/version")
        run_id = republish_finance(built_mesh, "Payment journey, **rebuilt** after a publish.")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            after = get_json(server.url + "/api/version")
            if after["projects"]["finance"] == run_id:
                break
            time.sleep(0.2)
        assert after["projects"]["finance"] == run_id != before["projects"]["finance"]
        assert after["version"] != before["version"]
        assert after["projects"]["analytics"] == before["projects"]["analytics"]
        _, _, html = get(server.url + f"/nodes/{AGG}")
        assert "<strong>rebuilt</strong>" in html


def test_markdown_and_inline_rendering_neutralise_html():
    html = str(render_markdown('Hi <script>alert(1)</script> <img src=x onerror="alert(2)">\n\n'
                               '[a](javascript:alert(3)) [b](https://example.com) **ok**'))
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.split("[a]")[0]
    assert 'href="https://example.com"' in html and "<strong>ok</strong>" in html
    assert 'href="javascript' not in html
    inline = str(render_inline('<svg onload="alert(4)"> *x*'))
    assert "<svg" not in inline and "<em>x</em>" in inline


def test_remote_images_load_only_where_the_mesh_opts_in(tmp_path):
    """A tracking pixel in a description: shown as a link, and the CSP refuses remote images,
    unless mesh.yml's catalog.remote_images allows them (served and static alike)."""
    import html as html_text
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_catalog_cli import static_page
    from test_catalog_model import _model, _state

    from meshkit.catalog.index import catalog_from_states

    pixel = "https://tracker.example/p.gif"
    node = _model("sales", "orders", description=f"Orders ![pixel]({pixel}) and ![logo](logo.png)")
    catalog = catalog_from_states([_state("sales", [node])])
    for allowed, shown in (((), False), (("https://tracker.example",), True), (("https:",), True)):
        with BackgroundServer(create_app(CatalogSource.fixed(catalog), poll=False,
                                         settings={"remote_images": allowed})) as server:
            _, headers, html = get(server.url + "/nodes/model.sales.orders")
        images = re.search(r"img-src ([^;]*)", headers["content-security-policy"]).group(1)
        assert (f'<img src="{pixel}"' in html) is shown and '<img src="logo.png"' in html
        assert ("https:" in images or "tracker.example" in images) is shown
        if not shown:
            assert f'<a href="{pixel}"' in html and "image: pixel" in html
        out = tmp_path / f"site-{len(allowed)}-{shown}"
        generate_site(catalog, out, workers=1, remote_images=allowed)
        main = static_page(out, "model.sales.orders")
        assert (f'<img src="{pixel}"' in main) is shown and '<img src="logo.png"' in main
        page = (out / "node.html").read_text()
        meta = html_text.unescape(
            re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1))
        assert ("tracker.example" in meta or "https:" in meta.split("img-src")[1].split(";")[0]) is shown
