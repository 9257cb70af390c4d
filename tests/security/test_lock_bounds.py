"""Issue 16, point 9: ``requirements_lock_paths = ["/usr/**"]`` ran past 20 s and 245 MB.

Now a pattern outside the checkout is refused before any walking, and the files the patterns match are bounded in
count (:data:`MAX_LOCK_FILES`) and bytes (:data:`MAX_LOCK_BYTES`), each with a one-line error (CLI exit 2).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from secsupport import CLI, clean_env, one_line, run

from venvcache_core import VenvCacheError, hash_files
from venvcache_core import key as key_mod


def test_usr_glob_is_refused_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(VenvCacheError, match="outside the checkout"):
        hash_files(["/usr/**"], tmp_path)
    assert time.monotonic() - started < 5  # not a timing claim: the old code took minutes on this pattern


def test_too_many_files_is_a_clear_error(tmp_path: Path, offline_env: dict[str, str]) -> None:
    proj = tmp_path / "proj"
    many = proj / "node_modules"
    many.mkdir(parents=True)
    for i in range(key_mod.MAX_LOCK_FILES + 1):
        (many / f"f{i}.txt").touch()
    source = proj / ".virtualenv_cache.toml"
    source.write_text(f'[virtualenv-cache]\ncache_path = "{tmp_path / "cache"}"\nrequirements_lock_paths = ["**"]\n')

    proc = run([*CLI, "key"], clean_env(offline_env), proj)

    line = one_line(proc.stderr)
    assert proc.returncode == 2 and f"more than {key_mod.MAX_LOCK_FILES:,} files" in line and str(source) in line


def test_too_many_bytes_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_mod, "MAX_LOCK_BYTES", 1 << 20)  # the real budget is 1 GiB: not written in a test
    for i in range(3):
        (tmp_path / f"big{i}.lock").write_bytes(bytes(400_000))
    assert len(hash_files(["big0.lock", "big1.lock"], tmp_path)) == 2
    with pytest.raises(VenvCacheError, match="more than 1 MiB"):
        hash_files(["*.lock"], tmp_path)
