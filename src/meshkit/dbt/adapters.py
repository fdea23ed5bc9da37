"""What a dbt adapter does with constraints and column types, asked of the adapter itself.

Governance reads artifacts only; these two questions need the adapter's own knowledge:
which constraints the warehouse enforces (a primary_key constraint Snowflake only records
does not keep duplicate keys out), and whether two spellings name one column type
(`int` in a contract, `INTEGER` in catalog.json). dbt is imported lazily, once per adapter.
"""

from __future__ import annotations

import functools
import importlib
import re

# PostgreSQL's own names for its type aliases (PostgreSQL manual, "Data Types", table 8.1):
# what information_schema, and so catalog.json, reports for a type written the short way.
_POSTGRES_NAMES = {
    "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
    "serial": "integer", "bigserial": "bigint", "smallserial": "smallint",
    "varchar": "character varying", "char": "character", "bpchar": "character",
    "bool": "boolean", "float8": "double precision", "float": "double precision",
    "float4": "real", "decimal": "numeric", "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone", "time": "time without time zone",
    "timetz": "time with time zone", "varbit": "bit varying",
}


def _adapter_class(adapter_type: str | None):
    """The installed adapter's class (dbt's BaseAdapter when it is not installed)."""
    from dbt.adapters.base.impl import BaseAdapter

    if not adapter_type:
        return BaseAdapter
    try:
        module = importlib.import_module(f"dbt.adapters.{adapter_type}")
        return module.Plugin.adapter
    except (ImportError, AttributeError):
        return BaseAdapter


@functools.cache
def constraint_support(adapter_type: str | None) -> dict[str, str]:
    """Constraint type (`primary_key`, `unique`, …) → `enforced`, `not_enforced` or
    `not_supported`, from the adapter's CONSTRAINT_SUPPORT (dbt-adapters' BaseAdapter
    defaults — unique and primary_key not enforced — when the adapter is not installed)."""
    support = _adapter_class(adapter_type).CONSTRAINT_SUPPORT
    return {str(getattr(kind, "value", kind)): str(getattr(level, "value", level))
            for kind, level in support.items()}


@functools.cache
def normalize_type(adapter_type: str | None, text: str) -> str:
    """One spelling per column type, lower case: `int` and `INTEGER` → `integer` on DuckDB.

    DuckDB (in memory, as dbt's contract check casts null to the declared type) and
    PostgreSQL (its alias table) give the warehouse's own name; other adapters get dbt's
    `Column.translate_type`. A type the adapter cannot read is returned as written.
    """
    written = " ".join(text.split())
    if adapter_type == "duckdb":
        canonical = _duckdb_type(written)
        if canonical:
            return canonical.lower()
    label = _adapter_class(adapter_type).Column.translate_type(written).lower()
    if adapter_type in ("postgres", "redshift"):
        head, _, rest = label.partition("(")
        name = _POSTGRES_NAMES.get(head.strip(), head.strip())
        label = f"{name}({rest}" if rest else name
    return re.sub(r"\s*\(\s*", "(", re.sub(r"\s*,\s*", ",", label))


def _duckdb_type(text: str) -> str | None:
    import duckdb

    if ";" in text or "--" in text:      # one type name, never a statement
        return None
    try:
        return _duckdb().execute(f"select typeof(cast(null as {text}))").fetchone()[0]
    except duckdb.Error:
        return None


@functools.cache
def _duckdb():
    import duckdb

    return duckdb.connect(":memory:")
