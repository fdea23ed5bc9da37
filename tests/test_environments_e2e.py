"""Which producer environment a consumer reads: dbt Cloud's rule, run with real dbt builds.

| consumer      | producer has staging | reads producer's |
|---------------|----------------------|------------------|
| production    | either               | production       |
| staging / dev | yes                  | staging          |
| staging / dev | no                   | production       |
plus `upstream_environment` overriding it, and no fail-over from an unpublished staging.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLE, _IGNORED, run
from meshkit.config import load_mesh
from meshkit.store.resolve import producer_environment
from meshkit.store.store import Store

ENVIRONMENTS = """\
environments:
  prod: {target: prod, type: production}
  staging: {target: staging, type: staging}
  dev: {target: dev, type: development%s}
"""
PROJECTS = """\
projects:
  analytics: %s
  finance: finance
"""


def write_mesh(folder: Path, *, analytics: str = "analytics", dev_upstream: str | None = None) -> None:
    extra = f", upstream_environment: {dev_upstream}" if dev_upstream else ""
    (folder / "mesh.yml").write_text("name: jaffle-mesh\nstore: .meshkit/store\n"
                                     + ENVIRONMENTS % extra + PROJECTS % analytics)


def relation(env: str) -> str:
    return f'"jaffle_da"."{env}"."fct_orders_v2"'


def compiled(mesh: Path) -> str:
    found = list((mesh / "finance" / "target" / "compiled").rglob("agg_customer_payment_journey.sql"))
    assert found, "finance was not compiled"
    return found[0].read_text()


def build_finance(mesh: Path, env: str, check: bool = True):
    return run(["meshkit", "build", "--project", "finance", "--env", env], cwd=mesh, check=check)


@pytest.fixture(scope="module")
def three_envs_template(tmp_path_factory, raw_warehouse) -> Path:
    """The example mesh with prod, staging and dev; analytics built in prod and in staging."""
    mesh = tmp_path_factory.mktemp("three-envs") / "jaffle-mesh"
    shutil.copytree(EXAMPLE, mesh, ignore=_IGNORED)
    (mesh / "warehouse").mkdir()
    shutil.copy(raw_warehouse, mesh / "warehouse" / "raw.duckdb")
    write_mesh(mesh)
    for env in ("prod", "staging"):
        run(["meshkit", "build", "-q", "--project", "analytics", "--env", env], cwd=mesh)
    store = Store(str(mesh / ".meshkit" / "store"))
    assert store.latest("analytics", "prod") and store.latest("analytics", "staging")
    return mesh


@pytest.fixture
def three_envs(tmp_path, three_envs_template) -> Path:
    mesh = tmp_path / "jaffle-mesh"
    shutil.copytree(three_envs_template, mesh, symlinks=True)
    return mesh


# -- the rule itself (no dbt) ----------------------------------------------------------------------
def test_resolution_table(three_envs):
    mesh = load_mesh(three_envs / "mesh.yml")
    read = {env: producer_environment(mesh, mesh.environment(env), "analytics")
            for env in ("prod", "staging", "dev")}
    assert read == {"prod": "prod", "staging": "staging", "dev": "staging"}
    write_mesh(three_envs, analytics="{path: analytics, environments: [prod, dev]}")
    mesh = load_mesh(three_envs / "mesh.yml")
    assert [producer_environment(mesh, mesh.environment(e), "analytics")
            for e in ("prod", "staging", "dev")] == ["prod", "prod", "prod"]
    write_mesh(three_envs, dev_upstream="prod")
    mesh = load_mesh(three_envs / "mesh.yml")
    assert [producer_environment(mesh, mesh.environment(e), "analytics")
            for e in ("prod", "staging", "dev")] == ["prod", "staging", "prod"]
    # A hybrid producer (not in mesh.yml) has the environments it has published to.
    store = Store(str(three_envs / ".meshkit" / "store"))
    assert producer_environment(mesh, mesh.environment("staging"), "analytics_ext", store) == "prod"


# -- with real dbt builds ----------------------------------------------------------------------
@pytest.mark.e2e
def test_production_consumer_reads_producer_production(three_envs):
    build_finance(three_envs, "prod")
    assert relation("prod") in compiled(three_envs)


@pytest.mark.e2e
def test_staging_and_dev_consumers_read_producer_staging(three_envs):
    build_finance(three_envs, "staging")
    assert relation("staging") in compiled(three_envs)
    build_finance(three_envs, "dev")
    assert relation("staging") in compiled(three_envs)
    assert relation("prod") not in compiled(three_envs)


@pytest.mark.e2e
def test_dev_consumer_reads_production_when_producer_has_no_staging(three_envs):
    write_mesh(three_envs, analytics="{path: analytics, environments: [prod, dev]}")
    build_finance(three_envs, "dev")
    assert relation("prod") in compiled(three_envs)


@pytest.mark.e2e
def test_upstream_environment_overrides_the_rule(three_envs):
    write_mesh(three_envs, dev_upstream="prod")
    build_finance(three_envs, "dev")
    assert relation("prod") in compiled(three_envs), "staging exists, the override wins"
    build_finance(three_envs, "staging")
    assert relation("staging") in compiled(three_envs), "only dev is overridden"


@pytest.mark.e2e
def test_unpublished_staging_does_not_fail_over_to_production(three_envs):
    """dbt Cloud reads a producer's staging environment as soon as it exists, without
    falling back to production: the consumer is told to publish staging instead."""
    shutil.rmtree(three_envs / ".meshkit" / "store" / "analytics" / "staging")
    finance = three_envs / "finance"
    run(["dbt", "deps"], cwd=finance)
    plain = run(["dbt", "compile", "--target", "dev"], cwd=finance, check=False)
    output = plain.stdout + plain.stderr
    assert plain.returncode != 0 and "Traceback" not in output
    assert ("project 'finance' depends on 'analytics', which has never published to the store "
            "in environment 'staging'") in output
    assert "meshkit build --project analytics --env staging" in output

    result = build_finance(three_envs, "dev", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "meshkit build" in output and "--project analytics" in output
    assert not (three_envs / ".meshkit" / "store" / "finance" / "dev").exists()
    for sql in (finance / "target").rglob("agg_customer_payment_journey.sql"):
        assert relation("prod") not in sql.read_text(), "never fails over to production"


@pytest.mark.e2e
def test_developer_builds_finance_in_dev_without_building_analytics(built_mesh):
    """The example mesh as shipped (prod + dev): only analytics' prod run exists."""
    store = Store(str(built_mesh / ".meshkit" / "store"))
    before = store.latest("analytics", "prod").run_id
    result = build_finance(built_mesh, "dev")
    assert relation("prod") in compiled(built_mesh)
    assert store.latest("analytics", "dev") is None, "analytics was never built in dev"
    assert store.latest("analytics", "prod").run_id == before
    assert store.latest("finance", "dev") is not None, "finance published its dev run"
    assert "analytics" not in {line.split("│")[0].strip() for line in result.stdout.splitlines()
                               if "│" in line and "START" in line}
