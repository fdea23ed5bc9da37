"""A project's column lineage from its manifest, computed model by model, parents first.

Each model's columns are traced against the best-known columns of what it reads: the
warehouse's (catalog.json), an enforced contract's, an upstream project's public interface for
a cross-project ref, or the columns traced for a parent model of the same project; then the
columns a YAML file documents. A model whose compiled SQL and inputs are unchanged since the
previous run keeps that run's entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from meshkit.columns.lineage import (
    ColumnLineage,
    ModelLineage,
    ProjectLineage,
    Unresolved,
    sql_checksum,
)
from meshkit.columns.relations import KnownColumns, Relations
from meshkit.columns.trace import trace_query
from meshkit.dbt.artifacts import Catalog, Manifest, Node, Source
from meshkit.dbt.dag import parents_first

# dbt adapter type → sqlglot dialect, where the names differ.
_DIALECTS = {"sqlserver": "tsql", "fabric": "tsql", "synapse": "tsql", "databricks": "databricks",
             "spark": "spark", "glue": "spark", "athena": "athena"}


def dialect_of(adapter_type: str | None) -> str:
    """The sqlglot dialect of a dbt adapter (`manifest.metadata.adapter_type`); '' if unknown."""
    import sqlglot

    name = _DIALECTS.get(adapter_type or "", adapter_type or "")
    try:
        sqlglot.Dialect.get_or_raise(name)
    except ValueError:
        return ""
    return name


def project_lineage(manifest: Manifest, project: str, *, catalog: Catalog | None = None,
                    upstream_columns: Mapping[str, Sequence[str]] | None = None,
                    previous: ProjectLineage | None = None) -> ProjectLineage:
    """Every model of `project` in `manifest`, by unique id.

    `upstream_columns`: columns of upstream projects' public models by unique id (from their
    published interfaces). `previous`: the last published lineage, whose entries are reused
    where a model's checksum (compiled SQL, dialect, input columns) is unchanged."""
    dialect = dialect_of(manifest.metadata.adapter_type)
    relations = _relations(manifest, dialect, catalog, upstream_columns or {})
    own = [n for n in manifest.nodes.values()
           if n.resource_type == "model" and n.package_name == project and n.original_file_path]
    compiled = any(n.compiled_code for n in own)
    reuse = previous.models if previous and previous.dialect == dialect else {}
    models: dict[str, ModelLineage] = {}
    by_id = {n.unique_id: n for n in own}
    for node in (by_id[uid] for uid in parents_first(by_id)):
        entry = _model_lineage(node, dialect, relations, catalog, reuse)
        models[node.unique_id] = entry
        _learn(relations, node.unique_id, entry)
    return ProjectLineage(project=project, dialect=dialect, compiled=compiled,
                          models=dict(sorted(models.items())))


def _model_lineage(node: Node, dialect: str, relations: Relations, catalog: Catalog | None,
                   reuse: Mapping[str, ModelLineage]) -> ModelLineage:
    declared = _declared(node, catalog)
    if node.language == "python":
        return _whole(node, "", declared, Unresolved.NOT_SQL, "a Python model")
    earlier = reuse.get(node.unique_id)
    if not node.compiled_code:
        # A state-aware build compiles only what it rebuilds: a reused model whose file is
        # unchanged keeps the lineage computed when it was last compiled.
        if earlier is not None and earlier.source_checksum and \
                earlier.source_checksum == node.checksum.checksum:
            return earlier
        return _whole(node, "", declared, Unresolved.NOT_COMPILED,
                      "published from a parse: build or compile the project, then publish")
    if not dialect:
        return _whole(node, "", declared, Unresolved.UNSUPPORTED, "no SQL dialect for the adapter")
    checksum = sql_checksum(node.compiled_code, dialect, _inputs(node, relations))
    if earlier is not None and earlier.checksum == checksum:
        return earlier
    try:
        traced = trace_query(node.compiled_code, relations, declared)
    except Exception as exc:  # noqa: BLE001 - a tracer bug must not fail the publish
        return _whole(node, checksum, declared, Unresolved.UNSUPPORTED,
                      f"meshkit could not trace this SQL ({type(exc).__name__}: {exc})"[:200])
    if traced.columns is None:
        return _whole(node, checksum, declared, traced.unresolved, traced.detail)
    return ModelLineage(node.unique_id, checksum, traced.columns, reads=traced.reads,
                        source_checksum=node.checksum.checksum)


def _whole(node: Node, checksum: str, declared: Sequence[str], reason: Unresolved | None,
           detail: str | None) -> ModelLineage:
    """A model none of whose columns could be traced: its declared columns, each unresolved."""
    columns = [ColumnLineage(name, unresolved=reason, detail=detail) for name in declared]
    return ModelLineage(node.unique_id, checksum, columns, unresolved=reason, detail=detail)


def _learn(relations: Relations, unique_id: str, entry: ModelLineage) -> None:
    """A traced model's output is complete: its children can expand `*` over it."""
    known = relations.columns_of(unique_id)
    if entry.unresolved is None and (known is None or not known.complete):
        relations.set_columns(unique_id, KnownColumns(tuple(c.name for c in entry.columns), True))


def _relations(manifest: Manifest, dialect: str, catalog: Catalog | None,
               upstream: Mapping[str, Sequence[str]]) -> Relations:
    relations = Relations(dialect)
    entries = {**(catalog.sources if catalog else {}), **(catalog.nodes if catalog else {})}
    nodes: list[Node | Source] = [*manifest.nodes.values(), *manifest.sources.values()]
    for node in nodes:
        if node.resource_type in ("test", "analysis", "operation", "sql_operation", "unit_test"):
            continue
        relations.add(node.unique_id, node.relation_name,
                      _known(node, entries.get(node.unique_id), upstream.get(node.unique_id)))
    return relations


def _known(node, entry, upstream: Sequence[str] | None) -> KnownColumns | None:
    if entry is not None and entry.columns:
        ordered = sorted(entry.columns.values(), key=lambda c: c.index)
        return KnownColumns(tuple(c.name for c in ordered), True)
    config = getattr(node, "config", None)
    if node.columns and config is not None and config.contract.enforced:
        return KnownColumns(tuple(node.columns), True)
    if upstream:
        return KnownColumns(tuple(upstream), True)
    return KnownColumns(tuple(node.columns), False) if node.columns else None


def _declared(node: Node, catalog: Catalog | None) -> list[str]:
    entry = catalog.nodes.get(node.unique_id) if catalog else None
    if entry is not None and entry.columns:
        return [c.name for c in sorted(entry.columns.values(), key=lambda c: c.index)]
    return list(node.columns)


def _inputs(node: Node, relations: Relations) -> str:
    """The known columns of what a model reads, as text for its checksum."""
    parts = []
    for parent in sorted(set(node.depends_on.nodes)):
        known = relations.columns_of(parent)
        parts.append(f"{parent}:{int(known.complete)}:{','.join(known.names)}" if known
                     else parent)
    return ";".join(parts)


def complete_columns(manifest: Manifest, lineage: ProjectLineage,
                     catalog: Catalog | None = None) -> dict[str, list[str]]:
    """Each model of the lineage whose whole column list is known: the warehouse's, an
    enforced contract's, or the traced output. What a public interface tells consumers."""
    entries = catalog.nodes if catalog else {}
    found: dict[str, list[str]] = {}
    for unique_id, entry in lineage.models.items():
        node = manifest.nodes.get(unique_id)
        known = _known(node, entries.get(unique_id), None) if node else None
        if known is not None and known.complete:
            found[unique_id] = list(known.names)
        elif entry.unresolved is None:
            found[unique_id] = [c.name for c in entry.columns]
    return found
