"""Fixtures of the pytest plugin's tests: inner runs (pytester) offline, against the session wheelhouse."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from plugsupport import Inner


@pytest.fixture
def inner_env(offline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``os.environ`` of this process made offline (inner runs happen in it), as ``offline_env`` says."""
    for name in list(os.environ):
        if name not in offline_env:
            monkeypatch.delenv(name)
    for name, value in offline_env.items():
        monkeypatch.setenv(name, value)
    return offline_env


@pytest.fixture
def inner(pytester: pytest.Pytester, inner_env: dict[str, str], tmp_path: Path) -> Inner:
    """An inner project whose cache lives in this test's ``tmp_path``."""
    return Inner(pytester, tmp_path / "venvcache")


@pytest.fixture
def own_wheelhouse(wheelhouse: Path, inner_env: dict[str, str], tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the wheelhouse that this test may delete; the installers' find-links point at it."""
    folder = tmp_path / "wheels"
    shutil.copytree(wheelhouse, folder)
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("UV_FIND_LINKS", str(folder))
    return folder
