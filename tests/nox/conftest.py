"""Temp nox projects run with real ``python -m nox`` subprocesses, offline, with their own cache and env folders."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from noxsupport import NoxProject


@pytest.fixture
def project(tmp_path: Path, offline_env: dict[str, str]) -> NoxProject:
    """A nox project in ``tmp_path/checkout-a`` whose cache is ``tmp_path/cache``."""
    return NoxProject(tmp_path / "checkout-a", offline_env, tmp_path / "cache", tmp_path / "envs")


@pytest.fixture
def uv_log(tmp_path: Path, offline_env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """An ``UV`` wrapper that logs every uv command line nox runs, then runs the real uv; (env additions, log)."""
    real = shutil.which("uv", path=offline_env["PATH"])
    assert real, "uv is a test dependency"
    log = tmp_path / "uv-calls.log"
    wrapper = tmp_path / "uv-logging"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{real}" "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {"UV": str(wrapper)}, log
