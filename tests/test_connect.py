"""`meshkit connect`: the source hack and the package hack become cross-project refs.

The text edits are unit tests on strings; one end-to-end run converts a mesh with both hacks
(tests/fixtures/connect), builds it with plain `meshkit build`, and compares every table with
the one plain dbt built before the conversion, row for row. Real dbt on DuckDB."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import meshkit_json, run
from meshkit.split.connect_edits import (RefTarget, add_projects, make_public, remove_list_entries,
                                         remove_source_tables, rewrite_sources)

FIXTURE = Path(__file__).parent / "fixtures" / "connect"


# -- text edits -----------------------------------------------------------------------------------
def test_literal_source_calls_become_refs_in_their_quoting_and_others_are_left():
    targets = {("shop", "orders"): RefTarget("core", "orders"),
               ("shop", "items"): RefTarget("core", "items", "2")}
    sql = ("select * from {{ source('shop', \"orders\") }}\n"
           "-- source('shop', 'orders') in a SQL comment outside Jinja stays\n"
           "join {{ source( \"shop\" , \"items\" ) }} join {{ source('shop', 'customers') }}\n")
    result = rewrite_sources(sql, targets)
    assert result.text == ("select * from {{ ref('core', 'orders') }}\n"
                           "-- source('shop', 'orders') in a SQL comment outside Jinja stays\n"
                           "join {{ ref(\"core\", \"items\", v=2) }} join {{ source('shop', 'customers') }}\n")
    assert result.rewritten == [("shop", "orders", 1), ("shop", "items", 3)]
    python = rewrite_sources("df = dbt.source('shop', 'orders')\n", targets, mode="python")
    assert python.text == "df = dbt.ref('core', 'orders')\n"
    yml = rewrite_sources("depends_on:\n  - source('shop', 'orders')\n", targets, mode="yaml")
    assert yml.text == "depends_on:\n  - ref('core', 'orders')\n"


SOURCES = """version: 2

sources:
  # raw shop
  - name: shop
    schema: main
    tables:
      - name: orders   # the hack
        identifier: ORDERS
      - name: customers
  - name: other
    tables:
      - name: x
"""


def test_source_tables_are_removed_keeping_the_rest_as_written():
    assert remove_source_tables(SOURCES, "s.yml", {("shop", "orders")}) == SOURCES.replace(
        "      - name: orders   # the hack\n        identifier: ORDERS\n", "")
    assert remove_source_tables(SOURCES, "s.yml", {("shop", "orders"), ("shop", "customers")}) == \
        "version: 2\n\nsources:\n  - name: other\n    tables:\n      - name: x\n"
    assert remove_source_tables(SOURCES, "s.yml", {("shop", "orders"), ("shop", "customers"),
                                                   ("other", "x")}) is None


def test_package_entries_go_and_an_empty_packages_file_is_deleted():
    text = "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n  # the hack\n  - local: ../core\n"
    local = lambda entry: "local" in entry  # noqa: E731
    assert remove_list_entries(text, "packages.yml", "packages", local) == \
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n"
    assert remove_list_entries("packages:\n  - local: ../core\n", "packages.yml", "packages", local) is None
    both = "packages:\n  - local: ../core\nprojects:\n  - name: sales\n"
    assert remove_list_entries(both, "dependencies.yml", "packages", local) == "projects:\n  - name: sales\n"


def test_projects_are_added_to_dependencies_yml_in_its_style():
    assert add_projects(None, ["core"]) == "projects:\n  - name: core\n"
    assert add_projects("projects:\n - name: sales", ["core"]) == "projects:\n - name: sales\n - name: core\n"
    assert add_projects("# ours\npackages:\n  - local: ../x\n", ["a", "b"]) == \
        "# ours\npackages:\n  - local: ../x\n\nprojects:\n  - name: a\n  - name: b\n"
    assert add_projects("projects: []\n", ["a"]) == "projects:\n  - name: a\n"


MODELS = """version: 2
models:
  - name: orders
    description: x   # keep
  - name: customers
    config:
      materialized: table
      access: protected   # why
  - name: items
    config:
        materialized: table
  - name: legacy
    access: private
"""


def test_a_model_becomes_public_with_one_line_changed_or_added():
    assert make_public(MODELS, "m.yml", "customers") == MODELS.replace("access: protected", "access: public")
    assert make_public(MODELS, "m.yml", "legacy") == MODELS.replace("access: private", "access: public")
    assert make_public(MODELS, "m.yml", "items") == MODELS.replace(
        "        materialized: table\n", "        access: public\n        materialized: table\n")
    assert make_public(MODELS, "m.yml", "orders") == MODELS.replace(
        "  - name: orders\n", "  - name: orders\n    config:\n      access: public\n")
    assert make_public(MODELS, "m.yml", "missing") is None


# -- end to end ------------------------------------------------------------------------------
def _tables(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                           "where table_schema = 'main' order by 1").fetchall()]
        return {n: con.execute(f'select * from main."{n}" order by all').fetchall() for n in names}
    finally:
        con.close()


def _tree(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not {"target", "logs", "dbt_packages", "warehouse", ".meshkit"} & set(path.parts):
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def before(tmp_path_factory) -> dict[str, dict[str, list[tuple]]]:
    """The fixture's tables as plain dbt builds them, hacks and all."""
    root = tmp_path_factory.mktemp("before") / "mesh"
    shutil.copytree(FIXTURE, root)
    (root / "warehouse").mkdir()
    run(["dbt", "build"], cwd=root / "core")
    run(["dbt", "build"], cwd=root / "shop")
    run(["dbt", "deps"], cwd=root / "finance")
    run(["dbt", "build"], cwd=root / "finance")
    return {p: _tables(root / "warehouse" / f"{p}.duckdb") for p in ("core", "shop", "finance")}


@pytest.mark.e2e
def test_connect_converts_both_hacks_and_the_mesh_builds_the_same_tables(tmp_path, before):
    mesh = tmp_path / "mesh"
    shutil.copytree(FIXTURE, mesh)
    (mesh / "warehouse").mkdir()
    # The package hack makes finance build core's models a second time: refused up front.
    refused = run(["meshkit", "build"], cwd=mesh, check=False)
    assert refused.returncode == 2 and "finance/packages.yml:2" in refused.stderr
    assert "meshkit connect plan" in refused.stderr

    # `connect plan` prints this same report and changes nothing (see the refusal test below).
    plan = meshkit_json(["connect", "apply"], cwd=mesh)
    changes = {(c["project"], c["change"], c["file"], c["line"]) for c in plan["conversions"]}
    assert changes == {
        ("shop", "source('core_tables', 'orders') → ref('core', 'orders')", "models/big_orders.sql", 3),
        ("shop", "source('payments_raw', 'customers') → ref('core', 'customers')",
         "models/customer_names.sql", 1),
        ("finance", "ref('orders') → ref('core', 'orders')", "models/revenue.sql", 2),
        ("finance", "package removed (local: ../core)", "packages.yml", 2)}
    assert plan["dependencies"] == {"finance": ["core"], "shop": ["core"]}
    assert plan["public"] == ["core.customers (protected → public)", "core.orders (protected → public)"]
    assert plan["blockers"] == [] and plan["applied"]
    assert (mesh / "shop/models/big_orders.sql").read_text() == \
        (FIXTURE / "shop/models/big_orders.sql").read_text().replace(
            "source('core_tables', 'orders')", "ref('core', 'orders')")
    assert (mesh / "shop/models/_sources.yml").read_text() == \
        (FIXTURE / "shop/models/_sources.yml").read_text().replace(
            "      - name: orders\n        identifier: ORDERS\n", "").split("  - name: payments_raw")[0]
    assert (mesh / "core/models/_core.yml").read_text() == \
        (FIXTURE / "core/models/_core.yml").read_text().replace("access: protected", "access: public")
    assert not (mesh / "finance/packages.yml").exists() and not (mesh / "finance/dbt_packages/core").exists()
    assert "core:" not in (mesh / "finance/dbt_project.yml").read_text()
    attach = yaml.safe_load((mesh / "finance/profiles.yml").read_text())["finance"]["outputs"]["prod"]["attach"]
    assert attach == [{"path": "../warehouse/core.duckdb", "read_only": True}]
    assert yaml.safe_load((mesh / "shop/dependencies.yml").read_text()) == {"projects": [{"name": "core"}]}

    build = meshkit_json(["build"], cwd=mesh)
    assert build["status"] == "success", build
    assert sorted(n["node"] for n in build["nodes"] if n["status"] == "success" and ".test" not in n["node"]
                  and "not_null" not in n["node"] and "unique" not in n["node"]) == \
        ["core.customers", "core.orders", "finance.revenue", "shop.big_orders", "shop.customer_names"]
    after = {p: _tables(mesh / "warehouse" / f"{p}.duckdb") for p in ("core", "shop", "finance")}
    assert after["core"] == before["core"] and after["shop"] == before["shop"]
    # finance keeps its own table, row for row, and no longer holds copies of core's.
    assert set(before["finance"]) == {"orders", "customers", "revenue"}
    assert after["finance"] == {"revenue": before["finance"]["revenue"]}


def test_what_a_package_gives_beyond_refs_is_refused_with_file_and_line(tmp_path):
    """Macros, seeds and non-literal refs of the package hack; a source on a seed."""
    mesh = tmp_path / "mesh"
    shutil.copytree(FIXTURE, mesh)
    (mesh / "warehouse").mkdir()
    (mesh / "core/seeds").mkdir()
    (mesh / "core/seeds/fx_rates.csv").write_text("currency,rate\nEUR,1.1\n")
    (mesh / "finance/models/in_dollars.sql").write_text(
        "-- core's macro, through the package\n"
        "select {{ cents_to_dollars('amount_cents') }} as dollars from {{ ref('orders') }}\n")
    (mesh / "finance/models/rates.sql").write_text("select * from {{ ref('fx_rates') }}\n")
    (mesh / "finance/models/dynamic.sql").write_text(
        "{% set name = 'customers' %}\nselect * from {{ ref(name) }}\n")
    (mesh / "shop/models/_seed_source.yml").write_text(
        "version: 2\nsources:\n  - name: core_seeds\n    database: core\n    schema: main\n"
        "    tables:\n      - name: fx_rates\n")
    tree = _tree(mesh)
    plan = meshkit_json(["connect", "plan"], cwd=mesh, check=False)
    found = {(b["file"], b["line"], b["message"].split(";")[0]) for b in plan["blockers"]}
    assert found == {
        ("finance/models/in_dollars.sql", 2,
         "finance: uses the macro cents_to_dollars of the package core, which a cross-project ref "
         "does not bring"),
        ("finance/models/rates.sql", 1,
         "finance: uses the seed fx_rates of the package core, which a cross-project ref does not bring"),
        ("finance/models/dynamic.sql", None,
         "finance: dynamic refs core's model customers in a way meshkit cannot rewrite"),
        ("shop/models/_seed_source.yml", None,
         "shop: source core_seeds.fx_rates reads the seed core.fx_rates"),
    }
    assert _tree(mesh) == tree                                  # the plan changes nothing


def test_apply_refuses_a_plan_with_blockers_and_writes_nothing(tmp_path):
    from meshkit.errors import MeshError
    from meshkit.split.connect import ConnectPlan, apply_connect
    from meshkit.split.plan import Blocker

    target = tmp_path / "models" / "a.sql"
    target.parent.mkdir()
    target.write_text("select 1\n")
    plan = ConnectPlan(tmp_path, files={target: "select 2\n", tmp_path / "gone.yml": None},
                       blockers=[Blocker("finance: uses the macro m of the package core", "finance/x.sql", 3)])
    with pytest.raises(MeshError, match="nothing was written") as raised:
        apply_connect(plan)
    assert "finance/x.sql:3" in str(raised.value)
    assert target.read_text() == "select 1\n" and sorted(p.name for p in tmp_path.rglob("*")) == ["a.sql", "models"]
    plan.blockers = []
    assert apply_connect(plan) == ["gone.yml", "models/a.sql"]
    assert target.read_text() == "select 2\n" and not list(tmp_path.rglob(".*meshkit-connect"))
