"""Publish a project's dbt artifacts to the store after a run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from meshkit import __version__
from meshkit.columns.lineage import LINEAGE_FILE, encode_lineage
from meshkit.columns.project import complete_columns
from meshkit.dbt.artifacts import (
    Catalog,
    artifact_metadata,
    decode_catalog,
    decode_manifest,
    decode_run_results,
)
from meshkit.dbt.nodes import parse_time
from meshkit.errors import MeshError
from meshkit.status import NodeStatus, RunStatus
from meshkit.store.interface import encode_interface, extract_interface, mark_built
from meshkit.store.lineage import lineage_for_publish
from meshkit.store.records import INTERFACE, RunRecord, new_run_id, utc_now
from meshkit.store.store import Store


def publish_artifacts(store: Store, target_dir: Path, env: str, *, allow_failures: bool = False,
                      project_dir: Path | None = None, require_build: bool = False) -> RunRecord:
    """Publish manifest + run_results (and catalog/sources when they belong to the run), with
    the public interface and the column lineage computed from them.

    The run results are published only when they come from the dbt invocation that wrote the
    manifest (same `invocation_id`, dbt's metadata of both files). A manifest newer than its
    run results (`dbt parse` after a build) is published as a *parsed* run (RunStatus.PARSED):
    no run results, and each public model's `built` says whether a published run built its
    relation. `require_build` (meshkit's own builds) refuses such a pair instead.
    Raises MeshError naming the file for missing, unreadable or mismatched artifacts.
    """
    manifest_path = target_dir / "manifest.json"
    results_path = target_dir / "run_results.json"
    if not manifest_path.is_file() or (require_build and not results_path.is_file()):
        missing = results_path if manifest_path.is_file() else manifest_path
        raise MeshError(f"{missing.name} not found", file=missing,
                        hint="run `dbt build` (or run/test, or parse) in the project first, "
                             "then publish")
    manifest_bytes = manifest_path.read_bytes()
    results_bytes = results_path.read_bytes() if results_path.is_file() else None
    try:
        manifest = decode_manifest(manifest_bytes, source=str(manifest_path))
        results = decode_run_results(results_bytes, source=str(results_path)) \
            if results_bytes is not None else None
    except MeshError as exc:
        named = _project_name(manifest_bytes) or (project_dir or target_dir.parent).name
        folder = project_dir or target_dir.parent
        raise MeshError(f"cannot publish project '{named}' to environment '{env}': {exc.message}",
                        file=exc.file, hint=f"{exc.hint}; then publish again: `meshkit publish "
                        f"--project-dir {folder} --env {env}`") from None
    project = manifest.metadata.project_name
    if not project:
        raise MeshError("manifest.json does not name its project", file=manifest_path,
                        hint="rebuild with dbt-core 1.6 or newer")
    if results is not None and not _same_invocation(manifest, results, manifest_path, results_path):
        if require_build:
            raise MeshError(
                f"cannot publish '{project}': manifest.json (dbt invocation "
                f"{manifest.metadata.invocation_id}) and run_results.json (invocation "
                f"{results.metadata.invocation_id}) come from different dbt runs; another dbt "
                f"wrote to {target_dir} during this build", file=results_path,
                hint="build again; do not run dbt in a project while meshkit builds it")
        results = results_bytes = None     # an older build's results: not this manifest's
    failures = results.failures() if results else []
    if failures and not allow_failures:
        listed = ", ".join(f"{r.unique_id} ({r.status})" for r in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        raise MeshError(f"refusing to publish '{project}' to environment '{env}': the run has "
                        f"{len(failures)} failure(s): {listed}{more}", file=results_path,
                        hint="fix the failures and rebuild, or pass --allow-failures to publish anyway")
    previous = _previous_interface(store, project, env)
    built = ({r.unique_id for r in results.results if r.status == NodeStatus.SUCCESS}
             if results else set())
    built |= {uid for uid, n in manifest.nodes.items() if n.config.materialized == "ephemeral"}
    payloads = {"manifest.json": manifest_bytes}
    if results_bytes is not None:
        payloads["run_results.json"] = results_bytes
    for extra in ("catalog.json", "sources.json"):
        path = target_dir / extra
        # A catalog or freshness file left from an older manifest would describe another run.
        if path.is_file() and path.stat().st_mtime >= manifest_path.stat().st_mtime:
            payloads[extra] = path.read_bytes()
    catalog = _catalog(payloads.get("catalog.json"), target_dir / "catalog.json")
    lineage = lineage_for_publish(store, manifest, project, env, catalog, project_dir)
    interface = mark_built(extract_interface(manifest, project,
                                             complete_columns(manifest, lineage, catalog)),
                           built, previous)
    payloads[INTERFACE] = encode_interface(interface)
    payloads[LINEAGE_FILE] = encode_lineage(lineage)
    published_at = utc_now()
    generated = results.metadata.generated_at if results else manifest.metadata.generated_at
    # Never later than now: a run "from the future" (a skewed clock) would hold `latest`.
    completed_at = min(_iso_utc(generated) or published_at, published_at)
    status = (RunStatus.PARSED if results is None
              else RunStatus.FAILURES_ALLOWED if failures else RunStatus.SUCCESS)
    record = RunRecord(
        run_id=new_run_id(completed_at), project=project, environment=env,
        completed_at=completed_at, published_at=published_at,
        dbt_version=manifest.metadata.dbt_version, meshkit_version=__version__, status=status,
        files={}, git_sha=_git_sha(project_dir or target_dir.parent),
        invocation_id=(results or manifest).metadata.invocation_id,
        models=sum(1 for n in manifest.nodes.values()
                   if n.resource_type == "model" and n.package_name == project),
        public_models=len(interface.models), manifest_schema=manifest.metadata.dbt_schema_version,
        not_built=[m.unique_id for m in interface.models if not m.built])
    return store.publish(record, payloads)


def _catalog(data: bytes | None, path: Path) -> Catalog | None:
    """The run's catalog.json for column lineage; an unreadable one is published as it is."""
    try:
        return decode_catalog(data, source=str(path)) if data else None
    except MeshError:
        return None


def pointer_warning(store: Store, record: RunRecord) -> str | None:
    """Why consumers do not read a run just published (`latest` names another one), or None."""
    try:
        latest = store.latest(record.project, record.environment)
    except MeshError as exc:
        return f"published run {record.run_id}, but `latest` cannot be read: {exc.message}"
    if latest is None or latest.run_id == record.run_id:
        return None
    return (f"published run {record.run_id}, but consumers keep reading run {latest.run_id}, "
            f"which completed later ({latest.completed_at} > {record.completed_at})")


def _same_invocation(manifest, results, manifest_path: Path, results_path: Path) -> bool:
    """Whether both files come from one dbt invocation.

    dbt writes its id into both; without ids, a manifest written well after the results
    belongs to a later invocation."""
    ours, theirs = manifest.metadata.invocation_id, results.metadata.invocation_id
    if ours and theirs:
        return ours == theirs
    return manifest_path.stat().st_mtime <= results_path.stat().st_mtime + 1


def _previous_interface(store: Store, project: str, env: str):
    """The interface `latest` names now, or None (never published, or unreadable)."""
    try:
        found = store.interface(project, env)
    except MeshError:
        return None
    return found[1] if found else None


def _project_name(manifest: bytes) -> str | None:
    """The project a manifest names, read leniently (for messages about unreadable ones)."""
    metadata = artifact_metadata(manifest)
    if metadata is not None:
        return metadata.project_name
    match = re.search(rb'"project_name"\s*:\s*"([^"]+)"', manifest[:4096])
    return match.group(1).decode() if match else None


def _iso_utc(value: str | None) -> str | None:
    moment = parse_time(value)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z") if moment else None


def _git_sha(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
