"""A project's column lineage from a manifest: parents first, reuse by checksum, parse-only."""

from __future__ import annotations

import msgspec

from meshkit.columns.lineage import Lens, SourceColumn, Unresolved
from meshkit.columns.project import complete_columns, project_lineage
from meshkit.dbt.artifacts import Manifest


def _model(name: str, sql: str | None, parents: list[str], columns: list[str] = ()) -> dict:
    return {"unique_id": f"model.shop.{name}", "resource_type": "model", "package_name": "shop",
            "name": name, "original_file_path": f"models/{name}.sql",
            "relation_name": f'"db"."main"."{name}"', "compiled_code": sql,
            "depends_on": {"nodes": parents}, "columns": {c: {"name": c} for c in columns}}


def _manifest(*models: dict, upstream: bool = True) -> Manifest:
    nodes = {m["unique_id"]: m for m in models}
    if upstream:  # an upstream project's public model, injected by the plugin: no file
        nodes["model.core.customers"] = {
            "unique_id": "model.core.customers", "resource_type": "model",
            "package_name": "core", "name": "customers", "relation_name": '"core"."main"."customers"'}
    return msgspec.convert({"metadata": {"dbt_schema_version": "v12", "adapter_type": "duckdb"},
                            "nodes": nodes}, Manifest)


STG = _model("stg", 'select * from "core"."main"."customers"', ["model.core.customers"])
MART = _model("mart", 'select customer_id, upper(email) as email_upper from "db"."main"."stg" '
              'join "db"."main"."extra" using (customer_id)', ["model.shop.stg", "model.shop.extra"])
EXTRA = _model("extra", 'select 1 as customer_id, 2 as score', [])
UPSTREAM = {"model.core.customers": ["customer_id", "email"]}


def test_children_read_the_columns_traced_for_their_parents_and_upstream_interfaces():
    lineage = project_lineage(_manifest(MART, STG, EXTRA), "shop", upstream_columns=UPSTREAM)
    assert lineage.compiled and lineage.dialect == "duckdb"
    assert set(lineage.models) == {"model.shop.stg", "model.shop.extra", "model.shop.mart"}
    email = lineage.models["model.shop.mart"].column("email_upper")
    assert email.lens == Lens.TRANSFORMED
    assert email.sources == [SourceColumn("model.shop.stg", "email")]
    stg = lineage.models["model.shop.stg"].column("email")
    assert (stg.lens, stg.sources) == (Lens.PASSTHROUGH, [SourceColumn("model.core.customers", "email")])


def test_without_the_upstream_interface_a_star_over_it_is_unresolved():
    lineage = project_lineage(_manifest(STG), "shop")
    assert lineage.models["model.shop.stg"].unresolved == Unresolved.UNKNOWN_COLUMNS


def test_unchanged_models_keep_the_previous_entry_and_edited_ones_are_traced_again():
    first = project_lineage(_manifest(MART, STG, EXTRA), "shop", upstream_columns=UPSTREAM)
    edited = _model("extra", "select 1 as customer_id, 3 as score, 4 as rank", [])
    second = project_lineage(_manifest(MART, STG, edited), "shop", upstream_columns=UPSTREAM,
                             previous=first)
    assert second.models["model.shop.stg"] is first.models["model.shop.stg"]
    assert second.models["model.shop.extra"] is not first.models["model.shop.extra"]
    # mart reads extra's columns, which changed: traced again, not reused
    assert second.models["model.shop.mart"] is not first.models["model.shop.mart"]


def test_a_parse_only_manifest_is_marked_not_compiled():
    manifest = _manifest(_model("stg", None, [], ["customer_id"]))
    lineage = project_lineage(manifest, "shop")
    assert not lineage.compiled
    entry = lineage.models["model.shop.stg"]
    assert entry.unresolved == Unresolved.NOT_COMPILED
    assert [c.unresolved for c in entry.columns] == [Unresolved.NOT_COMPILED]


def test_a_model_a_build_reused_without_compiling_keeps_its_lineage_while_its_file_is_unchanged():
    def with_file(model: dict, sql: str | None, checksum: str) -> dict:
        return {**model, "compiled_code": sql, "checksum": {"name": "sha256", "checksum": checksum}}
    first = project_lineage(_manifest(with_file(EXTRA, EXTRA["compiled_code"], "a")), "shop")
    reused = project_lineage(_manifest(with_file(EXTRA, None, "a")), "shop", previous=first)
    assert reused.models["model.shop.extra"] is first.models["model.shop.extra"]
    edited = project_lineage(_manifest(with_file(EXTRA, None, "b")), "shop", previous=first)
    assert edited.models["model.shop.extra"].unresolved == Unresolved.NOT_COMPILED


def test_complete_columns_are_what_an_interface_lists():
    manifest = _manifest(MART, STG, EXTRA)
    lineage = project_lineage(manifest, "shop", upstream_columns=UPSTREAM)
    assert complete_columns(manifest, lineage)["model.shop.stg"] == ["customer_id", "email"]
