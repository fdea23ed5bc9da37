"""Shared fixtures: a fresh copy of the example mesh, with raw data seeded once per session.

The suite runs under pytest-xdist (`-n auto --dist loadfile`, pyproject.toml): a module's tests
run on one worker, so a module-scoped fixture is built once; the heavy session fixtures below are
built once for all workers (`_shared`).
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "jaffle-mesh"
_IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages", "warehouse", ".meshkit",
                                  ".user.yml", "package-lock.yml")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run a command the way a user would (meshkit or dbt from this venv)."""
    bin_dir = Path(sys.executable).parent
    executable = str(bin_dir / args[0]) if (bin_dir / args[0]).exists() else args[0]
    result = subprocess.run([executable, *args[1:]], cwd=cwd, env={**os.environ, **(env or {})},
                            capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def set_jobs(mesh: Path, jobs: str) -> None:
    """Replace the `jobs:` of a mesh's mesh.yml (the example declares the quickstart's)."""
    path = mesh / "mesh.yml"
    text = path.read_text()
    head = re.split(r"(?m)^jobs:\s*$", text)[0].rstrip() + "\n"
    path.write_text(head + "\njobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  "))


def meshkit_json(args: list[str], cwd: Path, check: bool = True) -> dict:
    """Run a meshkit command with --json and return its parsed output."""
    result = run(["meshkit", *args, "--json"], cwd=cwd, check=check)
    return json.loads(result.stdout)


def statuses(report: dict) -> dict[str, str]:
    """node label (analytics.fct_orders.v2) → status, from `meshkit build --json`."""
    return {n["node"]: n["status"] for n in report["nodes"]}


def _shared(tmp_path_factory, name: str, build) -> Path:
    """The folder `build(folder)` fills, built once per run and shared by all xdist workers.

    Under xdist every worker has its own session, so a session fixture would be built once per
    worker; the first worker to need it builds it under a lock in the run's common temp folder and
    the others wait for it (waiting never costs more than building it again). Users only copy it.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / f"shared-{name}"   # the workers' common parent
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)   # a worker that failed half-way
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    for name in ("MESHKIT_MESH", "MESHKIT_ENV", "MESHKIT_WAREHOUSE", "DBT_PROFILES_DIR",
                 "DBT_PROJECT_DIR", "DBT_TARGET_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MESHKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")


@pytest.fixture(scope="session")
def raw_warehouse(tmp_path_factory) -> Path:
    """raw.duckdb loaded by the example's seed project, built once per test run."""
    def seed(root: Path) -> None:
        shutil.copytree(EXAMPLE / "raw", root / "raw", ignore=_IGNORED)
        (root / "warehouse").mkdir()
        run(["dbt", "seed"], cwd=root / "raw", env={"MESHKIT_CACHE_DIR": str(root / "cache")})

    return _shared(tmp_path_factory, "raw", seed) / "warehouse" / "raw.duckdb"


@pytest.fixture
def jaffle_mesh(tmp_path, raw_warehouse) -> Path:
    """A private copy of examples/jaffle-mesh with raw data loaded; returns its folder."""
    mesh = tmp_path / "jaffle-mesh"
    shutil.copytree(EXAMPLE, mesh, ignore=_IGNORED)
    (mesh / "warehouse").mkdir()
    shutil.copy(raw_warehouse, mesh / "warehouse" / "raw.duckdb")
    return mesh


@pytest.fixture(scope="session")
def built_mesh_template(tmp_path_factory, raw_warehouse) -> Path:
    """The example mesh built once with `meshkit build`; copy it with `built_mesh`."""
    def build(folder: Path) -> None:
        root = folder / "jaffle-mesh"
        shutil.copytree(EXAMPLE, root, ignore=_IGNORED)
        (root / "warehouse").mkdir()
        shutil.copy(raw_warehouse, root / "warehouse" / "raw.duckdb")
        run(["meshkit", "build", "-q"], cwd=root, env={"MESHKIT_CACHE_DIR": str(folder / "cache")})

    return _shared(tmp_path_factory, "built", build) / "jaffle-mesh"


@pytest.fixture
def built_mesh(tmp_path, built_mesh_template) -> Path:
    """A private copy of the built example mesh (store and warehouse included)."""
    mesh = tmp_path / "jaffle-mesh"
    shutil.copytree(built_mesh_template, mesh)  # dbt_packages links become real copies
    return mesh


@pytest.fixture(scope="session")
def postgres_server() -> dict[str, str]:
    """The PostgreSQL server of `scripts/postgres-start.sh` (MESHKIT_PG_* variables).

    Skipped when none is configured, unless MESHKIT_REQUIRE_POSTGRES=1 (CI), which turns a
    missing server into a failure.
    """
    import psycopg2

    settings = {name: os.environ.get(name, "") for name in
                ("MESHKIT_PG_HOST", "MESHKIT_PG_PORT", "MESHKIT_PG_USER", "MESHKIT_PG_PASSWORD")}
    try:
        if not settings["MESHKIT_PG_HOST"]:
            raise OSError("MESHKIT_PG_HOST is not set")
        psycopg2.connect(host=settings["MESHKIT_PG_HOST"], port=settings["MESHKIT_PG_PORT"],
                         user=settings["MESHKIT_PG_USER"], password=settings["MESHKIT_PG_PASSWORD"],
                         dbname="postgres", connect_timeout=5).close()
    except (OSError, psycopg2.Error) as exc:
        if os.environ.get("MESHKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"no PostgreSQL server ({exc}); start one with scripts/postgres-start.sh")
    return settings


@pytest.fixture
def pg_database(postgres_server, monkeypatch) -> str:
    """A fresh database for one test; MESHKIT_PG_DBNAME points at it."""
    import secrets

    import psycopg2

    name = f"meshkit_{secrets.token_hex(4)}"
    con = psycopg2.connect(host=postgres_server["MESHKIT_PG_HOST"],
                           port=postgres_server["MESHKIT_PG_PORT"],
                           user=postgres_server["MESHKIT_PG_USER"],
                           password=postgres_server["MESHKIT_PG_PASSWORD"], dbname="postgres")
    con.autocommit = True
    con.cursor().execute(f"create database {name}")
    monkeypatch.setenv("MESHKIT_PG_DBNAME", name)
    yield name
    con.cursor().execute(f"drop database if exists {name} with (force)")
    con.close()


def pg_query(sql: str, dbname: str | None = None) -> list[tuple]:
    """Run one statement in `dbname` (default: the current test's database). Autocommit, so
    statements that refuse a transaction (create/drop database) run too."""
    import psycopg2

    con = psycopg2.connect(host=os.environ["MESHKIT_PG_HOST"], port=os.environ["MESHKIT_PG_PORT"],
                           user=os.environ["MESHKIT_PG_USER"],
                           password=os.environ.get("MESHKIT_PG_PASSWORD", ""),
                           dbname=dbname or os.environ["MESHKIT_PG_DBNAME"])
    con.autocommit = True
    try:
        with con.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        con.close()
