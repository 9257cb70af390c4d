"""Fixtures for the core: real venvs built offline from the session wheelhouse."""

from __future__ import annotations

import sys
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


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache", max_entries=20)
