"""The local copies of a remote store's files: keyed by checksum, bounded in size.

Run folders never change once complete, so a file read once need not be downloaded again.
Files enter whole (written beside, then renamed) and never change; a hit refreshes the
file's mtime, and when the cache outgrows its limit the least recently used files go.
`MESHKIT_CACHE_MAX_MB` sets the limit (default 2048).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DEFAULT_MAX_MB = 2048
_TRIM_TO = 0.8            # a trim leaves room for a while, not just for the next file


def default_cache_dir() -> Path:
    """`$MESHKIT_CACHE_DIR/blobs`, else `$XDG_CACHE_HOME/meshkit/blobs` (~/.cache by default)."""
    base = os.environ.get("MESHKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "meshkit")
    return Path(base) / "blobs"


def default_max_bytes() -> int:
    """The cache's limit in bytes: `$MESHKIT_CACHE_MAX_MB` megabytes (2048 when unset or bad)."""
    try:
        return max(1, int(os.environ.get("MESHKIT_CACHE_MAX_MB", DEFAULT_MAX_MB))) * 1024 * 1024
    except ValueError:
        return DEFAULT_MAX_MB * 1024 * 1024


class BlobCache:
    def __init__(self, folder: Path, max_bytes: int | None = None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes or default_max_bytes()
        self._added = 0
        self._trimmed = False

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)          # recently used: the last to be evicted
        return data

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.is_file():
            return
        tmp = path.with_name(f".{key}.{secrets.token_hex(4)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return                   # a cache that cannot be written only costs a download
        self._added += len(data)
        # Look at the whole folder once per process, then after each tenth of the limit.
        if not self._trimmed or self._added >= self.max_bytes // 10:
            self.trim()

    def drop(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def trim(self) -> int:
        """Delete the least recently used files while the cache is over its limit."""
        self._trimmed, self._added = True, 0
        files = []
        for path in self.folder.glob("??/*"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        if total <= self.max_bytes:
            return 0
        freed = 0
        for _, size, path in sorted(files):
            if total - freed <= self.max_bytes * _TRIM_TO:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                freed += size
        return freed

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key
