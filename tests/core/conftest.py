"""Fixtures for the core: real venvs built offline from the session wheelhouse."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from coresupport import MakeVenv

from helpers import installer_environ
from pytest_venvcache import VenvFactory
from venvcache_core import Cache


@pytest.fixture
def make_venv(offline_env: dict[str, str], wheelhouse: Path, venv_factory: VenvFactory) -> MakeVenv:
    """A real venv at ``path`` (``python -m venv``, pip inside) with ``packages`` pip-installed (and ``editable``).

    The project's own pytest plugin builds each one once and then restores it (``venv_factory``).
    """

    def make(path: Path, *packages: str, python: str = sys.executable, editable: Path | None = None) -> Path:
        args = [*packages] + (["-e", str(editable)] if editable else [])
        venv = venv_factory(args, python=None if python == sys.executable else python, installer="pip",
                            path=path, env=installer_environ(offline_env), find_links=[wheelhouse])
        return Path(venv.path)

    return make


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache", max_entries=20)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A CLI project: one pinned requirements file as the lock, its own cache (tests with other needs override it)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "requirements.txt").write_text("tinytool==1.0\n")
    (proj / ".virtualenv_cache.toml").write_text(
        f'[virtualenv-cache]\ncache_path = "{tmp_path / "cache"}"\nrequirements_lock_paths = ["requirements.txt"]\n')
    return proj
