"""Where the artifact store keeps its files: one module per backend, chosen by URL scheme.

A new backend is one module implementing `Backend` (base.py) plus one line in `BACKENDS`.
"""

from __future__ import annotations

from typing import Callable

from fsspec.utils import get_protocol

from meshkit.store.backends.base import Backend
from meshkit.store.backends.local import LocalBackend
from meshkit.store.backends.objects import ObjectStoreBackend

# URL scheme → backend; a plain path is "file". Any other scheme is an fsspec object store.
BACKENDS: dict[str, Callable[[str], Backend]] = {
    "file": LocalBackend,
    "local": LocalBackend,
}


def open_backend(url: str) -> Backend:
    """The backend for a store URL or folder. Raises MeshError when it cannot be opened (a
    missing filesystem package, a malformed URL, a server that refuses at once)."""
    return BACKENDS.get(get_protocol(url), ObjectStoreBackend)(url)


__all__ = ["BACKENDS", "Backend", "open_backend"]
