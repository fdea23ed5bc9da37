"""Run history and model state in SQLite (WAL): what ran, why, and what each model last saw.

One database per mesh (orchestrate.db holds the connection and the migrations it shares with
the job queue). A run that was still "running" when its process died is marked "interrupted"
by the next process that opens the database; nothing is lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshkit.orchestrate.db import SharedConnection, Step
from meshkit.orchestrate.processes import process_alive
from meshkit.status import RunStatus

# Each entry brings the tables one version further; append, never edit, an entry.
_MIGRATIONS: list[Step] = ["""
create table if not exists runs (
    id integer primary key autoincrement,
    kind text not null default 'build',
    environment text not null,
    command text not null,
    status text not null,                 -- running | success | error | interrupted | noop
    started_at real not null,
    finished_at real,
    pid integer,
    host text,
    summary text                          -- JSON: counts per decision and status
);
create table if not exists run_nodes (
    run_id integer not null references runs(id),
    unique_id text not null,
    project text not null,
    decision text not null,               -- rebuild | reuse | skip
    reason text not null,                 -- a reason's kind (see the second step)
    status text,                          -- success | error | fail | pass | skipped | reused
    seconds real,
    message text,
    invocation_id integer,
    primary key (run_id, unique_id)
);
create table if not exists invocations (
    id integer primary key autoincrement,
    run_id integer not null references runs(id),
    project text not null,
    wave integer not null,
    args text not null,
    returncode integer,
    started_at real,
    finished_at real,
    log text
);
create table if not exists model_state (
    environment text not null,
    unique_id text not null,
    project text not null,
    fingerprint text not null,
    built_at real not null,
    run_id integer not null,
    status text not null,                 -- success | error
    tests_passed integer not null default 1,
    sources_seen text not null default '{}',   -- JSON: source id → max_loaded_at at build time
    primary key (environment, unique_id)
);
create table if not exists parse_cache (
    project text not null,
    environment text not null,
    key text not null,
    manifest_path text not null,
    created_at real not null,
    primary key (project, environment)
);
""", """
-- run_nodes.reason holds a reason's kind (orchestrate.reasons.Kind), its facts go here;
-- rows from before hold a sentence in reason and null here.
alter table run_nodes add column details text;
"""]
UNPUBLISHED = "unpublished"   # model_state.status: built, but the run never published


@dataclass
class ModelState:
    unique_id: str
    project: str
    fingerprint: str
    built_at: float
    run_id: int
    status: str
    tests_passed: bool
    sources_seen: dict[str, str]


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an insert just wrote (sqlite3 sets it after every insert)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


class History(SharedConnection):
    def __init__(self, path: Path) -> None:
        super().__init__(path, timeout=30)
        self.migrate("history", _MIGRATIONS)
        self.mark_interrupted()

    # -- runs ------------------------------------------------------------------------------
    def mark_interrupted(self) -> list[int]:
        """Runs left "running" by a process that no longer exists were interrupted."""
        host = os.uname().nodename
        stale = [row["id"] for row in self._read(
            "select id, pid, host from runs where status = ?", (RunStatus.RUNNING,))
            if row["host"] == host and not process_alive(row["pid"])]
        with self._tx():
            for run_id in stale:
                self.db.execute("update runs set status = ?, finished_at = ? where id = ?",
                                (RunStatus.INTERRUPTED, time.time(), run_id))
        return stale

    def start_run(self, environment: str, command: str, kind: str = "build") -> int:
        with self._tx():
            cursor = self.db.execute(
                "insert into runs (kind, environment, command, status, started_at, pid, host) "
                "values (?, ?, ?, ?, ?, ?, ?)", (kind, environment, command, RunStatus.RUNNING,
                                                 time.time(), os.getpid(), os.uname().nodename))
            return _row_id(cursor)

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self._tx():
            self.db.execute("update runs set status = ?, finished_at = ?, summary = ? where id = ?",
                            (status, time.time(), json.dumps(summary), run_id))

    def record_decisions(self, run_id: int,
                         rows: list[tuple[str, str, str, str, str | None, str | None]]) -> None:
        """rows: (unique_id, project, decision, reason kind, details JSON, status)."""
        with self._tx():
            self.db.executemany(
                "insert or replace into run_nodes (run_id, unique_id, project, decision, reason, "
                "details, status) values (?, ?, ?, ?, ?, ?, ?)", [(run_id, *row) for row in rows])

    def record_results(self, run_id: int, invocation_id: int | None,
                       rows: list[tuple[str, str, float, str | None]]) -> None:
        """rows: (unique_id, status, seconds, message)."""
        with self._tx():
            self.db.executemany(
                "update run_nodes set status = ?, seconds = ?, message = ?, invocation_id = ? "
                "where run_id = ? and unique_id = ?",
                [(status, seconds, message, invocation_id, run_id, uid)
                 for uid, status, seconds, message in rows])

    def start_invocation(self, run_id: int, project: str, wave: int, args: list[str]) -> int:
        with self._tx():
            cursor = self.db.execute(
                "insert into invocations (run_id, project, wave, args, started_at) values (?, ?, ?, ?, ?)",
                (run_id, project, wave, json.dumps(args), time.time()))
            return _row_id(cursor)

    def finish_invocation(self, invocation_id: int, returncode: int, log: str) -> None:
        with self._tx():
            self.db.execute("update invocations set returncode = ?, finished_at = ?, log = ? where id = ?",
                            (returncode, time.time(), log, invocation_id))

    def runs(self, limit: int = 20) -> list[sqlite3.Row]:
        return self._read("select * from runs order by id desc limit ?", (limit,))

    def run(self, run_id: int) -> sqlite3.Row | None:
        rows = self._read("select * from runs where id = ?", (run_id,))
        return rows[0] if rows else None

    def run_nodes(self, run_id: int) -> list[sqlite3.Row]:
        return self._read("select * from run_nodes where run_id = ? order by project, unique_id",
                          (run_id,))

    def invocations(self, run_id: int) -> list[sqlite3.Row]:
        return self._read("select * from invocations where run_id = ? order by id", (run_id,))

    # -- model state -----------------------------------------------------------------------
    def model_states(self, environment: str) -> dict[str, ModelState]:
        rows = self._read("select * from model_state where environment = ?", (environment,))
        return {row["unique_id"]: ModelState(row["unique_id"], row["project"], row["fingerprint"],
                                             row["built_at"], row["run_id"], row["status"],
                                             bool(row["tests_passed"]), json.loads(row["sources_seen"]))
                for row in rows}

    def save_model_states(self, environment: str, states: list[ModelState]) -> None:
        with self._tx():
            self.db.executemany(
                "insert or replace into model_state (environment, unique_id, project, fingerprint, "
                "built_at, run_id, status, tests_passed, sources_seen) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(environment, s.unique_id, s.project, s.fingerprint, s.built_at, s.run_id, s.status,
                  int(s.tests_passed), json.dumps(s.sources_seen)) for s in states])

    def clear_state(self, environment: str) -> int:
        with self._tx():
            return self.db.execute("delete from model_state where environment = ?",
                                   (environment,)).rowcount

    # -- parse cache -----------------------------------------------------------------------
    def cached_parse(self, project: str, environment: str, key: str) -> Path | None:
        rows = self._read("select key, manifest_path from parse_cache where project = ? and "
                          "environment = ?", (project, environment))
        row = rows[0] if rows else None
        if not row or row["key"] != key:
            return None
        # Stored relative to this database's folder; an absolute path elsewhere (a copied
        # mesh's history, older meshkit) names another mesh's cache: never read it.
        path = self.path.parent / row["manifest_path"]
        if not path.resolve().is_relative_to(self.path.parent.resolve()) or not path.is_file():
            return None
        return path

    def save_parse(self, project: str, environment: str, key: str, manifest_path: Path) -> None:
        """manifest_path: a file under this database's folder (stored relative to it)."""
        stored = os.path.relpath(manifest_path, self.path.parent)
        with self._tx():
            self.db.execute("insert or replace into parse_cache values (?, ?, ?, ?, ?)",
                            (project, environment, key, stored, time.time()))
