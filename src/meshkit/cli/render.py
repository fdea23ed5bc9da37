"""How the command line shows things: one colour per status, and tables that fit the terminal.

A table never cuts a value with "…" (two names that differ at the end would look alike): too
wide for the terminal, it drops its least needed columns first (each command says which
matter least), then wraps free text, then folds a long name across lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from meshkit.status import NodeStatus, PlanStatus, RunStatus

# One colour per status text: node results (dbt's), meshkit's plan and run statuses share it.
STATUS_STYLES: dict[str, str] = {
    NodeStatus.SUCCESS: "green", PlanStatus.REUSED: "cyan", RunStatus.NOOP: "cyan",
    NodeStatus.ERROR: "red", NodeStatus.FAIL: "red", RunStatus.CANCELED: "magenta",
    RunStatus.INTERRUPTED: "yellow", NodeStatus.SKIPPED: "yellow", NodeStatus.WARN: "yellow",
    RunStatus.RUNNING: "blue", RunStatus.QUEUED: "cyan", PlanStatus.PLANNED: "blue"}

_PROSE_MIN = 24       # free text is not wrapped narrower than this while a column can go
_PROSE_FLOOR = 12     # nor, once none can, narrower than this (a long name folds instead)


def status_text(status: str | None) -> Text:
    """A status in its colour; any status (or none) renders, styled or not."""
    return Text(status or "—", style=STATUS_STYLES.get(status or "", ""))


_HEADLINE = re.compile(r"^(?P<kind>[\w ]*Error) in \w+ \S+( \(.*\))?$")


def short_error(message: str | None) -> str:
    """dbt's error in one line: "Compilation Error: This model has an enforced contract that
    failed." rather than the whole message with its macro stack (the run's log has that)."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return ""
    headline = _HEADLINE.match(lines[0])
    if headline and len(lines) > 1:
        return f"{headline['kind']}: {lines[1]}"
    return lines[0]


@dataclass(frozen=True)
class Column:
    """One column of a table that fits the terminal."""

    header: str
    drop: int = 0          # 0: always shown; too narrow, the highest `drop` goes first
    prose: bool = False    # free text that may wrap at spaces (names never wrap, they fold)
    justify: JustifyMethod = "left"


Cell: TypeAlias = "str | Text"


@dataclass
class Section:
    """A heading row that starts a group of rows (e.g. a rule category)."""
    title: str


def fit_table(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[Cell] | Section],
              title: str | None = None) -> Table:
    """A rich Table of `rows` (cells: plain text, or rich Text) no wider than `console.width`.

    Columns are dropped (highest `drop` first) until every kept column gets its minimum: a
    name its full length (up to the width less 20), free text `_PROSE_MIN` cells (then down to
    `_PROSE_FLOOR`). The room left goes to names first, then to free text. The caption names
    the dropped columns.
    """
    cells = [[c if isinstance(c, Text) else Text(str(c)) for c in row]
             for row in rows if not isinstance(row, Section)]
    natural = [max([cell_len(column.header)] + [_width(row[i]) for row in cells])
               for i, column in enumerate(columns)]
    minimum = [min(n, _PROSE_MIN) if c.prose else min(n, max(12, console.width - 20))
               for c, n in zip(columns, natural, strict=True)]
    kept = _kept(columns, minimum, console.width)
    widths = _widths(columns, kept, natural, minimum, console.width)
    dropped = [columns[i].header for i in range(len(columns)) if i not in kept]
    table = Table(title=title, title_justify="left", show_edge=False, box=box.HEAVY_HEAD,
                  caption=f"hidden at {console.width} columns: {', '.join(dropped)} (--json shows all)"
                  if dropped else None,
                  caption_justify="left", caption_style="dim")
    for i in kept:
        column = columns[i]
        table.add_column(column.header, justify=column.justify,
                         overflow="fold", width=widths[i] if widths else None)
    cell_rows = iter(cells)
    for row in rows:
        if isinstance(row, Section):
            if table.rows:
                table.rows[-1].end_section = True
            table.add_row(Text(row.title, style="bold"), *[""] * (len(kept) - 1))
        else:
            values = next(cell_rows)
            table.add_row(*[values[i] for i in kept])
    return table


def _overhead(count: int) -> int:
    """Cells a table of `count` columns spends on padding (1 each side) and rules between."""
    return 3 * count - 1


def _kept(columns: Sequence[Column], minimum: list[int], width: int) -> list[int]:
    """The indexes of the columns shown: those with the highest `drop` go until the rest fit
    at their minimums; if they still do not, free text narrows further (`minimum` is
    lowered in place)."""
    kept = list(range(len(columns)))
    while sum(minimum[i] for i in kept) + _overhead(len(kept)) > width:
        droppable = [i for i in kept if columns[i].drop > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    excess = sum(minimum[i] for i in kept) + _overhead(len(kept)) - width
    for i in kept:
        if excess > 0 and columns[i].prose:
            give = min(excess, minimum[i] - min(minimum[i], _PROSE_FLOOR))
            minimum[i] -= give
            excess -= give
    return kept


def _widths(columns: Sequence[Column], kept: list[int], natural: list[int], minimum: list[int],
            width: int) -> dict[int, int] | None:
    """Each kept column's width in cells, or None when all fit at their natural widths: the
    room above the minimums goes to names first, then to free text."""
    if sum(natural[i] for i in kept) + _overhead(len(kept)) <= width:
        return None
    widths = {i: minimum[i] for i in kept}
    room = width - _overhead(len(kept)) - sum(widths.values())
    for prose in (False, True):
        for i in kept:
            if columns[i].prose == prose and room > 0:
                extra = min(room, natural[i] - widths[i])
                widths[i] += extra
                room -= extra
    return widths


def _width(text: Text) -> int:
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)
