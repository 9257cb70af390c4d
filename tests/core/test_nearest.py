"""The nearest entry for a partial restore: same interpreter and tool inputs, most distributions shared, MRU ties."""

from __future__ import annotations

import json
import os
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from venvcache_core import (
    Cache,
    Key,
    VenvCacheError,
    build_key,
    describe_partial,
    describe_restore,
    distribution_changes,
    installed_distributions,
    interpreter_identity,
    locked_distributions,
    nearest_entry,
    venv_python,
)
from venvcache_core.cache import PARTIAL_RECORD, cold_build_seconds

REQS = ("lock",)


def _site(env: Path) -> Path:
    return next(env.glob("lib/python*/site-packages"))


def _with_dists(env: Path, dists: dict[str, str]) -> Path:
    """Give ``env`` these distributions (real ``*.dist-info`` folders, as an installer writes them)."""
    site = _site(env)
    for name, version in dists.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return env


@pytest.fixture
def env_maker(tmp_path: Path) -> Callable[[str, dict[str, str]], Path]:
    """A real venv without pip (small: stores in milliseconds) holding ``dists``."""
    def make(name: str, dists: dict[str, str]) -> Path:
        venv.EnvBuilder(symlinks=True, with_pip=False).create(tmp_path / name)
        return _with_dists(tmp_path / name, dists)
    return make


def _key(env: Path, lock: str, *, salt: str = "", interpreter: dict[str, Any] | None = None) -> Key:
    return build_key(interpreter=interpreter or interpreter_identity(venv_python(env)),
                     inputs={"lock": lock, "runner": "test"}, salt=salt)


def test_store_records_the_installed_distributions(cache: Cache, template_venv: Path,
                                                    env_maker: Callable[..., Path]) -> None:
    found = installed_distributions(template_venv)  # pip-installed: tinytool, and pip itself
    assert found["tinytool"] == "1.0" and "pip" in found
    env = env_maker("env", {"Tiny_Lib": "1.0"})
    assert installed_distributions(env) == {"tiny-lib": "1.0"}
    key = _key(env, "a")
    cache.store(key, env)
    meta = json.loads((cache.entry_path(key.digest) / "meta.json").read_text())
    assert meta["distributions"] == {"tiny-lib": "1.0"}


def test_most_shared_distributions_win(cache: Cache, env_maker: Callable[..., Path]) -> None:
    far = env_maker("far", {"alpha": "1", "beta": "1", "gamma": "1"})
    near = env_maker("near", {"alpha": "2", "beta": "2", "gamma": "1"})
    cache.store(_key(far, "far"), far)
    cache.store(_key(near, "near"), near)
    wanted = {"Alpha": "2", "BETA": "3", "gamma": "1"}  # names are normalised
    found = nearest_entry(cache, _key(near, "new"), wanted, requirements=REQS)
    assert found is not None and found.entry.key == _key(near, "near").digest
    assert found.differ == 1 and found.total == len(wanted)


def test_ties_go_to_the_most_recently_used(cache: Cache, env_maker: Callable[..., Path], tmp_path: Path) -> None:
    one = env_maker("one", {"alpha": "1"})
    two = env_maker("two", {"alpha": "1"})
    cache.store(_key(one, "one"), one)
    cache.store(_key(two, "two"), two)
    wanted = installed_distributions(one)
    for used in ("one", "two", "one"):
        time.sleep(0.01)
        assert cache.restore(_key(one, used), tmp_path / "out").hit
        found = nearest_entry(cache, _key(one, "new"), wanted, requirements=REQS)
        assert found is not None and found.entry.key == _key(one, used).digest


def test_another_interpreter_or_other_tool_inputs_are_never_chosen(cache: Cache,
                                                                   env_maker: Callable[..., Path]) -> None:
    env = env_maker("env", {"alpha": "1"})
    identity = interpreter_identity(venv_python(env))
    other = {**identity, "version": "3.99.0", "base_executable": "/opt/python3.99/bin/python3.99"}
    cache.store(_key(env, "x", interpreter=other), env)
    cache.store(_key(env, "y", salt="other salt"), env)
    wanted = installed_distributions(env)  # both entries hold exactly this
    assert nearest_entry(cache, _key(env, "new"), wanted, requirements=REQS) is None
    # with the requirement field counted as "the same" too, even the exact document would differ: still none
    assert nearest_entry(cache, _key(env, "new"), wanted, requirements=()) is None
    # the same interpreter and salt: chosen
    cache.store(_key(env, "z"), env)
    found = nearest_entry(cache, _key(env, "new"), wanted, requirements=REQS)
    assert found is not None and found.entry.key == _key(env, "z").digest and found.differ == 0


def test_no_shared_distribution_the_own_key_and_a_veto_mean_none(cache: Cache,
                                                                env_maker: Callable[..., Path]) -> None:
    env = env_maker("env", {"alpha": "1"})
    cache.store(_key(env, "a"), env)
    assert nearest_entry(cache, _key(env, "new"), {"zeta": "1"}, requirements=REQS) is None
    wanted = installed_distributions(env)
    assert nearest_entry(cache, _key(env, "a"), wanted, requirements=REQS) is None  # key's own entry: an exact hit
    seen: list[str] = []
    assert nearest_entry(cache, _key(env, "new"), wanted, requirements=REQS,
                         accept=lambda doc: bool(seen.append(doc["inputs"]["lock"]))) is None
    assert seen == ["a"]


def test_restore_nearest_is_partial_never_a_hit(cache: Cache, env_maker: Callable[..., Path],
                                                tmp_path: Path) -> None:
    env = env_maker("env", {"alpha": "1", "beta": "1"})
    cache.store(_key(env, "old"), env)
    wanted = {**installed_distributions(env), "beta": "2"}
    new = _key(env, "new")
    dest = tmp_path / "dest"
    assert not cache.restore(new, dest).hit
    result = cache.restore_nearest(new, dest, wanted, requirements=REQS)
    assert not result.hit and result.partial and result.key == new.digest
    assert result.source == _key(env, "old").digest and (result.differ, result.total) == (1, len(wanted))
    assert installed_distributions(dest)["beta"] == "1"  # the near env, for the sync to finish
    assert not cache.is_complete(new.digest)  # nothing stored under the new key by the restore
    data = result.to_json()
    assert data["result"] == "partial" and data["source"] == result.source and data["differ"] == 1
    line = describe_restore(result, label="py312")
    assert line == f"py312: venv cache partial {result.source[:8]} (1 of {len(wanted)} packages differ)"
    assert describe_partial(result, label="py312", synced=1.1).endswith("packages differ), synced in 1.10 s")
    missing = cache.restore_nearest(_key(env, "new", salt="s"), tmp_path / "none", wanted, requirements=REQS)
    assert not missing.hit and not missing.partial and not os.path.exists(tmp_path / "none")
    assert missing.to_json()["result"] == "miss"



def test_a_partial_entry_records_what_a_cold_build_costs(cache: Cache, env_maker: Callable[..., Path],
                                                         tmp_path: Path) -> None:
    """After restore + sync the new entry's build time is the source's cold build scaled by files, not the few
    seconds the sync took (a later hit saves a cold build); the partial restore itself is no hit."""
    env = env_maker("env", {"alpha": "1", "beta": "1"})
    old = _key(env, "old")
    cache.store(old, env, build_seconds=20.0)
    new = _key(env, "new")
    dest = tmp_path / "dest"
    assert not cache.restore(new, dest).hit
    before = cache.stats()
    result = cache.restore_nearest(new, dest, {"alpha": "1", "beta": "2"}, requirements=REQS)
    assert result.partial and result.saved_seconds == 0.0
    after = cache.stats()
    assert (after["hits"], after["saved_seconds"]) == (before["hits"], before["saved_seconds"])
    source = cache.get(old.digest)
    assert source is not None and source.hits == 0
    assert json.loads((dest / PARTIAL_RECORD).read_text())["source"] == old.digest

    _with_dists(dest, {"extra": "1"})  # "the sync": one distribution more (one file more)
    stored = cache.store(new, dest, build_seconds=0.5)
    meta = json.loads((cache.entry_path(new.digest) / "meta.json").read_text())
    assert meta["build_seconds"] == pytest.approx(20.0 * stored.files / source.files, abs=1e-3)
    assert meta["build_seconds"] > 20.0 and meta["partial"]["source"] == old.digest
    assert 0 <= meta["partial"]["measured_seconds"] <= 0.5  # restore + sync by the record's clock, at most the given
    assert not (dest / PARTIAL_RECORD).exists()  # consumed by the store
    assert not (cache.entry_path(new.digest) / "env" / PARTIAL_RECORD).exists()  # never part of an entry
    assert cold_build_seconds(9.0, 20.0, 100, 10) == 9.0  # never below what the build really took
    assert cold_build_seconds(9.0, None, 100, 10) == 9.0  # the source's build time unknown: the measured one

    other = _key(env, "other")  # a record left for another key is ignored by this store (and not stored)
    again = tmp_path / "again"
    cache.restore_nearest(other, again, {"alpha": "1"}, requirements=REQS)
    (again / PARTIAL_RECORD).write_text(json.dumps({"key": "0" * 64, "source": old.digest,
                                                    "source_build_seconds": 99.0, "source_files": 1}))
    cache.store(other, again, build_seconds=0.25)
    meta = json.loads((cache.entry_path(other.digest) / "meta.json").read_text())
    assert meta["build_seconds"] == 0.25 and "partial" not in meta
    assert not (cache.entry_path(other.digest) / "env" / PARTIAL_RECORD).exists()

def test_locked_distributions_of_a_uv_lock_and_a_requirements_lock(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.10"\n\n'
        '[[package]]\nname = "Tiny_Tool"\nversion = "2.0"\nsource = { registry = "https://pypi.org/simple" }\n\n'
        '[[package]]\nname = "demo"\nversion = "0.1.0"\nsource = { editable = "." }\n')
    assert locked_distributions(tmp_path / "uv.lock") == {"demo": "0.1.0", "tiny-tool": "2.0"}
    (tmp_path / "base.txt").write_text("tinylib==1.0 \\\n    --hash=sha256:abc\n")
    (tmp_path / "requirements.txt").write_text("-r base.txt\ntinytool==2.0  # pinned\nloose>=1\n./local\n")
    assert locked_distributions(tmp_path / "requirements.txt") == {"tinylib": "1.0", "tinytool": "2.0"}
    (tmp_path / "Pipfile.lock").write_text(json.dumps({"default": {"Tiny_Tool": {"version": "==2.0"}},
                                                        "develop": {"vcs": {"git": "x"}}}))
    assert locked_distributions(tmp_path / "Pipfile.lock") == {"tiny-tool": "2.0"}
    assert distribution_changes({"a": "1", "b": "1"}, {"a": "2", "c": "1"}) == 3
    with pytest.raises(VenvCacheError, match=r"uv\.lock\.missing"):
        locked_distributions(tmp_path / "uv.lock.missing")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "uv.lock").write_text("[[package]\n")
    with pytest.raises(VenvCacheError, match="lock file cannot be read"):
        locked_distributions(tmp_path / "x" / "uv.lock")
