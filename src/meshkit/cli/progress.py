"""`meshkit build`'s progress: a line per dbt invocation started and ended, and on a terminal
a live status line (invocations running, models done and failed, time so far).

Piped into a file it prints the same lines, plain: rich writes no colour codes when its output
is not a terminal.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:                      # the cli starts without importing the orchestrator
    from meshkit.orchestrate.build import BuildEvent


class BuildProgress:
    """Renders BuildEvents and dbt's lines; use as a context manager around the build."""

    def __init__(self, console: Console, echo_dbt: bool) -> None:
        self.console, self.echo_dbt = console, echo_dbt
        self.running: dict[tuple[str, int], list[int]] = {}  # (project, wave) → [ok, failed] so far
        self.done = self.failed = self.skipped = 0                # of the invocations that ended
        self.started = time.monotonic()
        self._status = console.status(self) if console.is_terminal else None

    def __enter__(self) -> "BuildProgress":
        if self._status:
            self._status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._status:
            self._status.stop()

    def line(self, project: str, line: str) -> None:
        """One line of dbt's output, prefixed by its project."""
        if self.echo_dbt:
            self.console.print(Text(f"{project:>12} │ ", style="dim") + Text.from_ansi(line),
                               soft_wrap=True)

    def event(self, event: "BuildEvent") -> None:
        if event.kind == "node_end":
            live = self.running.get((event.project, event.wave))
            if live is not None:
                live[0] += event.succeeded
                live[1] += event.failed
        elif event.kind == "task":
            what = "planning" if event.task == "parse" else "reading source freshness of"
            self._say(Text(f"{what} {event.project}", style="dim"))
        elif event.kind == "unit_start":
            self.running[(event.project, event.wave)] = [0, 0]
            self._say(Text.assemble(f"wave {event.wave} · ", (event.project, "bold"),
                                    f": building {_count(event.nodes, 'node')}"))
        elif event.kind == "unit_end":
            self.running.pop((event.project, event.wave), None)
            self.done += event.succeeded
            self.failed += event.failed
            self.skipped += event.skipped
            parts = [f"{event.succeeded} ok"]
            if event.failed:
                parts.append(f"{event.failed} failed")
            if event.skipped:
                parts.append(f"{event.skipped} skipped")
            tail = (f" · published run {event.published}" if event.published else
                    " · not published" if event.failed or event.error else "")
            self._say(Text.assemble(f"wave {event.wave} · ", (event.project, "bold"), ": ",
                                    (", ".join(parts), "red" if event.failed else "green"),
                                    f" in {event.seconds:.1f} s{tail}"))

    def _say(self, text: Text) -> None:
        self.console.print(Text(f"[{time.strftime('%H:%M:%S')}] ", style="dim") + text)

    def __rich__(self) -> str:
        """The status line, drawn anew on every refresh (so its clock moves)."""
        running = ", ".join(f"{project} (wave {wave})" for project, wave in self.running)
        done = self.done + sum(live[0] for live in self.running.values())
        failed = self.failed + sum(live[1] for live in self.running.values())
        counts = f"{done} nodes done, {failed} failed" + (
            f", {self.skipped} skipped" if self.skipped else "")
        elapsed = time.monotonic() - self.started
        doing = f"building {running}" if running else "planning" if not done + failed else "next"
        return f"{doing} · {counts} · {elapsed:.0f} s"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
