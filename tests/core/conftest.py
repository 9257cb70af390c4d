"""Fixtures for the core: real venvs built offline from the session wheelhouse."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from coresupport import MakeVenv, run

from venvcache_core import Cache


@pytest.fixture
def make_venv(offline_env: dict[str, str]) -> MakeVenv:
    """Create a real venv at ``path`` with ``python -m venv`` (pip inside) and pip-install ``packages`` into it."""

    def make(path: Path, *packages: str, python: str = sys.executable, editable: Path | None = None) -> Path:
        base = getattr(sys, "_base_executable", sys.executable) if python == sys.executable else python
        run([base, "-m", "venv", path], offline_env)
        args = [*packages] + (["-e", str(editable)] if editable else [])
        if args:
            run([path / "bin" / "python", "-m", "pip", "install", "-q", *args], offline_env)
        return path

    return make


@pytest.fixture(scope="session")
def template_venv(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """One venv with tinytool 1.0, built once per session (copy it with ``clone_venv``)."""
    path = tmp_path_factory.mktemp("template") / "venv"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", path], env)
    run([path / "bin" / "python", "-m", "pip", "install", "-q", "tinytool==1.0"], env)
    return path


@pytest.fixture
def clone_venv(template_venv: Path) -> Callable[[Path], Path]:
    """A venv at ``dest`` equal to the template, its absolute paths rewritten as if it had been created there."""
    from venvcache_core import relocate

    def clone(dest: Path) -> Path:
        shutil.copytree(template_venv, dest, symlinks=True)
        names = relocate.scan(dest, relocate.path_forms([template_venv])).relocate
        relocate.rewrite(dest, names, relocate.relocation_map(str(template_venv), str(dest), None, None))
        return dest

    return clone


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache", max_entries=20)
