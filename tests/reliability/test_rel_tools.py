"""Suite 1, end to end: two ``tox p`` runs and two ``nox -j`` runs at the same time on one shared cache.

Two checkouts of one project start together, cold, then again with fresh env folders: every env runs its console
script both times, the second pair only hits, and the cache is left sound (no temp dirs, every entry verifies).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from relsupport import BASE_PYTHON

from venvcache_core import Cache

pytestmark = pytest.mark.slow

TOX_INI = """\
[tox]
env_list = a,b,c
skipsdist = true

[testenv]
runner = uv-venv-runner
base_python = {python}
pass_env = PYENV_VERSION

[testenv:a]
deps = tinytool==1.0
commands = tinytool

[testenv:b]
deps = tinydep==1.0
commands = tinydep

[testenv:c]
deps = tinytool==2.0
commands = tinytool

[virtualenv-cache]
cache_path = {cache}
"""

NOXFILE = """\
import nox
import nox_venvcache  # noqa: F401  (registers the "cached" backend)


@nox.session(venv_backend="cached", allow_parallel=True)
def one(session):
    session.install("tinytool==1.0")
    session.run("tinytool")


@nox.session(venv_backend="cached", allow_parallel=True)
def two(session):
    session.install("tinydep==1.0")
    session.run("tinydep")
"""

PYPROJECT = """\
[project]
name = "demo"
version = "0.1"

[tool.virtualenv-cache]
cache_path = "{cache}"
"""


def together(commands: list[tuple[list[str], Path]], env: dict[str, str]) -> list[str]:
    """Start all commands at once; wait for all; assert each exited 0; their outputs."""
    procs = [subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cmd, cwd in commands]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]
    return outputs


def sound(cache_path: Path) -> None:
    cache = Cache(cache_path)
    keys = cache.keys()
    assert keys and {k: cache.verify(k) for k in keys} == {k: [] for k in keys}
    assert list((cache_path / ".tmp").iterdir()) == [] and list((cache_path / ".trash").iterdir()) == []


def test_two_tox_p_runs_share_one_cache(tmp_path: Path, offline_env: dict[str, str]) -> None:
    pytest.importorskip("tox_venvcache.plugin")
    cache = tmp_path / "cache"
    checkouts = []
    for name in ("one", "two"):
        root = tmp_path / name
        root.mkdir()
        (root / "tox.ini").write_text(TOX_INI.format(python=BASE_PYTHON, cache=cache))
        checkouts.append(root)
    command = [sys.executable, "-m", "tox", "p", "-o", "-e", "a,b,c"]
    for round_no in range(2):
        for root in checkouts:
            shutil.rmtree(root / ".tox", ignore_errors=True)
        outputs = together([(command, root) for root in checkouts], offline_env)
        for out in outputs:
            results = dict(re.findall(r"^(\w+): venv cache (hit|miss)\b", out, re.MULTILINE))
            assert sorted(results) == ["a", "b", "c"], out[-3000:]
            if round_no:
                assert set(results.values()) == {"hit"}, out[-3000:]
            assert out.count("tinytool 1.0") >= 1 and "tinydep 1.0" in out and "tinytool 2.0" in out
        for root in checkouts:
            assert [p.name for p in (root / ".tox").iterdir() if ".venvcache-" in p.name] == []
    sound(cache)
    assert len(Cache(cache).keys()) == 3


def test_two_nox_j_runs_share_one_cache(tmp_path: Path, offline_env: dict[str, str]) -> None:
    pytest.importorskip("nox_venvcache")
    cache = tmp_path / "cache"
    checkouts = []
    for name in ("one", "two"):
        root = tmp_path / name
        root.mkdir()
        (root / "noxfile.py").write_text(textwrap.dedent(NOXFILE))
        (root / "pyproject.toml").write_text(PYPROJECT.format(cache=cache.as_posix()))
        checkouts.append(root)
    for round_no in range(2):
        commands = [([sys.executable, "-m", "nox", "-j", "2", "--envdir", str(tmp_path / f"envs-{round_no}-{n}")],
                     root) for n, root in enumerate(checkouts)]
        outputs = together(commands, offline_env)
        for out in outputs:
            assert "tinytool 1.0" in out and "tinydep 1.0" in out, out[-3000:]
            if round_no:
                assert out.count(" venv cache hit ") == 2 and " venv cache miss " not in out, out[-3000:]
    sound(cache)
    assert len(Cache(cache).keys()) == 2
