"""Issue 16, point 1: with ``cache_path = "~"`` in a repo's config, ``erase`` emptied ``~/.tmp`` and ``~/.trash``
and deleted a stray ``~/<64 hex>/`` holding a ``COMPLETE`` file; ``prune`` did likewise; ``erase`` on a cache with
no entries skipped the owner and mode checks.

Now the cache deletes only in a root it made (its ``.venvcache-root`` marker), only names it generates, and refuses
any other folder with a one-line error (CLI exit 2). Existing caches (only the cache's layout and entries) and
empty folders are adopted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from secsupport import CLI, clean_env, one_line, run

from venvcache_core import Cache, VenvCacheError

STRAY = "ab" * 32
ROOT_MARKER = ".venvcache-root"  # the name is the contract: a marker an older venvcache never wrote


def home_with_things(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for folder in (".tmp", ".trash", STRAY):
        (home / folder).mkdir(parents=True)
    (home / ".tmp" / "draft.txt").write_text("mine")
    (home / ".trash" / "photo.jpg").write_text("mine")
    (home / STRAY / "COMPLETE").write_text("")
    (home / "notes.txt").write_text("mine")
    os.utime(home / ".tmp" / "draft.txt", (0, 0))  # "older than 6 hours"
    home.chmod(0o700)
    return home


def everything(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("command", ["erase", "prune"])
def test_a_folder_the_cache_did_not_make_is_refused(tmp_path: Path, offline_env: dict[str, str],
                                                    command: str) -> None:
    home = home_with_things(tmp_path)
    before = everything(home)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / ".virtualenv_cache.toml").write_text('[virtualenv-cache]\ncache_path = "~"\n'
                                                 'requirements_lock_paths = ["r.txt"]\n')
    (proj / "r.txt").write_text("")

    proc = run([*CLI, command], {**clean_env(offline_env), "HOME": str(home)}, proj)

    line = one_line(proc.stderr)
    assert proc.returncode == 2 and "not a venvcache cache" in line and str(home) in line, proc.stderr
    assert everything(home) == before


def test_python_api_refuses_it_too(tmp_path: Path) -> None:
    home = home_with_things(tmp_path)
    before = everything(home)
    for call in (Cache.erase, Cache.prune, lambda c: c.remove(STRAY), lambda c: c.restore(STRAY, tmp_path / "v")):
        with pytest.raises(VenvCacheError, match="not a venvcache cache"):
            call(Cache(home))
    assert everything(home) == before


def test_a_new_root_gets_its_marker_and_foreign_names_in_it_survive(tmp_path: Path,
                                                                   clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache")
    assert cache.store("cd" * 32, clone_venv(tmp_path / "p" / ".venv")).stored
    assert (cache.path / ROOT_MARKER).is_file()
    (cache.path / ".tmp" / "not-ours").mkdir()
    (cache.path / ".trash" / "not-ours.txt").write_text("x")
    os.utime(cache.path / ".tmp" / "not-ours", (0, 0))
    cache.prune()
    assert cache.erase() == 1
    assert (cache.path / ".tmp" / "not-ours").is_dir() and (cache.path / ".trash" / "not-ours.txt").is_file()


def test_an_existing_cache_without_marker_is_adopted(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    """Migration: a cache made before the marker existed holds only the layout and entries: it is adopted."""
    cache = Cache(tmp_path / "cache")
    key = "cd" * 32
    cache.store(key, clone_venv(tmp_path / "p" / ".venv"))
    (cache.path / ROOT_MARKER).unlink()  # as an older venvcache left it

    again = Cache(tmp_path / "cache")
    assert again.restore(key, tmp_path / "q" / ".venv").hit
    assert (cache.path / ROOT_MARKER).is_file() and again.keys() == [key]

    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    Cache(empty).prune()
    assert (empty / ROOT_MARKER).is_file()


def test_a_cache_layout_with_a_stranger_is_not_adopted(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    cache = Cache(tmp_path / "cache")
    cache.store("cd" * 32, clone_venv(tmp_path / "p" / ".venv"))
    (cache.path / ROOT_MARKER).unlink()
    (cache.path / "thesis.tex").write_text("mine")
    with pytest.raises(VenvCacheError, match=r"thesis\.tex"):
        Cache(cache.path).erase()
    assert (cache.path / "thesis.tex").read_text() == "mine" and (cache.path / ("cd" * 32)).is_dir()


def test_erase_of_an_empty_cache_still_checks_the_root(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    path.mkdir()
    path.chmod(0o777)
    with pytest.raises(VenvCacheError, match="writable by other users"):
        Cache(path).erase()
    assert Cache(tmp_path / "never-made").erase() == 0 and not (tmp_path / "never-made").exists()


def test_many_writers_creating_one_new_root_at_once_all_succeed(tmp_path: Path) -> None:
    """A fresh CI machine: xdist workers (or threads) make the same cache root at the same moment. The one that
    marks it first wins; the others see its marker, never a 'File exists' error (bench.py's scale set-up hit it)."""
    import threading

    from venvcache_core.root import ROOT_MARKER, prepare

    for attempt in range(20):
        root = tmp_path / f"cache-{attempt}"
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def make(root: Path = root, start: threading.Barrier = start, errors: list[BaseException] = errors) -> None:
            start.wait()
            try:
                prepare(root)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=make) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and (root / ROOT_MARKER).is_file(), errors
