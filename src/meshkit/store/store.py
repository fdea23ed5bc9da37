"""The artifact store: per project × environment, immutable runs and a `latest` pointer.

Layout under the store root (a folder, or any fsspec URL: s3://, gs://, az://, file://):

    <project>/<environment>/runs/<run_id>/manifest.json, run_results.json, ...,
                                          interface.json, meshkit-run.json (the record)
    <project>/<environment>/latest.json   → {"run_id", "completed_at"}

A run is complete when its record exists; the record is written only after every other file
of the run has been written and read back with the right checksum, and a run folder is never
changed afterwards. The pointer moves only to complete runs, and never backwards: of two
runs, the one that completed later wins.

The `Store` keeps these guarantees on a small backend protocol (backends/base.py):

- A backend that `locks` (a local disk) builds the run folder out of sight and renames it into
  place whole; the pointer is replaced atomically under the lock, so concurrent publishers
  compare and move it one at a time.
- An object store writes every object whole by its PUT; the record is written after the files
  and the pointer last. It has no lock, so after writing the pointer a publisher lists the
  complete runs and, if a run that completed later exists (a concurrent publisher whose
  pointer write it may have overwritten), points at that one instead.

Reads of run files from a backend whose reads cost a download go through a local cache keyed
by checksum (the record's; see cache.py), so an unchanged upstream is downloaded once per
machine; only the small pointer is read each time. Pruning and repair: maintenance.py.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import msgspec

from meshkit.columns.lineage import LINEAGE_FILE, ProjectLineage, decode_lineage
from meshkit.config.mesh import SAFE_NAME
from meshkit.dbt.artifacts import (
    SUPPORTED_MANIFEST_VERSIONS,
    Manifest,
    decode_manifest,
    manifest_schema_version,
)
from meshkit.errors import MeshError
from meshkit.store.backends import open_backend
from meshkit.store.backends.base import timestamp
from meshkit.store.cache import BlobCache, default_cache_dir
from meshkit.store.interface import Interface, decode_interface
from meshkit.store.records import (
    INTERFACE,
    POINTER,
    RUN_RECORD,
    STORE_FORMAT,
    ArtifactFile,
    Pointer,
    RunRecord,
)

_record_decoder = msgspec.json.Decoder(RunRecord)
_pointer_decoder = msgspec.json.Decoder(Pointer)
# Runs completing later than this past now come from a skewed clock (or a hand-edited file).
_CLOCK_SKEW_SECONDS = 600


def sha256(data: bytes) -> str:
    """The hex SHA-256 of some bytes: how a run's record names each of its files."""
    return hashlib.sha256(data).hexdigest()


class Store:
    """One artifact store, at `url`: a folder or an fsspec URL. Raises MeshError when the
    URL cannot be opened; every method raises MeshError (naming the file and the repair
    command) for a store it cannot use or a damaged file, never a backend's own error."""

    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        self.url = url
        self.backend = open_backend(url)
        self.root = self.backend.root
        self.cache = BlobCache(cache_dir or default_cache_dir())
        self.downloads = 0  # remote file reads that missed the local cache

    # -- paths ---------------------------------------------------------------------------
    def env_dir(self, project: str, env: str) -> str:
        """The backend path of one project × environment."""
        check_name("project", project)
        check_name("environment", env)
        return f"{self.root}/{project}/{env}"

    def run_dir(self, project: str, env: str, run_id: str) -> str:
        return f"{self.env_dir(project, env)}/runs/{run_id}"

    def describe(self, project: str, env: str, name: str = "") -> str:
        """A user-facing location for messages: the store URL plus the relative path."""
        rel = f"{project}/{env}" + (f"/{name}" if name else "")
        return f"{self.url.rstrip('/')}/{rel}"

    # -- writing -------------------------------------------------------------------------
    def publish(self, record: RunRecord, payloads: dict[str, bytes]) -> RunRecord:
        """Write a run's files, verify them, write its record, then move the pointer."""
        record.files = {name: ArtifactFile(sha256(data), len(data))
                        for name, data in payloads.items()}
        record.format = STORE_FORMAT
        encoded = msgspec.json.encode(record)
        try:
            self._write_run(record, payloads, encoded)
            self._advance_pointer(record)
        except OSError as exc:    # a local disk's; the backends raise MeshErrors otherwise
            raise MeshError(f"cannot write run {record.run_id} of project '{record.project}' "
                            f"to the artifact store: {exc}",
                            file=self.describe(record.project, record.environment),
                            hint="check that the store folder is writable and has space") from None
        return record

    def _write_run(self, record: RunRecord, payloads: dict[str, bytes], encoded: bytes) -> None:
        """The run's files, each read back and checked, then its record (which completes it)."""
        run_dir = self.run_dir(record.project, record.environment, record.run_id)
        with self.backend.new_folder(run_dir) as folder:
            for name, data in payloads.items():
                self.backend.create(f"{folder}/{name}", data)
            self._check_files(record, folder)
            self.backend.create(f"{folder}/{RUN_RECORD}", encoded)
            if self.backend.read(f"{folder}/{RUN_RECORD}") != encoded:
                raise MeshError(f"the record of run {record.run_id} did not read back intact; "
                                "the latest pointer was not moved",
                                file=self.describe(record.project, record.environment,
                                                   f"runs/{record.run_id}/{RUN_RECORD}"),
                                hint="publish again")
        if self.backend.cache_reads:
            # This machine has every file of the run: seed the cache so reading it back is free.
            for name, data in payloads.items():
                self.cache.put(record.files[name].sha256, data)
            self.cache.put(self._path_key(f"{run_dir}/{RUN_RECORD}"), encoded)

    def _check_files(self, record: RunRecord, folder: str) -> None:
        for name, expected in record.files.items():
            if sha256(self.backend.read(f"{folder}/{name}")) != expected.sha256:
                raise MeshError(f"{name} of project '{record.project}' did not read back intact "
                                f"while publishing to environment '{record.environment}'; the "
                                "latest pointer was not moved",
                                file=self.describe(record.project, record.environment,
                                                   f"runs/{record.run_id}/{name}"),
                                hint="publish again; if it repeats, check the store's disk "
                                     "or bucket")

    def _advance_pointer(self, record: RunRecord) -> None:
        """Compare and move `latest` to the run if it completed later than what it names."""
        project, env = record.project, record.environment
        if not self.backend.locks:
            self._settle_pointer(record)
            return
        with self.backend.lock(self.env_dir(project, env)):
            current = self._live_pointer(project, env)
            if current is None or current.order_key < record.order_key:
                self.write_pointer(project, env, record)

    def _settle_pointer(self, record: RunRecord) -> None:
        """Compare, write, then settle on the newest complete run (a backend without a lock).

        Two publishers may both read the old pointer and write theirs, the earlier run last.
        The later run's record was written before its pointer, so the publisher whose write
        landed last sees that run when it lists the complete runs after writing, and points
        at it: the later run wins by completion time.
        """
        project, env = record.project, record.environment
        target: RunRecord | Pointer = record
        for _ in range(5):
            current = self._live_pointer(project, env)
            if current is None or current.order_key < target.order_key:
                self.write_pointer(project, env, target)
            newest = self._newest_complete(project, env)
            if newest is not None and newest.order_key > target.order_key:
                target = newest
                continue
            current = self.pointer(project, env, strict=False)
            if current is not None and current.order_key >= target.order_key:
                return

    def _live_pointer(self, project: str, env: str) -> Pointer | None:
        """What `latest` names, ordered by its run's own record; None when the pointer is
        corrupt, names a missing or unreadable run, or a run that claims to complete in the
        future (a skewed clock or a hand-edited file must not hold the pointer forever)."""
        current = self.pointer(project, env, strict=False)
        if current is None:
            return None
        try:
            record = self.record(project, env, current.run_id)
        except MeshError:
            return None
        if _in_future(record.completed_at):
            return None
        return Pointer(record.run_id, record.completed_at)

    def _newest_complete(self, project: str, env: str) -> RunRecord | None:
        runs = [r for r in self.runs(project, env) if not _in_future(r.completed_at)]
        return runs[-1] if runs else None

    def write_pointer(self, project: str, env: str, target: RunRecord | Pointer | None) -> None:
        """Point `latest` at `target` whatever it names now, or remove it (None). Publishers
        move it through `publish`; this is for repair."""
        path = f"{self.env_dir(project, env)}/{POINTER}"
        if target is None:
            self.backend.delete(path)
        else:
            self.backend.replace(path, msgspec.json.encode(Pointer(target.run_id,
                                                                   target.completed_at)))

    def write_file(self, project: str, env: str, name: str, data: bytes) -> str:
        """Replace a small file kept beside a project's runs (`<project>/<env>/<name>`, such as
        scores.json) whole: readers see the old or the new one. Returns its user-facing
        location; raises MeshError when the store refuses."""
        self.backend.replace(f"{self.env_dir(project, env)}/{name}", data)
        return self.describe(project, env, name)

    def read_file(self, project: str, env: str, name: str) -> bytes | None:
        """A file written by `write_file`, or None if there is none."""
        try:
            return self.backend.read(f"{self.env_dir(project, env)}/{name}")
        except FileNotFoundError:
            return None

    # -- reading -------------------------------------------------------------------------
    def pointer(self, project: str, env: str, *, strict: bool = True) -> Pointer | None:
        """What `latest` names, or None if never published. A corrupt pointer raises
        MeshError, or reads as None when not `strict`."""
        data = self.read_file(project, env, POINTER)
        if data is None:
            return None
        try:
            return _pointer_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            if not strict:
                return None
            raise MeshError(f"the latest pointer of project '{project}' in environment '{env}' "
                            "is corrupt", file=self.describe(project, env, POINTER),
                            hint=_repair_hint(project, env)) from None

    def latest(self, project: str, env: str) -> RunRecord | None:
        """The run consumers should read, or None if the project never published here."""
        pointer = self.pointer(project, env)
        if pointer is None:
            return None
        record = self.record(project, env, pointer.run_id)
        if (record.project, record.environment) != (project, env):
            raise MeshError(f"the latest run of project '{project}' in environment '{env}' "
                            f"belongs to project '{record.project}' in environment "
                            f"'{record.environment}' (a run folder was copied by hand?)",
                            file=self.describe(project, env, f"runs/{pointer.run_id}/{RUN_RECORD}"),
                            hint=_repair_hint(project, env))
        return record

    def record(self, project: str, env: str, run_id: str) -> RunRecord:
        name = f"runs/{run_id}/{RUN_RECORD}"
        path = f"{self.run_dir(project, env, run_id)}/{RUN_RECORD}"
        try:
            data = self._read_immutable(path, self._path_key(path), verified=False)
        except FileNotFoundError:
            raise MeshError(f"project '{project}' in environment '{env}' points at run {run_id}, "
                            "which is missing from the store",
                            file=self.describe(project, env, name),
                            hint=_repair_hint(project, env)) from None
        try:
            record = _record_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.cache.drop(self._path_key(path))
            raise MeshError(f"the record of run {run_id} of project '{project}' in environment "
                            f"'{env}' is corrupt", file=self.describe(project, env, name),
                            hint=_repair_hint(project, env)) from None
        if record.format > STORE_FORMAT:
            raise MeshError(f"run {run_id} of project '{project}' in environment '{env}' was "
                            f"published by a newer meshkit (store format {record.format}; this "
                            f"meshkit reads format {STORE_FORMAT})",
                            file=self.describe(project, env, name),
                            hint="upgrade meshkit (pip install -U dbt-meshkit), or republish with "
                                 f"this one: `meshkit build --project {project} --env {env}`")
        return record

    def read(self, record: RunRecord, name: str) -> bytes:
        """A file of a run, verified against the checksum in its record."""
        expected = record.files.get(name)
        where = self.describe(record.project, record.environment, f"runs/{record.run_id}/{name}")
        if expected is None:
            raise MeshError(f"the record of run {record.run_id} of project '{record.project}' in "
                            f"environment '{record.environment}' lists no {name}", file=where,
                            hint=_repair_hint(record.project, record.environment))
        path = f"{self.run_dir(record.project, record.environment, record.run_id)}/{name}"
        try:
            data = self._read_immutable(path, expected.sha256)
        except FileNotFoundError:
            raise MeshError(f"{name} of project '{record.project}' in environment "
                            f"'{record.environment}' is missing", file=where,
                            hint=_repair_hint(record.project, record.environment)) from None
        if sha256(data) != expected.sha256:
            truncated = " (truncated)" if len(data) < expected.size else ""
            raise MeshError(f"{name} of project '{record.project}' in environment "
                            f"'{record.environment}' is corrupt{truncated}: its checksum does not "
                            "match the run's record", file=where,
                            hint=_repair_hint(record.project, record.environment))
        return data

    def interface(self, project: str, env: str) -> tuple[RunRecord, Interface] | None:
        """The latest run's public interface, whole and verified, or None if never published."""
        record = self.latest(project, env)
        if record is None:
            return None
        where = self.describe(project, env, f"runs/{record.run_id}/{INTERFACE}")
        self._check_schema(record, where)
        data = self.read(record, INTERFACE)
        try:
            return record, decode_interface(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MeshError(f"the interface of project '{project}' in environment '{env}' cannot "
                            f"be read: {exc}", file=where,
                            hint=_repair_hint(project, env)) from None

    def column_lineage(self, record: RunRecord) -> ProjectLineage | None:
        """The run's column lineage (columns.json), or None if it was published without one."""
        if LINEAGE_FILE not in record.files:
            return None
        where = self.describe(record.project, record.environment,
                              f"runs/{record.run_id}/{LINEAGE_FILE}")
        try:
            return decode_lineage(self.read(record, LINEAGE_FILE))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MeshError(f"the column lineage of project '{record.project}' in environment "
                            f"'{record.environment}' cannot be read: {exc}", file=where,
                            hint=_repair_hint(record.project, record.environment)) from None

    def manifest(self, record: RunRecord) -> Manifest:
        """The run's manifest, decoded; errors name the project, environment and file."""
        where = self.describe(record.project, record.environment,
                              f"runs/{record.run_id}/manifest.json")
        data = self.read(record, "manifest.json")
        try:
            return decode_manifest(data, source=where)
        except MeshError as exc:
            raise MeshError(f"manifest.json of project '{record.project}' in environment "
                            f"'{record.environment}': {exc.message}", file=where,
                            hint=_repair_hint(record.project, record.environment)) from None

    def _check_schema(self, record: RunRecord, where: str) -> None:
        version = manifest_schema_version(record.manifest_schema)
        if version is not None and version not in SUPPORTED_MANIFEST_VERSIONS:
            raise MeshError(f"run {record.run_id} of project '{record.project}' in environment "
                            f"'{record.environment}' was built by dbt {record.dbt_version} "
                            f"(manifest schema v{version}), which meshkit does not read",
                            file=where, hint="rebuild with dbt-core 1.6 – 1.11 and publish again: "
                            + _repair_hint(record.project, record.environment))

    # -- the local read cache ------------------------------------------------------------
    def _path_key(self, path: str) -> str:
        """Cache key of a file whose checksum is not known in advance (a run's record)."""
        return sha256(f"{self.url}|{path}".encode())

    def _read_immutable(self, path: str, key: str, *, verified: bool = True) -> bytes:
        """Read a file of a run folder; downloads go through the local cache.

        `key` is the file's sha256 (checked on every cache hit) or, for a run's record, a key
        derived from its path (`verified=False`): run folders never change once complete.
        """
        if not self.backend.cache_reads:
            return self.backend.read(path)
        data = self.cache.get(key)
        if data is not None and (not verified or sha256(data) == key):
            return data
        data = self.backend.read(path)
        self.downloads += 1
        if not verified or sha256(data) == key:
            self.cache.put(key, data)
        return data

    # -- listing -------------------------------------------------------------------------
    def projects(self) -> list[str]:
        return self.backend.folders(self.root)

    def environments(self, project: str) -> list[str]:
        return self.backend.folders(f"{self.root}/{project}")

    def published_environments(self, project: str) -> list[str]:
        """Environments where the project has a latest pointer."""
        return [env for env in self.environments(project)
                if self.backend.exists(f"{self.env_dir(project, env)}/{POINTER}")]

    def run_ids(self, project: str, env: str) -> list[str]:
        return self.backend.folders(f"{self.env_dir(project, env)}/runs")

    def runs(self, project: str, env: str) -> list[RunRecord]:
        """Complete runs, oldest first (incomplete folders have no record and are skipped)."""
        records = []
        for run_id in self.backend.folders_holding(f"{self.env_dir(project, env)}/runs",
                                                    RUN_RECORD):
            try:
                records.append(self.record(project, env, run_id))
            except MeshError:
                continue
        return sorted(records, key=lambda r: r.order_key)

    # -- deleting ------------------------------------------------------------------------
    def delete_record(self, record: RunRecord) -> None:
        """Make a run incomplete: no publisher or reader counts it again (prune removes it)."""
        path = f"{self.run_dir(record.project, record.environment, record.run_id)}/{RUN_RECORD}"
        self.backend.delete(path)
        self.cache.drop(self._path_key(path))

    def delete_run(self, project: str, env: str, run_id: str) -> None:
        self.backend.delete_folder(self.run_dir(project, env, run_id))


def check_name(kind: str, name: str) -> None:
    """A project or environment name is one folder of the store: never a path."""
    if not SAFE_NAME.fullmatch(name or ""):
        raise MeshError(f"{kind} name {name!r} cannot name a folder of the artifact store",
                        hint=f"{kind} names are letters, digits, '_', '-' and '.', starting with "
                             "a letter, digit or '_'")


def _repair_hint(project: str, env: str) -> str:
    """The commands that bring a damaged project × environment back."""
    return (f"publish a fresh run: `meshkit build --project {project} --env {env} --full` (or "
            f"`meshkit publish --project-dir PATH --env {env}` after a dbt build); or go back to "
            f"the newest intact run: `meshkit store repair {project} --env {env}`")


def _in_future(completed_at: str) -> bool:
    moment = timestamp(completed_at)
    return moment is not None and moment > time.time() + _CLOCK_SKEW_SECONDS
