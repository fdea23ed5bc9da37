"""What the artifact store needs of the place it keeps its files: the backend protocol.

Paths are '/'-separated strings under the backend's `root`. Every primitive raises
FileNotFoundError for a missing file and MeshError for a store it cannot use (a disk that
refuses, a bucket it cannot reach), except the writes of a new run folder (`new_folder`,
`create`), which may raise OSError: the Store reports those as a failed publish.

The Store (store.py) builds every guarantee on these primitives: a run is complete once its
record exists, and the `latest` pointer is compared and moved either under `lock` (a backend
with `locks`) or by writing then settling on the newest complete run (object stores).
"""

from __future__ import annotations

from datetime import datetime
from typing import ContextManager, Protocol

from meshkit.dbt.nodes import parse_time
from meshkit.errors import MeshError


class Backend(Protocol):
    url: str          # as the user wrote it: messages name it
    root: str         # the store's top folder, as this backend's paths spell it
    locks: bool       # `lock` serialises writers (a local disk); else it is a no-op
    cache_reads: bool  # reads cost a download: keep immutable files in the local cache

    def read(self, path: str) -> bytes:
        """The whole file. Raises FileNotFoundError when it is missing."""
        ...

    def replace(self, path: str, data: bytes) -> None:
        """Write a file whole: readers see the old bytes or the new ones, never part."""
        ...

    def new_folder(self, path: str) -> ContextManager[str]:
        """Build a run folder: yields where to `create` its files. Where the backend can,
        the folder appears at `path` whole when the block ends, and not at all if it raises."""
        ...

    def create(self, path: str, data: bytes) -> None:
        """Write one file into a folder from `new_folder`, durably."""
        ...

    def exists(self, path: str) -> bool:
        ...

    def folders(self, path: str, *, hidden: bool = False) -> list[str]:
        """Names of the sub-folders of `path`, sorted; [] when `path` is missing. Hidden
        folders (a leading '.', e.g. a run still being staged) only with `hidden`."""
        ...

    def folders_holding(self, path: str, name: str) -> list[str]:
        """Names of the visible sub-folders of `path` that hold a file `name`, sorted, as the
        store is now (no listing cache)."""
        ...

    def last_modified(self, path: str) -> float | None:
        """When anything under folder `path` last changed (Unix seconds), None when unknown.
        Raises FileNotFoundError when it vanishes."""
        ...

    def delete(self, path: str) -> None:
        """Delete one file; a missing one is fine."""
        ...

    def delete_folder(self, path: str) -> None:
        """Delete a folder and everything in it; a missing one is fine."""
        ...

    def remove_leftovers(self, path: str, before: float) -> None:
        """Delete temporary files that killed writers left in folder `path`, last changed
        before `before` (Unix seconds)."""
        ...

    def lock(self, path: str) -> ContextManager[None]:
        """Hold folder `path`'s lock (a no-op unless `locks`)."""
        ...


def unusable(url: str, exc: OSError) -> MeshError:
    """A local store the OS refuses: no permission, a file where a folder belongs."""
    return MeshError(f"cannot use the artifact store at {url}: {exc}", file=exc.filename or url,
                     hint="check that the folder exists and is writable, and that nothing else "
                          "(a file) sits where the store keeps a folder")


def unreachable(url: str, exc: Exception) -> MeshError:
    """A remote store that failed a request: network, credentials, bucket."""
    return MeshError(f"cannot reach the artifact store at {url}: {type(exc).__name__}: {exc}",
                     hint="check the URL and the credentials (for S3: AWS_PROFILE or "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_REGION, and "
                          "AWS_ENDPOINT_URL_S3 for S3-compatible servers)")


def timestamp(value: object) -> float | None:
    """Unix seconds of a datetime, a number or an ISO 8601 text; None for anything else."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    moment = parse_time(value) if isinstance(value, str) else None   # naive text is UTC
    return moment.timestamp() if moment is not None else None
