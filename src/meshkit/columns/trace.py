"""Trace each output column of one compiled query to the columns of the relations it reads.

sqlglot parses the SQL in the adapter's dialect and splits it into scopes (CTEs, derived
tables, union branches); this module follows each output column from scope to scope down to
the tables, which `Relations` names as dbt nodes. Where the SQL does not say for certain which
column a name is (an unqualified name two joined relations may both have, a `*` over a relation
whose columns are unknown), the column is unresolved with that reason.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, build_scope

from meshkit.columns.lineage import ColumnLineage, Lens, SourceColumn, Transform, Unresolved
from meshkit.columns.relations import Relations

_STRENGTH = list(Transform)  # of columns read together, the first kind listed is the one kept


@dataclass(frozen=True)
class Trace:
    """Where one column's value comes from: its source columns and the strongest transform on
    the way (None: a bare column reference at every step)."""

    sources: frozenset[SourceColumn] = frozenset()
    transform: Transform | None = None   # of siblings merged: the first in Transform's order
    unresolved: Unresolved | None = None
    detail: str | None = None
    # Columns that decide which rows the value is computed over (join keys, filters,
    # grouping) in every scope the value passes through.
    rows: frozenset[SourceColumn] = frozenset()

    def merge(self, other: Trace) -> Trace:
        problem = self if self.unresolved else other
        return Trace(self.sources | other.sources, _stronger(self.transform, other.transform),
                     problem.unresolved, problem.detail, self.rows | other.rows)

    def through(self, transform: Transform | None) -> Trace:
        """This trace read by an expression of kind `transform` (None: a bare column): the
        outermost computation names the column's kind."""
        return replace(self, transform=transform or self.transform)

    def within(self, rows: frozenset[SourceColumn]) -> Trace:
        """This trace in a scope whose rows those columns decide."""
        return replace(self, rows=self.rows | rows) if rows else self


def _stronger(a: Transform | None, b: Transform | None) -> Transform | None:
    if a is None or b is None:
        return a or b
    return a if _STRENGTH.index(a) <= _STRENGTH.index(b) else b


def _unresolved(reason: Unresolved, detail: str) -> Trace:
    return Trace(unresolved=reason, detail=detail[:200])


@dataclass(frozen=True)
class TracedModel:
    """A query's output columns (None when not even their names are known) or why not."""

    columns: list[ColumnLineage] | None
    unresolved: Unresolved | None = None
    detail: str | None = None
    reads: list[SourceColumn] | None = None   # every column the query reads; None: not known


def trace_query(sql: str, relations: Relations, declared: Sequence[str] = ()) -> TracedModel:
    """Lineage of every output column of `sql` (one SELECT, as dbt compiles a model), in the
    dialect of `relations`.

    `declared` names the model's columns (catalog or YAML) for when the query's own output is
    a `*` over unknown columns. Never raises for bad SQL: it is reported as unresolved."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=relations.dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        return TracedModel(None, Unresolved.UNPARSEABLE, str(exc).splitlines()[0][:200])
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return TracedModel(None, Unresolved.NOT_A_QUERY, f"{len(statements)} statement(s)")
    root = build_scope(normalize_identifiers(statements[0], dialect=relations.dialect))
    if root is None:
        return TracedModel(None, Unresolved.NOT_A_QUERY, "no SELECT")
    query = _Query(relations)
    try:
        outputs = query.outputs(root)
        names = [o.name for o in outputs if o.name] if outputs is not None else list(declared)
        if outputs is None and not names:
            return TracedModel(None, Unresolved.UNKNOWN_COLUMNS,
                               "`*` over a relation whose columns are not known")
        traces = {name: query.trace(root, name) for name in dict.fromkeys(names)}
        return TracedModel([_column(name, trace) for name, trace in traces.items()],
                           reads=query.reads(root, traces.values(), complete=outputs is not None))
    except (sqlglot.errors.SqlglotError, RecursionError) as exc:
        return TracedModel(None, Unresolved.UNSUPPORTED, str(exc).splitlines()[0][:200])


def _column(name: str, trace: Trace) -> ColumnLineage:
    sources = sorted(trace.sources)
    rows = sorted(trace.rows - trace.sources)
    if trace.unresolved:
        return ColumnLineage(name, sources, unresolved=trace.unresolved, detail=trace.detail,
                             rows=rows)
    if trace.transform is not None:
        return ColumnLineage(name, sources, Lens.TRANSFORMED, trace.transform, rows=rows)
    same = all(s.column.casefold() == name.casefold() for s in sources)
    return ColumnLineage(name, sources, Lens.PASSTHROUGH if same else Lens.RENAME, rows=rows)


@dataclass(frozen=True)
class _Output:
    """One output column of a scope: a projection, or a column a `*` brings from a source."""

    name: str
    expression: exp.Expr | None = None
    source: str | None = None     # for a `*`: the source's alias in the scope
    using: bool = False           # for a `*`: a USING join column (from every side)


class _Query:
    """The scopes of one query, with each scope's outputs and each traced column memoised."""

    def __init__(self, relations: Relations) -> None:
        self.relations = relations
        self._outputs: dict[int, list[_Output] | None] = {}
        self._traces: dict[tuple[int, str], Trace] = {}
        self._rows: dict[int, frozenset[SourceColumn]] = {}

    def reads(self, root: Scope, traces, *, complete: bool) -> list[SourceColumn] | None:
        """Every column of a relation the query reads: for its output, joins, filters,
        grouping and ordering. None when any of them is not known for certain."""
        found: set[SourceColumn] = set()
        for trace in traces:
            complete = complete and trace.unresolved is None
            found |= trace.sources
        for scope in root.traverse():
            if not isinstance(scope.expression, exp.Select):
                continue
            for column in scope.columns:
                trace = self.resolve(scope, column, None)
                complete = complete and trace.unresolved is None
                found |= trace.sources
            for name in _using_columns(scope):
                trace = self._resolve_unqualified(scope, name)
                complete = complete and trace.unresolved is None
                found |= trace.sources
        return sorted(found) if complete else None

    # -- what a scope outputs --------------------------------------------------------------
    def outputs(self, scope: Scope) -> list[_Output] | None:
        key = id(scope)
        if key not in self._outputs:
            self._outputs[key] = None  # a scope that reads itself (recursive CTE) is unknown
            self._outputs[key] = self._compute_outputs(scope)
        return self._outputs[key]

    def _compute_outputs(self, scope: Scope) -> list[_Output] | None:
        if _is_set_operation(scope):
            return self.outputs(_branches(scope)[0])
        select = scope.expression
        if not isinstance(select, exp.Select):
            return None
        outputs: list[_Output] = []
        for projection in select.selects:
            if _is_star(projection):
                expanded = self._expand_star(scope, projection)
                if expanded is None:
                    return None
                outputs += expanded
            else:  # an unnamed expression keeps its place: UNION branches match by position
                outputs.append(_Output(projection.alias_or_name, projection))
        return outputs

    def _expand_star(self, scope: Scope, star: exp.Expr) -> list[_Output] | None:
        only = star.table if isinstance(star, exp.Column) else None
        names = [only] if only else list(scope.selected_sources)
        using = _using_columns(scope) if not only else set()
        star_node = star.this if isinstance(star, exp.Column) else star
        excluded = {c.name.casefold() for c in star_node.args.get("except") or []}
        if star_node.args.get("replace") or star_node.args.get("rename"):
            return None
        outputs, emitted = [], set()
        for name in names:
            columns = self.source_columns(scope, name)
            if columns is None:
                return None
            for column in columns:
                folded = column.casefold()
                if folded in excluded or (folded in using and folded in emitted):
                    continue
                emitted.add(folded)
                outputs.append(_Output(column, source=name, using=folded in using))
        return outputs

    def source_columns(self, scope: Scope, name: str) -> list[str] | None:
        """All columns of a source of `scope` by its alias, or None if not all are known."""
        source = scope.sources.get(name)
        if isinstance(source, Scope):
            outputs = self.outputs(source)
            return None if outputs is None else [o.name for o in outputs if o.name]
        if isinstance(source, exp.Table):
            node = self.relations.node_of(source)
            known = self.relations.columns_of(node) if node else None
            return list(known.names) if known and known.complete else None
        return None

    # -- where an output comes from ------------------------------------------------------------
    def trace(self, scope: Scope, name: str) -> Trace:
        key = (id(scope), name.casefold())
        if key not in self._traces:
            self._traces[key] = _unresolved(Unresolved.UNSUPPORTED, f"`{name}` reads itself")
            self._traces[key] = self._trace(scope, name)
        return self._traces[key]

    def _trace(self, scope: Scope, name: str) -> Trace:
        if _is_set_operation(scope):
            return self._trace_set_operation(scope, name)
        outputs = self.outputs(scope)
        if outputs is None:
            return self._trace_through_star(scope, name).within(self.row_columns(scope))
        folded = name.casefold()
        match = next((o for o in outputs if o.name.casefold() == folded), None)
        if match is None:
            return _unresolved(Unresolved.COLUMN_NOT_FOUND, f"no output column `{name}`")
        return self._trace_output(scope, match).within(self.row_columns(scope))

    def row_columns(self, scope: Scope) -> frozenset[SourceColumn]:
        """The columns a SELECT's join conditions, filters and grouping read, traced to their
        sources (those that cannot be traced are left out: never guessed)."""
        key = id(scope)
        if key not in self._rows:
            self._rows[key] = frozenset()  # a scope reached again while computing its own
            select = scope.expression
            found: set[SourceColumn] = set()
            clauses = [select.args.get(k) for k in ("where", "group", "having", "qualify")]
            clauses += [join.args.get("on") for join in select.args.get("joins") or []]
            for clause in clauses:
                if clause is None:
                    continue
                for column in clause.find_all(exp.Column):
                    if isinstance(column.this, exp.Star) or _in_subquery(column, clause):
                        continue
                    trace = self.resolve(scope, column, None)
                    if trace.unresolved is None:
                        found |= trace.sources | trace.rows
            for name in _using_columns(scope):
                trace = self._resolve_unqualified(scope, name)
                if trace.unresolved is None:
                    found |= trace.sources | trace.rows
            for projection in _grouped_by_position(scope):  # `group by 1`
                trace = self.trace_expression(scope, projection)
                if trace.unresolved is None:
                    found |= trace.sources | trace.rows
            self._rows[key] = frozenset(found)
        return self._rows[key]

    def _trace_output(self, scope: Scope, output: _Output) -> Trace:
        if output.source is not None:
            if output.using:
                return self._resolve_unqualified(scope, output.name)
            return self.trace_source_column(scope, output.source, output.name)
        assert output.expression is not None  # an output without a source is a projection
        return self.trace_expression(scope, output.expression)

    def _trace_set_operation(self, scope: Scope, name: str) -> Trace:
        branches = _branches(scope)
        by_name = bool(scope.expression.args.get("by_name"))
        first = self.outputs(branches[0])
        position: int | None = None
        if not by_name:
            if first is None:
                return _unresolved(Unresolved.UNKNOWN_COLUMNS, "a UNION branch selects `*` over "
                                   "a relation whose columns are not known")
            position = [o.name.casefold() for o in first].index(name.casefold())
        trace = Trace()
        for branch in branches:
            if position is None:
                trace = trace.merge(self.trace(branch, name))
                continue
            outputs = self.outputs(branch)
            if outputs is None or len(outputs) <= position:
                return trace.merge(_unresolved(Unresolved.UNKNOWN_COLUMNS,
                                               "a UNION branch's columns are not known"))
            trace = trace.merge(self._trace_output(branch, outputs[position]))
        return trace

    def _trace_through_star(self, scope: Scope, name: str) -> Trace:
        """A scope whose `*` covers unknown columns: a name it does not project explicitly
        comes from the star's source, when the star covers exactly one source."""
        selects = _selects(scope)
        folded = name.casefold()
        explicit = [p for p in selects if not _is_star(p)
                    and p.alias_or_name.casefold() == folded]
        if explicit:
            return self.trace_expression(scope, explicit[0])
        stars = [p for p in selects if _is_star(p)]
        covered = [s.table if isinstance(s, exp.Column) else None for s in stars]
        sources = list(scope.selected_sources)
        if len(stars) == 1 and (covered[0] or len(sources) == 1):
            return self.trace_source_column(scope, covered[0] or sources[0], name)
        return _unresolved(Unresolved.UNKNOWN_COLUMNS,
                           f"`{name}` may come from any of the sources of a `*`: "
                           + ", ".join(sources))

    def trace_expression(self, scope: Scope, projection: exp.Expr) -> Trace:
        """The columns an expression reads in `scope`, with the kind of computation."""
        node = projection.unalias()
        while isinstance(node, exp.Paren):
            node = node.this
        if node.find(exp.Subquery, exp.Select):
            return _unresolved(Unresolved.UNSUPPORTED, f"a subquery in `{projection.sql()}`")
        trace = Trace()
        for column in node.find_all(exp.Column):
            if isinstance(column.this, exp.Star):
                continue  # count(*) reads rows, not columns
            trace = trace.merge(self.resolve(scope, column, projection))
        return trace.through(_kind(node))

    def resolve(self, scope: Scope, column: exp.Column, projection: exp.Expr | None) -> Trace:
        if column.table:
            if column.table not in scope.sources:
                return _unresolved(Unresolved.UNSUPPORTED,
                                   f"`{column.sql()}` reads a relation outside its query")
            return self.trace_source_column(scope, column.table, column.name)
        return self._resolve_unqualified(scope, column.name, projection)

    def _resolve_unqualified(self, scope: Scope, name: str,
                             projection: exp.Expr | None = None) -> Trace:
        sources = list(scope.selected_sources)
        if len(sources) == 1:
            return self.trace_source_column(scope, sources[0], name)
        has, unknown = [], []
        for source in sources:
            columns = self._named_columns(scope, source)
            if columns is not None and name.casefold() in columns[0]:
                has.append(source)
            elif columns is None or not columns[1]:
                unknown.append(source)
        if has and not unknown and (len(has) == 1 or name.casefold() in _using_columns(scope)):
            trace = Trace()
            for source in has:
                trace = trace.merge(self.trace_source_column(scope, source, name))
            return trace
        if not has and not unknown:
            return self._lateral_alias(scope, name, projection)
        return _unresolved(Unresolved.AMBIGUOUS_COLUMN,
                           f"`{name}` may be a column of " + " or ".join(has + unknown))

    def _named_columns(self, scope: Scope, name: str) -> tuple[Collection[str], bool] | None:
        """The column names a source is known to have, and whether that is all of them."""
        source = scope.sources.get(name)
        if isinstance(source, exp.Table):
            node = self.relations.node_of(source)
            known = self.relations.columns_of(node) if node else None
            return (known.folded.keys(), known.complete) if known else None
        columns = self.source_columns(scope, name)
        return ({c.casefold() for c in columns}, True) if columns is not None else None

    def _lateral_alias(self, scope: Scope, name: str, projection: exp.Expr | None) -> Trace:
        """DuckDB lets a projection read an earlier projection's alias."""
        for earlier in _selects(scope):
            if earlier is projection:
                break
            if isinstance(earlier, exp.Alias) and earlier.alias.casefold() == name.casefold():
                return self.trace_expression(scope, earlier)
        return _unresolved(Unresolved.COLUMN_NOT_FOUND, f"no source has a column `{name}`")

    def trace_source_column(self, scope: Scope, alias: str, name: str) -> Trace:
        source = scope.sources.get(alias)
        if isinstance(source, Scope):
            return self.trace(source, name)
        if not isinstance(source, exp.Table):
            return _unresolved(Unresolved.UNSUPPORTED, f"`{alias}` is not a table or a query")
        node = self.relations.node_of(source)
        if node is None:
            return _unresolved(Unresolved.UNKNOWN_RELATION,
                               f"{source.sql()} is no node of the project or its upstreams")
        known = self.relations.columns_of(node)
        spelled = known.find(name) if known else None
        if spelled is None and known is not None and known.complete:
            return _unresolved(Unresolved.COLUMN_NOT_FOUND, f"{node} has no column `{name}`")
        return Trace(frozenset({SourceColumn(node, spelled or name)}))


def _is_star(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                and isinstance(projection.this, exp.Star))


def _selects(scope: Scope) -> list[exp.Expr]:
    """A scope's projections. Every scope sqlglot builds is over a query or a table function,
    both of which have them; sqlglot types `Scope.expression` as any expression."""
    return cast("exp.Selectable", scope.expression).selects


def _grouped_by_position(scope: Scope) -> list[exp.Expr]:
    group = scope.expression.args.get("group")
    positions = [int(e.this) for e in (group.expressions if group else [])
                 if isinstance(e, exp.Literal) and e.is_int]
    selects = _selects(scope) if positions else []
    return [selects[p - 1] for p in positions if 0 < p <= len(selects)]


def _in_subquery(column: exp.Column, clause: exp.Expr) -> bool:
    """Whether a column sits in a subquery of the clause (its own scope traces it)."""
    parent = column.parent
    while parent is not None and parent is not clause:
        if isinstance(parent, (exp.Select, exp.Subquery)):
            return True
        parent = parent.parent
    return False


def _is_set_operation(scope: Scope) -> bool:
    return isinstance(scope.expression, exp.SetOperation)


def _branches(scope: Scope) -> list[Scope]:
    """The SELECT scopes of a (nested) set operation, leftmost first."""
    found: list[Scope] = []
    for branch in scope.set_operation_scopes:
        found += _branches(branch) if _is_set_operation(branch) else [branch]
    return found


def _using_columns(scope: Scope) -> set[str]:
    return {identifier.name.casefold() for join in scope.expression.args.get("joins") or []
            for identifier in join.args.get("using") or []}


def _kind(node: exp.Expr) -> Transform | None:
    """The kind of computation an expression is; None for a bare column."""
    if isinstance(node, exp.Column):
        return None
    if node.find(exp.Window):
        return Transform.WINDOW
    if node.find(exp.AggFunc):
        return Transform.AGGREGATE
    if node.find(exp.Case, exp.If):
        return Transform.CASE
    if isinstance(node, (exp.Cast, exp.TryCast)) and isinstance(node.this, exp.Column):
        return Transform.CAST
    if not node.find(exp.Column):
        return Transform.CONSTANT
    return Transform.EXPRESSION
