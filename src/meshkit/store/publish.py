"""Publish a project's dbt artifacts to the store after a run."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path

import msgspec

from meshkit import __version__
from meshkit.columns.lineage import LINEAGE_FILE, encode_lineage
from meshkit.columns.project import complete_columns
from meshkit.dbt.artifacts import Catalog, decode_catalog, decode_manifest, decode_run_results
from meshkit.errors import MeshError
from meshkit.store.interface import encode_interface, extract_interface
from meshkit.store.lineage import lineage_for_publish
from meshkit.store.records import INTERFACE, RunRecord
from meshkit.store.store import Store, new_run_id, utc_now


def publish_artifacts(store: Store, target_dir: Path, env: str, *, allow_failures: bool = False,
                      project_dir: Path | None = None) -> RunRecord:
    """Publish manifest + run_results (and catalog/sources when they belong to the run), with
    the public interface and the column lineage computed from them."""
    manifest_path = target_dir / "manifest.json"
    results_path = target_dir / "run_results.json"
    for required in (manifest_path, results_path):
        if not required.is_file():
            raise MeshError(f"{required.name} not found", file=required,
                            hint="run `dbt build` (or run/test) in the project first, then publish")
    manifest_bytes = manifest_path.read_bytes()
    results_bytes = results_path.read_bytes()
    try:
        manifest = decode_manifest(manifest_bytes, source=str(manifest_path))
        results = decode_run_results(results_bytes, source=str(results_path))
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
    failures = results.failures()
    if failures and not allow_failures:
        listed = ", ".join(f"{r.unique_id} ({r.status})" for r in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        raise MeshError(f"refusing to publish '{project}' to environment '{env}': the run has "
                        f"{len(failures)} failure(s): {listed}{more}", file=results_path,
                        hint="fix the failures and rebuild, or pass --allow-failures to publish anyway")
    payloads = {"manifest.json": manifest_bytes, "run_results.json": results_bytes}
    for extra in ("catalog.json", "sources.json"):
        path = target_dir / extra
        # A catalog or freshness file left from an older manifest would describe another run.
        if path.is_file() and path.stat().st_mtime >= manifest_path.stat().st_mtime:
            payloads[extra] = path.read_bytes()
    catalog = _catalog(payloads.get("catalog.json"), target_dir / "catalog.json")
    lineage = lineage_for_publish(store, manifest, project, env, catalog, project_dir)
    interface = extract_interface(manifest, project, complete_columns(manifest, lineage, catalog))
    payloads[INTERFACE] = encode_interface(interface)
    payloads[LINEAGE_FILE] = encode_lineage(lineage)
    completed_at = _iso_utc(results.metadata.generated_at) or utc_now()
    record = RunRecord(
        run_id=new_run_id(completed_at), project=project, environment=env,
        completed_at=completed_at, published_at=utc_now(), dbt_version=manifest.metadata.dbt_version,
        meshkit_version=__version__, status="failures allowed" if failures else "success", files={},
        git_sha=_git_sha(project_dir or target_dir.parent),
        invocation_id=results.metadata.invocation_id,
        models=sum(1 for n in manifest.nodes.values()
                   if n.resource_type == "model" and n.package_name == project),
        public_models=len(interface.models), manifest_schema=manifest.metadata.dbt_schema_version)
    return store.publish(record, payloads)


def _catalog(data: bytes | None, path: Path) -> Catalog | None:
    """The run's catalog.json for column lineage; an unreadable one is published as it is."""
    try:
        return decode_catalog(data, source=str(path)) if data else None
    except MeshError:
        return None


class _Metadata(msgspec.Struct):
    project_name: str | None = None


class _Head(msgspec.Struct):
    metadata: _Metadata = msgspec.field(default_factory=_Metadata)


def _project_name(manifest: bytes) -> str | None:
    """The project a manifest names, read leniently (for messages about unreadable ones)."""
    try:
        return msgspec.json.decode(manifest, type=_Head).metadata.project_name
    except (msgspec.DecodeError, msgspec.ValidationError):
        match = re.search(rb'"project_name"\s*:\s*"([^"]+)"', manifest[:4096])
        return match.group(1).decode() if match else None


def _iso_utc(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z") if moment.tzinfo \
        else moment.isoformat(timespec="microseconds") + "Z"


def _git_sha(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
