"""End to end with tox's default virtualenv runner (pip): miss and store, hit without pip, another checkout."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from venvcache_core import Cache

pytestmark = pytest.mark.slow

TESTENV = """
runner = virtualenv
deps = tinytool==1.0
commands = tinytool
"""


def test_cold_miss_then_hit_then_tox_reuse_then_other_checkout(make_project: Callable[..., object],
                                                               tmp_path: Path) -> None:
    project = make_project(TESTENV)

    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    assert (cold.stored("py312") or "").startswith("stored ("), cold.out
    assert cold.ran("py312", "install_deps")
    assert "tinytool 1.0" in cold.out
    [key] = project.entries()
    assert key.startswith(cold.key("py312"))
    assert Cache(project.cache).verify(key) == []
    meta_info = (project.cache / key / "env" / ".tox-info.json").read_text()
    assert "RunToxEnv" not in meta_info and "deps" in meta_info
    assert not (project.cache / key / "env" / "log").exists()  # tox's logs are not part of an entry
    assert not (project.cache / key / "env" / "tmp").exists()

    project.fresh()
    warm = project.tox("-e", "py312")
    assert warm.result("py312") == "hit", warm.out
    assert warm.key("py312") == cold.key("py312")
    assert not warm.ran("py312", "install_deps"), warm.out  # pip was not run for the deps
    assert "tinytool 1.0" in warm.out
    assert (project.root / ".tox" / "py312" / "tmp").is_dir()  # {envtmpdir} exists as tox promises

    reuse = project.tox("-e", "py312")
    assert reuse.results() == {}, reuse.out  # tox reuses its own env: the cache stays out of the way
    assert not reuse.ran("py312", "install_deps")

    other = project.copy(tmp_path / "elsewhere" / "checkout-two")
    moved = other.tox("-e", "py312")
    assert moved.result("py312") == "hit", moved.out
    assert "tinytool 1.0" in moved.out  # the dep's console script runs from the relocated env
    script = (other.root / ".tox" / "py312" / "bin" / "tinytool").read_text()
    assert str(other.root) in script and str(project.root) not in script
    assert Cache(project.cache).stats()["hits"] == 2
    assert Cache(project.cache).verify(key) == []


def test_failed_deps_install_stores_nothing(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = virtualenv
        deps = tinytool==9.9
        commands = tinytool
    """)
    run = project.tox("-e", "py312", expect=None)
    assert run.code != 0
    assert run.result("py312") == "miss", run.out
    assert run.stored("py312") == "not stored (the deps install did not succeed)", run.out
    assert project.entries() == []


def test_recreate_never_restores(make_project: Callable[..., object]) -> None:
    """``-r``: tox installs anew, and the fresh env replaces the entry (the user asked for a rebuilt env)."""
    project = make_project(TESTENV)
    project.tox("-e", "py312")
    project.fresh()
    again = project.tox("-r", "-e", "py312")
    assert again.result("py312") == "miss", again.out
    assert f"venv cache miss {again.key('py312')} (recreate)" in again.out
    assert (again.stored("py312") or "").startswith("stored ("), again.out
    assert "the cache has it already" not in again.out
    assert again.ran("py312", "install_deps")
    assert "tinytool 1.0" in again.out
    assert len(project.entries()) == 1
    assert os.path.isdir(project.root / ".tox" / "py312" / "bin")


def test_require_hit_stops_a_miss_before_any_installer(make_project: Callable[..., object]) -> None:
    """``TOX_VENV_CACHE_REQUIRE=1`` / ``--venv-cache-require``: a miss fails the env with the key, pip never runs;
    once the cache has the entry, the same run is a hit."""
    project = make_project(TESTENV)
    missed = project.tox("-e", "py312", expect=None, extra_env={"TOX_VENV_CACHE_REQUIRE": "1"})
    assert missed.code != 0, missed.out
    assert f"venv cache hit required, but key {missed.key('py312')} missed (no entry)" in missed.out, missed.out
    assert missed.installers() == set() and project.entries() == [], missed.out
    project.fresh()
    project.tox("-e", "py312")  # fills the cache
    project.fresh()
    required = project.tox("--venv-cache-require", "-e", "py312")
    assert required.result("py312") == "hit" and "tinytool 1.0" in required.out, required.out
