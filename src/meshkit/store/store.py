"""The artifact store: per project × environment, immutable runs and a `latest` pointer.

Layout under the store root (a folder, or any fsspec URL):

    <project>/<environment>/runs/<run_id>/manifest.json, run_results.json, ...,
                                          interface.json, meshkit-run.json (written last)
    <project>/<environment>/latest.json   → {"run_id", "completed_at"}

A run folder is never changed after its record is written. The pointer moves only after
every file of the run has been written and read back with the right checksum, and never
backwards: of two runs, the one that completed later wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import fsspec
import msgspec
from fsspec.implementations.local import LocalFileSystem

from meshkit.errors import MeshError
from meshkit.store.interface import Interface, decode_interface
from meshkit.store.records import (INTERFACE, POINTER, RUN_RECORD, ArtifactFile, Pointer,
                                   RunRecord)

_record_decoder = msgspec.json.Decoder(RunRecord)
_pointer_decoder = msgspec.json.Decoder(Pointer)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_run_id(completed_at: str) -> str:
    """Sortable and readable: 20261123T091839Z-85ab12 (the suffix keeps ids unique)."""
    digits = "".join(ch for ch in completed_at if ch.isdigit())
    return f"{digits[:8]}T{digits[8:14]}Z-{secrets.token_hex(3)}"


class Store:
    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.cache_dir = cache_dir or _default_cache_dir()
        self.downloads = 0  # remote file reads that missed the local cache

    # -- paths ---------------------------------------------------------------------------
    def _env_dir(self, project: str, env: str) -> str:
        return f"{self.root}/{project}/{env}"

    def run_dir(self, project: str, env: str, run_id: str) -> str:
        return f"{self._env_dir(project, env)}/runs/{run_id}"

    def describe(self, project: str, env: str, name: str = "") -> str:
        """A user-facing location for messages: the store URL plus the relative path."""
        rel = f"{project}/{env}" + (f"/{name}" if name else "")
        return f"{self.url.rstrip('/')}/{rel}"

    # -- writing -------------------------------------------------------------------------
    def publish(self, record: RunRecord, payloads: dict[str, bytes]) -> RunRecord:
        """Write a run's files, its record last, verify them, then move the pointer."""
        run_dir = self.run_dir(record.project, record.environment, record.run_id)
        record.files = {name: ArtifactFile(sha256(data), len(data)) for name, data in payloads.items()}
        for name, data in payloads.items():
            self._write(f"{run_dir}/{name}", data)
        self._write(f"{run_dir}/{RUN_RECORD}", msgspec.json.encode(record))
        self._verify_run(record)
        self._advance_pointer(record)
        return record

    def _write(self, path: str, data: bytes) -> None:
        if not self.is_local:
            self.fs.pipe_file(path, data)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)

    def _verify_run(self, record: RunRecord) -> None:
        run_dir = self.run_dir(record.project, record.environment, record.run_id)
        for name, expected in record.files.items():
            data = self.fs.cat_file(f"{run_dir}/{name}")
            if sha256(data) != expected.sha256:
                raise MeshError(f"published {name} did not read back intact; the latest pointer "
                                "was not moved", file=self.describe(record.project, record.environment))

    def _advance_pointer(self, record: RunRecord) -> None:
        path = f"{self._env_dir(record.project, record.environment)}/{POINTER}"
        with self._pointer_lock(record.project, record.environment):
            current = self._read_pointer(record.project, record.environment, strict=False)
            if current and (current.completed_at, current.run_id) > (record.completed_at, record.run_id):
                return  # a run that completed later already owns the pointer
            self._write(path, msgspec.json.encode(Pointer(record.run_id, record.completed_at)))

    @contextlib.contextmanager
    def _pointer_lock(self, project: str, env: str) -> Iterator[None]:
        """Serialise compare-and-move of the pointer between local publishers."""
        if not self.is_local:
            yield  # object stores: last writer wins; records are immutable so no run is lost
            return
        lock_path = Path(self._env_dir(project, env)) / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading -------------------------------------------------------------------------
    def _read_pointer(self, project: str, env: str, *, strict: bool = True) -> Pointer | None:
        path = f"{self._env_dir(project, env)}/{POINTER}"
        try:
            data = self.fs.cat_file(path)
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
        return self.record(project, env, pointer.run_id)

    def record(self, project: str, env: str, run_id: str) -> RunRecord:
        name = f"runs/{run_id}/{RUN_RECORD}"
        try:
            data = self._read_immutable(f"{self.run_dir(project, env, run_id)}/{RUN_RECORD}")
        except FileNotFoundError:
            raise MeshError(f"project '{project}' in environment '{env}' points at run {run_id}, "
                            "which is missing from the store", file=self.describe(project, env, name),
                            hint=_repair_hint(project, env)) from None
        try:
            return _record_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise MeshError(f"the record of run {run_id} of project '{project}' in environment "
                            f"'{env}' is corrupt", file=self.describe(project, env, name),
                            hint=_repair_hint(project, env)) from None

    def read(self, record: RunRecord, name: str) -> bytes:
        """A file of a run, verified against the checksum in its record."""
        expected = record.files.get(name)
        where = self.describe(record.project, record.environment, f"runs/{record.run_id}/{name}")
        if expected is None:
            raise FileNotFoundError(where)
        try:
            data = self._read_immutable(f"{self.run_dir(record.project, record.environment, record.run_id)}/{name}",
                                        expected.sha256)
        except FileNotFoundError:
            raise MeshError(f"{name} of project '{record.project}' in environment "
                            f"'{record.environment}' is missing", file=where,
                            hint=_repair_hint(record.project, record.environment)) from None
        if sha256(data) != expected.sha256:
            raise MeshError(f"{name} of project '{record.project}' in environment "
                            f"'{record.environment}' is corrupt or truncated (checksum mismatch)",
                            file=where, hint=_repair_hint(record.project, record.environment))
        return data

    def _read_immutable(self, path: str, checksum: str | None = None) -> bytes:
        """Read a file of a run folder; remote reads go through a local cache."""
        if self.is_local:
            return self.fs.cat_file(path)
        key = checksum or sha256(f"{self.url}|{path}".encode())
        cached = self.cache_dir / key[:2] / key
        if cached.is_file():
            data = cached.read_bytes()
            if checksum is None or sha256(data) == checksum:
                return data
        data = self.fs.cat_file(path)
        self.downloads += 1
        if checksum is None or sha256(data) == checksum:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{key}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, cached)
        return data

    def interface(self, project: str, env: str) -> tuple[RunRecord, Interface] | None:
        record = self.latest(project, env)
        if record is None:
            return None
        data = self.read(record, INTERFACE)
        try:
            return record, decode_interface(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise MeshError(f"the interface of project '{project}' in environment '{env}' cannot be "
                            "read", file=self.describe(project, env, f"runs/{record.run_id}/{INTERFACE}"),
                            hint=_repair_hint(project, env)) from None

    # -- listing and pruning ------------------------------------------------------------
    def projects(self) -> list[str]:
        return self._children(self.root)

    def environments(self, project: str) -> list[str]:
        return self._children(f"{self.root}/{project}")

    def run_ids(self, project: str, env: str) -> list[str]:
        return self._children(f"{self._env_dir(project, env)}/runs")

    def runs(self, project: str, env: str) -> list[RunRecord]:
        """Complete runs, oldest first (incomplete folders have no record and are skipped)."""
        records = []
        for run_id in self.run_ids(project, env):
            try:
                records.append(self.record(project, env, run_id))
            except MeshError:
                continue
        return sorted(records, key=lambda r: (r.completed_at, r.run_id))

    def _children(self, path: str) -> list[str]:
        try:
            entries = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries
                      if e["type"] == "directory" and not e["name"].rsplit("/", 1)[-1].startswith("."))

    def delete_run(self, project: str, env: str, run_id: str) -> None:
        path = self.run_dir(project, env, run_id)
        if self.is_local:
            shutil.rmtree(path, ignore_errors=True)
        else:
            self.fs.rm(path, recursive=True)


def _repair_hint(project: str, env: str) -> str:
    return (f"publish a fresh run: `meshkit build --project {project} --env {env}`, or "
            f"`meshkit publish --project-dir PATH --env {env}` after a dbt build")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _default_cache_dir() -> Path:
    base = os.environ.get("MESHKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "meshkit")
    return Path(base) / "blobs"
