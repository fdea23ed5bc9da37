"""The artifact store in an object store, through fsspec (s3://, gs://, az://, memory://).

Every object is written whole by its PUT, so a run folder needs no staging: the Store writes
the record after the files, and a run without a record is incomplete. Object stores have no
lock (`locks` is False): the Store settles the pointer after writing it instead.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import fsspec

from meshkit.errors import MeshError
from meshkit.store.backends.base import timestamp, unreachable

# URL scheme → the dbt-meshkit extra that installs its filesystem package.
_EXTRAS = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


class ObjectStoreBackend:
    locks = False
    cache_reads = True

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            # A fresh filesystem per store: it reads credentials and endpoint settings (for S3:
            # AWS_* variables, AWS_ENDPOINT_URL_S3) now, and keeps no stale listing cache.
            self.fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
        except ImportError as exc:
            extra = _EXTRAS.get(url.split("://", 1)[0])
            raise MeshError(f"the artifact store {url} needs a filesystem package that is not "
                            f"installed: {exc}",
                            hint=(f"pip install 'dbt-meshkit[{extra}]'" if extra == "s3"
                                  else "install the fsspec implementation for this URL scheme "
                                       "(s3fs, gcsfs or adlfs)")) from None
        except ValueError as exc:
            raise MeshError(f"the artifact store URL {url!r} is not valid: {exc}",
                            hint="use a folder, or a URL such as s3://bucket/mesh") from None
        except Exception as exc:  # some filesystems connect at once (ftp://, github://)
            raise unreachable(url, exc) from None
        self.root = root.rstrip("/")

    def read(self, path: str) -> bytes:
        return self._call(self.fs.cat_file, path)

    def replace(self, path: str, data: bytes) -> None:
        self._call(self.fs.pipe_file, path, data)  # one PUT: readers see old or new, never half

    @contextlib.contextmanager
    def new_folder(self, path: str) -> Iterator[str]:
        yield path

    def create(self, path: str, data: bytes) -> None:
        self._call(self.fs.pipe_file, path, data)

    def exists(self, path: str) -> bool:
        try:
            self._call(self.fs.info, path)
            return True
        except FileNotFoundError:
            return False

    def folders(self, path: str, *, hidden: bool = False) -> list[str]:
        self.fs.invalidate_cache(path)  # listings are cached per filesystem instance
        try:
            entries = self._call(self.fs.ls, path, True)
        except FileNotFoundError:
            return []
        names = [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries
                 if e["type"] == "directory"]
        return sorted(n for n in names if hidden or not n.startswith("."))

    def folders_holding(self, path: str, name: str) -> list[str]:
        self.fs.invalidate_cache(path)
        try:
            found = self._call(self.fs.find, path)
        except FileNotFoundError:
            return []
        suffix = f"/{name}"
        folders = {p.rstrip("/")[: -len(suffix)].rsplit("/", 1)[-1]
                   for p in found if p.endswith(suffix)}
        return sorted(f for f in folders if not f.startswith("."))

    def last_modified(self, path: str) -> float | None:
        stamps = [timestamp(info.get("LastModified") or info.get("mtime") or info.get("updated"))
                  for info in self._call(self.fs.find, path, None, False, True).values()]
        known = [s for s in stamps if s is not None]
        return max(known) if known else None

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, path)

    def delete_folder(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm, path, True)
        self.fs.invalidate_cache(path)

    def remove_leftovers(self, path: str, before: float) -> None:
        """Nothing to do: a PUT leaves no temporary object behind."""

    def lock(self, path: str) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call the filesystem; failures other than a missing file become one clear error."""
        try:
            return method(*args)
        except (FileNotFoundError, MeshError):
            raise
        except Exception as exc:  # network, credentials, bucket: whatever the backend raises
            raise unreachable(self.url, exc) from None
