{#-
    Use a custom schema verbatim instead of dbt's default `<target_schema>_<custom>`,
    so the seeds land in `jaffle_shop` and `stripe`, the schemas the mesh's sources name.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
