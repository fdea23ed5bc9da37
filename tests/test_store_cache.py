"""The local cache of a remote store's files: least recently used files go past the limit."""

from __future__ import annotations

import os

from meshkit.store.cache import BlobCache, default_max_bytes


def _aged(cache: BlobCache, key: str, when: float) -> None:
    path = cache.folder / key[:2] / key
    os.utime(path, (when, when))


def test_put_get_and_drop(tmp_path):
    cache = BlobCache(tmp_path / "blobs", max_bytes=10_000)
    assert cache.get("ab12") is None
    cache.put("ab12", b"hello")
    assert cache.get("ab12") == b"hello"
    cache.drop("ab12")
    assert cache.get("ab12") is None


def test_trim_evicts_the_least_recently_used_files_first(tmp_path):
    big = BlobCache(tmp_path / "blobs", max_bytes=10_000)
    for age, key in enumerate(["aa01", "bb02", "cc03", "dd04"]):
        big.put(key, bytes(300))
        _aged(big, key, 1_000_000 + age)
    assert big.get("aa01") is not None            # read now: the most recently used
    small = BlobCache(tmp_path / "blobs", max_bytes=1_000)
    assert small.trim() == 600                    # 1,200 bytes down to at most 800
    assert [k for k in ["aa01", "bb02", "cc03", "dd04"] if small.get(k)] == ["aa01", "dd04"]
    assert small.trim() == 0                      # under the limit: nothing goes


def test_a_put_over_the_limit_trims(tmp_path):
    cache = BlobCache(tmp_path / "blobs", max_bytes=1_000)
    for age, key in enumerate(["aa01", "bb02", "cc03"]):
        cache.put(key, bytes(300))
        _aged(cache, key, 1_000_000 + age)
    cache.put("dd04", bytes(300))
    kept = [k for k in ["aa01", "bb02", "cc03", "dd04"] if cache.get(k)]
    assert kept == ["cc03", "dd04"]


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MESHKIT_CACHE_MAX_MB", "5")
    assert default_max_bytes() == 5 * 1024 * 1024
    monkeypatch.setenv("MESHKIT_CACHE_MAX_MB", "lots")
    assert default_max_bytes() == 2048 * 1024 * 1024
