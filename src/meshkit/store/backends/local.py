"""The artifact store in a folder on a local (or mounted) disk.

A run folder is built in a hidden staging folder beside its final place (each file fsynced),
then renamed into place in one step: it appears whole or not at all, even if the writer is
killed. Files replaced in place (the pointer) are written beside, fsynced and renamed over.
An exclusive `flock` per environment serialises the publishers that compare and move the
pointer; the kernel releases it when a process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from fsspec.implementations.local import LocalFileSystem

from meshkit.errors import MeshError
from meshkit.store.backends.base import unusable

_STAGING_PREFIX = ".staging-"


class LocalBackend:
    locks = True
    cache_reads = False

    def __init__(self, url: str) -> None:
        self.url = url
        # fsspec's reading of a path or file:// URL: absolute, `~` expanded.
        self.root = LocalFileSystem._strip_protocol(url).rstrip("/")

    def read(self, path: str) -> bytes:
        with self._errors():
            return Path(path).read_bytes()

    def replace(self, path: str, data: bytes) -> None:
        with self._errors():
            _replace_atomically(Path(path), data)

    @contextlib.contextmanager
    def new_folder(self, path: str) -> Iterator[str]:
        final = Path(path)
        staging = final.with_name(f"{_STAGING_PREFIX}{final.name}")
        staging.mkdir(parents=True)
        try:
            yield str(staging)
            _fsync_dir(staging)
            os.rename(staging, final)  # the run appears whole, or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(final.parent)

    def create(self, path: str, data: bytes) -> None:
        _write_synced(Path(path), data)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def folders(self, path: str, *, hidden: bool = False) -> list[str]:
        try:
            entries = list(os.scandir(path))
        except FileNotFoundError:
            return []
        except OSError as exc:
            if os.path.isfile(path):  # a file where a folder belongs holds no folders
                return []
            raise unusable(self.url, exc) from None
        return sorted(e.name for e in entries
                      if e.is_dir() and (hidden or not e.name.startswith(".")))

    def folders_holding(self, path: str, name: str) -> list[str]:
        return [f for f in self.folders(path) if os.path.exists(f"{path}/{f}/{name}")]

    def last_modified(self, path: str) -> float | None:
        newest = None
        for folder, _, files in os.walk(path):
            for name in [*files, "."]:
                mtime = os.stat(os.path.join(folder, name)).st_mtime
                newest = mtime if newest is None else max(newest, mtime)
        return newest

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError), self._errors():
            os.unlink(path)

    def delete_folder(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def remove_leftovers(self, path: str, before: float) -> None:
        with contextlib.suppress(OSError):
            for tmp in Path(path).glob(".*.tmp"):
                if tmp.stat().st_mtime < before:
                    tmp.unlink()

    @contextlib.contextmanager
    def lock(self, path: str) -> Iterator[None]:
        lock_path = Path(path) / ".lock"
        with self._errors():
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+b")
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if the process dies
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """OS errors (a file where a folder belongs, no permission) as one message naming the
        path; a missing file stays FileNotFoundError."""
        try:
            yield
        except (FileNotFoundError, MeshError):
            raise
        except OSError as exc:
            raise unusable(self.url, exc) from None


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace_atomically(target: Path, data: bytes) -> None:
    """Write beside the target, then rename over it: readers see the old or the new file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
