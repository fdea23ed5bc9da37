{#-
    get_column_values(table, column, order_by='count(*) desc', max_records=None,
                      default=None, where=None)

    Returns the distinct values of `column` in the relation `table` as a Python list,
    by running a query when dbt is executing (compile, run, build). At parse time, and
    whenever dbt is not executing, it runs nothing and returns `default` (or [] when no
    default is given), so it never adds a database round-trip to parsing.

    table        a relation, usually ref('...') or source('...', '...'); not an
                 ephemeral model (there is nothing in the database to query)
    column       the column (or expression) whose values are wanted
    order_by     the ORDER BY of the values; ties are always broken by the value
                 itself so the list, and the SQL built from it, is deterministic
    max_records  keep only the first N values
    default      returned when the relation does not exist or has no rows; without
                 a default a missing relation is a compilation error and an empty
                 one gives []
    where        an optional filter, SQL text

    Same signature and behaviour as dbt_utils.get_column_values, except that ties
    are broken deterministically and an empty result without a default is [] rather
    than none; dispatched in the `mesh_utils` namespace.
-#}
{% macro get_column_values(table, column, order_by='count(*) desc', max_records=none, default=none, where=none) -%}
    {{ return(adapter.dispatch('get_column_values', 'mesh_utils')(
        table, column, order_by, max_records, default, where)) }}
{%- endmacro %}


{% macro default__get_column_values(table, column, order_by='count(*) desc', max_records=none, default=none, where=none) -%}
    {#- Never query while parsing: refs in the caller are already recorded. -#}
    {%- if not execute -%}
        {{ return(default if default is not none else []) }}
    {%- endif -%}

    {%- if table.is_cte -%}
        {{ exceptions.raise_compiler_error(
            "mesh_utils.get_column_values() cannot read " ~ table.identifier
            ~ ": it is an ephemeral model, which does not exist in the database."
            ~ " Materialize it as a view or a table.") }}
    {%- endif -%}

    {%- set relation = load_relation(table) -%}
    {%- if relation is none -%}
        {%- if default is none -%}
            {{ exceptions.raise_compiler_error(
                "mesh_utils.get_column_values(): relation " ~ table
                ~ " does not exist and no default value was provided.") }}
        {%- endif -%}
        {{ log("mesh_utils.get_column_values(): relation " ~ table
               ~ " does not exist; returning the default value: " ~ default) }}
        {{ return(default) }}
    {%- endif -%}

    {%- set query -%}
        select {{ column }} as value
        from {{ relation }}
        {%- if where is not none %}
        where {{ where }}
        {%- endif %}
        group by {{ column }}
        order by {{ order_by }}, {{ column }}
        {%- if max_records is not none %}
        limit {{ max_records }}
        {%- endif %}
    {%- endset -%}

    {%- set result = run_query(query) -%}
    {%- set values = result.columns[0].values() | list if result is not none else [] -%}
    {%- if values | length > 0 -%}
        {{ return(values) }}
    {%- endif -%}
    {{ return(default if default is not none else []) }}
{%- endmacro %}
