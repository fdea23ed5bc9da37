"""The mesh's SQLite database (`.meshkit/history.db`, WAL): one connection per process and
versioned schema migrations, shared by the run history (orchestrate.history) and the job
queue (meshkit.jobs.queue), which keep their tables in the same file.

Every write is a short immediate transaction, so several meshkit processes (a build, the
scheduler, the web app) can share the file. Each component (`history`, `jobs`) carries its own
schema version in `schema_versions`; a file written by a newer meshkit is refused, not misread.
"""

from __future__ import annotations

import shlex
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

from meshkit.errors import MeshError

if TYPE_CHECKING:
    from meshkit.config import Mesh

FILE_NAME = "history.db"
# One migration step: an SQL script, or a function given the connection (inside the
# migrating transaction) for a step SQL cannot say, such as one that reads another
# component's tables only when they exist.
Step = Union[str, Callable[[sqlite3.Connection], None]]
_VERSIONS = "create table if not exists schema_versions (component text primary key, version integer not null)"


def mesh_db(mesh: "Mesh") -> Path:
    """The mesh's database file: `<state_dir>/history.db`."""
    return mesh.state_dir / FILE_NAME


def table_exists(db: sqlite3.Connection, name: str) -> bool:
    """Whether the database holds table `name` (a step reading another component's tables)."""
    return db.execute("select 1 from sqlite_master where type = 'table' and name = ?",
                      (name,)).fetchone() is not None


class SharedConnection:
    """One SQLite connection shared by a process's threads: a transaction at a time."""

    def __init__(self, path: Path, timeout: float) -> None:
        """Open (or create) the database in WAL mode; `timeout` in seconds to wait for a lock.

        Raises MeshError naming the file when it cannot be a database here: not SQLite
        (damaged, or another file at that path), a folder, or a folder we may not write.
        """
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                      check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise _unusable(path, exc) from None
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute(f"pragma busy_timeout={int(timeout * 1000)}")
            self.db.execute("select count(*) from sqlite_master").fetchone()   # reads the header
            self.db.execute("pragma journal_mode=wal")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            self.db.close()
            raise _unusable(path, exc) from None
        except sqlite3.DatabaseError as exc:     # "file is not a database", "malformed"
            self.db.close()
            raise _unusable(path, exc) from None

    def close(self) -> None:
        self.db.close()

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def _tx(self) -> "Transaction":
        return Transaction(self.db, self._lock)

    def migrate(self, component: str, steps: list[Step]) -> None:
        """Bring a component's tables to the last of `steps` (oldest first), each step once.

        Raises MeshError when the file was written by a newer meshkit (a higher version).
        """
        if self._version(component, len(steps)) == len(steps):
            return
        with self._tx():   # another process may be migrating too: decide under the lock
            self.db.execute(_VERSIONS)
            current = self._version(component, len(steps))
            for step in steps[current:]:
                if callable(step):
                    step(self.db)
                    continue
                for statement in _statements(step):
                    self.db.execute(statement)
            self.db.execute("insert or replace into schema_versions values (?, ?)",
                            (component, len(steps)))

    def _version(self, component: str, known: int) -> int:
        try:
            row = self._read("select version from schema_versions where component = ?", (component,))
        except sqlite3.OperationalError:   # no such table: nothing migrated yet
            return 0
        version = row[0][0] if row else 0
        if version > known:
            raise MeshError(f"{self.path.name} holds {component} tables of version {version}, "
                            f"written by a newer meshkit (this one knows version {known})",
                            file=self.path, hint="upgrade meshkit (pip install -U dbt-meshkit)")
        return version


def _unusable(path: Path, exc: Exception) -> MeshError:
    return MeshError(f"cannot use {path.name} as meshkit's run history and job queue: {exc}",
                     file=path, hint=f"if it is damaged, move it aside (meshkit starts a new, "
                                     f"empty one; past runs and queued jobs are then forgotten): "
                                     f"mv {shlex.quote(str(path))} "
                                     f"{shlex.quote(str(path) + '.broken')}")


class Transaction:
    """`with Transaction(db, lock):` one immediate SQLite transaction, one thread at a time."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db, self.lock = db, lock

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            self.db.execute("begin immediate")
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, kind, value, traceback) -> None:
        try:
            self.db.execute("commit" if kind is None else "rollback")
        finally:
            self.lock.release()


def _statements(script: str) -> list[str]:
    """The SQL statements of a script, split where SQLite says one is complete."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements + ([current.strip()] if current.strip() else [])
