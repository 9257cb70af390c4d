"""``store(exclude=..., metadata=...)`` and the entry life cycle the remote builds on (staging, lock, publish)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from venvcache_core import Cache, VenvCacheError, make_key, stage_path
from venvcache_core.fsutil import clean_stale_stages, stage_label, temp_name, temp_owner


def user_files(env: Path) -> None:
    (env / "log").mkdir()
    (env / "log" / "1-install.log").write_text("pip said things\n")
    (env / "tmp" / "sub").mkdir(parents=True)
    (env / "tmp" / "sub" / "scratch.txt").write_text("scratch\n")


def test_excluded_paths_stay_out_of_the_entry_and_the_restored_env(tmp_path: Path,
                                                                  clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "a" / ".venv")
    user_files(env)
    cache = Cache(tmp_path / "cache")
    key = make_key({"x": "exclude"})
    stored = cache.store(key, env, exclude=("log", "tmp/"), metadata={"tox_env": "py312", "steps": [1, 2]})
    assert stored.stored
    entry = cache.path / key.digest
    assert not (entry / "env" / "log").exists() and not (entry / "env" / "tmp").exists()
    manifest = json.loads((entry / "manifest.json").read_text())
    assert not [name for name in manifest["files"] if name.startswith(("log/", "tmp/"))]
    assert stored.files == len(manifest["files"])
    assert cache.verify(key.digest) == []
    assert (env / "log" / "1-install.log").is_file() and (env / "tmp" / "sub" / "scratch.txt").is_file()

    got = cache.get(key.digest)
    assert got is not None and got.metadata == {"tox_env": "py312", "steps": [1, 2]}
    assert got.to_json()["metadata"] == {"tox_env": "py312", "steps": [1, 2]}
    dest = tmp_path / "b" / ".venv"
    assert cache.restore(key, dest).hit
    assert (dest / "pyvenv.cfg").is_file() and not (dest / "log").exists() and not (dest / "tmp").exists()


def test_an_entry_without_metadata_reads_back_empty(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache")
    key = make_key({"x": "plain"})
    cache.store(key, clone_venv(tmp_path / ".venv"))
    got = cache.get(key.digest)
    assert got is not None and got.metadata == {}


@pytest.mark.parametrize("bad", ["../outside", "/etc", "", ".", "a/../../b", "x\0y"])
def test_exclusions_outside_the_env_are_refused(tmp_path: Path, clone_venv: Callable[[Path], Path],
                                                bad: str) -> None:
    cache = Cache(tmp_path / "cache")
    with pytest.raises(VenvCacheError, match=r"cannot leave .* out of an entry"):
        cache.store(make_key({"x": 1}), clone_venv(tmp_path / ".venv"), exclude=[bad])
    assert cache.entries() == []


def test_metadata_that_is_not_json_is_a_clear_error_and_leaves_nothing(tmp_path: Path,
                                                                       clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache")
    with pytest.raises(VenvCacheError, match="metadata is not JSON"):
        cache.store(make_key({"x": 2}), clone_venv(tmp_path / ".venv"), metadata={"when": object()})
    assert cache.entries() == [] and list((cache.path / ".tmp").iterdir()) == []


def test_a_staged_entry_is_published_under_the_lock(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    """What the remote does with a downloaded pack: build in ``staging_dir()``, then ``publish`` under ``lock``."""
    cache = Cache(tmp_path / "cache")
    key = make_key({"x": "published"}).digest
    built = cache.store(make_key({"x": "source"}), clone_venv(tmp_path / ".venv"))
    source = cache.entry_path(built.key)
    with cache.staging_dir() as staged:
        assert staged.parent == cache.path / ".tmp" and staged.is_dir()
        shutil.copytree(source / "env", staged / "env", symlinks=True)
        for name in ("meta.json", "manifest.json"):
            shutil.copy2(source / name, staged / name)
        assert not cache.is_complete(key)
        with cache.lock(key):
            assert cache.publish(key, staged)
        assert not staged.exists()
    assert cache.is_complete(key) and cache.verify(key) == []
    assert cache.restore(key, tmp_path / "dest").hit
    with cache.staging_dir() as again:
        (again / "env").mkdir()
        with cache.lock(key):
            assert not cache.publish(key, again)  # the first writer wins
        assert again.is_dir()
    assert not again.exists() and list((cache.path / ".tmp").iterdir()) == []


def test_temp_names_say_whose_they_are_and_dead_writers_stages_go(tmp_path: Path) -> None:
    host = socket.gethostname()
    assert temp_owner(temp_name()) == (host, os.getpid())
    assert temp_owner(temp_name("label-"), "label-") == (host, os.getpid())
    assert temp_owner("not-a-temp-name") is None and temp_owner(temp_name(), "other") is None

    target = tmp_path / ".venv"
    mine, dead = stage_path(target), target.with_name(f"{stage_label(target)}{host}-999999999-feed")
    other_host = target.with_name(f"{stage_label(target)}elsewhere.example-1-feed")
    old_env = stage_path(target, holds_old=True)
    for path in (mine, dead, other_host, old_env):
        path.mkdir()
    (old_env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    clean_stale_stages(target)
    assert (target / "pyvenv.cfg").is_file()  # the old env moved aside by a crashed swap is back
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".venv", mine.name, other_host.name])
