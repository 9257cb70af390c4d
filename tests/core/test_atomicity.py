"""A failed store publishes nothing; a failed restore leaves the previous env as it was."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from venvcache_core import Cache, MissReason, NoSpaceError, VenvCacheError, make_key
from venvcache_core import cache as cache_mod
from venvcache_core.fsutil import clean_stale_stages
from venvcache_core.manifest import Manifest


def test_store_failing_mid_copy_publishes_nothing(tmp_path: Path, clone_venv: Callable[[Path], Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env = clone_venv(tmp_path / ".venv")
    cache = Cache(tmp_path / "cache")
    real_copy = cache_mod.copy_tree

    def copy_then_fail(src: Path, dst: Path, mode: str = "auto") -> str:
        real_copy(src, dst, mode)  # the tree is fully there when it fails: still nothing may appear
        raise OSError(errno.EIO, "simulated crash inside the copy")

    monkeypatch.setattr(cache_mod, "copy_tree", copy_then_fail)
    key = make_key({"x": 1})
    with pytest.raises(VenvCacheError, match="store failed"):
        cache.store(key, env)
    assert cache.entries() == [] and not (cache.path / key.digest).exists()
    assert list((cache.path / ".tmp").iterdir()) == []


def test_store_out_of_space_is_a_clear_error(tmp_path: Path, clone_venv: Callable[[Path], Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    env = clone_venv(tmp_path / ".venv")
    cache = Cache(tmp_path / "cache")

    def full(*args: object, **kwargs: object) -> Manifest:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod, "scan", full)
    with pytest.raises(NoSpaceError, match="no space left"):
        cache.store(make_key({"x": 2}), env)
    assert cache.entries() == []


@pytest.mark.parametrize("stage", ["rewrite", "health"])
def test_restore_failing_mid_way_keeps_the_old_env(tmp_path: Path, clone_venv: Callable[[Path], Path],
                                                   monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache")
    key = make_key({"x": 3})
    cache.store(key, src)
    dest = clone_venv(tmp_path / "b" / ".venv")
    (dest / "MARKER-OLD").write_text("the user's env")
    before = sorted(p.relative_to(dest) for p in dest.rglob("*"))

    if stage == "rewrite":
        def broken(*args: object, **kwargs: object) -> int:
            raise OSError(errno.EIO, "simulated failure while relocating")

        monkeypatch.setattr(cache_mod, "rewrite", broken)
        with pytest.raises(VenvCacheError, match="the old env is untouched"):
            cache.restore(key, dest)
        assert cache.entries() != []  # an I/O error is not the entry's fault
    else:
        monkeypatch.setattr(cache_mod, "health_problem", lambda env, *expected: "interpreter does not start")
        result = cache.restore(key, dest)
        assert not result.hit and result.reason is MissReason.QUARANTINED
        assert cache.entries() == []  # a bad entry is removed, never served

    assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == before
    assert (dest / "MARKER-OLD").read_text() == "the user's env"
    assert [p.name for p in dest.parent.iterdir()] == [".venv"]  # no stage left behind


def test_tampered_entry_is_quarantined_not_served(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache")
    key = make_key({"x": 4})
    cache.store(key, src)
    (cache.path / key.digest / "env" / "pyvenv.cfg").unlink()
    result = cache.restore(key, tmp_path / "b" / ".venv")
    assert not result.hit and "missing" in result.detail
    assert not (tmp_path / "b" / ".venv").exists() and cache.entries() == []


def test_interpreter_mismatch_is_quarantined(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache")
    key = make_key({"x": 5})
    cache.store(key, src)
    meta_path = cache.path / key.digest / "meta.json"
    meta_path.write_text(meta_path.read_text().replace('"version": "', '"version": "0.'))
    result = cache.restore(key, tmp_path / "b" / ".venv")
    assert not result.hit and "interpreter version" in result.detail


def test_crashed_swap_puts_the_old_env_back(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    """The two-rename fallback died between its renames: the next restore into that place recovers the env."""
    parent = tmp_path / "b"
    parent.mkdir()
    clone_venv(parent / "..venv.venvcache-old-deadbeef")  # where swap_in moves the old env of ``.venv``
    clean_stale_stages(parent / ".venv")
    assert (parent / ".venv" / "pyvenv.cfg").is_file()
    assert [p.name for p in parent.iterdir()] == [".venv"]
