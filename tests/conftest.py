"""Shared fixtures: a local wheelhouse of tiny packages and an environment that never reaches an index."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import PYENV_VERSION, have_python  # noqa: F401
from wheels import make_wheel


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
