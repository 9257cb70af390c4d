"""Packs of any size: above the part size a pack goes up as a multipart upload (visible only once complete, and a
writer that lost the race aborts its own) and comes down as parallel byte ranges streamed into the unpack.

The part size is the stores' minimum (5 MiB) and the env carries 12 MiB of incompressible ballast, so every server
sees a real multipart upload of three parts and a reader makes three ranged reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import obstore
import pytest
from remotesupport import Bucket, add_ballast

from venvcache_core import Cache, build_key, interpreter_identity, venv_python
from venvcache_core.remote import MIN_PART_SIZE, Remote

BALLAST = 12 << 20


@pytest.fixture
def big_env(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> Path:
    env = clone_venv(tmp_path / "a" / ".venv")
    add_ballast(env, BALLAST)
    return env


def key_of(env: Path, n: int = 1) -> str:
    return build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"big": n}).digest


def gets(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the options of every obstore GET this process makes."""
    seen: list[dict[str, Any]] = []
    real = obstore.get

    def get(store: Any, path: str, *, options: dict[str, Any] | None = None) -> Any:
        seen.append(dict(options or {}))
        return real(store, path, options=options)

    monkeypatch.setattr(obstore, "get", get)
    return seen


def test_big_pack_goes_up_in_parts_and_comes_down_in_ranges(tmp_path: Path, bucket: Bucket, big_env: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    key = key_of(big_env)
    writer = Cache(tmp_path / "cache-a")
    writer.remote = Remote(bucket.url, "readwrite", part_size=MIN_PART_SIZE)
    assert writer.store(key, big_env).stored
    assert writer.remote.wait(120) is not None

    assert bucket.names() == [f"fleet/{key}"]
    size = len(bucket.read(f"fleet/{key}"))
    assert size > 2 * MIN_PART_SIZE
    assert bucket.parts(key) == -(-size // MIN_PART_SIZE)  # one part per 5 MiB: the multipart path
    assert bucket.pending_uploads() == []
    assert writer.stats()["remote_bytes_up"] == size

    seen = gets(monkeypatch)
    reader = Cache(tmp_path / "cache-b")
    reader.remote = Remote(bucket.url, "read", part_size=MIN_PART_SIZE)
    result = reader.restore(key, tmp_path / "b" / ".venv")

    assert result.hit
    ranges = sorted(tuple(o["range"]) for o in seen if "range" in o)
    assert ranges == [(start, min(start + MIN_PART_SIZE, size)) for start in range(0, size, MIN_PART_SIZE)]
    assert all(o.get("if_match") for o in seen)  # every range pinned to the object seen by head
    restored = next((tmp_path / "b" / ".venv" / "lib").glob("python*/site-packages")) / "ballast.bin"
    original = next((big_env / "lib").glob("python*/site-packages")) / "ballast.bin"
    assert restored.read_bytes() == original.read_bytes()
    assert reader.stats()["remote_bytes_down"] == size


def test_multipart_writer_that_lost_the_race_aborts(tmp_path: Path, bucket: Bucket, big_env: Path) -> None:
    """Writer B starts (its first check finds nothing), A completes meanwhile: B's check right before completion
    sees A's pack, B aborts its upload, and A's object is the one that stays."""
    key = key_of(big_env, 2)
    a, b = Cache(tmp_path / "cache-a"), Cache(tmp_path / "cache-b")
    a.remote = Remote(bucket.url, "readwrite", part_size=MIN_PART_SIZE, background=False)
    assert b.store(key, big_env).stored  # B has no remote yet: its L1 only
    b.remote = b_remote = Remote(bucket.url, "readwrite", part_size=MIN_PART_SIZE, background=False)
    real_head = Remote.head
    first: list[str] = []

    def head(self: Remote, digest: str) -> dict[str, Any] | None:
        if self is b_remote and not first:  # B's first check finds nothing; A uploads the whole pack meanwhile
            first.append(digest)
            a.store(key, big_env)
            return None
        return real_head(self, digest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Remote, "head", head)
        outcome = b_remote.push(b, key)

    assert outcome.action == "exists" and first == [key]
    assert bucket.names() == [f"fleet/{key}"]
    assert bucket.pending_uploads() == []  # B's parts were aborted
    assert a.stats()["remote_uploads"] == 1 and b.stats()["remote_upload_exists"] == 1
    reader = Cache(tmp_path / "cache-c")
    reader.remote = Remote(bucket.url, "read", part_size=MIN_PART_SIZE)
    assert reader.restore(key, tmp_path / "c" / ".venv").hit
