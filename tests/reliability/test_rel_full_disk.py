"""Suite 3 — full disks: the cache, or the destination of a restore, on a small tmpfs.

The free space is swept page by page from nothing to enough, so every step of a store or restore (the copy, the
manifest and metadata writes, the marker, the lock file, the stats) meets the full disk at some point. Each time:
a ``NoSpaceError`` (CLI: exit 2 and one ``no space`` line) or a complete result, nothing partial published,
no temp file left, the existing entries and the old env intact.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from relsupport import CLI, SourceEnv, check_env, digest, run, write_project

from venvcache_core import Cache, NoSpaceError
from venvcache_core.cache import MARKER

PAGE = 4096


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(mount: Path, leave: int) -> Path:
    """Write a filler file so that about ``leave`` bytes stay free on ``mount``."""
    filler = mount / "filler"
    filler.unlink(missing_ok=True)
    size = max(free_bytes(mount) - leave, 0)
    with open(filler, "wb") as fh:
        chunk = b"\xa5" * (1 << 20)
        while size > 0:
            try:
                size -= fh.write(chunk[:size])
            except OSError:  # the estimate was a page too generous
                break
    return filler


ROOT_MARKER = ".venvcache-root"  # the cache root's own marker (venvcache_core.root), not a leftover


def no_temp_files(root: Path) -> list[str]:
    """Temp dirs, trash, half-written JSON temp files and stages anywhere under ``root``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if name.startswith((".meta.json.", ".usage.json.", ".stats.json.", ".manifest.json.", ".COMPLETE.",
                                ".reflink-probe")) or (".venvcache-" in name and name != ROOT_MARKER):
                found.append(rel)
        if os.path.basename(dirpath) in (".tmp", ".trash"):
            found += [os.path.relpath(os.path.join(dirpath, n), root) for n in dirnames + filenames]
    return found


def test_store_into_a_full_cache(tmpfs: Callable[..., Path], sources: dict[str, SourceEnv]) -> None:
    mount = tmpfs("3m")
    cache = Cache(mount / "cache", max_entries=10, link_mode="copy")
    old = digest("old")
    assert cache.store(old, sources["one"].path).stored
    new = digest("new")
    failures = successes = 0
    step = PAGE
    for leave in range(0, 400 * PAGE, step):
        filler = fill(mount, leave)
        try:
            result = cache.store(new, sources["dep"].path)
        except NoSpaceError as exc:
            failures += 1
            assert "\n" not in str(exc) and "no space" in str(exc)
            assert not (cache.path / new).exists(), "a failed store published something"
        else:
            successes += 1
            assert result.stored
        filler.unlink()
        assert no_temp_files(cache.path) == [], f"leave={leave}"
        assert cache.verify(old) == []
        listed = cache.keys()
        for key in listed:
            assert (cache.path / key / MARKER).is_file() and cache.verify(key) == []
        if successes:
            break
    assert failures >= 3 and successes == 1, (failures, successes)
    print(f"store into a full cache: {failures} failures at growing free space, then a complete entry")


def test_cli_store_into_a_full_cache(tmp_path: Path, tmpfs: Callable[..., Path], sources: dict[str, SourceEnv],
                                     cli_env: dict[str, str]) -> None:
    mount = tmpfs("2m")
    project = write_project(tmp_path / "proj", mount / "cache", "tinytool==1.0\n")
    shutil.copytree(sources["one"].path, project / ".venv", symlinks=True)
    (project / ".venv" / "lib" / "big.bin").write_bytes(os.urandom(3 << 20))  # does not fit
    proc = run([*CLI, "store"], cli_env, project, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("virtualenv-cache: error: ") and "no space" in lines[0], lines
    cache = Cache(mount / "cache")
    assert cache.keys() == [] and no_temp_files(cache.path) == []


def test_store_when_inodes_run_out(tmpfs: Callable[..., Path], sources: dict[str, SourceEnv]) -> None:
    inodes = sum(len(dirs) + len(files) for _, dirs, files in os.walk(sources["dep"].path))
    mount = tmpfs("8m", nr_inodes=inodes // 2 + 8)
    cache = Cache(mount / "cache", max_entries=10, link_mode="copy")
    with pytest.raises(NoSpaceError, match="no space"):
        cache.store(digest("many files"), sources["dep"].path)
    assert cache.keys() == [] and no_temp_files(cache.path) == []


def test_restore_onto_a_full_destination(tmp_path: Path, tmpfs: Callable[..., Path],
                                         sources: dict[str, SourceEnv]) -> None:
    cache = Cache(tmp_path / "cache", max_entries=10, link_mode="copy")
    small, big = digest("small"), digest("big")
    assert cache.store(small, sources["one"].path).stored
    assert cache.store(big, sources["dep"].path).stored
    mount = tmpfs("3m")
    dest = mount / "proj" / ".venv"
    failures = successes = 0
    step = PAGE
    for leave in range(0, 400 * PAGE, step):
        assert cache.restore(small, dest).hit
        filler = fill(mount, leave)
        try:
            result = cache.restore(big, dest)
        except NoSpaceError as exc:
            failures += 1
            assert "\n" not in str(exc) and "no space" in str(exc) and "old env is untouched" in str(exc)
            assert check_env(dest, sources["one"], run_script=False) == [], f"leave={leave}: old env damaged"
        else:
            successes += 1
            assert result.hit and check_env(dest, sources["dep"], run_script=False) == []
        filler.unlink()
        assert no_temp_files(mount) == [], f"leave={leave}"
        if successes:
            break
    assert failures >= 3 and successes == 1, (failures, successes)
    assert check_env(dest, sources["dep"]) == []
    assert cache.verify(small) == [] and cache.verify(big) == []


def test_cli_restore_onto_a_full_destination(tmp_path: Path, tmpfs: Callable[..., Path],
                                             sources: dict[str, SourceEnv], cli_env: dict[str, str]) -> None:
    mount = tmpfs("2m")
    built = write_project(tmp_path / "built", tmp_path / "cache", "tinytool==1.0\n")
    shutil.copytree(sources["one"].path, built / ".venv", symlinks=True)
    run([*CLI, "store"], cli_env, built)
    project = write_project(mount / "proj", tmp_path / "cache", "tinytool==1.0\n")
    (project / ".venv").mkdir()
    (project / ".venv" / "pyvenv.cfg").write_text("home = /old\n")
    fill(mount, 0)
    proc = run([*CLI, "restore"], cli_env, project, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space" in lines[0], lines
    assert sorted(os.listdir(project / ".venv")) == ["pyvenv.cfg"], "the old env was touched"
    assert no_temp_files(mount) == []


def test_restore_from_a_full_cache_still_hits(tmp_path: Path, tmpfs: Callable[..., Path],
                                              sources: dict[str, SourceEnv]) -> None:
    """Updating usage.json and stats.json is best effort: a full cache disk does not fail a done restore."""
    mount = tmpfs("2m")
    cache = Cache(mount / "cache", link_mode="copy")
    key = digest("full cache")
    assert cache.store(key, sources["one"].path).stored
    fill(mount, 0)
    assert cache.restore(key, tmp_path / "proj" / ".venv").hit
    assert check_env(tmp_path / "proj" / ".venv", sources["one"]) == []
    assert no_temp_files(cache.path) == [] and cache.verify(key) == []
