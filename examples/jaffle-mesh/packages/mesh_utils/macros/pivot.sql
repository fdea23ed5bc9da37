{#-
    pivot(column, values, alias=True, agg='sum', cmp='=', prefix='', suffix='',
          then_value=1, else_value=0, quote_identifiers=True, distinct=False)

    Emits one aggregate expression per value in `values`, comma-separated, for use
    inside a SELECT with a GROUP BY:

        {{ agg }}( [distinct] case when {{ column }} {{ cmp }} '<value>'
                               then {{ then_value }} else {{ else_value }} end )
            as <prefix><value><suffix>

    column             the column (or expression) compared with each value
    values             list of values, typically from mesh_utils.get_column_values()
    alias              alias each expression as prefix ~ value ~ suffix
    agg                the aggregate function: sum, max, count, ...
    cmp                the comparison operator used in the CASE
    prefix, suffix     added around the value to make the alias
    then_value         the expression used when the comparison holds (e.g. 'amount')
    else_value         the expression used otherwise
    quote_identifiers  quote each alias with adapter.quote; when false the alias is
                       slugified into a safe unquoted identifier instead
    distinct           aggregate over distinct values: agg(distinct case ... end)

    Same signature and behaviour as dbt_utils.pivot; dispatched so an adapter can
    override it with <adapter>__pivot in the `mesh_utils` namespace.
-#}
{% macro pivot(column,
               values,
               alias=True,
               agg='sum',
               cmp='=',
               prefix='',
               suffix='',
               then_value=1,
               else_value=0,
               quote_identifiers=True,
               distinct=False) -%}
    {{ return(adapter.dispatch('pivot', 'mesh_utils')(
        column, values, alias, agg, cmp, prefix, suffix,
        then_value, else_value, quote_identifiers, distinct)) }}
{%- endmacro %}


{% macro default__pivot(column,
                        values,
                        alias=True,
                        agg='sum',
                        cmp='=',
                        prefix='',
                        suffix='',
                        then_value=1,
                        else_value=0,
                        quote_identifiers=True,
                        distinct=False) -%}
    {%- set expressions = [] -%}
    {%- for value in values -%}
        {%- set literal = "'" ~ dbt.escape_single_quotes(value | string) ~ "'" -%}
        {%- set expression -%}
            {{ agg }}({{ 'distinct ' if distinct else '' }}case when {{ column }} {{ cmp }} {{ literal }} then {{ then_value }} else {{ else_value }} end)
        {%- endset -%}
        {%- if alias -%}
            {%- set name = prefix ~ value ~ suffix -%}
            {%- if quote_identifiers -%}
                {%- set expression = expression ~ ' as ' ~ adapter.quote(name) -%}
            {%- else -%}
                {%- set expression = expression ~ ' as ' ~ mesh_utils.slugify(name) -%}
            {%- endif -%}
        {%- endif -%}
        {%- do expressions.append(expression) -%}
    {%- endfor -%}
    {{ expressions | join(',\n        ') }}
{%- endmacro %}


{#-
    slugify(string): a safe unquoted identifier made from any string:
    lower case, runs of spaces and dashes become one underscore, other characters
    that are not letters, digits or underscores are dropped, and a leading digit
    gets an underscore in front.
-#}
{% macro slugify(string) -%}
    {%- set re = modules.re -%}
    {%- set slug = re.sub('[ -]+', '_', (string | string) | lower) -%}
    {%- set slug = re.sub('[^a-z0-9_]+', '', slug) -%}
    {%- if re.match('[0-9]', slug) -%}
        {%- set slug = '_' ~ slug -%}
    {%- endif -%}
    {{ return(slug) }}
{%- endmacro %}
