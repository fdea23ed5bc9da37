"""The artifact store: per project × environment, immutable runs and a `latest` pointer.

Layout under the store root (a folder, or any fsspec URL: s3://, gs://, az://, file://):

    <project>/<environment>/runs/<run_id>/manifest.json, run_results.json, ...,
                                          interface.json, meshkit-run.json (the record)
    <project>/<environment>/latest.json   → {"run_id", "completed_at"}

A run is complete when its record exists; the record is written only after every other file
of the run has been written and read back with the right checksum, and a run folder is never
changed afterwards. The pointer moves only to complete runs, and never backwards: of two
runs, the one that completed later wins.

- On a local disk a run is written into a hidden staging folder (each file fsynced), checked,
  then renamed into place in one step; the pointer is replaced atomically (write, fsync,
  rename) under a lock, so concurrent publishers compare and move it one at a time.
- On an object store every object is written whole by its PUT; the record is written after
  the files and the pointer last. Object stores have no lock, so after writing the pointer a
  publisher lists the complete runs and, if a run that completed later exists (a concurrent
  publisher whose pointer write it may have overwritten), points at that one instead.

Remote reads of run files go through a local cache keyed by checksum (the record's; see
cache.py), so an unchanged upstream is downloaded once per machine; only the small pointer
is read each time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import fsspec
import msgspec
from fsspec.implementations.local import LocalFileSystem

from meshkit.columns.lineage import LINEAGE_FILE, ProjectLineage, decode_lineage
from meshkit.config.mesh import SAFE_NAME
from meshkit.errors import MeshError
from meshkit.store.cache import BlobCache, default_cache_dir
from meshkit.store.interface import Interface, decode_interface
from meshkit.store.records import (INTERFACE, POINTER, RUN_RECORD, STORE_FORMAT, required_files,
                                   ArtifactFile, Pointer, RunRecord)

_record_decoder = msgspec.json.Decoder(RunRecord)
_pointer_decoder = msgspec.json.Decoder(Pointer)
_STAGING_PREFIX = ".staging-"
_SCHEMA_RE = re.compile(r"/manifest/v(\d+)\.json$")
# Manifest schemas meshkit reads (dbt 1.6 – 1.11), as in meshkit.dbt.artifacts.
SUPPORTED_MANIFEST_SCHEMAS = range(10, 13)
# Run folders without a record younger than this may still be being written: prune leaves them.
INCOMPLETE_GRACE_SECONDS = 3600


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id(completed_at: str) -> str:
    """Sortable and readable: 20261123T091839Z-85ab12 (the suffix keeps ids unique)."""
    digits = "".join(ch for ch in completed_at if ch.isdigit())
    return f"{digits[:8]}T{digits[8:14]}Z-{secrets.token_hex(3)}"


@dataclass
class PruneResult:
    project: str
    environment: str
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)   # half-written leftovers removed


@dataclass
class RepairResult:
    project: str
    environment: str
    before: str | None = None        # the run `latest` named
    after: str | None = None         # the run it names now (None: no intact run, pointer removed)
    damaged: dict[str, list[str]] = field(default_factory=dict)  # run id → its problems


class Store:
    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        self.url = url
        try:
            # A fresh filesystem per Store: it reads credentials and endpoint settings (for S3:
            # AWS_* variables, AWS_ENDPOINT_URL_S3) now, and keeps no stale listing cache.
            self.fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
        except ImportError as exc:
            scheme = url.split("://", 1)[0]
            extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}.get(scheme)
            raise MeshError(f"the artifact store {url} needs a filesystem package that is not "
                            f"installed: {exc}",
                            hint=(f"pip install 'dbt-meshkit[{extra}]'" if extra == "s3"
                                  else "install the fsspec implementation for this URL scheme "
                                       "(s3fs, gcsfs or adlfs)")) from None
        except ValueError as exc:
            raise MeshError(f"the artifact store URL {url!r} is not valid: {exc}",
                            hint="use a folder, or a URL such as s3://bucket/mesh") from None
        except Exception as exc:  # some filesystems connect at once (ftp://, github://)
            raise _unreachable(url, exc) from None
        self.root = root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.cache = BlobCache(cache_dir or default_cache_dir())
        self.downloads = 0  # remote file reads that missed the local cache

    # -- paths ---------------------------------------------------------------------------
    def _env_dir(self, project: str, env: str) -> str:
        check_name("project", project)
        check_name("environment", env)
        return f"{self.root}/{project}/{env}"

    def run_dir(self, project: str, env: str, run_id: str) -> str:
        return f"{self._env_dir(project, env)}/runs/{run_id}"

    def describe(self, project: str, env: str, name: str = "") -> str:
        """A user-facing location for messages: the store URL plus the relative path."""
        rel = f"{project}/{env}" + (f"/{name}" if name else "")
        return f"{self.url.rstrip('/')}/{rel}"

    # -- writing -------------------------------------------------------------------------
    def publish(self, record: RunRecord, payloads: dict[str, bytes]) -> RunRecord:
        """Write a run's files, verify them, write its record, then move the pointer."""
        record.files = {name: ArtifactFile(sha256(data), len(data)) for name, data in payloads.items()}
        record.format = STORE_FORMAT
        encoded = msgspec.json.encode(record)
        try:
            if self.is_local:
                self._publish_local(record, payloads, encoded)
            else:
                self._publish_remote(record, payloads, encoded)
            self._advance_pointer(record)
        except OSError as exc:    # local disks; remote errors are MeshErrors already
            raise MeshError(f"cannot write run {record.run_id} of project '{record.project}' "
                            f"to the artifact store: {exc}",
                            file=self.describe(record.project, record.environment),
                            hint="check that the store folder is writable and has space") from None
        return record

    def _publish_local(self, record: RunRecord, payloads: dict[str, bytes], encoded: bytes) -> None:
        final = Path(self.run_dir(record.project, record.environment, record.run_id))
        staging = final.with_name(f"{_STAGING_PREFIX}{record.run_id}")
        staging.mkdir(parents=True)
        try:
            for name, data in payloads.items():
                _write_synced(staging / name, data)
            self._check_files(record, {name: str(staging / name) for name in payloads})
            _write_synced(staging / RUN_RECORD, encoded)
            _fsync_dir(staging)
            os.rename(staging, final)  # the run appears whole, or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(final.parent)

    def _publish_remote(self, record: RunRecord, payloads: dict[str, bytes], encoded: bytes) -> None:
        run_dir = self.run_dir(record.project, record.environment, record.run_id)
        for name, data in payloads.items():
            self._remote(self.fs.pipe_file, f"{run_dir}/{name}", data)
        self._check_files(record, {name: f"{run_dir}/{name}" for name in payloads})
        record_path = f"{run_dir}/{RUN_RECORD}"
        self._remote(self.fs.pipe_file, record_path, encoded)
        if self._remote(self.fs.cat_file, record_path) != encoded:
            raise MeshError(f"the record of run {record.run_id} did not read back intact; the "
                            "latest pointer was not moved",
                            file=self.describe(record.project, record.environment,
                                               f"runs/{record.run_id}/{RUN_RECORD}"),
                            hint="publish again")
        # This machine has every file of the run: seed the cache so reading it back is free.
        for name, data in payloads.items():
            self.cache.put(record.files[name].sha256, data)
        self.cache.put(self._path_key(record_path), encoded)

    def _check_files(self, record: RunRecord, paths: dict[str, str]) -> None:
        for name, path in paths.items():
            data = self._remote(self.fs.cat_file, path)
            if sha256(data) != record.files[name].sha256:
                raise MeshError(f"{name} of project '{record.project}' did not read back intact "
                                f"while publishing to environment '{record.environment}'; the "
                                "latest pointer was not moved",
                                file=self.describe(record.project, record.environment,
                                                   f"runs/{record.run_id}/{name}"),
                                hint="publish again; if it repeats, check the store's disk or bucket")

    def _advance_pointer(self, record: RunRecord) -> None:
        project, env = record.project, record.environment
        if self.is_local:
            with self._pointer_lock(project, env):
                current = self._live_pointer(project, env)
                if current is None or current.order_key < record.order_key:
                    self._write_pointer(project, env, record)
            return
        self._advance_remote_pointer(record)

    def _advance_remote_pointer(self, record: RunRecord) -> None:
        """Compare, write, then settle on the newest complete run (object stores have no lock).

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
                self._write_pointer(project, env, target)
            newest = self._newest_complete(project, env)
            if newest is not None and newest.order_key > target.order_key:
                target = newest
                continue
            current = self._read_pointer(project, env, strict=False)
            if current is not None and current.order_key >= target.order_key:
                return

    def _live_pointer(self, project: str, env: str) -> Pointer | None:
        """What `latest` names, ordered by its run's own record; None when the pointer is
        corrupt, names a missing or unreadable run, or a run that claims to complete in the
        future (a skewed clock or a hand-edited file must not hold the pointer forever)."""
        current = self._read_pointer(project, env, strict=False)
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

    def _write_pointer(self, project: str, env: str, target: RunRecord | Pointer) -> None:
        data = msgspec.json.encode(Pointer(target.run_id, target.completed_at))
        path = f"{self._env_dir(project, env)}/{POINTER}"
        if self.is_local:
            with self._local_errors():
                _replace_atomically(Path(path), data)
        else:
            self._remote(self.fs.pipe_file, path, data)

    @contextlib.contextmanager
    def _pointer_lock(self, project: str, env: str) -> Iterator[None]:
        """Serialise compare-and-move of the pointer between local publishers."""
        lock_path = Path(self._env_dir(project, env)) / ".lock"
        with self._local_errors():
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+b")
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if the process dies
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading -------------------------------------------------------------------------
    def pointer(self, project: str, env: str) -> Pointer | None:
        return self._read_pointer(project, env)

    def _read_pointer(self, project: str, env: str, *, strict: bool = True) -> Pointer | None:
        path = f"{self._env_dir(project, env)}/{POINTER}"
        try:
            data = self._remote(self.fs.cat_file, path)
        except FileNotFoundError:
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
        pointer = self._read_pointer(project, env)
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
                            "which is missing from the store", file=self.describe(project, env, name),
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
                            f"be read: {exc}", file=where, hint=_repair_hint(project, env)) from None

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

    def manifest(self, record: RunRecord):
        """The run's manifest, decoded; errors name the project, environment and file."""
        from meshkit.dbt.artifacts import decode_manifest

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
        match = _SCHEMA_RE.search(record.manifest_schema or "")
        if match and int(match.group(1)) not in SUPPORTED_MANIFEST_SCHEMAS:
            raise MeshError(f"run {record.run_id} of project '{record.project}' in environment "
                            f"'{record.environment}' was built by dbt {record.dbt_version} "
                            f"(manifest schema v{match.group(1)}), which meshkit does not read",
                            file=where, hint="rebuild with dbt-core 1.6 – 1.11 and publish again: "
                            + _repair_hint(record.project, record.environment))

    def verify(self, record: RunRecord) -> list[str]:
        """Problems with a run's files (missing, corrupt, or run results from another dbt
        invocation than its manifest); empty when the run is whole and of one invocation."""
        problems = [f"the record lists no {name}" for name in required_files(record.status)
                    if name not in record.files]
        read: dict[str, bytes] = {}
        for name in record.files:
            try:
                read[name] = self.read(record, name)
            except MeshError as exc:
                problems.append(exc.message)
        if "manifest.json" in read and "run_results.json" in read:
            ids = (_invocation_id(read["manifest.json"]), _invocation_id(read["run_results.json"]))
            if None not in ids and ids[0] != ids[1]:
                problems.append(f"run {record.run_id} of project '{record.project}' pairs a "
                                f"manifest (dbt invocation {ids[0]}) with the run results of "
                                f"another invocation ({ids[1]}): it claims builds its manifest "
                                "does not describe")
        return problems

    # -- the local read cache ------------------------------------------------------------
    def _path_key(self, path: str) -> str:
        """Cache key of a file whose checksum is not known in advance (a run's record)."""
        return sha256(f"{self.url}|{path}".encode())

    def _read_immutable(self, path: str, key: str, *, verified: bool = True) -> bytes:
        """Read a file of a run folder; remote reads go through the local cache.

        `key` is the file's sha256 (checked on every cache hit) or, for a run's record, a key
        derived from its path (`verified=False`): run folders never change once complete.
        """
        if self.is_local:
            with self._local_errors():
                return self.fs.cat_file(path)
        data = self.cache.get(key)
        if data is not None and (not verified or sha256(data) == key):
            return data
        data = self._remote(self.fs.cat_file, path)
        self.downloads += 1
        if not verified or sha256(data) == key:
            self.cache.put(key, data)
        return data

    def _remote(self, method, *args):
        """Call the filesystem; failures other than a missing file become one clear error."""
        try:
            return method(*args)
        except (FileNotFoundError, MeshError):
            raise
        except Exception as exc:  # network, credentials, bucket: whatever the backend raises
            if self.is_local and isinstance(exc, OSError):
                raise _unusable(self.url, exc) from None
            raise _unreachable(self.url, exc) from None

    @contextlib.contextmanager
    def _local_errors(self) -> Iterator[None]:
        """OS errors under a local store (a file where a folder belongs, no permission) as
        one message naming the path; a missing file stays FileNotFoundError."""
        try:
            yield
        except (FileNotFoundError, MeshError):
            raise
        except OSError as exc:
            raise _unusable(self.url, exc) from None

    # -- listing and pruning ------------------------------------------------------------
    def projects(self) -> list[str]:
        return self._children(self.root)

    def environments(self, project: str) -> list[str]:
        return self._children(f"{self.root}/{project}")

    def published_environments(self, project: str) -> list[str]:
        """Environments where the project has a latest pointer."""
        return [env for env in self.environments(project)
                if self._exists(f"{self._env_dir(project, env)}/{POINTER}")]

    def run_ids(self, project: str, env: str) -> list[str]:
        return self._children(f"{self._env_dir(project, env)}/runs")

    def runs(self, project: str, env: str) -> list[RunRecord]:
        """Complete runs, oldest first (incomplete folders have no record and are skipped)."""
        records = []
        for run_id in self._complete_ids(project, env):
            try:
                records.append(self.record(project, env, run_id))
            except MeshError:
                continue
        return sorted(records, key=lambda r: r.order_key)

    def _complete_ids(self, project: str, env: str) -> list[str]:
        """Run folders that hold a record now (a cached record may outlive a repaired run)."""
        runs_dir = f"{self._env_dir(project, env)}/runs"
        if self.is_local:
            return [r for r in self.run_ids(project, env)
                    if os.path.exists(f"{runs_dir}/{r}/{RUN_RECORD}")]
        self.fs.invalidate_cache(runs_dir)
        try:
            found = self._remote(self.fs.find, runs_dir)
        except FileNotFoundError:
            return []
        suffix = f"/{RUN_RECORD}"
        ids = {path.rstrip("/")[: -len(suffix)].rsplit("/", 1)[-1]
               for path in found if path.endswith(suffix)}
        return sorted(r for r in ids if not r.startswith("."))

    def _exists(self, path: str) -> bool:
        if self.is_local:
            return os.path.exists(path)
        try:
            self._remote(self.fs.info, path)
            return True
        except FileNotFoundError:
            return False

    def _entries(self, path: str) -> list[dict]:
        if not self.is_local:
            self.fs.invalidate_cache(path)  # listings are cached per filesystem instance
        try:
            return self._remote(self.fs.ls, path, True)
        except FileNotFoundError:
            return []

    def _children(self, path: str, *, hidden: bool = False) -> list[str]:
        names = []
        for entry in self._entries(path):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry["type"] == "directory" and (hidden or not name.startswith(".")):
                names.append(name)
        return sorted(names)

    def repair(self, project: str, env: str) -> RepairResult:
        """Point `latest` at the newest complete run whose files all verify.

        Runs that fail verification lose their record (they become incomplete, and `prune`
        removes them later), so no publisher settles on them again. With no intact run left,
        the pointer is removed: the project counts as never published in this environment.
        """
        result = RepairResult(project, env)
        with self._lock_if_local(project, env):
            before = self._read_pointer(project, env, strict=False)
            result.before = before.run_id if before else None
            for record in reversed(self.runs(project, env)):
                problems = self.verify(record)
                if not problems:
                    result.after = record.run_id
                    break
                result.damaged[record.run_id] = problems
                self._delete(f"{self.run_dir(project, env, record.run_id)}/{RUN_RECORD}")
            pointer_path = f"{self._env_dir(project, env)}/{POINTER}"
            if result.after is None:
                self._delete(pointer_path)
            elif result.after != result.before or self._corrupt_pointer(project, env):
                self._write_pointer(project, env, self.record(project, env, result.after))
        return result

    def _corrupt_pointer(self, project: str, env: str) -> bool:
        try:
            self._read_pointer(project, env)
            return False
        except MeshError:
            return True

    @contextlib.contextmanager
    def _lock_if_local(self, project: str, env: str) -> Iterator[None]:
        if self.is_local:
            with self._pointer_lock(project, env):
                yield
        else:
            yield

    def _delete(self, path: str) -> None:
        try:
            if self.is_local:
                with self._local_errors():
                    os.unlink(path)
            else:
                self._remote(self.fs.rm_file, path)
                self.cache.drop(self._path_key(path))
        except FileNotFoundError:
            pass

    def delete_run(self, project: str, env: str, run_id: str) -> None:
        path = self.run_dir(project, env, run_id)
        if self.is_local:
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                self._remote(self.fs.rm, path, True)
            self.fs.invalidate_cache(path)

    def prune(self, keep: int, *, projects: list[str] | None = None, env: str | None = None,
              dry_run: bool = False, grace_seconds: float = INCOMPLETE_GRACE_SECONDS
              ) -> list[PruneResult]:
        """Keep the `keep` newest complete runs of each project × environment, and the run the
        pointer names whatever its age; delete the rest, and half-written leftovers older than
        `grace_seconds` (younger ones may belong to a publish in progress)."""
        if keep < 1:
            raise MeshError("--keep must be at least 1", hint="the run `latest` names is always kept")
        results = []
        for project in projects or self.projects():
            for environment in ([env] if env else self.environments(project)):
                results.append(self._prune_env(project, environment, keep, dry_run, grace_seconds))
        return results

    def _prune_env(self, project: str, env: str, keep: int, dry_run: bool,
                   grace_seconds: float) -> PruneResult:
        result = PruneResult(project, env)
        pointer = self._read_pointer(project, env, strict=False)
        complete = self.runs(project, env)
        kept = {r.run_id for r in complete[-keep:]}
        if pointer is not None:
            kept.add(pointer.run_id)
        complete_ids = {r.run_id for r in complete}
        now = time.time()
        for name in self._children(f"{self._env_dir(project, env)}/runs", hidden=True):
            if name in kept:
                continue
            if name in complete_ids:
                result.deleted.append(name)
            elif self._age(f"{self._env_dir(project, env)}/runs/{name}", now) > grace_seconds:
                result.incomplete.append(name)
            else:
                continue
            if not dry_run:
                self.delete_run(project, env, name)
        result.kept = [r.run_id for r in complete if r.run_id in kept]
        if self.is_local and not dry_run:
            self._remove_stale_temp_files(Path(self._env_dir(project, env)), now, grace_seconds)
        return result

    def _age(self, path: str, now: float) -> float:
        """Seconds since anything in a folder last changed (infinite when unknown)."""
        newest = None
        try:
            if self.is_local:
                for folder, _, files in os.walk(path):
                    for name in [*files, "."]:
                        mtime = os.stat(os.path.join(folder, name)).st_mtime
                        newest = mtime if newest is None else max(newest, mtime)
            else:
                for info in self._remote(self.fs.find, path, None, False, True).values():
                    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated")
                    mtime = _timestamp(stamp)
                    if mtime is not None:
                        newest = mtime if newest is None else max(newest, mtime)
        except FileNotFoundError:
            return float("inf")
        return float("inf") if newest is None else now - newest

    def _remove_stale_temp_files(self, env_dir: Path, now: float, grace_seconds: float) -> None:
        with contextlib.suppress(OSError):
            for tmp in env_dir.glob(".*.tmp"):
                if now - tmp.stat().st_mtime > grace_seconds:
                    tmp.unlink()


def check_name(kind: str, name: str) -> None:
    """A project or environment name is one folder of the store: never a path."""
    if not SAFE_NAME.fullmatch(name or ""):
        raise MeshError(f"{kind} name {name!r} cannot name a folder of the artifact store",
                        hint=f"{kind} names are letters, digits, '_', '-' and '.', starting with "
                             "a letter, digit or '_'")


# Runs completing later than this past now come from a skewed clock (or a hand-edited file).
_CLOCK_SKEW_SECONDS = 600


def _in_future(completed_at: str) -> bool:
    moment = _timestamp(completed_at)
    return moment is not None and moment > time.time() + _CLOCK_SKEW_SECONDS


def _invocation_id(artifact: bytes) -> str | None:
    """The dbt invocation that wrote an artifact, or None if unreadable."""
    from meshkit.dbt.artifacts import artifact_metadata

    metadata = artifact_metadata(artifact)
    return metadata.invocation_id if metadata else None
def _unusable(url: str, exc: OSError) -> MeshError:
    """A local store the OS refuses: no permission, a file where a folder belongs."""
    return MeshError(f"cannot use the artifact store at {url}: {exc}", file=exc.filename or url,
                     hint="check that the folder exists and is writable, and that nothing else "
                          "(a file) sits where the store keeps a folder")


def _unreachable(url: str, exc: Exception) -> MeshError:
    return MeshError(f"cannot reach the artifact store at {url}: {type(exc).__name__}: {exc}",
                     hint="check the URL and the credentials (for S3: AWS_PROFILE or "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_REGION, and "
                          "AWS_ENDPOINT_URL_S3 for S3-compatible servers)")


def _repair_hint(project: str, env: str) -> str:
    return (f"publish a fresh run: `meshkit build --project {project} --env {env} --full` (or "
            f"`meshkit publish --project-dir PATH --env {env}` after a dbt build); or go back to "
            f"the newest intact run: `meshkit store repair {project} --env {env}`")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace_atomically(target: Path, data: bytes, *, durable: bool = True) -> None:
    """Write beside the target, then rename over it: readers see the old or the new file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        if durable:
            _write_synced(tmp, data)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _timestamp(value: object) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None
