"""Fixtures of the reliability suite: small real venvs built once per session, a tmpfs mount, the CLI runner.

Scale: the default run is a fast CI check; ``--soak`` (the option lives in ``tests/conftest.py`` so that it is
known however pytest is started; ``VENVCACHE_SOAK=1`` works too) multiplies processes, rounds, crash trials and
fuzzing examples.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from relsupport import SOURCES, SourceEnv, build_venv, is_soak

from venvcache_core import relocate
from venvcache_core.manifest import scan


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> bool:
    return is_soak(request.config)


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> dict[str, SourceEnv]:
    """Three different small venvs (each with a console script), built once per session, never modified."""
    root = tmp_path_factory.mktemp("sources")
    found = {}
    for name, (requirements, script, output) in SOURCES.items():
        path = build_venv(root / name / ".venv", wheelhouse, *requirements)
        manifest = scan(path, relocate.path_forms([path]))
        found[name] = SourceEnv(path, manifest, script, output)
    return found


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount size-limited tmpfs file systems (root only); skipped with the reason where mounting is impossible."""
    mounted: list[Path] = []

    def mount(size: str, name: str = "", nr_inodes: int | None = None) -> Path:
        point = tmp_path / (name or f"tmpfs-{uuid.uuid4().hex[:6]}")
        point.mkdir()
        options = f"size={size},mode=0700" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        try:
            proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                                  capture_output=True, text=True, check=False, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot mount a size-limited tmpfs here: {exc}")
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a size-limited tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: nothing from the caller's venvcache/installer settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUALENV_", "TOX_", "NOX_", "VIRTUAL_ENV"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["LC_ALL"] = "C.UTF-8"
    return env
