"""Reading a DuckDB warehouse back for row-for-row comparisons in end-to-end tests."""

from __future__ import annotations

import duckdb


def relations(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    """(schema, table) of every relation of an attached database, sorted."""
    return con.execute("select table_schema, table_name from information_schema.tables "
                       "where table_catalog = ? order by 1, 2", [catalog]).fetchall()


def rows(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str):
    """(column names, every row in a stable order) of one relation."""
    found = con.execute(f'select * from "{catalog}"."{schema}"."{table}" order by all').fetchall()
    return [d[0] for d in con.description], found
