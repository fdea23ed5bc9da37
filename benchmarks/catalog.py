"""The mesh catalog at scale, against `dbt docs` measured in the same run.

    python benchmarks/catalog.py                 # 10,000 models in 30 projects; dbt docs on 1,000
    python benchmarks/catalog.py --quick         # 1,200 models in 8 projects; dbt docs on 150
    python benchmarks/catalog.py --skip-dbt-docs # meshkit only

What it does (everything under benchmarks/.work/catalog/, results in benchmarks/results/catalog.json):

1. Generates a mesh of N models in P projects as dbt artifacts (manifest.json and
   run_results.json, dbt 1.11 schema v12) and publishes each project to a meshkit store with
   meshkit's own `publish_artifacts`. Each project has sources, staging, intermediate,
   public "base" marts (contracts, a few with two versions) and leaf marts that read other
   projects' public models, so projects depend on each other in both directions. One public
   model, `fct_hub`, has 50 parents and 150 children in other projects: its lineage one
   step up and down has 200 neighbours. Every model has eight documented columns and two tests.
2. Times loading the store into a catalog (decode + index), and `meshkit docs generate`,
   and reports the static site's size (target: at most 40 MB at 10,000 models) and files.
3. Serves the catalog (`meshkit.web`) and opens pages in headless Chromium, each in a fresh
   browser context (cold cache): the overview, a model page, and the hub's lineage page.
   It reports first contentful paint, and for graphs the moment cytoscape finished drawing.
4. Times search: in process (the index) and over HTTP (/api/search), p50/p95/max.
5. dbt docs, same run: a real dbt project of M models on DuckDB (`dbt run`, then
   `dbt docs generate`, timed), its page served over HTTP and opened in the same Chromium
   (first paint, and until a model's page shows its name); and meshkit on that same project
   (published, docs generate, its model page).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "catalog"
RESULTS = HERE / "results" / "catalog.json"
CHROMIUM = os.environ.get("MESHKIT_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DOMAINS = ["finance", "marketing", "sales", "operations", "product", "support", "logistics",
           "billing", "growth", "risk", "hr", "legal", "procurement", "inventory", "pricing",
           "fraud", "payments", "identity", "search", "ads", "content", "mobile", "web",
           "partners", "compliance", "treasury", "tax", "crm", "analytics", "platform"]
COLUMNS = [("customer_id", "integer", "The customer who placed the order."),
           ("order_id", "integer", "Primary key of an order."),
           ("amount", "numeric", "Amount paid, in cents."),
           ("payment_method", "varchar", "credit_card, coupon, bank_transfer or gift_card."),
           ("created_at", "timestamp", "When the row was created in the source system."),
           ("status", "varchar", "One of placed, shipped, completed, returned."),
           ("region", "varchar", "Sales region of the customer."),
           ("is_active", "boolean", "Whether the account is active."),
           ("updated_at", "timestamp", "Last change in the source system."),
           ("currency", "varchar", "ISO currency code."),
           ("quantity", "integer", "Number of items."),
           ("channel", "varchar", "Acquisition channel.")]
TAGS = ["pii", "daily", "hourly", "finance", "core", "experimental", "certified"]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# -- 1. a generated mesh, published -----------------------------------------------------
def _columns(rng: random.Random, typed: bool) -> dict:
    chosen = rng.sample(COLUMNS, 8)
    return {name: {"name": name, "description": text, "data_type": kind if typed else None,
                   "meta": {}, "tags": [], "constraints": [], "quote": None}
            for name, kind, text in chosen}


def _node(project: str, name: str, parents: list[str], rng: random.Random, *, access="protected",
          materialized="view", group=None, version=None, latest=None, deprecation=None,
          contract=False, layer="staging") -> dict:
    uid = f"model.{project}.{name}" + (f".v{version}" if version is not None else "")
    relation = f'"{project}"."prod"."{name}{f"_v{version}" if version else ""}"'
    sql_refs = "\n".join(f"  left join {{{{ ref('{p.split('.')[2]}') }}}} using (order_id)"
                         for p in parents[1:]) if parents else ""
    raw = f"select *\nfrom {{{{ ref('{parents[0].split('.')[2]}') if parents else 'raw' }}}}\n{sql_refs}"
    return {
        "unique_id": uid, "resource_type": "model", "package_name": project, "name": name,
        "path": f"{layer}/{name}.sql", "original_file_path": f"models/{layer}/{name}.sql",
        "schema": "prod", "database": project, "alias": name, "relation_name": relation,
        "fqn": [project, layer, name], "access": access, "group": group, "version": version,
        "latest_version": latest, "deprecation_date": deprecation,
        "description": (f"{name.replace('_', ' ').capitalize()}: the {layer} layer of the "
                        f"{project} domain. Built daily from {len(parents)} upstream models; "
                        f"owned by the {project} team. See the column docs for grain and keys."),
        "meta": {"owner": f"{project}-team"}, "tags": rng.sample(TAGS, rng.randint(0, 2)),
        "columns": _columns(rng, contract), "constraints": [],
        "config": {"enabled": True, "materialized": materialized, "access": access,
                   "group": group, "contract": {"enforced": contract, "alias_types": True},
                   "tags": [], "meta": {}, "persist_docs": {}, "on_schema_change": "ignore"},
        "depends_on": {"nodes": parents, "macros": []},
        "checksum": {"name": "sha256", "checksum": f"{rng.getrandbits(128):032x}"},
        "raw_code": raw, "compiled_code": raw.replace("{{", "").replace("}}", ""),
        "language": "sql", "patch_path": f"{project}://models/{layer}/_{layer}.yml",
    }


def _test(project: str, model: dict, column: str, kind: str) -> dict:
    uid = f"test.{project}.{kind}_{model['name']}_{column}.{abs(hash(model['unique_id'])) % 10**10:010d}"
    return {"unique_id": uid, "resource_type": "test", "package_name": project,
            "name": f"{kind}_{model['name']}_{column}", "original_file_path": model["patch_path"],
            "schema": "prod_dbt_test__audit", "config": {"enabled": True, "severity": "ERROR",
                                                          "materialized": "test"},
            "depends_on": {"nodes": [model["unique_id"]], "macros": []},
            "attached_node": model["unique_id"], "column_name": column,
            "test_metadata": {"name": kind, "kwargs": {"column_name": column}},
            "raw_code": "{{ test_" + kind + "(**_dbt_generic_test_kwargs) }}"}


def generate_mesh(models: int, projects: int, seed: int = 42) -> dict[str, dict]:
    """Manifests (as dicts) of `projects` projects with `models` models in all."""
    rng = random.Random(seed)
    names = [DOMAINS[i] if i < len(DOMAINS) else f"domain_{i:02d}" for i in range(projects)]
    per = [models // projects + (1 if i < models % projects else 0) for i in range(projects)]
    manifests: dict[str, dict] = {}
    public_base: dict[str, list[str]] = {}
    plans = {}
    for index, project in enumerate(names):
        count = per[index]
        n_stg = count * 25 // 100
        n_int = count * 35 // 100
        n_base = max(4, count * 10 // 100)
        n_leaf = count - n_stg - n_int - n_base
        plans[project] = (n_stg, n_int, n_base, n_leaf)
        public_base[project] = []
    # Public base marts are known before leaf marts pick cross-project parents.
    nodes_by_project: dict[str, dict[str, dict]] = {p: {} for p in names}
    sources_by_project: dict[str, dict[str, dict]] = {p: {} for p in names}
    for index, project in enumerate(names):
        n_stg, n_int, n_base, _ = plans[project]
        nodes = nodes_by_project[project]
        sources = sources_by_project[project]
        for s in range(8):
            uid = f"source.{project}.raw.table_{s}"
            sources[uid] = {"unique_id": uid, "package_name": project, "name": f"table_{s}",
                            "source_name": "raw", "schema": "raw", "database": "raw",
                            "identifier": f"table_{s}", "relation_name": f'"raw"."raw"."table_{s}"',
                            "original_file_path": "models/staging/_sources.yml",
                            "description": f"Raw table {s} of the {project} system.",
                            "source_description": "Loaded by the ingestion tool.", "loader": "fivetran",
                            "columns": {}, "meta": {}, "tags": []}
        staging = []
        for i in range(n_stg):
            node = _node(project, f"stg_{project}__entity_{i:03d}", [rng.choice(list(sources))], rng)
            nodes[node["unique_id"]] = node
            staging.append(node["unique_id"])
        inter = []
        for i in range(n_int):
            pool = staging + inter
            parents = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
            node = _node(project, f"int_{project}__step_{i:03d}", parents, rng, layer="intermediate")
            nodes[node["unique_id"]] = node
            inter.append(node["unique_id"])
        group = f"{project}_core"
        for i in range(n_base):
            name = f"fct_{project}_{i:03d}"
            parents = rng.sample(inter, min(len(inter), rng.randint(1, 3)))
            if index == 0 and i == 0:
                name = "fct_hub"
                parents = inter[:50]
            if 1 <= i <= 3:   # two versions, v1 deprecated in the past
                for version, deprecation in ((1, "2024-06-30T00:00:00+00:00"), (2, None)):
                    node = _node(project, name, parents, rng, access="public", materialized="table",
                                 group=group, version=version, latest=2, deprecation=deprecation,
                                 contract=True, layer="marts")
                    nodes[node["unique_id"]] = node
                public_base[project].append(f"model.{project}.{name}.v2")
            else:
                node = _node(project, name, parents, rng, access="public", materialized="table",
                             group=group, contract=True, layer="marts")
                nodes[node["unique_id"]] = node
                public_base[project].append(node["unique_id"])
    hub = f"model.{names[0]}.fct_hub"
    hub_children = 0
    for index, project in enumerate(names):
        n_stg, n_int, n_base, n_leaf = plans[project]
        nodes = nodes_by_project[project]
        inter = [u for u in nodes if ".int_" in u]
        upstream = rng.sample([p for p in names if p != project], min(3, len(names) - 1))
        for i in range(n_leaf):
            parents = rng.sample(inter, min(len(inter), rng.randint(1, 2)))
            if rng.random() < 0.3:
                for other in rng.sample(upstream, rng.randint(1, 2)):
                    choices = [u for u in public_base[other] if u != hub]
                    parents.append(rng.choice(choices))
            if project != names[0] and hub_children < 150 and i % max(1, n_leaf // 6) == 0:
                parents.append(hub)
                hub_children += 1
            node = _node(project, f"{project}_mart_{i:03d}", parents, rng,
                         materialized=rng.choice(["table", "view", "incremental"]),
                         layer="marts", group=f"{project}_core" if i % 3 == 0 else None)
            nodes[node["unique_id"]] = node
    while hub_children < 150:        # top up when projects are few (--quick)
        project = names[1 + hub_children % (len(names) - 1)]
        node = _node(project, f"{project}_hub_reader_{hub_children:03d}", [hub], rng, layer="marts")
        nodes_by_project[project][node["unique_id"]] = node
        hub_children += 1
    for index, project in enumerate(names):
        nodes = nodes_by_project[project]
        tests = {}
        for node in list(nodes.values()):
            first = next(iter(node["columns"]))
            for kind in ("not_null", "unique"):
                test = _test(project, node, first, kind)
                tests[test["unique_id"]] = test
        nodes.update(tests)
        # Injected copies of the upstream public models this project reads (as the plugin does).
        for node in list(nodes.values()):
            for parent in node["depends_on"]["nodes"]:
                owner = parent.split(".")[1]
                if parent.startswith("model.") and owner != project and parent not in nodes:
                    source_node = nodes_by_project[owner][parent]
                    nodes[parent] = {**source_node, "original_file_path": "", "path": "",
                                     "raw_code": "", "compiled_code": None}
        manifests[project] = {
            "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                         "dbt_version": "1.11.16", "project_name": project,
                         "generated_at": "2026-01-01T00:00:00Z",
                         "invocation_id": f"{rng.getrandbits(64):016x}", "adapter_type": "duckdb"},
            "nodes": nodes, "sources": sources_by_project[project], "exposures": {},
            "groups": {f"group.{project}.{project}_core": {
                "unique_id": f"group.{project}.{project}_core", "name": f"{project}_core",
                "package_name": project, "original_file_path": "models/groups.yml",
                "owner": {"name": f"{project.capitalize()} team", "email": f"{project}@example.com"}}},
            "docs": {}, "macros": {}, "metrics": {}, "semantic_models": {},
        }
    return manifests


def run_results(manifest: dict) -> dict:
    results = []
    for uid, node in manifest["nodes"].items():
        if not node.get("original_file_path"):
            continue
        status = "pass" if node["resource_type"] == "test" else "success"
        results.append({"unique_id": uid, "status": status, "execution_time": 0.05,
                        "message": "OK", "failures": 0 if status == "pass" else None,
                        "thread_id": "Thread-1", "adapter_response": {},
                        "timing": [{"name": "execute", "started_at": "2026-01-01T00:00:00Z",
                                    "completed_at": "2026-01-01T00:00:01Z"}]})
    return {"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                         "dbt_version": "1.11.16", "generated_at": "2026-01-01T00:05:00Z",
                         "invocation_id": manifest["metadata"]["invocation_id"]},
            "results": results, "elapsed_time": 60.0, "args": {"which": "build"}}


def publish_generated(manifests: dict[str, dict], root: Path) -> str:
    from meshkit.store.publish import publish_artifacts
    from meshkit.store.store import Store

    store_dir = root / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    store = Store(str(store_dir))
    for project, manifest in manifests.items():
        target = root / "projects" / project / "target"
        target.mkdir(parents=True, exist_ok=True)
        (target / "manifest.json").write_text(json.dumps(manifest))
        (target / "run_results.json").write_text(json.dumps(run_results(manifest)))
        publish_artifacts(store, target, "prod", project_dir=target.parent)
    return str(store_dir)


# -- 3. pages in Chromium ------------------------------------------------------------------
PAINT_JS = """() => {
  const paints = performance.getEntriesByType('paint');
  const fcp = paints.find(e => e.name === 'first-contentful-paint');
  const nav = performance.getEntriesByType('navigation')[0];
  return {fcp_ms: fcp ? fcp.startTime : null, dom_content_loaded_ms: nav.domContentLoadedEventEnd,
          load_ms: nav.loadEventEnd, drawn_ms: window.meshkitDrawnAt || null,
          transfer_kb: nav.transferSize / 1024};
}"""


def measure_page(browser, url: str, repeat: int, ready: str | None = None,
                 ready_arg=None) -> dict:
    samples = []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="load", timeout=120_000)
        if ready:
            page.wait_for_function(ready, arg=ready_arg, timeout=120_000, polling=20)
        ready_ms = (time.perf_counter() - started) * 1000
        page.wait_for_function("() => performance.getEntriesByType('paint').some("
                               "e => e.name === 'first-contentful-paint')", timeout=30_000)
        sample = page.evaluate(PAINT_JS)
        sample["ready_ms"] = ready_ms
        samples.append(sample)
        context.close()
    keys = samples[0].keys()
    return {k: round(statistics.median(s[k] for s in samples), 1)
            for k in keys if all(s[k] is not None for s in samples)}


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(statistics.median(ordered), 3), "p95_ms": round(pick(0.95), 3),
            "max_ms": round(ordered[-1], 3), "n": len(ordered)}


SEARCHES = ["payment", "customer", "fct_hub", "pay", "order status", "region -stg",
            "finance_mart_010", "created_at", "certified", "amount currency", "stg",
            "int_sales", "\"the marts layer\"", "hub reader", "marketing mart", "is_active"]


def bench_meshkit_mesh(args, report: dict) -> None:
    from meshkit.catalog.lineage import lineage_view
    from meshkit.catalog.live import CatalogSource, load_catalog, warm
    from meshkit.catalog.search import SearchFilters, search
    from meshkit.store.store import Store
    from meshkit.web.app import create_app
    from meshkit.web.server import BackgroundServer
    from meshkit.web.static_site import generate_site
    from playwright.sync_api import sync_playwright

    root = WORK / "mesh"
    log(f"generating {args.models} models in {args.projects} projects")
    started = time.perf_counter()
    manifests = generate_mesh(args.models, args.projects)
    store_url = publish_generated(manifests, root)
    sizes = sum(p.stat().st_size for p in (root / "projects").rglob("manifest.json"))
    report["mesh"] = {"models": args.models, "projects": args.projects,
                      "nodes_incl_tests": sum(len(m["nodes"]) for m in manifests.values()),
                      "manifest_mb": round(sizes / 2**20, 1),
                      "generate_and_publish_s": round(time.perf_counter() - started, 1)}
    log(f"published: {report['mesh']}")

    started = time.perf_counter()
    catalog = load_catalog(Store(store_url), "prod", mesh_name="bench-mesh")
    loaded = time.perf_counter()
    warm(catalog)
    warmed = time.perf_counter()
    import gc

    gc.collect()
    gc.freeze()              # as CatalogSource does for a served catalog
    report["catalog_load"] = {"decode_and_graph_s": round(loaded - started, 2),
                              "search_index_and_project_graph_s": round(warmed - loaded, 2),
                              "total_s": round(warmed - started, 2)}
    log(f"catalog: {report['catalog_load']}")

    out = root / "site"
    shutil.rmtree(out, ignore_errors=True)
    fresh = load_catalog(Store(store_url), "prod", mesh_name="bench-mesh")
    site = generate_site(fresh, out)
    files = [p for p in out.rglob("*") if p.is_file()]
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    report["static_site"] = {"seconds": round(site.seconds, 1), "pages": site.pages,
                             "workers": site.workers, "size_mb": round(size_mb, 1),
                             "files": len(files),
                             "resource_pages_mb": round(sum(
                                 p.stat().st_size for p in (out / "data").glob("*.js")) / 2**20, 1),
                             "search_index_mb": round((out / "search-index.js").stat().st_size / 2**20, 1)}
    log(f"docs generate: {report['static_site']}")

    hub = next(n for n in catalog.graph.nodes if n.endswith(".fct_hub"))
    hub_lineage = lineage_view(catalog, hub, 1, 1)
    lineage_2 = lineage_view(catalog, hub, 2, 2)
    model = next(n for n in catalog.graph.nodes if "_mart_" in n and n.startswith("model.sales"))
    # Layout cost on its own (cold cache): the hub's neighbourhoods.
    times = []
    cold = load_catalog(Store(store_url), "prod", mesh_name="bench-mesh")
    for depth in (1, 2):
        t = time.perf_counter()
        cold.lineage(hub, depth, depth)
        times.append(round((time.perf_counter() - t) * 1000, 1))
    report["lineage"] = {"hub": hub, "neighbours_depth_1": len(hub_lineage.nodes) - 1,
                         "nodes_depth_2": len(lineage_2.nodes),
                         "layout_cold_ms_depth_1": times[0], "layout_cold_ms_depth_2": times[1]}

    # First-time queries (nothing cached), then the same queries again (terms cached, as
    # when a user types on or pages through results).
    first_time = []
    for query in SEARCHES:
        t = time.perf_counter()
        search(catalog, query)
        first_time.append((time.perf_counter() - t) * 1000)
    queries = SEARCHES * 12
    in_process = []
    for query in queries:
        t = time.perf_counter()
        search(catalog, query)
        in_process.append((time.perf_counter() - t) * 1000)
    filtered = []
    for query in SEARCHES:
        t = time.perf_counter()
        search(catalog, query, SearchFilters.of(access=["public"], projects=["sales", "finance"]))
        filtered.append((time.perf_counter() - t) * 1000)
    report["search"] = {"first_time": percentiles(first_time),
                        "in_process": percentiles(in_process),
                        "in_process_with_filters": percentiles(filtered),
                        "documents": len(catalog.search_index.docs)}

    source = CatalogSource.fixed(catalog)
    with BackgroundServer(create_app(source, poll=False)) as server:
        http_times = []
        for query in queries:
            url = f"{server.url}/api/search?" + urllib.parse.urlencode({"q": query})
            t = time.perf_counter()
            with urllib.request.urlopen(url) as response:
                response.read()
            http_times.append((time.perf_counter() - t) * 1000)
        report["search"]["http_api"] = percentiles(http_times)
        log(f"search: {report['search']}")
        with sync_playwright() as p:
            browser = launch_browser(p)
            pages = {
                "overview": (f"{server.url}/", "() => document.querySelector('#project-graph[data-ready]')"),
                "model_page": (f"{server.url}/nodes/{model}",
                               "() => document.querySelector('#lineage-graph[data-ready]')"),
                "hub_lineage_200": (f"{server.url}/lineage/{hub}?up=1&down=1",
                                    "() => document.querySelector('#lineage-graph[data-ready]')"),
                "hub_lineage_depth_2": (f"{server.url}/lineage/{hub}?up=2&down=2",
                                        "() => document.querySelector('#lineage-graph[data-ready]')"),
                "search_page": (f"{server.url}/search?q=payment", None),
            }
            report["served_pages"] = {}
            for name, (url, ready) in pages.items():
                report["served_pages"][name] = measure_page(browser, url, args.repeat, ready)
                log(f"{name}: {report['served_pages'][name]}")
            static_pages = {
                "overview": ((out / "index.html").as_uri(), None),
                # The page is filled from its gzip shard: ready when its lineage is drawn.
                "model_page": ((out / "node.html").as_uri() + f"?id={model}",
                               "() => document.querySelector('#lineage-graph[data-ready]')"),
                "hub_lineage_depth_2": ((out / "lineage.html").as_uri() + f"?id={hub}",
                                        "() => document.querySelector('#lineage-graph[data-ready]')"),
                "search_in_browser": ((out / "search.html").as_uri() + "?q=payment",
                                      "() => document.documentElement.dataset.searchReady"),
            }
            report["static_pages"] = {}
            for name, (url, ready) in static_pages.items():
                report["static_pages"][name] = measure_page(browser, url, args.repeat, ready)
                log(f"static {name}: {report['static_pages'][name]}")
            browser.close()


# -- 5. dbt docs on one project ------------------------------------------------------------
def write_dbt_project(folder: Path, models: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: docsbench\nversion: '1.0.0'\nconfig-version: 2\nprofile: docsbench\n"
        "models:\n  docsbench:\n    +materialized: view\n")
    (folder / "profiles.yml").write_text(
        "docsbench:\n  target: prod\n  outputs:\n    prod:\n      type: duckdb\n"
        f"      path: {folder / 'docsbench.duckdb'}\n      threads: 4\n")
    yml = ["version: 2", "models:"]
    names = []
    for i in range(models):
        name = f"m_{i:04d}"
        cols = rng.sample(COLUMNS, 6)
        if i < models // 10 or not names:
            select = ", ".join(f"cast(null as {kind}) as {col}" for col, kind, _ in cols)
            sql = f"select {select}"
        else:
            parents = rng.sample(names[-200:], min(len(names[-200:]), rng.randint(1, 2)))
            select = ", ".join(f"cast(null as {kind}) as {col}" for col, kind, _ in cols)
            sql = f"select {select}\nfrom {{{{ ref('{parents[0]}') }}}}" + "".join(
                f"\ncross join (select 1 from {{{{ ref('{p}') }}}} limit 0) as j{k}"
                for k, p in enumerate(parents[1:]))
        (folder / "models" / f"{name}.sql").write_text(sql + "\n")
        yml.append(f"  - name: {name}\n    description: \"Model {i} of the docs benchmark: the "
                   f"{rng.choice(['staging', 'intermediate', 'marts'])} layer, built daily.\"\n"
                   "    columns:")
        for col, _, text in cols:
            yml.append(f"      - name: {col}\n        description: \"{text}\"")
        names.append(name)
    (folder / "models" / "schema.yml").write_text("\n".join(yml) + "\n")


def bench_dbt_docs(args, report: dict) -> None:
    from meshkit.catalog.live import load_catalog
    from meshkit.store.publish import publish_artifacts
    from meshkit.store.store import Store
    from meshkit.web.static_site import generate_site
    from playwright.sync_api import sync_playwright

    root = WORK / "dbt-docs"
    project = root / "docsbench"
    write_dbt_project(project, args.docs_models)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    log(f"dbt run on {args.docs_models} models")
    t = time.perf_counter()
    subprocess.run([str(bin_dir / "dbt"), "run", "--quiet"], cwd=project, env=env, check=True)
    run_s = time.perf_counter() - t
    shutil.copy(project / "target" / "run_results.json", root / "run_results.json")
    log("dbt docs generate")
    t = time.perf_counter()
    subprocess.run([str(bin_dir / "dbt"), "docs", "generate", "--quiet"], cwd=project, env=env,
                   check=True)
    docs_s = time.perf_counter() - t
    target = project / "target"
    shutil.copy(root / "run_results.json", target / "run_results.json")
    os.utime(target / "catalog.json")          # the catalog belongs to this run: publish it
    manifest_mb = (target / "manifest.json").stat().st_size / 2**20
    catalog_mb = (target / "catalog.json").stat().st_size / 2**20

    store = Store(str(root / "store"))
    shutil.rmtree(root / "store", ignore_errors=True)
    publish_artifacts(store, target, "prod", project_dir=project)
    t = time.perf_counter()
    catalog = load_catalog(store, "prod", mesh_name="docsbench")
    site = generate_site(catalog, root / "site")
    meshkit_s = time.perf_counter() - t
    model = f"model.docsbench.m_{args.docs_models * 3 // 4:04d}"
    report["dbt_docs"] = {"models": args.docs_models, "dbt_run_s": round(run_s, 1),
                          "dbt_docs_generate_s": round(docs_s, 1),
                          "manifest_mb": round(manifest_mb, 1), "catalog_mb": round(catalog_mb, 2),
                          "meshkit_docs_generate_s": round(meshkit_s, 1),
                          "meshkit_pages": site.pages}
    log(f"dbt docs: {report['dbt_docs']}")

    handler = functools.partial(_QuietHandler, directory=str(target))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    meshkit_handler = functools.partial(_QuietHandler, directory=str(root / "site"))
    meshkit_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), meshkit_handler)
    threading.Thread(target=meshkit_server.serve_forever, daemon=True).start()
    meshkit_base = f"http://127.0.0.1:{meshkit_server.server_address[1]}"
    name = model.rsplit(".", 1)[1]
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            # dbt docs is a single-page app: it downloads manifest.json and catalog.json, then
            # renders; "ready" is the model's page showing the model's name as its title.
            ready_dbt = ("n => Array.from(document.querySelectorAll('h1')).some("
                         "h => h.textContent.includes(n))")
            report["dbt_docs"]["dbt_docs_model_page"] = measure_page(
                browser, f"{base}/index.html#!/model/{model}", args.repeat, ready_dbt, name)
            report["dbt_docs"]["meshkit_model_page"] = measure_page(
                browser, f"{meshkit_base}/node.html?id={model}", args.repeat,
                "() => document.querySelector('#lineage-graph[data-ready]')")
            report["dbt_docs"]["meshkit_overview"] = measure_page(
                browser, f"{meshkit_base}/index.html", args.repeat,
                "() => document.querySelector('#project-graph[data-ready]')")
            browser.close()
    finally:
        server.shutdown()
        meshkit_server.shutdown()
    log(f"dbt docs pages: {report['dbt_docs']}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=30)
    parser.add_argument("--docs-models", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a small run: a smoke test")
    parser.add_argument("--skip-dbt-docs", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.models, args.projects, args.docs_models, args.repeat = 1_200, 8, 150, 2
    if not Path(CHROMIUM).is_file():
        sys.exit(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) or set MESHKIT_CHROMIUM")
    WORK.mkdir(parents=True, exist_ok=True)
    import meshkit

    report: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "platform": platform.platform(), "meshkit": meshkit.__version__,
                                "load_average_at_start": os.getloadavg()},
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "targets": {
                        "first_paint_ms": 2000, "search_ms": 50, "static_site_mb": 40}}
    bench_meshkit_mesh(args, report)
    if not args.skip_dbt_docs:
        bench_dbt_docs(args, report)
    served = report["served_pages"]
    report["verdict"] = {
        "overview_first_paint_within_target": served["overview"]["fcp_ms"] <= 2000,
        "model_page_first_paint_within_target": served["model_page"]["fcp_ms"] <= 2000,
        "static_site_mb": report["static_site"]["size_mb"],
        "static_site_within_target": report["static_site"]["size_mb"] <= 40,
        "static_model_page_ready_within_target":
            report["static_pages"]["model_page"]["ready_ms"] <= 2000,
        "search_p95_within_target": max(report["search"]["in_process"]["p95_ms"],
                                        report["search"]["first_time"]["p95_ms"]) <= 50,
    }
    if "dbt_docs" in report and "dbt_docs_model_page" in report["dbt_docs"]:
        d = report["dbt_docs"]
        report["verdict"]["dbt_docs_model_ready_over_meshkit"] = round(
            d["dbt_docs_model_page"]["ready_ms"] / d["meshkit_model_page"]["ready_ms"], 1)
        report["verdict"]["dbt_docs_generate_over_meshkit_docs_generate"] = round(
            d["dbt_docs_generate_s"] / max(d["meshkit_docs_generate_s"], 0.01), 1)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {args.out}")
    print(json.dumps(report["verdict"], indent=2))


if __name__ == "__main__":
    main()
