"""The catalog in a real headless Chromium (Debian's, driven by Playwright's Python package).

The quickstart's last step, Explorer's cross-project lineage, done the way a person does it:
search "payment", open the finance model, see analytics' fct_orders upstream in the drawn
lineage, click it, and read its public badge and versions. Also: the static folder opened
from disk, lineage filters, the project graph, a column's lineage expanded on its model page
and drawn as a graph, and descriptions carrying script payloads.

Set MESHKIT_SCREENSHOTS=DIR to save screenshots of the main pages there
(docs/screenshots/ holds the ones the README shows).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run
from test_web_app import AGG, republish_finance, serve

CHROMIUM = os.environ.get("MESHKIT_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FCT_V2 = "model.analytics.fct_orders.v2"
RAW_ORDERS = "source.analytics.jaffle_shop.orders"
SHOTS = os.environ.get("MESHKIT_SCREENSHOTS")

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM}")]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Watched:
    """A page whose script errors, console errors and dialogs are recorded."""

    def __init__(self, browser, width: int = 1400, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def graph_ready(self, graph: str = "lineage-graph") -> None:
        self.page.wait_for_selector(f"#{graph}[data-ready]", state="attached", timeout=15_000)

    def graph_nodes(self, graph: str = "lineage-graph") -> dict[str, str]:
        return dict(self.page.evaluate(
            "g => window.meshkitGraphs[g].nodes().map(n => [n.id(), n.data('label')])", graph))

    def click_node(self, node_id: str, graph: str = "lineage-graph") -> None:
        """Click a node where cytoscape drew it on the canvas."""
        self.page.locator(f"#{graph}").scroll_into_view_if_needed()
        x, y = self.page.evaluate(
            """([g, id]) => {
                 const cy = window.meshkitGraphs[g];
                 const p = cy.getElementById(id).renderedPosition();
                 const box = cy.container().getBoundingClientRect();
                 return [box.left + p.x, box.top + p.y];
               }""", [graph, node_id])
        self.page.mouse.click(x, y)

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.wait_for_timeout(300)
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_quickstart_search_lineage_and_versions(built_mesh, browser):
    with serve(built_mesh) as server:
        w = Watched(browser)
        page = w.page
        page.goto(server.url + "/")
        w.graph_ready("project-graph")
        w.shot("overview")
        page.fill("#search-box", "payment")
        page.press("#search-box", "Enter")
        page.wait_for_url("**/search?q=payment")
        results = page.locator("a.result-title")
        expect(results.first).to_have_text("finance.agg_customer_payment_journey")
        w.shot("search")
        results.first.click()
        page.wait_for_url(f"**/nodes/{AGG}")
        w.graph_ready()
        nodes = w.graph_nodes()
        assert FCT_V2 in nodes and nodes[FCT_V2].startswith("analytics.fct_orders")
        expect(page.locator("#upstream")).to_contain_text("analytics.fct_orders v2")
        w.shot("model")

        w.click_node(FCT_V2)                                 # follow it, on the drawing
        page.wait_for_url(f"**/nodes/{FCT_V2}")
        expect(page.locator("#node-badges .access-public")).to_have_text("public")
        expect(page.locator("#node-badges")).to_contain_text("contract enforced")
        expect(page.locator("#versions tbody tr")).to_have_count(2)
        v1 = page.locator('#versions tr[data-version="1"]')
        v2 = page.locator('#versions tr[data-version="2"]')
        expect(v1).to_contain_text("deprecated")
        expect(v1).to_contain_text("2024-06-30")
        red = v1.locator(".past-date").evaluate("e => getComputedStyle(e).color")
        assert red == "rgb(185, 28, 28)"
        expect(v2).to_contain_text("latest")
        expect(page.locator("#downstream")).to_contain_text("finance.agg_customer_payment_journey")
        w.shot("public-model")
        assert not w.problems and not w.dialogs


def test_lineage_page_depth_filters_and_click(built_mesh, browser):
    with serve(built_mesh) as server:
        w = Watched(browser)
        page = w.page
        page.goto(server.url + "/lineage/model.analytics.stg_orders?up=all&down=all")
        w.graph_ready()
        assert {AGG, FCT_V2, "model.analytics.fct_orders.v1"} <= set(w.graph_nodes())
        w.shot("lineage")
        page.goto(server.url + f"/lineage/{AGG}")
        w.graph_ready()
        assert len(w.graph_nodes()) == 6                      # 2 up, 0 down (nothing downstream)
        page.select_option('select[name="up"]', "all")
        page.check('input[name="access"][value="public"]')
        page.click("#lineage-controls button[type=submit]")
        page.wait_for_url("**access=public**")
        w.graph_ready()
        assert set(w.graph_nodes()) == {AGG, FCT_V2}
        expect(page.locator("#lineage-summary")).to_contain_text("hidden by the filters")
        w.click_node(FCT_V2)
        page.wait_for_url(f"**/nodes/{FCT_V2}")
        assert not w.problems


def test_project_graph_opens_projects(built_mesh, browser):
    with serve(built_mesh) as server:
        w = Watched(browser)
        w.page.goto(server.url + "/")
        w.graph_ready("project-graph")
        edges = w.page.evaluate(
            "() => window.meshkitGraphs['project-graph'].edges().map(e => [e.source().id(), e.target().id(), e.data('label')])")
        assert edges == [["analytics", "finance", "1"]]
        w.click_node("finance", "project-graph")
        w.page.wait_for_url("**/projects/finance")
        expect(w.page.locator("main")).to_contain_text("Upstream projects")
        w.shot("project")
        assert not w.problems


COLUMN_FACTS = """g => {
  const cy = window.meshkitGraphs[g];
  const inside = (a, b) => a.x1 >= b.x1 && a.x2 <= b.x2 && a.y1 >= b.y1 && a.y2 <= b.y2;
  const bands = cy.nodes('.project-band');
  return {
    columns: Object.fromEntries(cy.nodes('.column').map(n => [n.id(), [n.parent().id(),
      bands.filter(b => inside(n.parent().boundingBox(), b.boundingBox())).map(b => b.id()),
      n.hasClass('centre')]])),
    edges: cy.edges().map(e => [e.source().id(), e.target().id(), e.data('label'),
                               e.style('line-color').replace(/ /g, ''), e.style('line-style')]),
    bands: bands.map(b => [b.id(), b.boundingBox().y1, b.boundingBox().y2]),
  };
}"""
GREEN, ORANGE, GREY = "rgb(5,150,105)", "rgb(217,119,6)", "rgb(148,163,184)"


def test_column_lineage_on_the_model_page_and_as_a_graph(built_mesh, browser):
    """finance's days_as_customer_at_purchase drawn through analytics.fct_orders v2 to the raw
    orders column, with the lens of each step; depth controls; links to the model pages."""
    agg_days, fct_days = f"{AGG}|days_as_customer_at_purchase", f"{FCT_V2}|days_as_customer_at_purchase"
    stg_date, raw_date = "model.analytics.stg_orders|order_date", f"{RAW_ORDERS}|order_date"
    with serve(built_mesh) as server:
        w = Watched(browser)
        page = w.page
        page.goto(server.url + f"/nodes/{AGG}")
        details = page.locator('details.column-lineage[data-column="total_amount"]')
        upstream = details.locator(".upstream")
        expect(upstream).to_be_hidden()
        details.locator("summary").click()
        expect(upstream).to_be_visible()
        expect(upstream).to_contain_text("finance.stripe.payment.amount")
        expect(details.locator("summary")).to_contain_text("transformed · aggregate")

        days = page.locator('details.column-lineage[data-column="days_as_customer_at_purchase"]')
        days.locator("a.column-graph-link").click()            # each column links its graph
        page.wait_for_url(f"**/columns/{AGG}/days_as_customer_at_purchase")
        w.graph_ready("column-graph")
        facts = w.page.evaluate(COLUMN_FACTS, "column-graph")
        columns = facts["columns"]
        # grouped: each column in its model's box, each model's box on its project's band
        assert columns[agg_days] == [AGG, ["project:finance"], True]
        assert columns[fct_days] == [FCT_V2, ["project:analytics"], False]
        assert columns[raw_date] == [RAW_ORDERS, ["project:analytics"], False]
        assert all(len(bands) == 1 for _, bands, _ in columns.values())
        (_, a_top, a_bottom), (_, f_top, f_bottom) = facts["bands"]
        assert a_bottom < f_top or f_bottom < a_top              # project bands never overlap
        drawn = {(s, t): (label, colour, style) for s, t, label, colour, style in facts["edges"]}
        assert drawn[(raw_date, stg_date)] == ("passthrough", GREEN, "solid")
        assert drawn[(stg_date, fct_days)] == ("transformed · expression", ORANGE, "solid")
        assert drawn[(fct_days, agg_days)] == ("passthrough", GREEN, "solid")
        assert drawn[(f"{FCT_V2}|order_id", agg_days)] == ("rows", GREY, "dashed")
        expect(page.locator("#column-graph-summary")).to_contain_text("passthrough")
        expect(page.locator("#not-traced")).to_have_count(0)     # everything here resolved
        w.shot("column-lineage")

        page.select_option('#column-graph-controls select[name="up"]', "1")
        page.click("#column-graph-controls button[type=submit]")
        page.wait_for_url("**up=1**")
        w.graph_ready("column-graph")
        assert set(page.evaluate(COLUMN_FACTS, "column-graph")["columns"]) == {
            agg_days, fct_days, f"{FCT_V2}|order_id", "model.finance.stg_payments|order_id"}

        w.click_node(fct_days, "column-graph")                  # a column opens its model page
        page.wait_for_url(f"**/nodes/{FCT_V2}#column-days_as_customer_at_purchase")
        expect(page.locator("#column-days_as_customer_at_purchase")).to_be_visible()
        expect(page.locator("#columns")).to_contain_text(
            "inherited from analytics.stg_orders.order_id")
        assert not w.problems, w.problems


def test_static_catalog_from_disk(built_mesh, browser, tmp_path):
    out = tmp_path / "site"
    run(["meshkit", "docs", "generate", "--out", str(out)], cwd=built_mesh)
    w = Watched(browser)
    page = w.page
    page.goto((out / "index.html").as_uri())
    w.graph_ready("project-graph")
    page.fill("#search-box", "payment")
    page.press("#search-box", "Enter")
    page.wait_for_selector("html[data-search-ready]", state="attached")
    results = page.locator("a.result-title")
    expect(results.first).to_have_text("finance.agg_customer_payment_journey")
    results.first.click()
    page.wait_for_url(f"**/node.html?id={AGG}")
    w.graph_ready()
    w.click_node(FCT_V2)
    page.wait_for_url(f"**/node.html?id={FCT_V2}")
    expect(page.locator("#node-badges .access-public")).to_have_text("public")
    expect(page.locator('#versions tr[data-version="1"]')).to_contain_text("deprecated")
    page.click("text=Open lineage")
    page.wait_for_url(f"**/lineage.html?id={FCT_V2}")
    w.graph_ready()
    assert AGG in w.graph_nodes()
    assert not w.problems


PAYLOADS = """Journey <script>window.__xss = 'script'; alert('script')</script> end.
<img src="x" onerror="window.__xss = 'img'; alert('img')">
[click me](javascript:window.__xss='link') and <a href="javascript:alert('a')">raw link</a>
<iframe srcdoc="<script>parent.__xss='iframe'</script>"></iframe>
{{ doc("journey_notes") }}"""

DOC_BLOCK = """{% docs journey_notes %}
**Bold from a doc block**, and <svg onload="window.__xss = 'svg'; alert('svg')"></svg> inside it.
{% enddocs %}
"""


def test_script_payloads_in_descriptions_never_run(built_mesh, browser, tmp_path):
    docs = built_mesh / "finance" / "models" / "core" / "docs.md"
    docs.write_text(DOC_BLOCK)
    yml = built_mesh / "finance" / "models" / "core" / "core.yml"
    yml.write_text(yml.read_text().replace(
        'description: "Days between the purchase',
        'description: "<img src=x onerror=\\"window.__xss=1\\"> Days between the purchase'))
    republish_finance(built_mesh, PAYLOADS)
    out = tmp_path / "site"
    run(["meshkit", "docs", "generate", "--out", str(out)], cwd=built_mesh)
    with serve(built_mesh) as server:
        for url in (server.url + f"/nodes/{AGG}", (out / "node.html").as_uri() + f"?id={AGG}",
                    server.url + "/search?q=journey", server.url + f"/lineage/{AGG}"):
            w = Watched(browser)
            page = w.page
            page.goto(url)
            page.wait_for_load_state("load")
            if "node.html" in url:
                page.wait_for_selector("html[data-page-ready]", state="attached")
            page.wait_for_timeout(400)
            assert page.evaluate("() => window.__xss") is None, url
            assert not w.dialogs, url
            assert not w.problems, (url, w.problems)
            if "/nodes/" in url or "node.html" in url:
                description = page.locator("#description")
                expect(description).to_contain_text("<script>window.__xss")   # shown as text
                expect(description.locator("strong")).to_have_text("Bold from a doc block")
                assert description.locator("img, svg, iframe, script").count() == 0
                assert page.locator('a[href^="javascript"]').count() == 0
                expect(page.locator("#columns")).to_contain_text('<img src=x onerror="window.__xss=1">')
