"""The pieces of a split on plain text: ref and macro rewriting, YAML edits that keep comments,
derived profiles, project cycles."""

from __future__ import annotations

import textwrap

import pytest
from ruamel.yaml.comments import CommentedMap

from meshkit.errors import MeshError
from meshkit.scaffold.profiles import (derive_profile, duckdb_stem, dump_profiles, read_profiles,
                                      upstream_file, with_stem)
from meshkit.graph.cycles import cycles
from meshkit.split.plan import PublicModel
from meshkit.split.refs import (calls_in_jinja, dispatched_names, doc_names, docs_blocks, find_refs,
                                qualify_macros, rewrite_dispatch, rewrite_refs, set_sql_access)
from meshkit.split.render import edit_models
from meshkit.files.yamltext import filter_entries

HOMES = {"fct_orders": "core", "stg_payments": "finance", "dim_customers": "core"}


def resolve_from(here: str):
    def resolve(name, package):
        if package not in (None, "jaffle_shop"):
            return None
        if name not in HOMES:
            return None
        return "" if HOMES[name] == here else HOMES[name]
    return resolve


def test_refs_to_other_projects_get_two_arguments_in_the_written_style():
    sql = textwrap.dedent("""\
        -- ref('fct_orders') in a SQL comment outside Jinja stays as written
        select * from {{ ref('fct_orders') }} o
        join {{ ref( "dim_customers" , v=2) }} c using (customer_id)
        join {{ ref('stg_payments') }} p using (order_id)
        join {{ ref('jaffle_shop', 'stg_payments') }} p2 using (order_id)
        join {{ ref('dbt_utils', 'fct_orders') }} x using (order_id)
        {{ mesh_utils.pivot('m', mesh_utils.get_column_values(ref('fct_orders'), 'm')) }}
    """)
    result = rewrite_refs(sql, resolve_from("finance"))
    assert result.text.splitlines() == [
        "-- ref('fct_orders') in a SQL comment outside Jinja stays as written",
        "select * from {{ ref('core', 'fct_orders') }} o",
        'join {{ ref( "core", "dim_customers", v=2) }} c using (customer_id)',
        "join {{ ref('stg_payments') }} p using (order_id)",
        "join {{ ref('stg_payments') }} p2 using (order_id)",
        "join {{ ref('dbt_utils', 'fct_orders') }} x using (order_id)",
        "{{ mesh_utils.pivot('m', mesh_utils.get_column_values(ref('core', 'fct_orders'), 'm')) }}",
    ]
    assert sorted(name for name, _, _ in result.rewritten) == [
        "dim_customers", "fct_orders", "fct_orders", "stg_payments"]
    assert not result.dynamic


def test_python_and_yaml_refs_and_dynamic_refs():
    python = "def model(dbt, session):\n    return dbt.ref('fct_orders').df()\n"
    assert rewrite_refs(python, resolve_from("finance"), mode="python").text == \
        "def model(dbt, session):\n    return dbt.ref('core', 'fct_orders').df()\n"
    yaml_text = "to: ref('dim_customers')\ndepends_on:\n  - ref(\"fct_orders\")\n"
    assert rewrite_refs(yaml_text, resolve_from("marketing"), mode="yaml").text == \
        "to: ref('core', 'dim_customers')\ndepends_on:\n  - ref(\"core\", \"fct_orders\")\n"
    dynamic = "{% for m in ['a'] %}select * from {{ ref(m) }}{% endfor %}"
    result = rewrite_refs(dynamic, resolve_from("finance"))
    assert result.text == dynamic and result.dynamic == [1]
    assert [(r.name if r else None, line) for r, line in find_refs("x\n{{ ref('a') }}\n{{ ref(b) }}")] == \
        [("a", 2), (None, 3)]


def test_macros_moved_to_a_package_are_called_by_its_name_only_inside_jinja():
    sql = textwrap.dedent("""\
        {% macro cents_to_dollars(x) %}{{ x }} / 100{% endmacro %}
        select cents_to_dollars(amount) as sql_function,
               {{ cents_to_dollars('amount') }} as a,
               {{ other.cents_to_dollars('amount') }} as b,
               {% set y = cents_to_dollars ('z') %}{{ y }} as c
    """)
    out = qualify_macros(sql, "shop_utils", {"cents_to_dollars"})
    assert "{% macro cents_to_dollars(x) %}" in out
    assert "select cents_to_dollars(amount) as sql_function" in out
    assert "{{ shop_utils.cents_to_dollars('amount') }} as a" in out
    assert "{{ other.cents_to_dollars('amount') }} as b" in out
    assert "{% set y = shop_utils.cents_to_dollars ('z') %}" in out
    assert calls_in_jinja(sql, {"cents_to_dollars", "nope"}) == {"cents_to_dollars"}


def test_docs_and_sql_access():
    assert doc_names("description: '{{ doc(\"a\") }} {{ doc('pkg', 'b') }}'") == {"a", "b"}
    assert docs_blocks("{% docs a %}x{% enddocs %}\n{%- docs b -%}y{% enddocs %}") == ["a", "b"]
    text, changed = set_sql_access("{{ config(materialized='table', access=\"protected\") }}\nselect 1",
                                   "public")
    assert changed and text.startswith("{{ config(materialized='table', access=\"public\") }}")
    assert set_sql_access("select 1", "public") == ("select 1", False)


PROPERTIES = textwrap.dedent("""\
    version: 2

    # Everything in this file is documented by the data team.
    models:
      # The first model, kept in the core project.
      - name: fct_orders   # the orders mart
        description: Orders.
        meta: {tier: gold}
      # Finance's model: its comment goes with it.
      - name: stg_payments
        description: >
          Payments, one per attempt.
        # an odd comment inside the entry
        columns:
          - name: amount
      - name: dim_customers
        config:
          access: public

    sources:
      - name: shop
        schema: raw    # where the loader writes
        tables:
          - name: customers
          # payments belong to finance
          - name: payments
            loaded_at_field: _loaded_at
    """)


def test_filtering_entries_keeps_every_other_byte():
    keep = {"models": lambda e: HOMES.get(e["name"]) == "finance",
            "sources": lambda s, t: t is not None and t["name"] == "payments"}
    text, left = filter_entries(PROPERTIES, "x.yml", keep)
    assert left
    assert text == textwrap.dedent("""\
        version: 2

        # Everything in this file is documented by the data team.
        models:
          # Finance's model: its comment goes with it.
          - name: stg_payments
            description: >
              Payments, one per attempt.
            # an odd comment inside the entry
            columns:
              - name: amount

        sources:
          - name: shop
            schema: raw    # where the loader writes
            tables:
              # payments belong to finance
              - name: payments
                loaded_at_field: _loaded_at
        """)
    core, _ = filter_entries(PROPERTIES, "x.yml", {"models": lambda e: HOMES.get(e["name"]) == "core",
                                                    "sources": lambda s, t: False})
    assert "  - name: fct_orders   # the orders mart\n    description: Orders.\n    meta: {tier: gold}\n" in core
    assert "sources" not in core and "stg_payments" not in core and "# Finance's model" not in core
    assert "# The first model, kept in the core project." in core
    nothing, left = filter_entries(PROPERTIES, "x.yml", {"models": lambda e: False, "sources": lambda s, t: False})
    assert not left


def test_filtering_other_indentation_styles_and_flow_style():
    offset_zero = "version: 2\nmodels:\n- name: a\n  description: x\n# b's comment\n- name: b\nseeds:\n- name: s\n"
    text, _ = filter_entries(offset_zero, "x.yml", {"models": lambda e: e["name"] == "b",
                                                    "seeds": lambda e: True})
    assert text == "version: 2\nmodels:\n# b's comment\n- name: b\nseeds:\n- name: s\n"
    flow = "version: 2\nmodels: [{name: a}, {name: b, description: kept}]\n"
    text, left = filter_entries(flow, "x.yml", {"models": lambda e: e["name"] == "b"})
    assert left and "name: b" in text and "name: a" not in text and "kept" in text


def test_a_model_that_becomes_public_gets_a_contract_in_catalog_order():
    text = textwrap.dedent("""\
        version: 2
        models:
          - name: fct_order_revenue   # finance's data product
            description: Revenue per order.
            config:
              meta:
                steward: finance   # who answers questions
            columns:
              - name: order_id
                description: The order.
                data_tests: [unique]
              - name: amount
                description: In dollars.

          # the next model keeps its comment and blank line
          - name: other
        """)
    public = PublicModel("finance", "fct_order_revenue", "model.x.fct_order_revenue", "protected",
                         "catalog", "", columns=[("order_id", "integer"), ("customer_id", "integer"),
                                                 ("amount", "decimal(18,2)"), ("n", "bigint")])
    assert edit_models(text, "x.yml", [public]) == textwrap.dedent("""\
        version: 2
        models:
          - name: fct_order_revenue   # finance's data product
            description: Revenue per order.
            config:
              meta:
                steward: finance   # who answers questions
              access: public
              contract:
                enforced: true
            columns:
              - name: order_id
                data_type: integer
                description: The order.
                data_tests: [unique]
              - name: customer_id
                data_type: integer
              - name: amount
                data_type: decimal(18,2)
                description: In dollars.
              - name: n
                data_type: bigint

          # the next model keeps its comment and blank line
          - name: other
        """)


def test_derived_duckdb_profile_writes_its_own_file_and_attaches_upstreams(tmp_path):
    (tmp_path / "profiles.yml").write_text(textwrap.dedent("""\
        shop:
          target: prod
          outputs:
            prod:
              type: duckdb
              path: "{{ env_var('W', '../warehouse') }}/jaffle.duckdb"   # the monolith's file
              database: jaffle
              threads: 4
              attach:
                - path: ../warehouse/raw.duckdb
                  read_only: true
                - path: "{{ env_var('W', '../warehouse') }}/jaffle_finance.duckdb"

            # the same mesh on PostgreSQL: a schema per project
            pg:
              type: postgres
              host: localhost
              schema: analytics
        """))
    profile = read_profiles(tmp_path / "profiles.yml")["shop"]
    derived, notes = derive_profile(profile, "core", upstream=["finance"],
                                    database_of={"core": "jaffle_core", "finance": "jaffle_finance"},
                                    replace_stems={"jaffle_core", "jaffle_finance"},
                                    relocate=lambda p: "../../shop/" + p,
                                    rename_schema=("analytics", "core"))
    prod = derived["outputs"]["prod"]
    assert prod["path"] == "{{ env_var('W', '../warehouse') }}/jaffle_core.duckdb"
    assert prod["database"] == "jaffle_core"
    assert [dict(a) for a in prod["attach"]] == [
        {"path": "../../shop/../warehouse/raw.duckdb", "read_only": True},
        {"path": "{{ env_var('W', '../warehouse') }}/jaffle_finance.duckdb", "read_only": True}]
    assert dict(derived["outputs"]["pg"]) == {"type": "postgres", "host": "localhost", "schema": "core"}
    assert not notes
    text = dump_profiles({"core": derived}, "header")
    assert text.startswith("# header\ncore:\n")
    assert ("        - path: \"{{ env_var('W', '../warehouse') }}/jaffle_finance.duckdb\"\n"
            "          read_only: true\n\n    # the same mesh on PostgreSQL: a schema per project\n    pg:\n") in text
    assert duckdb_stem("'x/y/abc.duckdb'".strip("'")) == "abc"
    assert with_stem("a/b.duckdb", "c") == "a/c.duckdb"
    assert isinstance(derived, CommentedMap)


def test_project_cycles_are_strongly_connected_groups():
    assert cycles({"core": {"finance"}, "finance": {"core"}, "marketing": {"core", "finance"}}) == \
        [["core", "finance"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_duckdb_files_of_any_suffix_and_the_paths_that_name_none():
    assert [duckdb_stem(p) for p in ("./database.db", "shop.duckdb", "data/warehouse", "a/my.data.ddb")] \
        == ["database", "shop", "warehouse", "my.data"]
    assert [duckdb_stem(p) for p in (":memory:", "md:jaffle", "s3://b/x.duckdb",
                                      "{{ env_var('DB') }}")] == [None] * 4
    assert with_stem("./database.db", "database_core") == "./database_core.db"


@pytest.mark.parametrize("path, attach", [
    ("shop_core.duckdb", "../core/shop_core.duckdb"),              # in each project's folder
    ("./database_core.db", "../core/database_core.db"),
    ("../warehouse/shop_core.duckdb", "../warehouse/shop_core.duckdb"),     # one shared folder
    ("/data/shop_core.duckdb", "/data/shop_core.duckdb"),
    ("{{ env_var('NO_SUCH_VAR_X', '../warehouse') }}/s_core.duckdb",
     "{{ env_var('NO_SUCH_VAR_X', '../warehouse') }}/s_core.duckdb"),
    ("{{ env_var('NO_SUCH_VAR_X', '.') }}/s_core.duckdb",
     "../core/{{ env_var('NO_SUCH_VAR_X', '.') }}/s_core.duckdb"),
])
def test_a_consumer_attaches_the_file_its_upstream_writes_from_its_own_folder(path, attach):
    assert upstream_file(path, "finance", "core") == attach


def test_a_duckdb_path_without_a_file_is_refused_with_its_line(tmp_path):
    (tmp_path / "profiles.yml").write_text("shop:\n  target: dev\n  outputs:\n    dev:\n"
                                           "      type: duckdb\n      path: ':memory:'\n")
    profile = read_profiles(tmp_path / "profiles.yml")["shop"]
    with pytest.raises(MeshError) as caught:
        derive_profile(profile, "core", upstream=[], strict=True)
    assert caught.value.line == 6 and "':memory:'" in caught.value.message
    _, notes = derive_profile(profile, "core", upstream=[])
    assert notes and "left as it is" in notes[0]


def test_dispatch_calls_name_the_package_that_holds_the_macro():
    text = ("{{ adapter.dispatch('m')() }} {{ adapter.dispatch(\"n\", 'shop')(x) }} "
            "{{ adapter.dispatch('o', macro_namespace='shop')() }} {{ adapter.dispatch('d', 'dbt')() }}")
    assert rewrite_dispatch(text, {None: "utils", "shop": "utils"}, {"m", "n", "o"}) == (
        "{{ adapter.dispatch('m', 'utils')() }} {{ adapter.dispatch(\"n\", 'utils')(x) }} "
        "{{ adapter.dispatch('o', macro_namespace='utils')() }} {{ adapter.dispatch('d', 'dbt')() }}")
    assert rewrite_dispatch("{{ adapter.dispatch('other')() }}", {None: "utils"}, {"m"}) == \
        "{{ adapter.dispatch('other')() }}"
    assert dispatched_names(text) == {"m", "n", "o", "d"}


def test_a_build_creates_the_folder_of_the_database_it_writes(tmp_path):
    from meshkit.orchestrate.resources import Resources, prepare

    target = tmp_path / "warehouse" / "shop_core.duckdb"
    prepare(Resources(writes=frozenset({str(target)})))
    assert target.parent.is_dir() and not target.exists()
