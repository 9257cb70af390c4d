"""Issue 16, point 5: a 39 kB pack listing a 1 GiB file unpacked to 1.1 GB with ``max_bytes = "1MB"``; ``list``
showed the pack's own claimed size, so ``prune`` evicted nothing; contents were checked by size only.

Now (through the real S3 test server): the size budget is checked before anything is written, file contents are
checked against the manifest's sha256 as they stream in, and ``bytes``/``files`` come from what was written.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from remotesupport import Bucket as S3
from secsupport import DIRTYPE, KEY, ZERO_BLOCK, compress, manifest_json, member, meta_json, pack, snapshot

from venvcache_core import Cache
from venvcache_core.remote import Remote, RemoteError

BIG = 32 << 20  # 32 MiB of zeros: a pack of a few kB


def du(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def cache_on(tmp_path: Path, s3: S3, **limits: int) -> Cache:
    cache = Cache(tmp_path / "cache", **limits)  # type: ignore[arg-type]
    cache.remote = Remote(s3.url, "read")
    return cache


def test_decompression_bomb_stops_at_max_bytes(tmp_path: Path, s3: S3, caplog: pytest.LogCaptureFixture) -> None:
    data = pack({"lib/bomb.bin": bytes(BIG)})
    assert len(data) < 64 << 10
    s3.put(KEY, data)
    cache = cache_on(tmp_path, s3, max_bytes=1_000_000)
    before = snapshot(tmp_path)

    with pytest.raises(RemoteError, match=r"max_bytes \(1,000,000\)"):
        cache.remote.pull(cache, KEY)  # type: ignore[union-attr]
    result = cache.restore(KEY, tmp_path / "proj" / ".venv")

    assert not result.hit and cache.keys() == []
    assert du(tmp_path / "cache") < 100_000  # nothing of the bomb was written
    assert all(p.startswith(str(cache.path)) for p in snapshot(tmp_path) - before)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "max_bytes" in warnings[0], warnings


def test_content_is_checked_against_the_manifest_hash(tmp_path: Path, s3: S3) -> None:
    """Same size, other bytes: the trailer covers the pack as sent, the manifest's sha256 each file's content."""
    good, evil = b"#!/bin/sh\necho good\n", b"#!/bin/sh\necho evil\n"
    listed = {"bin/tool": (len(good), hashlib.sha256(good).hexdigest())}
    lying = compress([member("meta.json", meta_json()), member("manifest.json", manifest_json(listed)),
                      member("env", kind=DIRTYPE, mode=0o755), member("env/bin", kind=DIRTYPE, mode=0o755),
                      member("env/bin/tool", evil, mode=0o755), ZERO_BLOCK * 2])
    s3.put(KEY, lying)
    cache = cache_on(tmp_path, s3)

    with pytest.raises(RemoteError, match="differs from the manifest's sha256"):
        cache.remote.pull(cache, KEY)  # type: ignore[union-attr]

    assert cache.keys() == [] and list((cache.path / ".tmp").iterdir()) == []


def test_sizes_are_recomputed_so_eviction_works(tmp_path: Path, s3: S3) -> None:
    """Two packs whose meta claims 1 byte but hold 100 kB each; with max_bytes 150 kB the older one is evicted."""
    first, second = KEY, "ef" * 32
    for key in (first, second):
        s3.put(key, pack({"lib/data.bin": b"x" * 100_000}, key=key,
                         meta=meta_json(key, bytes=1, files=0)))
    cache = cache_on(tmp_path, s3, max_bytes=150_000)

    assert cache.remote.pull(cache, first).action == "downloaded"  # type: ignore[union-attr]
    entry = cache.get(first)
    assert entry is not None and (entry.bytes, entry.files) == (100_000, 1)
    assert cache.remote.pull(cache, second).action == "downloaded"  # type: ignore[union-attr]

    assert cache.keys() == [second]
