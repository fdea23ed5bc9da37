"""The one exception type for mistakes a user can make and fix."""

from __future__ import annotations

from pathlib import Path


class MeshError(Exception):
    """A problem the user can fix: bad input, missing artifact, forbidden ref.

    Rendered as one message naming the file (and line, where known) and what to do;
    never shown with a traceback.
    """

    def __init__(self, message: str, *, file: str | Path | None = None,
                 line: int | None = None, hint: str | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = where + self.message
        if self.hint:
            text += f"\n  → {self.hint}"
        return text


def close_matches(name: str, known, limit: int = 3) -> list[str]:
    """The known names most like `name` (a typo's likely meanings), best first."""
    import difflib

    return difflib.get_close_matches(name, sorted(set(known)), n=limit, cutoff=0.6)
