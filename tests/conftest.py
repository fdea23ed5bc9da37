"""Shared fixtures: a fresh copy of the example mesh, with raw data seeded once per session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def meshkit_json(args: list[str], cwd: Path, check: bool = True) -> dict:
    """Run a meshkit command with --json and return its parsed output."""
    result = run(["meshkit", *args, "--json"], cwd=cwd, check=check)
    return json.loads(result.stdout)


def statuses(report: dict) -> dict[str, str]:
    """node label (analytics.fct_orders.v2) → status, from `meshkit build --json`."""
    return {n["node"]: n["status"] for n in report["nodes"]}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    for name in ("MESHKIT_MESH", "MESHKIT_ENV", "MESHKIT_WAREHOUSE", "DBT_PROFILES_DIR",
                 "DBT_PROJECT_DIR", "DBT_TARGET_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MESHKIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")


@pytest.fixture(scope="session")
def raw_warehouse(tmp_path_factory) -> Path:
    """raw.duckdb loaded by the example's seed project, built once per test session."""
    root = tmp_path_factory.mktemp("raw")
    shutil.copytree(EXAMPLE / "raw", root / "raw", ignore=_IGNORED)
    (root / "warehouse").mkdir()
    run(["dbt", "seed"], cwd=root / "raw")
    return root / "warehouse" / "raw.duckdb"


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
    root = tmp_path_factory.mktemp("built") / "jaffle-mesh"
    shutil.copytree(EXAMPLE, root, ignore=_IGNORED)
    (root / "warehouse").mkdir()
    shutil.copy(raw_warehouse, root / "warehouse" / "raw.duckdb")
    run(["meshkit", "build", "-q"], cwd=root)
    return root


@pytest.fixture
def built_mesh(tmp_path, built_mesh_template) -> Path:
    """A private copy of the built example mesh (store and warehouse included)."""
    mesh = tmp_path / "jaffle-mesh"
    shutil.copytree(built_mesh_template, mesh)  # dbt_packages links become real copies
    return mesh
