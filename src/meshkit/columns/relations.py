"""The relations a model's SQL may read: which node each table name is, and its columns.

Column lists come with how sure they are: the warehouse's (catalog.json), an enforced
contract's and a traced model's are complete; columns a YAML file documents without a contract
may be only some of them, so they name columns but never rule one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp


@dataclass(frozen=True)
class KnownColumns:
    """A relation's column names (as written), and whether they are all of its columns."""

    names: tuple[str, ...]
    complete: bool
    folded: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded: dict[str, str] = {}
        for name in self.names:
            folded.setdefault(name.casefold(), name)
        object.__setattr__(self, "folded", folded)

    def find(self, name: str) -> str | None:
        """The relation's spelling of `name` (identifiers compare case-insensitively)."""
        return self.folded.get(name.casefold())


class Relations:
    """Table names → node unique ids, and node unique ids → known columns."""

    def __init__(self, dialect: str) -> None:
        self.dialect = sqlglot.Dialect.get_or_raise(dialect)  # resolved once: looked up per use
        self._nodes: dict[tuple[str, ...], str | None] = {}
        self._columns: dict[str, KnownColumns] = {}

    def add(self, unique_id: str, relation_name: str | None,
            columns: KnownColumns | None = None) -> None:
        """Register a node under its `relation_name` (`"db"."schema"."table"`, as dbt writes it)
        and under its shorter forms while they stay unambiguous."""
        if relation_name:
            try:
                table = exp.to_table(relation_name, dialect=self.dialect)
            except sqlglot.errors.SqlglotError:
                table = None
            if table is not None:
                parts = _parts(table)
                for start in range(len(parts)):
                    key = parts[start:]
                    # A shorter form two relations share names neither of them.
                    seen = self._nodes.get(key, unique_id)
                    self._nodes[key] = unique_id if seen == unique_id else None
        if columns is not None:
            self._columns[unique_id] = columns

    def set_columns(self, unique_id: str, columns: KnownColumns) -> None:
        self._columns[unique_id] = columns

    def node_of(self, table: exp.Table) -> str | None:
        return self._nodes.get(_parts(table))

    def columns_of(self, unique_id: str) -> KnownColumns | None:
        return self._columns.get(unique_id)


def _parts(table: exp.Table) -> tuple[str, ...]:
    return tuple(p.name.casefold() for p in table.parts if p.name)
