"""Layouts real monoliths have, split and built with no hand edits (tests/fixtures/
monolith_edges): a relative DuckDB path with a `.db` suffix, a macro dispatched without a
namespace used by two groups, a ref inside a macro, a disabled model that refs another group,
a seed disabled by default, a seed no model reads, seed configs of one group. Real dbt on
DuckDB; the monolith is built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, run
from tables import relations, rows

pytestmark = pytest.mark.e2e

EDGES = Path(__file__).parent / "fixtures" / "monolith_edges"


@pytest.fixture(scope="session")
def edges(tmp_path_factory) -> Path:
    """The monolith built and documented by plain dbt (catalog.json gives contracts types)."""
    project = tmp_path_factory.mktemp("edges") / "shop"
    shutil.copytree(EDGES, project)
    run(["dbt", "build"], cwd=project)
    run(["dbt", "docs", "generate"], cwd=project)
    return project


def test_layouts_split_and_build_with_plain_meshkit_build_row_for_row(edges, tmp_path):
    out = tmp_path / "mesh"
    report = meshkit_json(["split", "apply", str(edges), "--out", str(out),
                           "--manifest", str(edges / "target" / "manifest.json")], cwd=tmp_path)
    # The disabled model's ref to w forces nothing: only x (read by enabled models) turns public.
    assert [p["model"] for p in report["public_models"]] == ["ga.x"]
    assert "ref('w')" in (out / "gb/models/b/z.sql").read_text()
    assert any("source legacy.raw_old_orders" in w and "monolith's own database 'shop'" in w
               for w in report["warnings"])
    # Relative `.db` paths: each project writes its own file and attaches its upstream's.
    profile = (out / "gb/profiles.yml").read_text()
    assert "path: ./shop_gb.db" in profile and "- path: ../ga/shop_ga.db" in profile
    assert "adapter.dispatch('label', 'shop_utils')" in \
        (out / "packages/shop_utils/macros/label.sql").read_text()
    assert "ref('ga', 'x')" in (out / "gb/macros/orders_relation.sql").read_text()
    assert (out / "ga/seeds/a/raw_old_orders.csv").is_file()       # raw data kept
    assert not (out / "ga/seeds/b").exists() and (out / "gb/seeds/b/labels.csv").is_file()
    # The contract keeps the table's column order; the rest of the file is as written.
    properties = (out / "ga/models/a/_a.yml").read_text()
    assert "    description:\n      Orders of team A, described over\n      two lines.\n" in properties
    assert properties.index("- name: id") < properties.index("- name: label") < \
        properties.index("- name: amount")
    assert "      # documented in another order than the table's\n      - name: amount\n" \
           "        data_type: integer\n        description: In cents.\n" in properties
    assert "labels" not in (out / "ga/dbt_project.yml").read_text()
    assert "raw_old_orders" not in (out / "gb/dbt_project.yml").read_text()
    assert not (out / "ga/shop_ga.db").exists()

    build = meshkit_json(["build"], cwd=out)
    assert build["status"] == "success", build
    logs = "".join(p.read_text() for p in out.glob("*/logs/dbt.log"))
    assert "unused configuration paths" not in logs

    monolith = duckdb.connect()
    monolith.execute(f"attach '{edges / 'shop.db'}' as shop (read_only)")
    for project in ("ga", "gb"):
        monolith.execute(f"attach '{out / project / f'shop_{project}.db'}' as {project} (read_only)")
    found = {p: set(relations(monolith, p)) for p in ("ga", "gb")}
    tables = relations(monolith, "shop")
    assert len(tables) == 5
    for schema, table in tables:
        owners = [p for p in found if (schema, table) in found[p]]
        assert len(owners) == 1, f"{schema}.{table}: {owners}"
        assert rows(monolith, owners[0], schema, table) == rows(monolith, "shop", schema, table)


def test_select_mode_keeps_a_seed_no_model_reads_with_the_rest(edges, tmp_path):
    plan = meshkit_json(["split", "plan", str(edges), "--select", "x", "--name", "orders",
                         "--manifest", str(edges / "target" / "manifest.json")], cwd=tmp_path)
    assert plan["blockers"] == []
    projects = {p["name"]: p for p in plan["projects"]}
    assert projects["shop"]["counts"]["seed"] >= 1 and projects["orders"]["counts"]["model"] == 1


def test_a_profile_split_cannot_translate_is_refused(edges, tmp_path):
    project = tmp_path / "shop"
    shutil.copytree(EDGES, project)
    (project / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n")
    result = run(["meshkit", "split", "apply", str(project), "--out", str(tmp_path / "out"),
                  "--manifest", str(edges / "target" / "manifest.json")], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "profiles.yml:6: profile 'shop' cannot be derived" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_a_ref_in_a_macro_of_several_projects_names_the_macro(tmp_path):
    project = tmp_path / "shop"
    shutil.copytree(EDGES, project, ignore=shutil.ignore_patterns("target", "logs", "*.db"))
    (project / "models/a/x_total.sql").write_text("select count(*) as n from {{ orders_relation() }}\n")
    # raw data as a seed that a model of gb reads through a source: the seed goes with it
    (project / "seeds/a/raw_codes.csv").write_text("code\n1\n")
    (project / "models/b/codes.sql").write_text("select * from {{ source('legacy', 'raw_codes') }}\n")
    with (project / "models/a/sources.yml").open("a") as sources:
        sources.write("      - name: raw_codes\n")
    plan = meshkit_json(["split", "plan", str(project)], cwd=tmp_path, check=False)
    blockers = plan["blockers"]
    assert [(b["file"], b["line"]) for b in blockers] == [("macros/orders_relation.sql", 2)]
    assert blockers[0]["message"].startswith("macro orders_relation refs x")
    counts = {p["name"]: p["counts"] for p in plan["projects"]}
    assert counts["gb"]["seed"] == 2 and counts["ga"]["seed"] == 2     # raw_codes with its reader
    assert any("seeds raw_codes are read through source()" in w for w in plan["warnings"])


def test_a_duckdb_profile_outside_the_project_gives_each_project_its_own(edges, tmp_path):
    project = tmp_path / "shop"
    shutil.copytree(EDGES, project, ignore=shutil.ignore_patterns("target", "logs", "*.db"))
    home = tmp_path / "dot-dbt"
    home.mkdir()
    (project / "profiles.yml").rename(home / "profiles.yml")
    run(["meshkit", "split", "apply", str(project), "--out", str(tmp_path / "out"),
         "--manifest", str(edges / "target" / "manifest.json")], cwd=tmp_path,
        env={"DBT_PROFILES_DIR": str(home)})
    assert "profile: gb" in (tmp_path / "out/gb/dbt_project.yml").read_text()
    assert "- path: ../ga/shop_ga.db" in (tmp_path / "out/gb/profiles.yml").read_text()
