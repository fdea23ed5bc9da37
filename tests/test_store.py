"""The artifact store on a local folder: publish, resolve, prune, the `store` commands, and the
errors a damaged store gives (each naming project, environment, file and the repair command)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import run
from meshkit.errors import MeshError
from meshkit.store.maintenance import prune, verify
from meshkit.store.publish import publish_artifacts
from meshkit.store.store import Store

WIDE = {"COLUMNS": "250"}  # rich tables keep whole cells on one line


# -- real artifacts to publish -----------------------------------------------------------------
@pytest.fixture(scope="session")
def analytics_artifacts(built_mesh_template, tmp_path_factory) -> Path:
    """manifest.json + run_results.json of a real `dbt build` of analytics (its published run)."""
    env_dir = built_mesh_template / ".meshkit" / "store" / "analytics" / "prod"
    run_id = json.loads((env_dir / "latest.json").read_text())["run_id"]
    target = tmp_path_factory.mktemp("analytics-artifacts") / "target"
    target.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy(env_dir / "runs" / run_id / name, target / name)
    return target


def stage_target(source: Path, dest: Path, completed_at: str | None = None) -> Path:
    """A copy of a target folder whose run completed at `completed_at` (ISO, UTC)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "manifest.json", dest / "manifest.json")
    results = json.loads((source / "run_results.json").read_text())
    if completed_at:
        results["metadata"]["generated_at"] = completed_at
    (dest / "run_results.json").write_text(json.dumps(results))
    return dest


def at(minute: int) -> str:
    return f"2026-01-01T10:{minute:02d}:00.000000Z"


def pointer_of(store_dir: Path, project: str = "analytics", env: str = "prod") -> str:
    return json.loads((store_dir / project / env / "latest.json").read_text())["run_id"]


def assert_names_all(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} missing from:\n{message}"


# -- publish and resolve ---------------------------------------------------------------------------
def test_publish_then_resolve_latest(tmp_path, analytics_artifacts):
    store = Store(str(tmp_path / "store"))
    record = publish_artifacts(store, analytics_artifacts, "prod")
    assert record.project == "analytics" and record.status == "success"
    assert record.manifest_schema.endswith("/manifest/v12.json")
    assert record.dbt_version.startswith("1.") and record.public_models == 2

    latest = store.latest("analytics", "prod")
    assert latest.run_id == record.run_id == pointer_of(tmp_path / "store")
    found, interface = store.interface("analytics", "prod")
    assert found.run_id == record.run_id
    assert {(m.name, m.version) for m in interface.models} == {("fct_orders", "1"), ("fct_orders", "2")}
    assert store.read(latest, "manifest.json") == (analytics_artifacts / "manifest.json").read_bytes()
    assert verify(store, latest) == []
    assert store.manifest(latest).metadata.project_name == "analytics"
    runs_dir = tmp_path / "store" / "analytics" / "prod" / "runs"
    assert [p.name for p in runs_dir.iterdir()] == [record.run_id], "no staging leftovers"
    assert set(os.listdir(runs_dir / record.run_id)) == {
        "manifest.json", "run_results.json", "interface.json", "columns.json", "meshkit-run.json"}
    assert store.latest("analytics", "dev") is None
    assert store.interface("finance", "prod") is None


def test_file_url_store(tmp_path, analytics_artifacts):
    store = Store(f"file://{tmp_path}/store")
    record = publish_artifacts(store, analytics_artifacts, "prod")
    assert (tmp_path / "store" / "analytics" / "prod" / "runs" / record.run_id).is_dir()
    assert Store(str(tmp_path / "store")).latest("analytics", "prod").run_id == record.run_id


def test_later_completion_wins_whatever_the_publish_order(tmp_path, analytics_artifacts):
    store = Store(str(tmp_path / "store"))
    late = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "b", at(20)), "prod")
    early = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "a", at(10)), "prod")
    assert store.latest("analytics", "prod").run_id == late.run_id
    assert [r.run_id for r in store.runs("analytics", "prod")] == [early.run_id, late.run_id]
    newest = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "c", at(30)), "prod")
    assert store.latest("analytics", "prod").run_id == newest.run_id


def test_prune_keeps_newest_runs_and_the_latest_one(tmp_path, analytics_artifacts):
    root = tmp_path / "store"
    store = Store(str(root))
    ids = [publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / f"t{m}", at(m)),
                             "prod").run_id for m in (1, 2, 3, 4, 5)]
    assert pointer_of(root) == ids[4]
    # The publishers of runs 4 and 5 died after writing their runs, before moving the pointer.
    (root / "analytics" / "prod" / "latest.json").write_text(
        json.dumps({"run_id": ids[2], "completed_at": at(3)}))
    runs = root / "analytics" / "prod" / "runs"
    stale = runs / ".staging-20260101T100600Z-dead01"
    fresh = runs / ".staging-20260101T100700Z-busy02"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "manifest.json").write_text("{")
    old = time.time() - 2 * 3600
    os.utime(stale / "manifest.json", (old, old))
    os.utime(stale, (old, old))

    dry = prune(store, 2, dry_run=True)
    assert dry[0].deleted == ids[:2] and len(os.listdir(runs)) == 7

    [result] = prune(store, 2)
    assert result.deleted == ids[:2]
    assert result.kept == ids[2:], "the two newest, and the run latest names"
    assert result.incomplete == [stale.name]
    assert sorted(os.listdir(runs)) == sorted([*ids[2:], fresh.name])
    assert store.latest("analytics", "prod").run_id == ids[2]
    [again] = prune(store, 1)
    assert again.kept == [ids[2], ids[4]] and again.deleted == [ids[3]]
    with pytest.raises(MeshError, match="at least 1"):
        prune(store, 0)


# -- the `meshkit store` commands ---------------------------------------------------------------
def test_store_ls_show_prune_commands(built_mesh, analytics_artifacts):
    store_dir = built_mesh / ".meshkit" / "store"
    first = pointer_of(store_dir)
    for minute in (1, 2):
        target = stage_target(analytics_artifacts, built_mesh / f"old{minute}" / "target", at(minute))
        out = run(["meshkit", "publish", "--project-dir", str(target.parent), "--env", "prod"],
                  cwd=built_mesh, env=WIDE)
        assert "published analytics to prod: run 20260101T10" in out.stdout

    listing = run(["meshkit", "store", "ls"], cwd=built_mesh, env=WIDE).stdout
    assert f"→ {first}" in listing, listing
    assert listing.count("20260101T10") == 2
    assert "analytics" in listing and "finance" in listing and "success" in listing
    assert "2 public / 4" in listing
    data = json.loads(run(["meshkit", "store", "ls", "--json"], cwd=built_mesh).stdout)
    analytics = next(e for e in data["environments"] if e["project"] == "analytics")
    assert analytics["environment"] == "prod" and analytics["latest"] == first
    assert [r["run_id"] for r in analytics["runs"]][0] == first, "newest first"
    assert len(analytics["runs"]) == 3
    assert {r["dbt_version"][:2] for r in analytics["runs"]} == {"1."}
    assert analytics["runs"][0]["latest"] and not analytics["runs"][1]["latest"]

    shown = run(["meshkit", "store", "show", "analytics"], cwd=built_mesh, env=WIDE).stdout
    assert f"analytics · prod · run {first}" in shown
    assert '"jaffle_da"."prod"."fct_orders_v2"' in shown and "v2 (latest)" in shown
    assert '"jaffle_da"."prod"."fct_orders_v1"' in shown and "2024-06-30" in shown
    assert "enforced" in shown and "stg_orders" not in shown
    assert "2 protected or private model(s)" in shown
    offered = json.loads(run(["meshkit", "store", "show", "analytics", "--json"], cwd=built_mesh).stdout)
    assert [(m["name"], m["version"], m["is_latest"]) for m in offered["models"]] == [
        ("fct_orders", "1", False), ("fct_orders", "2", True)]
    assert offered["run"]["run_id"] == first
    assert {r["name"] for r in offered["restricted"]} == {"stg_customers", "stg_orders"}

    missing = run(["meshkit", "store", "show", "analytics", "--env", "dev"], cwd=built_mesh,
                  env=WIDE, check=False)
    assert missing.returncode == 2
    assert "project 'analytics' has no published run in environment 'dev'" in missing.stderr
    assert "meshkit build --project analytics --env dev" in missing.stderr

    pruned = run(["meshkit", "store", "prune", "--keep", "1", "--project", "analytics"],
                 cwd=built_mesh, env=WIDE).stdout
    assert "deleted 2 run(s)" in pruned
    assert sorted(p.name for p in (store_dir / "analytics" / "prod" / "runs").iterdir()) == [first]
    after = json.loads(run(["meshkit", "store", "ls", "--json"], cwd=built_mesh).stdout)
    assert [len(e["runs"]) for e in after["environments"]] == [1] * len(after["environments"])
    bad = run(["meshkit", "store", "prune", "--keep", "0"], cwd=built_mesh, check=False)
    assert bad.returncode == 2 and "0 is not in the range x>=1" in bad.stderr


# -- a damaged store: clear errors -----------------------------------------------------------------
REPAIR = "meshkit build --project analytics --env prod --full"
REPAIR_STORE = "meshkit store repair analytics --env prod"


def _published(tmp_path: Path, artifacts: Path) -> tuple[Store, Path]:
    store = Store(str(tmp_path / "store"))
    record = publish_artifacts(store, artifacts, "prod")
    return store, tmp_path / "store" / "analytics" / "prod" / "runs" / record.run_id


def test_truncated_manifest_is_a_clear_error(tmp_path, analytics_artifacts):
    store, run_dir = _published(tmp_path, analytics_artifacts)
    data = (run_dir / "manifest.json").read_bytes()
    (run_dir / "manifest.json").write_bytes(data[: len(data) // 2])
    record = store.latest("analytics", "prod")
    with pytest.raises(MeshError) as caught:
        store.read(record, "manifest.json")
    assert_names_all(caught.value.render(), "project 'analytics'", "environment 'prod'",
                     f"runs/{record.run_id}/manifest.json", "corrupt (truncated)", REPAIR)
    assert verify(store, record) and "manifest.json" in verify(store, record)[0]


def test_corrupt_interface_is_a_clear_error(tmp_path, analytics_artifacts):
    store, run_dir = _published(tmp_path, analytics_artifacts)
    interface = run_dir / "interface.json"
    interface.write_bytes(interface.read_bytes().replace(b"fct_orders", b"fct_ordres"))
    with pytest.raises(MeshError) as caught:
        store.interface("analytics", "prod")
    assert_names_all(caught.value.render(), "interface.json of project 'analytics'",
                     "environment 'prod'", f"{run_dir.name}/interface.json", "corrupt", REPAIR)


def test_pointer_to_missing_run_and_corrupt_pointer(tmp_path, analytics_artifacts):
    store, run_dir = _published(tmp_path, analytics_artifacts)
    shutil.rmtree(run_dir)
    with pytest.raises(MeshError) as caught:
        store.latest("analytics", "prod")
    assert_names_all(caught.value.render(), "project 'analytics'", "environment 'prod'",
                     f"points at run {run_dir.name}, which is missing",
                     f"analytics/prod/runs/{run_dir.name}/meshkit-run.json", REPAIR)
    # A fresh publish repairs it, even though the missing run completed at the same moment.
    fresh = publish_artifacts(store, analytics_artifacts, "prod")
    assert store.latest("analytics", "prod").run_id == fresh.run_id

    (tmp_path / "store" / "analytics" / "prod" / "latest.json").write_text('{"run_id": ')
    with pytest.raises(MeshError) as caught:
        store.interface("analytics", "prod")
    assert_names_all(caught.value.render(), "latest pointer of project 'analytics'",
                     "environment 'prod'", "analytics/prod/latest.json", "is corrupt", REPAIR,
                     REPAIR_STORE)
    repaired = publish_artifacts(store, analytics_artifacts, "prod")
    assert store.latest("analytics", "prod").run_id == repaired.run_id


def test_unsupported_manifest_schema_is_refused_at_publish(tmp_path, built_mesh):
    analytics = built_mesh / "analytics"
    target = analytics / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v7.json"
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MeshError) as caught:
        publish_artifacts(Store(str(tmp_path / "store")), target, "prod", project_dir=analytics)
    assert_names_all(caught.value.render(), "project 'analytics'", "environment 'prod'",
                     str(target / "manifest.json"), "unsupported manifest schema",
                     f"meshkit publish --project-dir {analytics} --env prod")
    result = run(["meshkit", "publish", "--project-dir", "analytics", "--env", "prod"],
                 cwd=built_mesh, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert_names_all(result.stderr, "cannot publish project 'analytics' to environment 'prod'",
                     "manifest.json", "unsupported manifest schema",
                     "meshkit publish --project-dir analytics --env prod")
    assert not (tmp_path / "store" / "analytics").exists()


def test_unsupported_schema_of_a_published_run_is_refused_at_read(tmp_path, analytics_artifacts):
    store, run_dir = _published(tmp_path, analytics_artifacts)
    # A run published by other tooling from a dbt whose manifest meshkit cannot read.
    record_file = run_dir / "meshkit-run.json"
    record = json.loads(record_file.read_text())
    record["manifest_schema"] = "https://schemas.getdbt.com/dbt/manifest/v7.json"
    record["dbt_version"] = "1.3.0"
    record_file.write_text(json.dumps(record))
    with pytest.raises(MeshError) as caught:
        store.interface("analytics", "prod")
    assert_names_all(caught.value.render(), "project 'analytics'", "environment 'prod'",
                     "interface.json", "dbt 1.3.0 (manifest schema v7)", REPAIR)


@pytest.mark.e2e
def test_damaged_upstream_fails_consumer_build_without_traceback(built_mesh):
    env_dir = built_mesh / ".meshkit" / "store" / "analytics" / "prod"
    run_id = pointer_of(built_mesh / ".meshkit" / "store")
    interface = env_dir / "runs" / run_id / "interface.json"
    interface.write_bytes(interface.read_bytes()[:100])
    result = run(["meshkit", "build", "--project", "finance"], cwd=built_mesh, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert_names_all(output, "interface.json of project 'analytics' in environment 'prod' is corrupt",
                     f"analytics/prod/runs/{run_id}/interface.json", REPAIR)
    assert "Traceback" not in output

    shutil.rmtree(env_dir / "runs" / run_id)
    finance = built_mesh / "finance"
    run(["dbt", "deps"], cwd=finance)
    plain = run(["dbt", "compile"], cwd=finance, check=False)
    output = plain.stdout + plain.stderr
    assert plain.returncode != 0 and "Traceback" not in output
    assert_names_all(output, f"points at run {run_id}, which is missing", REPAIR)

    assert REPAIR_STORE in output

    # The commands the message names repair the mesh.
    repaired = run(["meshkit", "store", "repair", "analytics", "--env", "prod"], cwd=built_mesh)
    assert "analytics · prod: no intact run left; `latest` removed" in repaired.stdout
    never = run(["dbt", "compile"], cwd=finance, check=False)
    assert "depends on 'analytics', which has never published" in never.stdout
    run(["meshkit", "build", "--project", "analytics", "--env", "prod", "--full"], cwd=built_mesh)
    assert run(["dbt", "compile"], cwd=finance).returncode == 0


def test_repair_goes_back_to_the_newest_intact_run(tmp_path, analytics_artifacts):
    root = tmp_path / "store"
    store = Store(str(root))
    good = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "a", at(1)), "prod")
    bad = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "b", at(2)), "prod")
    manifest = root / "analytics" / "prod" / "runs" / bad.run_id / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:1000])
    result = run(["meshkit", "store", "repair", "analytics", "--store", str(root)], cwd=tmp_path)
    assert f"run {bad.run_id} is damaged (manifest.json of project 'analytics'" in result.stdout
    assert f"latest now names run {good.run_id} (was {bad.run_id})" in result.stdout
    assert store.latest("analytics", "prod").run_id == good.run_id
    assert [r.run_id for r in store.runs("analytics", "prod")] == [good.run_id]
    again = run(["meshkit", "store", "repair", "analytics", "--store", str(root)], cwd=tmp_path)
    assert "is intact; nothing to repair" in again.stdout
    # A later publish moves on as usual; prune clears the damaged run's files.
    newer = publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "c", at(3)), "prod")
    assert store.latest("analytics", "prod").run_id == newer.run_id
    [pruned] = prune(store, 5, grace_seconds=0)
    assert pruned.incomplete == [bad.run_id] and pruned.deleted == []


def test_store_ls_reports_a_broken_pointer_and_carries_on(tmp_path, analytics_artifacts):
    root = tmp_path / "store"
    store, run_dir = _published(tmp_path, analytics_artifacts)
    publish_artifacts(store, stage_target(analytics_artifacts, tmp_path / "dev", at(5)), "dev")
    shutil.rmtree(run_dir)
    listing = run(["meshkit", "store", "ls", "--store", str(root)], cwd=tmp_path, env=WIDE)
    assert listing.returncode == 0
    assert f"points at run {run_dir.name}, which is missing from the store" in listing.stdout
    assert "20260101T100500Z" in listing.stdout, "the other environment is still listed"
    data = json.loads(run(["meshkit", "store", "ls", "--json", "--store", str(root)],
                          cwd=tmp_path).stdout)
    problems = {e["environment"]: e["problem"] for e in data["environments"]}
    assert problems["dev"] is None and "which is missing" in problems["prod"]
