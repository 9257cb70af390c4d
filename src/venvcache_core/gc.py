"""Garbage collection: evict expired and least recently used entries, drop unusable ones, clean up after the dead.

Every deletion takes the entry's lock without waiting: an entry in use (a restore in progress) stays this time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import root
from .errors import VenvCacheError
from .fsutil import discard, pid_alive, rmtree, temp_owner
from .key import KEY_RE
from .keylock import HAS_FLOCK, KeyLock, Timeout

if TYPE_CHECKING:
    from .cache import Cache, Entry

log = logging.getLogger("venvcache")

STALE_TMP_SECONDS = 6 * 3600  # a temp dir of a dead or stuck writer this old is removed by prune


def prune(cache: Cache, *, keep: str | None = None) -> list[str]:
    """Evict expired entries, then least recently used ones beyond ``max_entries`` / ``max_bytes``."""
    if not cache.path.is_dir():
        return []
    now = time.time()
    entries = cache.entries()  # most recently used first
    victims: list[Entry] = []
    kept: list[Entry] = []
    for entry in entries:
        if entry.key != keep and cache.max_age is not None and now - entry.created > cache.max_age:
            victims.append(entry)
        else:
            kept.append(entry)
    total = sum(e.bytes for e in kept)
    while kept and (len(kept) > cache.max_entries or (cache.max_bytes is not None and total > cache.max_bytes)):
        candidates = [e for e in kept if e.key != keep]
        if not candidates:
            break
        oldest = candidates[-1]
        kept.remove(oldest)
        victims.append(oldest)
        total -= oldest.bytes
    evicted = []
    for entry in victims:
        try:
            with cache.lock(entry.key, timeout=0):
                if os.path.lexists(entry.path):
                    discard(entry.path, cache.trash)
                    evicted.append(entry.key)
        except Timeout:
            log.debug("venvcache: %s is in use; not evicted this time", entry.key[:8])
    evicted += drop_unreadable(cache, {e.key for e in entries})
    clean_tmp(cache)
    clean_locks(cache)
    if evicted:
        cache.counters.add(evictions=len(evicted))
    return evicted


def drop_unreadable(cache: Cache, readable: set[str]) -> list[str]:
    """Remove complete entries whose metadata cannot be used (they are never listed, so never evicted)."""
    dropped = []
    for key in cache.keys():  # noqa: SIM118 - Cache.keys() lists complete entries; a Cache is no mapping
        if key in readable:
            continue
        with contextlib.suppress(Timeout, OSError), cache.lock(key, timeout=0):
            if cache.is_complete(key) and cache.get(key) is None:
                log.warning("venvcache: entry %s has unusable metadata; removed it", key[:8])
                discard(cache.entry_path(key), cache.trash)
                dropped.append(key)
    return dropped


def clean_tmp(cache: Cache, max_age: float = STALE_TMP_SECONDS) -> None:
    """Remove temp dirs of writers that died (same host, dead pid) or that are older than ``max_age``; all trash."""
    host = socket.gethostname()
    for folder in (cache.tmp, cache.trash):
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if not root.generated(item.name):  # only names the cache makes: anything else is not its to delete
                continue
            with contextlib.suppress(OSError):
                age = time.time() - item.lstat().st_mtime
                stale = age > max_age or folder == cache.trash  # trash is out of the key namespace
                owner = temp_owner(item.name) if folder == cache.tmp else None
                if owner is not None and owner[0] == host:
                    # this host's writer: gone when its process is; alive, only when stuck for hours
                    stale = not pid_alive(owner[1]) or age > max(max_age, STALE_TMP_SECONDS)
                if stale:
                    rmtree(item)


def clean_locks(cache: Cache) -> None:
    """Delete the lock files of keys that have no entry (taken non-blocking: one in use stays)."""
    if not HAS_FLOCK:  # pragma: no cover - filelock deletes its files itself on Windows
        return
    with contextlib.suppress(OSError):
        for item in os.scandir(cache.locks):
            key = item.name[:-len(".lock")]
            if not (item.name.endswith(".lock") and KEY_RE.fullmatch(key)) or os.path.lexists(cache.path / key):
                continue
            with contextlib.suppress(Timeout, VenvCacheError), KeyLock(Path(item.path), 0) as lock:
                if not os.path.lexists(cache.path / key):
                    lock.unlink()
