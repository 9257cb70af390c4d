"""End to end with tox-uv's ``uv-venv-lock-runner`` (``uv.lock`` + ``uv sync``), keyed on the lock file."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from projects import pyproject

pytestmark = pytest.mark.slow

def _sync_log(root: Path) -> str:
    [log] = (root / ".tox" / "py312" / "log").glob("*-uv-sync.log")
    return log.read_text()


def test_lock_runner_hit_on_second_fresh_run(make_project: Callable[..., object], tmp_path: Path) -> None:
    project = make_project("""
        runner = uv-venv-lock-runner
        commands = tinydep
            python -c "import lockdemo, tinylib; print('project', lockdemo.__file__)"
    """)
    project.write("pyproject.toml", pyproject("lockdemo", dependencies=["tinydep"]))
    project.write("src/lockdemo/__init__.py", "")
    subprocess.run(["uv", "lock"], cwd=project.root, env=project.env, check=True, capture_output=True)
    lock = project.root / "uv.lock"
    assert "tinydep" in lock.read_text()

    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    assert "Installed" in _sync_log(project.root)
    assert "tinydep 1.0" in cold.out

    project.fresh()
    warm = project.tox("-e", "py312")
    assert warm.result("py312") == "hit", warm.out
    assert warm.key("py312") == cold.key("py312")
    assert warm.ran("py312", "uv-sync")  # uv sync still runs: it checks the env and owns the project install
    assert cold.ran("py312", "venv") and not warm.ran("py312", "venv")  # the entry is restored in place of uv venv
    assert "Installed" not in _sync_log(project.root), _sync_log(project.root)  # ... but had nothing to install
    assert "tinydep 1.0" in warm.out

    other = project.copy(tmp_path / "second-checkout")
    moved = other.tox("-e", "py312")
    assert moved.result("py312") == "hit", moved.out
    assert f"project {other.root / 'src' / 'lockdemo'}" in moved.out  # the editable project points at this checkout

    lock.write_text(lock.read_text() + "\n# any change of the lock file's content is a new key\n")
    project.fresh()
    relocked = project.tox("-e", "py312")
    assert relocked.result("py312") == "miss", relocked.out
    assert relocked.key("py312") != cold.key("py312")
