"""nox-uv sessions (``@nox_uv.session(uv_groups=...)``: ``uv sync --locked`` into the session's env) with the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from noxsupport import NoxProject, entry_problems, uv_commands

from projects import pyproject

pytestmark = pytest.mark.slow

NOXFILE = """\
import nox
import nox_uv
import nox_venvcache


@nox_uv.session(venv_backend="cached", uv_groups=["test"])
def tests(session):
    session.run("tinytool")
    session.run("python", "-I", "-c", "import demo, tinylib, os; print('DEMO', os.path.dirname(demo.__file__))")
"""


def test_nox_uv_session_hits_in_a_fresh_envdir_and_in_another_checkout(
        project: NoxProject, uv_log: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, log = uv_log
    project.write("pyproject.toml", pyproject("demo", dependencies=["tinylib"], groups={"test": ["tinytool==1.0"]},
                                              packages=["demo"], cache=project.cache_path))
    project.write("noxfile.py", NOXFILE)
    uv = shutil.which("uv", path=project.env["PATH"])
    assert uv
    subprocess.run([uv, "lock"], cwd=project.root, env=project.env, check=True, capture_output=True)  # offline
    assert (project.root / "uv.lock").is_file()

    first = project.nox(env=env)
    assert first.miss and "venv cache stored" in first.output, first.output
    assert "tinytool 1.0" in first.output and f"DEMO {project.root / 'demo'}" in first.output
    assert any(line.startswith("sync") for line in uv_commands(log)), "nox-uv ran uv sync"

    log.unlink()
    second = project.nox(env=env)
    assert second.hit and not second.miss, second.output
    assert "tinytool 1.0" in second.output
    assert [line for line in uv_commands(log) if line.startswith(("sync", "venv", "pip"))] == []

    other = project.copy_to(tmp_path / "elsewhere" / "checkout-b")
    shutil.rmtree(project.root)
    log.unlink()
    third = other.nox(env=env)
    assert third.hit and not third.miss, third.output
    assert f"DEMO {other.root / 'demo'}" in third.output, "the editable project points into the new checkout"
    assert [line for line in uv_commands(log) if line.startswith(("sync", "venv", "pip"))] == []
    assert len(other.cache.keys()) == 1 and entry_problems(other.cache) == []
    assert os.path.isfile(other.root / "uv.lock")
