"""Issue 16, point 8 (cache_path): a ``cache_path`` that is a symlink of another user was accepted (``stat``, not
``lstat``; its parents unchecked), and ``shared = true`` neither worked (another user got "Permission denied") nor
protected anything.

Now the root and every folder above it are checked with ``lstat``; ``shared = true`` is refused with a clear error
(a local cache is one user's; users share through a remote, whose packs every reader verifies).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from secsupport import CLI, clean_env, one_line, run

from venvcache_core import Cache, VenvCacheError

NOBODY = 65534
KEY = "cd" * 32
needs_root = pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                                reason="needs root to make files of another user")


@needs_root
def test_a_symlink_of_another_user_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    link = tmp_path / "cache"
    link.symlink_to(mine)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(VenvCacheError, match="symlink") as err:
        Cache(link).prune()
    assert "\n" not in str(err.value) and list(mine.iterdir()) == []


def test_a_symlink_of_ours_is_refused_with_the_real_path_as_fix(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "cache").symlink_to(tmp_path / "real")
    with pytest.raises(VenvCacheError, match="set cache_path to the folder it points to"):
        Cache(tmp_path / "cache").prune()


@pytest.mark.parametrize("mode", [0o777, 0o757])
def test_a_parent_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(mode)
    with pytest.raises(VenvCacheError, match="who could replace the cache"):
        Cache(parent / "cache").restore(KEY, tmp_path / "v")
    assert not (parent / "cache").exists()
    parent.chmod(mode | 0o1000)  # sticky, like /tmp: others cannot rename what is ours
    assert not Cache(parent / "cache").restore(KEY, tmp_path / "v").hit


@needs_root
def test_a_parent_of_another_user_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(VenvCacheError, match="belongs to another user"):
        Cache(theirs / "cache").restore(KEY, tmp_path / "v")


def test_shared_true_is_refused_with_the_way_to_share(tmp_path: Path, offline_env: dict[str, str]) -> None:
    (tmp_path / ".virtualenv_cache.toml").write_text('[virtualenv-cache]\nshared = true\n')
    proc = run([*CLI, "list"], clean_env(offline_env), tmp_path)
    line = one_line(proc.stderr)
    assert proc.returncode == 2 and "shared = true is gone" in line and "remote" in line
    (tmp_path / ".virtualenv_cache.toml").write_text('[virtualenv-cache]\nshared = false\n')
    assert run([*CLI, "list"], clean_env(offline_env), tmp_path).returncode == 0
