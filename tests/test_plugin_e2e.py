"""The plugin and the orchestrator against real dbt on DuckDB: refs are what dbt parsed, a cold
mesh starts whatever its consumers pin, upstream event_time reaches microbatch models, and a
model's function is built with it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest

from conftest import meshkit_json, run, statuses
from meshes import write_mesh

UP_YAML = """\
  - name: orders
    access: public
    latest_version: 2
    versions:
      - v: 1
      - v: 2
  - name: events
    access: public
    config:
      event_time: ts
  - name: stg_orders
  - name: answers
    access: public
"""
DOWN_YAML = """\
  - name: latest_report
    description: "Replaces the old query on ref('up', 'stg_orders'); reads the public mart."
"""
# A microbatch model over the last few days; upstream rows outside a batch must be filtered out.
DAILY = """\
{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='ts',
          batch_size='day',
          begin=(modules.datetime.date.today() - modules.datetime.timedelta(days=3)).isoformat()) }}
select id, ts from {{ ref('up', 'events') }}
"""


FUNCTION_SQL = "x * 2\n"
FUNCTION_YAML = """\
functions:
  - name: double_it
    arguments:
      - name: x
        data_type: integer
    returns:
      data_type: integer
"""
# DuckDB has no CREATE FUNCTION … LANGUAGE SQL; a SQL macro is its scalar function.
DUCKDB_FUNCTION = """\
{% macro duckdb__scalar_function_sql(target_relation) %}
  create or replace macro {{ target_relation.render() }}(
    {%- for arg in model.arguments %}{{ arg.name }}{{ ", " if not loop.last }}{% endfor -%}
  ) as ({{ model.compiled_code }});
{% endmacro %}
"""


def _rows(mesh: Path, project: str, sql: str) -> list[tuple]:
    con = duckdb.connect(str(mesh / "warehouse" / f"{project}.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def pinned_mesh(tmp_path_factory) -> Path:
    """`down` pins v1 and v2 of up.orders and leaves one ref unpinned; it mentions the
    protected up.stg_orders only in comments, a description and disabled models. Built cold."""
    mesh = write_mesh(tmp_path_factory.mktemp("pinned") / "mesh", {
        "up": {"orders_v1": "select 1 as id, 'v1' as src",
               "orders_v2": "select 1 as id, 'v2' as src",
               "stg_orders": "select 1 as id",
               "events": "select 1 as id, current_date - interval 1 day as ts "
                         "union all select 2, current_date - interval 30 day",
               "answers": "select {{ function('double_it') }}(21) as answer"},
        "down": {"legacy_report": "select * from {{ ref('up', 'orders', v=1) }}",
                 "new_report": "select * from {{ ref('up', 'orders', v='2') }}",
                 "latest_report": "{# before the mesh: {{ ref('up', 'stg_orders') }} #}\n"
                                  "{# typos: {{ ref('upp', 'orders') }} {{ ref('up', 'order') }} #}\n"
                                  "-- was: ref('up', 'stg_orders')\n"
                                  "select * from {{ ref('up', 'orders') }}",
                 "retired": "{{ config(enabled=false) }}\nselect * from {{ ref('up', 'stg_orders') }}",
                 "daily": DAILY,
                 "answer_report": "select answer from {{ ref('up', 'answers') }}"},
    }, extra_yaml={"up": UP_YAML, "down": DOWN_YAML})
    up = mesh / "up"
    (up / "functions").mkdir()
    (up / "functions" / "double_it.sql").write_text(FUNCTION_SQL)
    (up / "functions" / "double_it.yml").write_text(FUNCTION_YAML)
    (up / "macros").mkdir()
    (up / "macros" / "duckdb_functions.sql").write_text(DUCKDB_FUNCTION)
    legacy = mesh / "down" / "models" / "legacy"
    legacy.mkdir()
    (legacy / "old_orders.sql").write_text("select * from {{ ref('up', 'stg_orders') }}\n")
    project = mesh / "down" / "dbt_project.yml"
    project.write_text(project.read_text() + "    legacy:\n      +enabled: false\n")
    report = meshkit_json(["build"], cwd=mesh)
    assert report["status"] == "success", report
    assert statuses(report)["up.double_it"] == "success"
    return mesh


def test_cold_mesh_builds_whatever_the_consumer_pins(pinned_mesh):
    for model, src in (("legacy_report", "v1"), ("new_report", "v2"), ("latest_report", "v2")):
        assert _rows(pinned_mesh, "down", f"select src from main.{model}") == [(src,)]


def test_mentions_in_comments_descriptions_and_disabled_models_are_no_refs(pinned_mesh):
    down = pinned_mesh / "down"
    parsed = run(["dbt", "parse"], cwd=down, check=False)
    assert parsed.returncode == 0, parsed.stdout
    manifest = (down / "target" / "manifest.json").read_text()
    assert "model.up.stg_orders" not in manifest and "meshkit_refused" not in manifest
    assert '"model.up.orders.v1"' in manifest


def test_upstream_event_time_filters_each_microbatch(pinned_mesh):
    """Unfiltered, every daily batch would insert both upstream rows again."""
    assert _rows(pinned_mesh, "down", "select id, count(*) from main.daily group by id") == [(1, 1)]


def test_a_real_ref_is_refused_as_dbts_reference_error(pinned_mesh):
    down = pinned_mesh / "down"
    bad = down / "models" / "bad.sql"
    bad.write_text("-- reads the staging table\nselect *\nfrom {{ ref('up', 'stg_orders') }}\n")
    before = (down / "target" / "manifest.json").read_bytes()
    written = (down / "target" / "manifest.json").stat().st_mtime_ns
    try:
        parsed = run(["python", "-c", textwrap.dedent("""\
            from dbt.cli.main import dbtRunner
            from dbt.exceptions import DbtReferenceError
            error = dbtRunner().invoke(["parse"]).exception
            print(isinstance(error, DbtReferenceError), error.unique_id, error.ref_unique_id)
            """)], cwd=down)
        assert ("Parsing Error\n  meshkit refused: down/models/bad.sql:3: 'bad' refs up.stg_orders, "
                "which is protected to project 'up'") in parsed.stdout
        assert "set `access: public` on stg_orders" in parsed.stdout
        assert parsed.stdout.split()[-3:] == ["True", "model.down.bad", "model.up.stg_orders"]
        assert (down / "target" / "manifest.json").read_bytes() == before
        assert "Traceback" not in parsed.stdout + parsed.stderr
        # ... with its time too: `meshkit check` must not take the old manifest for the new code
        assert (down / "target" / "manifest.json").stat().st_mtime_ns == written
        checked = run(["meshkit", "check", "--project", "down"], cwd=pinned_mesh, check=False)
        assert "down/models/bad.sql changed after down/target/manifest.json" in checked.stderr
        # dbt asks plugins after parsing only when it writes manifest.json: without, the ref
        # stays unresolved and dbt refuses it itself.
        unwritten = run(["dbt", "parse", "--no-write-json"], cwd=down, check=False)
        assert unwritten.returncode == 2
        assert "depends on a node named 'stg_orders' in package or project 'up' which was not " \
               "found" in unwritten.stdout
        # `meshkit build` shows the same refusal: test_quickstart_e2e.py::test_ref_to_protected…
    finally:
        bad.unlink()


def test_a_typo_in_a_real_ref_gets_meshkit_s_message(pinned_mesh):
    """dbt alone says only "not found"; typos dbt does not record (latest_report's Jinja
    comment) fail nothing: the cold build and test_mentions_in_comments… parse them."""
    down = pinned_mesh / "down"
    typo = down / "models" / "typo.sql"
    try:
        typo.write_text("select *\nfrom {{ ref('up', 'order') }}\n")
        parsed = run(["dbt", "parse"], cwd=down, check=False)
        assert parsed.returncode == 2
        assert ("meshkit refused: down/models/typo.sql:2: 'typo' refs up.order, but project 'up' "
                "publishes no model 'order' (did you mean 'orders'?)") in parsed.stdout
        assert "Traceback" not in parsed.stdout + parsed.stderr
    finally:
        typo.unlink()


def test_a_model_s_function_is_built_with_it_and_rebuilds_its_callers(pinned_mesh):
    assert _rows(pinned_mesh, "down", "select answer from main.answer_report") == [(42,)]
    (pinned_mesh / "up" / "functions" / "double_it.sql").write_text("x * 3\n")
    report = meshkit_json(["build", "-s", "up:answers+"], cwd=pinned_mesh)
    reasons = {n["node"]: n["reason"] for n in report["nodes"]}
    assert reasons == {"up.double_it": "code or config changed",
                       "up.answers": "up.double_it was rebuilt",
                       "down.answer_report": "up.answers was rebuilt"}
    assert _rows(pinned_mesh, "down", "select answer from main.answer_report") == [(63,)]
