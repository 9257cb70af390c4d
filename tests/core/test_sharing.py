"""Sharing files with an entry made safe (issue 17): the default links where it can, entry files are read-only,
the files tools rewrite in place are private, and restore refuses an entry edited in place, in every mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from venvcache_core import Cache, Config, MissReason, make_key
from venvcache_core.linkmode import reflink_supported
from venvcache_core.manifest import walk

MODES = ["auto", "copy", "hardlink", "reflink"]


def site_file(env: Path) -> Path:
    """A module of the installed package (shared with the entry in hardlink mode)."""
    return next(env.glob("lib/python*/site-packages/tinytool/__init__.py"))


def edit_in_place(path: Path) -> None:
    """Overwrite a file's bytes in place, same size, as an editor or a careless tool would (root ignores the
    read-only bit; anyone else has to lift it first, which is the point of it)."""
    data = path.read_bytes()
    os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IWUSR)
    with open(path, "r+b") as fh:  # same inode, same size, new content and mtime
        fh.write(data[:-1] + (b"#" if data[-1:] != b"#" else b"!"))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_default_link_mode_is_auto_and_links_on_one_file_system(tmp_path: Path,
                                                                 clone_venv: Callable[[Path], Path]) -> None:
    assert Config.__dataclass_fields__["link_mode"].default == "auto"
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache")  # defaults
    key = make_key({"default": 1})
    stored = cache.store(key, src)
    restored = cache.restore(key, tmp_path / "b" / ".venv")
    expected = "reflink" if reflink_supported(src, tmp_path) else "hardlink"
    assert stored.link_mode == expected and restored.hit and restored.link_mode == expected


@pytest.mark.parametrize("mode", MODES)
def test_restore_refuses_an_entry_edited_in_place_in_every_mode(tmp_path: Path, mode: str,
                                                                clone_venv: Callable[[Path], Path]) -> None:
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache", link_mode=mode)  # type: ignore[arg-type]
    key = make_key({"edited": mode})
    cache.store(key, src)
    entry_file = site_file(cache.path / key.digest / "env")
    edit_in_place(entry_file)
    dest = tmp_path / "b" / ".venv"
    result = cache.restore(key, dest)
    assert not result.hit and result.reason is MissReason.QUARANTINED
    assert "modified in place" in result.detail
    assert not dest.exists() and cache.get(key.digest) is None


@pytest.mark.parametrize("mode", MODES)
def test_an_edit_through_a_restored_env_is_never_served_again(tmp_path: Path, mode: str,
                                                              clone_venv: Callable[[Path], Path]) -> None:
    """Whatever the mode, an in-place edit of a restored env either stays in that env (copy, reflink) or is caught
    by the next restore (hardlink: the inode is the entry's) — it never reaches a second env."""
    src = clone_venv(tmp_path / "a" / ".venv")
    cache = Cache(tmp_path / "cache", link_mode=mode)  # type: ignore[arg-type]
    key = make_key({"through": mode})
    cache.store(key, src)
    first = tmp_path / "b" / ".venv"
    used = cache.restore(key, first).link_mode
    edit_in_place(site_file(first))
    second = cache.restore(key, tmp_path / "c" / ".venv")
    if used == "hardlink":
        assert not second.hit and second.reason is MissReason.QUARANTINED
    else:
        assert second.hit and cache.verify(key.digest) == []
        assert site_file(tmp_path / "c" / ".venv").read_bytes() == site_file(src).read_bytes()


@pytest.mark.parametrize("mode", MODES)
def test_entry_files_are_read_only_and_restored_tool_state_is_private(tmp_path: Path, mode: str,
                                                                      clone_venv: Callable[[Path], Path]) -> None:
    src = clone_venv(tmp_path / "a" / ".venv")
    (src / ".tox-info.json").write_text("{}")  # tool state that tox rewrites in place
    cache = Cache(tmp_path / "cache", link_mode=mode)  # type: ignore[arg-type]
    key = make_key({"modes": mode})
    cache.store(key, src)
    entry = cache.path / key.digest / "env"
    for name in walk(entry).files:
        assert not os.lstat(entry / name).st_mode & 0o222, name  # no write bit on any entry file
    dest = tmp_path / "b" / ".venv"
    used = cache.restore(key, dest).link_mode
    for name in ("pyvenv.cfg", ".tox-info.json", "bin/tinytool", "bin/activate"):
        st = os.lstat(dest / name)
        assert st.st_nlink == 1 and st.st_mode & stat.S_IWUSR, name  # its own, writable file
    shared = site_file(dest)
    if used == "hardlink":
        assert os.stat(shared).st_ino == os.stat(entry / shared.relative_to(dest)).st_ino
        assert not os.stat(shared).st_mode & 0o222
        if os.geteuid() != 0:  # the OS refuses the in-place write (root ignores the bits)
            with pytest.raises(PermissionError):
                open(shared, "a").close()
    else:  # a private copy behaves like a plain copy of the env: every file writable by its owner
        for name in walk(dest).files:
            st = os.lstat(dest / name)
            assert st.st_nlink == 1 and st.st_mode & stat.S_IWUSR, name
    (dest / ".tox-info.json").write_text('{"changed": true}')  # in place, like tox's Path.write_text
    assert cache.verify(key.digest) == []


def test_hardlink_store_shares_data_but_not_what_tools_rewrite(tmp_path: Path,
                                                               clone_venv: Callable[[Path], Path]) -> None:
    """A store costs no data copy: package files become the entry's (read-only); the env's own tool state and the
    files naming its path stay private to the source env, so tox writing .tox-info.json cannot touch the entry."""
    src = clone_venv(tmp_path / "a" / ".venv")
    (src / ".tox-info.json").write_text('{"ToxEnv": {}}')
    cache = Cache(tmp_path / "cache", link_mode="hardlink")
    key = make_key({"store": "hardlink"})
    assert cache.store(key, src).link_mode == "hardlink"
    entry = cache.path / key.digest / "env"
    module = site_file(src)
    assert os.stat(module).st_ino == os.stat(entry / module.relative_to(src)).st_ino
    for name in ("pyvenv.cfg", ".tox-info.json", "bin/tinytool", "bin/activate"):
        assert os.stat(src / name).st_ino != os.stat(entry / name).st_ino, name
        assert os.stat(src / name).st_mode & stat.S_IWUSR, name
    with open(src / ".tox-info.json", "w") as fh:  # in place in the source env
        fh.write('{"ToxEnv": {"name": "py"}, "PythonRun": {}}')
    assert cache.verify(key.digest) == []
    assert cache.restore(key, tmp_path / "b" / ".venv").hit
