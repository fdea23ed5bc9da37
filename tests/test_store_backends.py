"""The store's backend seam: a backend is one module implementing `Backend`, registered by
URL scheme with one line in `BACKENDS`; publish, latest, verify, prune and repair then work
on it unchanged. The backend here keeps files in a dict and serialises writers with a lock."""

from __future__ import annotations

import contextlib
import threading

import pytest

from meshkit.store.backends import BACKENDS, open_backend
from meshkit.store.backends.local import LocalBackend
from meshkit.store.backends.objects import ObjectStoreBackend
from meshkit.store.maintenance import prune, repair, verify
from meshkit.store.records import RunRecord
from meshkit.store.scores import ScoreFile, read_scores, write_scores
from meshkit.store.store import Store


class DictBackend:
    locks = True
    cache_reads = False
    files: dict[str, bytes] = {}
    _lock = threading.Lock()

    def __init__(self, url: str) -> None:
        self.url, self.root = url, url.split("://", 1)[1].rstrip("/")

    def read(self, path):
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def replace(self, path, data):
        self.files[path] = data

    new_folder = staticmethod(contextlib.nullcontext)
    create = replace

    def exists(self, path):
        return path in self.files

    def folders(self, path, *, hidden=False):
        names = {p[len(path) + 1:].split("/", 1)[0] for p in self.files
                 if p.startswith(f"{path}/") and "/" in p[len(path) + 1:]}
        return sorted(n for n in names if hidden or not n.startswith("."))

    def folders_holding(self, path, name):
        return [f for f in self.folders(path) if f"{path}/{f}/{name}" in self.files]

    def last_modified(self, path):
        return None

    def delete(self, path):
        self.files.pop(path, None)

    def delete_folder(self, path):
        for p in [p for p in self.files if p.startswith(f"{path}/")]:
            del self.files[p]

    def remove_leftovers(self, path, before):
        pass

    def lock(self, path):
        return self._lock


def _record(run_id: str, minute: int) -> RunRecord:
    at = f"2026-01-01T10:{minute:02d}:00Z"
    return RunRecord(run_id, "a", "prod", at, at, "1.11.0", "0", "success", {})


_FILES = {"manifest.json": b"{}", "run_results.json": b"{}", "interface.json": b"{}"}


def test_a_registered_backend_carries_the_whole_store(monkeypatch):
    monkeypatch.setitem(BACKENDS, "dict", DictBackend)
    monkeypatch.setattr(DictBackend, "files", {})
    store = Store("dict://mesh")
    assert isinstance(store.backend, DictBackend)
    for run_id, minute in (("r2", 2), ("r1", 1), ("r3", 3)):
        store.publish(_record(run_id, minute), dict(_FILES))
    assert store.latest("a", "prod").run_id == "r3", "the later completion wins"
    assert [r.run_id for r in store.runs("a", "prod")] == ["r1", "r2", "r3"]
    assert verify(store, store.latest("a", "prod")) == []

    DictBackend.files["mesh/a/prod/runs/r3/manifest.json"] = b"[]"
    assert repair(store, "a", "prod").after == "r2"
    [pruned] = prune(store, 1, grace_seconds=0)
    assert pruned.kept == ["r2"] and pruned.deleted == ["r1"] and pruned.incomplete == ["r3"]
    assert store.projects() == ["a"] and store.published_environments("a") == ["prod"]

    scores = ScoreFile("a", "prod", "2026-01-01T11:00:00Z", "0", [], run_id="r2")
    assert write_scores(store, scores) == "dict://mesh/a/prod/scores.json"
    assert read_scores(store, "a", "prod") == scores


@pytest.mark.parametrize("url, backend", [
    ("store", LocalBackend), ("file:///tmp/x", LocalBackend), ("local:///tmp/x", LocalBackend),
    ("memory://m", ObjectStoreBackend)])
def test_the_url_scheme_picks_the_backend(url, backend):
    assert isinstance(open_backend(url), backend)
