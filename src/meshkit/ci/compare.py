"""Compare changes: a model's PR relation against its production relation.

Columns are compared by name and type (types in the adapter's own spelling,
dbt.adapters.normalize_type); rows by primary key (added, removed, and changed: same key,
some common column differs, nulls equal) or, without a key, as whole rows (`except all`).
The SQL is plain ANSI, so DuckDB, PostgreSQL and other warehouses run it alike; it goes
through dbt's adapter (meshkit.dbt.warehouse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meshkit.dbt.adapters import normalize_type

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class Relation:
    database: str | None
    schema: str
    identifier: str

    @property
    def sql(self) -> str:
        parts = [self.database] if self.database else []
        return ".".join(_quote(p) for p in parts + [self.schema, self.identifier])

    @property
    def triple(self) -> list:
        return [self.database, self.schema, self.identifier]


@dataclass
class Comparison:
    """One model's differences. Counts are None when they could not be computed."""

    unique_id: str
    label: str
    key: list[str] | None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    columns_changed: list[tuple[str, str, str]] = field(default_factory=list)  # name, before, after
    rows_before: int | None = None
    rows_after: int | None = None
    added: int | None = None
    removed: int | None = None
    changed: int | None = None
    sample: list[dict] = field(default_factory=list)   # {"change", "key": {...}, "columns": {c: [before, after]}}
    note: str | None = None        # why nothing (or less) was compared

    @property
    def identical(self) -> bool:
        return not (self.columns_added or self.columns_removed or self.columns_changed
                    or self.added or self.removed or self.changed) and self.note is None


def column_changes(comparison: Comparison, before: list[list[str]], after: list[list[str]],
                   adapter: str | None) -> list[str]:
    """Fill the column differences; returns the common columns (production's order, the
    names as the PR relation spells them). `before`/`after`: [[name, data_type], ...]."""
    old = {name.lower(): (name, kind) for name, kind in before}
    new = {name.lower(): (name, kind) for name, kind in after}
    comparison.columns_added = [new[c][0] for c in new if c not in old]
    comparison.columns_removed = [old[c][0] for c in old if c not in new]
    common = [c for c in old if c in new]
    comparison.columns_changed = [
        (new[c][0], old[c][1], new[c][1]) for c in common
        if normalize_type(adapter, old[c][1]) != normalize_type(adapter, new[c][1])]
    return [new[c][0] for c in common]


def comparison_sql(pr: Relation, prod: Relation, key: list[str] | None, common: list[str],
                   retyped: set[str]) -> list[str]:
    """The statements to run, in order: counts, then samples (with a key only).

    `common`: columns both relations have; `retyped`: those whose type changed (compared as
    text). The counts row is (rows_after, rows_before, added, removed, changed).
    """
    def col(alias: str, name: str) -> str:
        ref = f"{alias}.{_quote(name)}"
        return f"cast({ref} as varchar)" if name.lower() in retyped else ref

    frame = f"with pr as (select * from {pr.sql}), prod as (select * from {prod.sql})"
    counts = "(select count(*) from pr), (select count(*) from prod)"
    if not key:
        cols_pr = ", ".join(col("pr", c) for c in common) or "1"
        cols_prod = ", ".join(col("prod", c) for c in common) or "1"
        return [f"{frame} select {counts}, "
                f"(select count(*) from (select {cols_pr} from pr except all "
                f"select {cols_prod} from prod) d), "
                f"(select count(*) from (select {cols_prod} from prod except all "
                f"select {cols_pr} from pr) d), null"]
    match = " and ".join(f"pr.{_quote(k)} is not distinct from prod.{_quote(k)}" for k in key)
    values = [c for c in common if c.lower() not in key]
    differs = ("not (" + " and ".join(f"{col('pr', c)} is not distinct from {col('prod', c)}"
                                      for c in values) + ")") if values else "1 = 0"
    keys_pr = ", ".join(f"pr.{_quote(k)}" for k in key)
    keys_prod = ", ".join(f"prod.{_quote(k)}" for k in key)
    order = ", ".join(str(i + 1) for i in range(len(key)))
    pairs = ", ".join(f"{col('prod', c)}, {col('pr', c)}" for c in values) or "null, null"
    return [
        f"{frame} select {counts}, "
        f"(select count(*) from pr where not exists (select 1 from prod where {match})), "
        f"(select count(*) from prod where not exists (select 1 from pr where {match})), "
        f"(select count(*) from pr join prod on {match} where {differs})",
        f"{frame} select {keys_pr}, {pairs} from pr join prod on {match} where {differs} "
        f"order by {order} limit {SAMPLE_ROWS}",
        f"{frame} select {keys_pr} from pr where not exists (select 1 from prod where {match}) "
        f"order by {order} limit {SAMPLE_ROWS}",
        f"{frame} select {keys_prod} from prod where not exists (select 1 from pr where {match}) "
        f"order by {order} limit {SAMPLE_ROWS}",
    ]


def read_results(comparison: Comparison, common: list[str], results: list[dict]) -> None:
    """Fill counts and the sample from `comparison_sql`'s results, in its order."""
    row = results[0]["rows"][0]
    (comparison.rows_after, comparison.rows_before, comparison.added, comparison.removed,
     comparison.changed) = row
    key = comparison.key
    if not key:
        return
    values = [c for c in common if c.lower() not in key]
    for found in results[1]["rows"]:
        keys = dict(zip(key, found[:len(key)], strict=False))
        pairs = found[len(key):]
        differing = {c: [pairs[2 * i], pairs[2 * i + 1]] for i, c in enumerate(values)
                     if pairs[2 * i] != pairs[2 * i + 1]}
        comparison.sample.append({"change": "changed", "key": keys, "columns": differing})
    for change, result in (("added", results[2]), ("removed", results[3])):
        for found in result["rows"]:
            comparison.sample.append({"change": change, "key": dict(zip(key, found, strict=False)),
                                      "columns": {}})


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
