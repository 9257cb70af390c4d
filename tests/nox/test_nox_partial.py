"""Partial restore in real nox runs with the uv backend: a nox-uv session (``uv sync``) whose lock changed starts from
the nearest entry, uv installs, upgrades and removes only the difference; ``session.install`` never does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from noxsupport import NoxProject, NoxRun

from helpers import have_python
from projects import pyproject

pytestmark = pytest.mark.slow

NOXFILE = """\
import os

import nox
import nox_uv
import nox_venvcache


@nox_uv.session(venv_backend="cached", uv_groups=["test"], python=os.environ.get("DEMO_PY"))
def tests(session):
    session.run("python", "-c", "import tinytool; print('TINYTOOL', tinytool.VERSION)")


@nox.session(venv_backend="cached", python=os.environ.get("DEMO_PY"))
def plain(session):
    session.install(os.environ.get("PLAIN_PIN", "tinytool==1.0"), "tinylib==1.0")
    session.run("python", "-c", "import tinytool; print('PLAIN', tinytool.VERSION)")
"""

PARTIAL = re.compile(r"^nox > tests: venv cache partial (?P<source>[0-9a-f]{8}) \((?P<differ>\d+) of (?P<total>\d+) "
                     r"packages differ\), synced in [\d.]+ s$", re.MULTILINE)


def _lock(project: NoxProject, *deps: str) -> None:
    project.write("pyproject.toml", pyproject("demo", backend=None, dependencies=[], groups={"test": deps},
                                              cache=project.cache_path, tail="[tool.uv]\npackage = false\n"))
    subprocess.run(["uv", "lock", "-q"], cwd=project.root, env=project.env, check=True, capture_output=True)


def _changes(run: NoxRun) -> set[str]:
    """What uv said it installed (``+``), removed (``-``) or reinstalled (``~``), from its own log in nox's output."""
    return {f"{sign} {spec}" for sign, spec in re.findall(r"^ ([-+~]) (\S+)$", run.output, re.MULTILINE)}


def _env_in(envdir: Path) -> Path:
    """The session's env in an ``--envdir`` (nox hashes its folder's name when the path is long)."""
    [env] = [cfg.parent for cfg in envdir.glob("*/pyvenv.cfg")]
    return env


def _freeze(env: Path, project: NoxProject) -> list[str]:
    out = subprocess.run(["uv", "pip", "freeze", "--python", str(env / "bin" / "python")], env=project.env,
                         check=True, capture_output=True, text=True).stdout
    return sorted(out.split())


def _cold(project: NoxProject, tmp_path: Path) -> list[str]:
    """A cold build of the lock as it is now: nox-uv's own ``uv sync`` into an empty env."""
    env = tmp_path / f"cold-{len(list(tmp_path.glob('cold-*')))}"
    subprocess.run(["uv", "sync", "-q", "--locked", "--no-default-groups", "--group=test"], cwd=project.root,
                   env={**project.env, "UV_PROJECT_ENVIRONMENT": str(env)}, check=True, capture_output=True)
    return _freeze(env, project)


def test_a_bumped_lock_syncs_only_the_difference_and_a_removal_removes(project: NoxProject,
                                                                        tmp_path: Path) -> None:
    project.write("noxfile.py", NOXFILE)
    _lock(project, "tinytool==1.0", "tinydep==1.0")
    cold = project.nox("-s", "tests")
    assert cold.miss and "venv cache stored" in cold.output and "TINYTOOL 1.0" in cold.output, cold.output
    assert not PARTIAL.search(cold.output)
    [old] = project.cache.keys()

    _lock(project, "tinytool==2.0", "tinydep==1.0")  # a dependency-update PR: one pin bumped
    envdir = project.fresh_envdir()
    bumped = project.nox("-s", "tests", envdir=envdir)
    found = PARTIAL.search(bumped.output)
    assert found and old.startswith(found["source"]) and found["differ"] == "1", bumped.output
    assert _changes(bumped) == {"- tinytool==1.0", "+ tinytool==2.0"}, bumped.output  # uv's log: one package
    assert "TINYTOOL 2.0" in bumped.output and "venv cache stored" in bumped.output
    assert bumped.output.index("venv cache partial") < bumped.output.index("venv cache stored")
    assert _freeze(_env_in(envdir), project) == _cold(project, tmp_path) \
        == ["tinydep==1.0", "tinylib==1.0", "tinytool==2.0"]
    assert len(project.cache.keys()) == 2

    again = project.nox("-s", "tests")
    assert again.hit and not again.miss and not _changes(again), again.output  # the next run is an exact hit

    _lock(project, "tinytool==2.0")  # tinydep (and so tinylib) removed
    envdir = project.fresh_envdir()
    removed = project.nox("-s", "tests", envdir=envdir)
    found = PARTIAL.search(removed.output)
    assert found and not old.startswith(found["source"]) and found["differ"] == "2", removed.output
    assert _changes(removed) == {"- tinydep==1.0", "- tinylib==1.0"}, removed.output
    assert _freeze(_env_in(envdir), project) == _cold(project, tmp_path) == ["tinytool==2.0"]


@pytest.mark.skipif(not (have_python("3.11") and have_python("3.12")), reason="needs python3.11 and python3.12")
def test_never_another_interpreters_entry_nor_for_installs_that_cannot_remove(project: NoxProject) -> None:
    project.write("noxfile.py", NOXFILE)
    _lock(project, "tinytool==1.0", "tinydep==1.0")
    first = project.nox("-s", "tests", "plain", env={"DEMO_PY": "3.11"})
    assert first.output.count("venv cache stored") == 2 and "PLAIN 1.0" in first.output, first.output

    _lock(project, "tinytool==2.0", "tinydep==1.0")
    other = project.nox("-s", "tests", env={"DEMO_PY": "3.12"})  # same session name, another interpreter
    assert "venv cache partial" not in other.output and other.miss, other.output
    assert _changes(other) == {"+ tinytool==2.0", "+ tinydep==1.0", "+ tinylib==1.0"}, other.output  # cold
    assert "TINYTOOL 2.0" in other.output and "venv cache stored" in other.output

    plain = project.nox("-s", "plain", env={"DEMO_PY": "3.11", "PLAIN_PIN": "tinytool==2.0"})
    assert "venv cache partial" not in plain.output and plain.miss, plain.output  # uv pip install never removes
    assert "PLAIN 2.0" in plain.output and "venv cache stored" in plain.output


def test_declared_lock_files_start_from_the_nearest_entry_too(project: NoxProject) -> None:
    """The fast path (``lock_files``: the env is restored or created before any call) with a changed uv.lock: the
    new env it created is replaced by the nearest entry before the session's ``uv sync``."""
    declared = 'import nox_venvcache\n\nnox_venvcache.configure(lock_files=["uv.lock"])\n'
    project.write("noxfile.py", NOXFILE.replace("import nox_venvcache\n", declared))
    _lock(project, "tinytool==1.0", "tinydep==1.0")
    cold = project.nox("-s", "tests")
    assert cold.miss and "venv cache stored" in cold.output and not PARTIAL.search(cold.output), cold.output
    [old] = project.cache.keys()
    _lock(project, "tinytool==2.0", "tinydep==1.0")
    bumped = project.nox("-s", "tests")
    found = PARTIAL.search(bumped.output)
    assert found and old.startswith(found["source"]) and found["differ"] == "1", bumped.output
    assert _changes(bumped) == {"- tinytool==1.0", "+ tinytool==2.0"} and "TINYTOOL 2.0" in bumped.output
    assert "venv cache stored" in bumped.output and len(project.cache.keys()) == 2
