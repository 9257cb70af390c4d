"""Eviction by count, bytes and age, least recently used first, never under a reader."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from venvcache_core import Cache, MissReason, make_key


def fill(cache: Cache, clone_venv: Callable[[Path], Path], tmp_path: Path, n: int) -> list[str]:
    """Store ``n`` entries, each used at a distinct, increasing time (oldest first)."""
    env = clone_venv(tmp_path / "src" / ".venv")
    keys = []
    for i in range(n):
        key = make_key({"entry": i})
        assert cache.store(key, env).stored
        keys.append(key.digest)
        set_times(cache, key.digest, used=1000.0 + i)
    return keys


def set_times(cache: Cache, key: str, *, used: float, created: float | None = None) -> None:
    entry = cache.path / key
    (entry / "usage.json").write_text(json.dumps({"last_used": used, "hits": 0}))
    if created is not None:
        meta = json.loads((entry / "meta.json").read_text())
        meta["created"] = created
        (entry / "meta.json").write_text(json.dumps(meta))


def test_count_limit_evicts_least_recently_used(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10)
    keys = fill(cache, clone_venv, tmp_path, 4)
    set_times(cache, keys[0], used=2000.0)  # the oldest one was used last: it must survive
    cache.max_entries = 2
    evicted = cache.prune()
    assert sorted(evicted) == sorted([keys[1], keys[2]])
    assert [e.key for e in cache.entries()] == [keys[0], keys[3]]


def test_store_prunes_but_keeps_what_it_stored(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=2)
    keys = fill(cache, clone_venv, tmp_path, 3)
    remaining = {e.key for e in cache.entries()}
    assert keys[2] in remaining and len(remaining) == 2


def test_bytes_limit(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10)
    keys = fill(cache, clone_venv, tmp_path, 3)
    one = cache.get(keys[0]).bytes  # type: ignore[union-attr]
    cache.max_bytes = int(one * 1.5)
    cache.prune()
    assert [e.key for e in cache.entries()] == [keys[2]]


def test_age_limit_evicts_and_is_not_served(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10)
    keys = fill(cache, clone_venv, tmp_path, 2)
    now = time.time()
    set_times(cache, keys[0], used=now, created=now - 20 * 86400)
    set_times(cache, keys[1], used=now, created=now - 3600)
    cache.max_age = 14 * 86400
    result = cache.restore(keys[0], tmp_path / "dest")
    assert not result.hit and result.reason is MissReason.EXPIRED
    assert not (tmp_path / "dest").exists()
    assert [e.key for e in cache.entries()] == [keys[1]]


def test_entry_locked_by_a_reader_is_not_deleted(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10)
    keys = fill(cache, clone_venv, tmp_path, 3)
    cache.max_entries = 1
    with FileLock(cache.path / ".locks" / f"{keys[0]}.lock"):  # a restore of the LRU entry in progress
        evicted = cache.prune()
    assert evicted == [keys[1]]
    assert {e.key for e in cache.entries()} == {keys[0], keys[2]}
    assert cache.prune() == [keys[0]]  # once released, it goes


def test_hits_update_last_used_without_touching_the_env(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10)
    (key,) = fill(cache, clone_venv, tmp_path, 1)
    env_file = cache.path / key / "env" / "pyvenv.cfg"
    before = env_file.stat().st_mtime_ns
    assert cache.restore(key, tmp_path / "dest").hit
    entry = cache.get(key)
    assert entry is not None and entry.hits == 1 and entry.last_used > 1000.0
    assert env_file.stat().st_mtime_ns == before


def test_erase_and_remove(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10)
    keys = fill(cache, clone_venv, tmp_path, 3)
    assert cache.remove(keys[0]) and not cache.remove(keys[0])
    assert cache.erase() == 2
    assert cache.entries() == [] and list((cache.path / ".trash").iterdir()) == []
