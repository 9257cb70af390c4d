"""Link modes: copy, hardlink, reflink (falls back where the file system cannot), and the portable walker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from venvcache_core import Cache, make_key
from venvcache_core.linkmode import copy_tree, reflink_supported
from venvcache_core.manifest import walk


def tree_shape(root: Path) -> tuple[list[str], dict[str, str]]:
    tree = walk(root)
    return tree.files, tree.symlinks


@pytest.mark.parametrize("portable", [False, True], ids=["cp", "portable"])
@pytest.mark.parametrize("mode", ["copy", "hardlink", "reflink", "auto"])
def test_copy_tree_modes(tmp_path: Path, clone_venv: Callable[[Path], Path], mode: str, portable: bool) -> None:
    src = clone_venv(tmp_path / "src")
    used = copy_tree(src, tmp_path / "dst", mode, portable=portable)
    assert tree_shape(tmp_path / "dst") == tree_shape(src)
    assert (tmp_path / "dst" / "bin" / "python").is_symlink()
    probe = "pyvenv.cfg"
    same_inode = os.stat(src / probe).st_ino == os.stat(tmp_path / "dst" / probe).st_ino
    clones = reflink_supported(src, tmp_path)
    if mode == "hardlink" or (mode == "auto" and not clones):  # auto: reflink, else hardlink on one file system
        assert used == "hardlink" and same_inode
    else:
        assert not same_inode
        expected = "reflink" if clones and mode != "copy" else "copy"
        assert used == expected
    assert os.stat(src / "bin" / "tinytool").st_mode == os.stat(tmp_path / "dst" / "bin" / "tinytool").st_mode


def test_hardlink_restore_never_writes_through_to_the_cache(tmp_path: Path,
                                                            clone_venv: Callable[[Path], Path]) -> None:
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache", link_mode="hardlink")
    key = make_key({"mode": "hardlink"})
    cache.store(key, src)
    dest = tmp_path / "b" / ".venv"
    result = cache.restore(key, dest)
    assert result.hit and result.link_mode == "hardlink"
    assert cache.verify(key.digest) == []  # relocation replaced files instead of editing shared inodes
    script = dest / "bin" / "tinytool"
    assert str(dest) in script.read_text()
    assert os.stat(script).st_ino != os.stat(cache.path / key.digest / "env" / "bin" / "tinytool").st_ino
    shared = dest / "lib"
    some_file = next(p for p in shared.rglob("*.py"))
    entry_twin = cache.path / key.digest / "env" / some_file.relative_to(dest)
    assert os.stat(some_file).st_ino == os.stat(entry_twin).st_ino
    assert cache.verify_env(key.digest, dest) == []
    with open(some_file, "a") as fh:  # the documented hazard: an in-place edit reaches the cache ...
        fh.write("# edited in place\n")
    assert cache.verify_env(key.digest, dest) != []  # ... and verify finds it
    assert cache.verify(key.digest) != []
