"""The artifact store: meshkit's open metadata service."""

from meshkit.store.store import Store

__all__ = ["Store"]
