"""The names a pull request's relations get, so two PRs and production never share one.

Every project reached by PR 123 builds into the schema `pr_123__<project>` (its custom
schemas become `pr_123__<project>_<custom>`, dbt's default generate_schema_name); on DuckDB,
whose consumers attach whole files, also into its own file `pr_123__<project>__db.duckdb`
beside the production file. The file's database is not named like the schema: DuckDB cannot
bind a view whose catalog and schema share a name ("Ambiguous reference to catalog or
schema"). Anything named with the prefix belongs to the PR; nothing else does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshkit.errors import MeshError

_PR_RE = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_OWNED_RE = re.compile(r"^pr_([A-Za-z0-9_]+?)__")


@dataclass(frozen=True)
class PrScope:
    """One pull request's namespace. `pr` is its number (or any short word id)."""

    pr: str

    def __post_init__(self) -> None:
        if not _PR_RE.match(self.pr) or "__" in self.pr:
            raise MeshError(f"'{self.pr}' cannot name a pull request's schemas",
                            hint="pass the PR number, e.g. `--pr 123` (letters, digits and "
                                 "single underscores, at most 40)")

    @property
    def prefix(self) -> str:
        return f"pr_{self.pr}__".lower()

    def schema(self, project: str) -> str:
        """The schema (and DuckDB database) a project's PR models are built into."""
        return f"{self.prefix}{project}".lower()

    def database(self, project: str) -> str:
        """The DuckDB file stem (and database name) of a project's PR build."""
        return f"{self.schema(project)}__db"

    def owns(self, name: str) -> bool:
        """True for a schema, database or file stem this PR created."""
        return name.lower().startswith(self.prefix)


def pr_of(name: str) -> str | None:
    """The PR a schema or file stem belongs to (`pr_123__finance` → `123`), or None."""
    match = _OWNED_RE.match(name.lower())
    return match.group(1) if match else None
