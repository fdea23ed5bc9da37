"""The vocabulary and stored shape of column lineage (one `columns.json` per published run).

Closed vocabularies are enums: how a column was derived (`Lens`), the kind of a
transformation (`Transform`), and why something could not be resolved (`Unresolved`).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec

# Bumped when the meaning of the stored lineage changes: entries of an older format are not
# reused at the next publish, they are computed again.
LINEAGE_FORMAT = 2
LINEAGE_FILE = "columns.json"


class Lens(StrEnum):
    """How an output column relates to its source columns (dbt Explorer's "evolution lens")."""

    PASSTHROUGH = "passthrough"   # the same value under the same name
    RENAME = "rename"             # the same value under another name
    TRANSFORMED = "transformed"   # computed from the sources (see Transform)


class Transform(StrEnum):
    """The kind of computation of a transformed column; the first that applies, in this order."""

    WINDOW = "window"          # a window function (`... over (...)`)
    AGGREGATE = "aggregate"    # an aggregate function (sum, count, min, …)
    CASE = "case"              # a CASE / IF
    CAST = "cast"              # a type cast of one column
    CONSTANT = "constant"      # a literal: no source column
    EXPRESSION = "expression"  # any other expression


class Unresolved(StrEnum):
    """Why a column's (or a model's) lineage is not known; nothing is ever guessed."""

    NOT_COMPILED = "not_compiled"              # no compiled SQL (a parse-only publish)
    NOT_SQL = "not_sql"                        # a Python model
    UNPARSEABLE = "unparseable"                # sqlglot cannot parse the compiled SQL
    NOT_A_QUERY = "not_a_query"                # the compiled SQL is not one SELECT
    UNKNOWN_RELATION = "unknown_relation"      # reads a table that is no node of the manifest
    UNKNOWN_COLUMNS = "unknown_columns"        # `*` over a relation whose columns are not known
    AMBIGUOUS_COLUMN = "ambiguous_column"      # an unqualified name more than one source may have
    COLUMN_NOT_FOUND = "column_not_found"      # a name no source is known to have
    UNSUPPORTED = "unsupported"                # SQL this tracer does not follow (named in detail)


class SourceColumn(msgspec.Struct, frozen=True, array_like=True, order=True):
    """One column of one node: (`model.analytics.fct_orders.v2`, `order_id`)."""

    node: str
    column: str


class ColumnLineage(msgspec.Struct, omit_defaults=True):
    """One output column. Resolved when `unresolved` is None; `sources` are then all of them.

    An unresolved column keeps the sources that are certain (possibly none) and says why the
    rest are not known; `detail` names the SQL fragment at fault."""

    name: str
    sources: list[SourceColumn] = msgspec.field(default_factory=list)
    lens: Lens | None = None
    transform: Transform | None = None
    unresolved: Unresolved | None = None
    detail: str | None = None
    # Columns that decide which rows it is computed over (join keys, filters, grouping), in
    # every query scope its value passes through; not among `sources`.
    rows: list[SourceColumn] = msgspec.field(default_factory=list)


class ModelLineage(msgspec.Struct, omit_defaults=True):
    """One model's output columns, keyed by the checksum of the compiled SQL they came from.

    `unresolved` is set when not even the model's output columns are known."""

    unique_id: str
    checksum: str
    columns: list[ColumnLineage] = msgspec.field(default_factory=list)
    unresolved: Unresolved | None = None
    detail: str | None = None
    # Every column the model reads (output, joins, filters, grouping); None: not all known.
    reads: list[SourceColumn] | None = None
    # dbt's checksum of the model's file (manifest `checksum.checksum`): lets a run that reused
    # the model without compiling it keep this entry.
    source_checksum: str = ""

    def reads_column(self, column: SourceColumn) -> bool | None:
        """Whether the model reads `column`; None when that is not known."""
        if self.reads is None:
            return None
        folded = (column.node, column.column.casefold())
        return any((r.node, r.column.casefold()) == folded for r in self.reads)

    def column(self, name: str) -> ColumnLineage | None:
        folded = name.casefold()
        return next((c for c in self.columns if c.name.casefold() == folded), None)


class ProjectLineage(msgspec.Struct):
    """A published run's column lineage: every model of the project by unique id.

    `compiled` is False for a run published from a parse (no compiled SQL in the manifest):
    its models are then all `not_compiled`."""

    project: str
    dialect: str
    compiled: bool
    models: dict[str, ModelLineage] = msgspec.field(default_factory=dict)
    format: int = LINEAGE_FORMAT


def sql_checksum(sql: str, dialect: str, inputs: str = "") -> str:
    """The reuse key of a model's lineage: its compiled SQL, the dialect, and the columns of
    the relations it reads (`inputs`), since a `*` over them expands differently when they
    change."""
    return hashlib.sha256(f"{LINEAGE_FORMAT}\0{dialect}\0{inputs}\0{sql}".encode()).hexdigest()[:32]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ProjectLineage)


def encode_lineage(lineage: ProjectLineage) -> bytes:
    """A project's column lineage as the JSON the store keeps (lineage.json)."""
    return _encoder.encode(lineage)


def decode_lineage(data: bytes) -> ProjectLineage:
    """Raises msgspec.DecodeError / ValidationError on a corrupt file (the caller names it)."""
    return _decoder.decode(data)
