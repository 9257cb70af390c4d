"""A remote that fails is a local miss and one warning, never a crash or a partial entry.

Faults are real: objects are damaged on the server, and a loopback proxy between obstore and the server cuts or
stalls the connection in the middle of a download.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from remotesupport import Bucket

from venvcache_core import Cache, build_key, interpreter_identity, venv_python
from venvcache_core.remote import Remote


@pytest.fixture(scope="session")
def uploaded_packs() -> dict[str, tuple[str, bytes]]:
    """Per server kind (and worker): the key and the bytes of the pack the first ``published`` uploaded."""
    return {}


@pytest.fixture
def published(tmp_path: Path, bucket: Bucket, clone_venv: Callable[[Path], Path],
              uploaded_packs: dict[str, tuple[str, bytes]]) -> str:
    """A real env stored by machine A and uploaded; returns its key. The first test on a server kind stores and
    uploads it; the later ones (each has a fresh bucket, and damages or reads only the object) get a copy of that
    same pack put into their bucket, which saves a clone, a store and an upload per test."""
    if bucket.kind in uploaded_packs:
        key, data = uploaded_packs[bucket.kind]
        bucket.put(key, data)
    else:
        env = clone_venv(tmp_path / "a" / ".venv")
        key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"faults": 1}).digest
        writer = Cache(tmp_path / "cache-a")
        writer.remote = Remote(bucket.url, "readwrite")
        assert writer.store(key, env).stored
        assert writer.remote.wait(60) is not None
        uploaded_packs[bucket.kind] = key, bucket.objects()[f"fleet/{key}"]
    assert list(bucket.objects()) == [f"fleet/{key}"]
    return key


def point_at(monkeypatch: pytest.MonkeyPatch, bucket: Bucket, endpoint: str) -> None:
    """Make obstore reach the bucket's server through ``endpoint`` (a fault proxy) from now on."""
    for name, value in bucket.endpoint_env(endpoint).items():
        monkeypatch.setenv(name, value)


def reader(tmp_path: Path, bucket: Bucket) -> Cache:
    cache = Cache(tmp_path / "cache-b")
    cache.remote = Remote(bucket.url, "read")
    return cache


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def assert_clean_miss(cache: Cache, key: str, dest: Path, caplog: pytest.LogCaptureFixture, *words: str) -> str:
    """Miss, nothing at dest, no entry or leftovers in the cache, exactly one one-line warning naming the fault."""
    result = cache.restore(key, dest)
    assert not result.hit
    assert not os.path.lexists(dest)
    assert cache.keys() == [] and not (cache.path / key).exists()
    assert tree(cache.path / ".tmp") == set()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == "venvcache"]
    assert len(warnings) == 1, warnings
    assert "\n" not in warnings[0] and key[:8] in warnings[0]
    for word in words:
        assert word in warnings[0], warnings[0]
    return warnings[0]


@pytest.mark.parametrize("damage", ["half", "last-byte", "flipped-byte", "trailer-only"])
def test_truncated_or_tampered_object_is_rejected(tmp_path: Path, bucket: Bucket, published: str, damage: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    data = bucket.objects()[f"fleet/{published}"]
    if damage == "half":
        bad = data[: len(data) // 2]
    elif damage == "last-byte":
        bad = data[:-1]
    elif damage == "flipped-byte":
        middle = len(data) // 2
        bad = data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1:]
    else:
        bad = data[-80:]
    bucket.put(published, bad)
    cache = reader(tmp_path, bucket)

    assert_clean_miss(cache, published, tmp_path / "b" / ".venv", caplog, "rejected")
    assert cache.stats()["remote_rejected"] == 1 and cache.stats()["remote_hits"] == 0


def test_pack_of_another_key_is_rejected(tmp_path: Path, bucket: Bucket, published: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """A whole, valid pack under the wrong name (copied or renamed on the bucket) is not served."""
    other = "0" * 64
    bucket.put(other, bucket.objects()[f"fleet/{published}"])
    assert_clean_miss(reader(tmp_path, bucket), other, tmp_path / "b" / ".venv", caplog, "rejected", "for key")


def test_server_stopped_mid_download(tmp_path: Path, bucket: Bucket, published: str, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    proxy = FaultProxy((bucket.host, bucket.port))
    point_at(monkeypatch, bucket, proxy.url)
    size = len(bucket.objects()[f"fleet/{published}"])
    assert size > 2_000_000
    proxy.cut_after(size // 3)  # then every connection is closed and the port refuses new ones
    cache = reader(tmp_path, bucket)
    started = time.monotonic()
    try:
        assert_clean_miss(cache, published, tmp_path / "b" / ".venv", caplog, "fetching")
    finally:
        proxy.close()
    assert proxy.tripped.is_set() and time.monotonic() - started < 30
    assert cache.stats()["remote_errors"] == 1

    point_at(monkeypatch, bucket, bucket.endpoint)  # the server is back: the next job gets its hit
    assert reader(tmp_path, bucket).restore(published, tmp_path / "b" / ".venv").hit


def test_stalled_server_times_out(tmp_path: Path, bucket: Bucket, published: str, monkeypatch: pytest.MonkeyPatch,
                                  caplog: pytest.LogCaptureFixture) -> None:
    """The server keeps the connection open and sends nothing more: the read timeout (AWS_READ_TIMEOUT) ends it."""
    proxy = FaultProxy((bucket.host, bucket.port))
    point_at(monkeypatch, bucket, proxy.url)
    monkeypatch.setenv(f"{bucket.prefix}READ_TIMEOUT", "1s")
    proxy.stall_after(500_000)
    started = time.monotonic()
    try:
        assert_clean_miss(reader(tmp_path, bucket), published, tmp_path / "b" / ".venv", caplog)
    finally:
        proxy.close()
    assert time.monotonic() - started < 30


def test_unreachable_remote_is_a_quick_miss_and_store_still_works(tmp_path: Path, bucket: Bucket,
                                                                  clone_venv: Callable[[Path], Path],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    proxy = FaultProxy((bucket.host, bucket.port))
    proxy.close()  # nothing listens on its port any more
    point_at(monkeypatch, bucket, proxy.url)
    env = clone_venv(tmp_path / "p" / ".venv")
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"down": 1}).digest
    cache = Cache(tmp_path / "cache")
    cache.remote = Remote(bucket.url, "readwrite")
    started = time.monotonic()
    assert_clean_miss(cache, key, tmp_path / "x" / ".venv", caplog, "fetching")
    caplog.clear()

    stored = cache.store(key, env)
    assert cache.remote.wait(60) is not None  # the upload ran in the background and failed

    assert stored.stored and cache.keys() == [key]  # L1 got it; the upload failed with one warning
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "uploading" in warnings[0] and "local cache has the entry" in warnings[0]
    assert time.monotonic() - started < 30
    assert tree(cache.path / ".tmp") == set()
    assert cache.restore(key, tmp_path / "y" / ".venv").hit  # from L1; the remote is not needed
