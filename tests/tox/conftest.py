"""Fixtures of the tox plugin tests: temp tox projects run by real ``python -m tox`` subprocesses, offline.

Every project gets its own cache directory (``[virtualenv-cache] cache_path``), the shared wheelhouse through
``offline_env`` (pip and uv see nothing else), and ``pass_env = PYENV_VERSION`` so uv finds the pyenv interpreters.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from venvcache_core import Cache

INSTALLER = re.compile(r"^(?P<env>[\w.-]+): (?P<step>install_[\w-]+)> ", re.MULTILINE)
LINE = re.compile(r"^(?P<env>[\w.-]+): venv cache (?P<result>hit|miss|stored|not stored) (?P<key>[0-9a-f]{8})\b"
                  r"(?P<rest>.*)$", re.MULTILINE)


@dataclass
class ToxRun:
    """One finished tox process: exit code and everything it printed (stdout and stderr together)."""

    code: int
    out: str

    def results(self) -> dict[str, tuple[str, str]]:
        """``{env: (hit|miss, short key)}`` from the plugin's restore line of each env (the core's report format)."""
        found: dict[str, tuple[str, str]] = {}
        for m in LINE.finditer(self.out):
            if m["result"] in {"hit", "miss"}:
                found.setdefault(m["env"], (m["result"], m["key"]))
        return found

    def stored(self, env: str) -> str | None:
        """``stored``/``not stored`` and its detail, from the env's store line (None when there is none)."""
        for m in LINE.finditer(self.out):
            if m["env"] == env and m["result"] in {"stored", "not stored"}:
                return m["result"] + m["rest"]
        return None

    def result(self, env: str) -> str | None:
        found = self.results().get(env)
        return found[0] if found else None

    def key(self, env: str) -> str:
        return self.results()[env][1]

    def installers(self) -> set[tuple[str, str]]:
        """Every ``(env, install step)`` tox logged running an installer for (``install_deps``, ``install_requires``,
        ``install_package_deps``, ``install_package`` ...)."""
        return {(m["env"], m["step"]) for m in INSTALLER.finditer(self.out)}

    def ran(self, env: str, run_id: str) -> bool:
        """Whether tox logged running ``run_id`` (``install_deps``, ``uv-sync`` ...) in ``env``."""
        return re.search(rf"^{re.escape(env)}: {re.escape(run_id)}> ", self.out, re.MULTILINE) is not None


@dataclass
class Project:
    """A tox project in a temp dir, with its own cache and an offline environment."""

    root: Path
    cache: Path
    env: dict[str, str]

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def tox(self, *args: str, expect: int | None = 0, extra_env: dict[str, str] | None = None) -> ToxRun:
        """Run ``python -m tox *args`` in the project; assert the exit code unless ``expect`` is None."""
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.run([sys.executable, "-m", "tox", *args], cwd=self.root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
        run = ToxRun(proc.returncode, proc.stdout)
        if expect is not None:
            assert run.code == expect, f"tox {' '.join(args)} exited {run.code}:\n{run.out}"
        return run

    def fresh(self) -> None:
        """Delete ``.tox``: the next run starts from nothing but the cache (a fresh checkout, a new CI job)."""
        shutil.rmtree(self.root / ".tox", ignore_errors=True)

    def copy(self, dest: Path) -> Project:
        """Another checkout of the same project at another path (without ``.tox``), sharing the cache."""
        shutil.copytree(self.root, dest, ignore=shutil.ignore_patterns(".tox"))
        return Project(dest, self.cache, self.env)

    def entries(self) -> list[str]:
        return Cache(self.cache).keys()


TOX_INI = """\
[tox]
env_list = py312
skipsdist = true

[testenv]
pass_env = PYENV_VERSION
{testenv}

[virtualenv-cache]
cache_path = {cache}
{section}
"""


#: build backends real projects use, put into the shared wheelhouse once per session (by pip, from the configured index)
BACKENDS = ("hatchling", "hatch-vcs", "setuptools-scm", "editables", "setuptools")


def download_into(wheelhouse: Path, marker: str, what: str, requirements: list[str]) -> Path:
    """``pip download`` these requirements (wheels, with their dependencies) into the wheelhouse once per session
    and worker, from the configured index; the tox runs themselves stay offline. Skips the test when it cannot."""
    done = wheelhouse / marker
    if not done.exists():
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest",
                               str(wheelhouse), *requirements], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"{what} cannot be downloaded here: {proc.stderr.strip()[-300:]}")
        done.write_text("\n".join(requirements))
    return wheelhouse


@pytest.fixture(scope="session")
def backend_wheelhouse(wheelhouse: Path) -> Path:
    """The wheelhouse with the build backends of :data:`BACKENDS` and their dependencies."""
    return download_into(wheelhouse, ".backends", "build backends", list(BACKENDS))


@pytest.fixture(scope="session")
def tox_wheelhouse(backend_wheelhouse: Path) -> Path:
    """The wheelhouse with this host's tox and virtualenv and their dependencies, so tox can provision ``.tox/.tox``
    offline."""
    from importlib.metadata import version

    return download_into(backend_wheelhouse, ".tox-provision", "tox",
                         [f"tox=={version('tox')}", f"virtualenv=={version('virtualenv')}"])


@pytest.fixture(scope="session")
def virtualenv_app_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One virtualenv app-data dir per test session: seeding pip from it is what makes venv creation fast."""
    return tmp_path_factory.mktemp("virtualenv-app-data")


@pytest.fixture
def make_project(tmp_path: Path, offline_env: dict[str, str],
                 virtualenv_app_data: Path) -> Callable[..., Project]:
    """``make_project(testenv="deps = ...", section="", name="proj", tox_ini=None)`` → a :class:`Project`."""
    env = {**offline_env, "VIRTUALENV_OVERRIDE_APP_DATA": str(virtualenv_app_data)}

    def make(testenv: str = "", *, section: str = "", name: str = "proj", tox_ini: str | None = None) -> Project:
        root = tmp_path / name
        root.mkdir()
        cache = tmp_path / "cache"
        project = Project(root, cache, env)
        text = tox_ini if tox_ini is not None else TOX_INI.format(testenv=textwrap.dedent(testenv).strip(),
                                                                 cache=cache, section=textwrap.dedent(section).strip())
        project.write("tox.ini", text.replace("{cache}", str(cache)))
        return project

    return make
