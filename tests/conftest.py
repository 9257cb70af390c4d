"""Shared fixtures: a local wheelhouse of tiny packages and an environment that never reaches an index."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PYENV_VERSION, have_python, installer_environ  # noqa: F401
from pytest_venvcache import VenvFactory
from wheels import make_wheel

pytest_plugins = ["pytester"]  # the pytest plugin's tests run inner pytest sessions (tests/pytest_plugin)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels: ``tinytool`` 1.0 and 2.0 (console script ``tinytool``), ``tinylib`` 1.0, ``tinydep`` 1.0 (needs tinylib).

    Also the setuptools wheel that virtualenv embeds, so an editable install or a package build works offline.
    """
    folder = tmp_path_factory.mktemp("wheelhouse")
    for version in ("1.0", "2.0"):
        make_wheel(folder, "tinytool", version, scripts={"tinytool": "tinytool:main"})
    make_wheel(folder, "tinylib", "1.0")
    make_wheel(folder, "tinydep", "1.0", requires=["tinylib"], scripts={"tinydep": "tinydep:main"})
    from virtualenv.seed.wheels.embed import BUNDLE_FOLDER

    for wheel in Path(BUNDLE_FOLDER).glob("*.whl"):
        if wheel.name.startswith(("setuptools-", "wheel-")):
            shutil.copy2(wheel, folder)
    return folder


@pytest.fixture
def offline_env(wheelhouse: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for subprocesses: installers see only the wheelhouse; the user cache dir is per test."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUALENV_", "TOX_", "NOX_", "VIRTUAL_ENV"))}
    env.update({
        "PYENV_VERSION": env.get("PYENV_VERSION", PYENV_VERSION),
        "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1",
        "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(wheelhouse), "UV_NO_CONFIG": "1", "UV_OFFLINE": "1",
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "virtualenv-app-data"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    })
    # run the tools of the interpreter running the tests (the test venv), whatever PATH says
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--soak``: the long run of the reliability suites (here so it is known however pytest is started)."""
    parser.addoption("--soak", action="store_true", default=False,
                     help="reliability suites: many more processes, rounds, crash trials and fuzzing examples")


@pytest.fixture(scope="session")
def template_venv(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path,
                  session_venv_factory: VenvFactory) -> Path:
    """A real venv (``python -m venv``, pip inside) with tinytool 1.0 from the wheelhouse, one per worker.

    Built once and then restored by the project's own pytest plugin (``session_venv_factory``).
    """
    env = installer_environ({**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1",
                             "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"})
    venv = session_venv_factory(["tinytool==1.0"], installer="pip", env=env, find_links=[wheelhouse],
                                path=tmp_path_factory.mktemp("template") / "venv")
    return Path(venv.path)


@pytest.fixture
def clone_venv(template_venv: Path) -> Callable[[Path], Path]:
    """A venv at ``dest`` equal to the template, relocated as if it had been created there (fast: no pip)."""
    from venvcache_core import relocate
    from venvcache_core.manifest import scan

    def clone(dest: Path) -> Path:
        shutil.copytree(template_venv, dest, symlinks=True)
        names = scan(dest, relocate.path_forms([template_venv])).relocate
        relocate.rewrite(dest, names, relocate.relocation_map(str(template_venv), str(dest), None, None))
        return dest

    return clone
