"""history.db's tables carry a version per component: steps run once, in order; a file from
a newer meshkit is refused with a clear message, not misread."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import run
from meshes import write_mesh

from meshkit.errors import MeshError
from meshkit.jobs.queue import JobStore
from meshkit.orchestrate.db import SharedConnection
from meshkit.orchestrate.history import History


def _versions(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("select component, version from schema_versions").fetchall())


def test_a_fresh_file_records_each_components_version(tmp_path):
    path = tmp_path / "history.db"
    History(path).close()
    JobStore(path).close()
    assert _versions(path) == {"history": 2, "jobs": 2}


def test_a_file_from_before_versions_is_adopted_with_its_rows(tmp_path):
    path = tmp_path / "history.db"
    with sqlite3.connect(path) as db:   # the layout of the first release: one version table
        db.executescript("""
            create table schema_version (version integer not null);
            insert into schema_version values (1);
            create table runs (id integer primary key autoincrement, kind text not null default
                'build', environment text not null, command text not null, status text not null,
                started_at real not null, finished_at real, pid integer, host text, summary text);
            insert into runs (environment, command, status, started_at) values
                ('prod', 'meshkit build', 'success', 1.0);
        """)
    history = History(path)
    assert [r["status"] for r in history.runs(10)] == ["success"]
    history.close()
    assert _versions(path) == {"history": 2}


def test_a_job_run_of_an_older_file_finds_its_build_by_id(tmp_path):
    """Before jobs version 2 a running job run was linked to its build only by runs.command."""
    from meshkit.jobs.queue import _MIGRATIONS

    path = tmp_path / "history.db"
    History(path).close()
    old = SharedConnection(path, timeout=5)
    old.migrate("jobs", _MIGRATIONS[:1])
    old.db.executescript("""
        insert into job_runs (job, environment, status, cause, reason, queued_at, started_at)
            values ('daily', 'prod', 'running', 'manual', 'test', 1.0, 1.0);
        insert into runs (kind, environment, command, status, started_at) values
            ('job', 'prod', 'meshkit job daily (job run 1)', 'success', 1.0),
            ('job', 'prod', 'meshkit job other (job run 1)', 'success', 1.0);
    """)
    old.close()
    store = JobStore(path)
    run = store.run(1)
    assert run.build_run_id == 1 and store.build_run(run)["command"] == "meshkit job daily (job run 1)"
    store.close()


def test_each_step_runs_once_and_in_order(tmp_path):
    steps = ["create table t (n integer);\ninsert into t values (1);",
             "insert into t values (2); -- a second step, with a comment; and a semicolon"]
    first = SharedConnection(tmp_path / "x.db", timeout=5)
    first.migrate("demo", steps[:1])
    first.migrate("demo", steps)
    first.migrate("demo", steps)
    assert [r[0] for r in first._read("select n from t order by n")] == [1, 2]
    first.close()
    assert _versions(tmp_path / "x.db") == {"demo": 2}


def test_a_file_from_a_newer_meshkit_is_refused(tmp_path):
    mesh = write_mesh(tmp_path / "m", {"solo": {"only": "select 1 as id"}})
    path = mesh / ".meshkit" / "history.db"
    History(path).close()
    with sqlite3.connect(path) as db:
        db.execute("update schema_versions set version = 7 where component = 'history'")
    with pytest.raises(MeshError, match="written by a newer meshkit"):
        History(path)
    result = run(["meshkit", "runs"], cwd=mesh, check=False)
    assert result.returncode != 0
    assert "history.db holds history tables of version 7, written by a newer meshkit" in result.stderr
    assert "upgrade meshkit" in result.stderr and "Traceback" not in result.stderr
