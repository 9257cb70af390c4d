"""Projects shaped like real ones: everything a tox env installs is cached, so a warm run installs only the package.

Each test runs real tox on a project with a build backend (hatchling + hatch-vcs, setuptools + setuptools-scm, in a
git repo for the dynamic version), its own dependencies and extras, dependency groups or a uv.lock; a cold run, a
warm run in a fresh ``.tox`` and one in another checkout. tox's own log says which installers ran: on a warm run,
only ``install_package`` (the package under test, from this checkout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from projects import EDITABLE_TOX_INI, git_init, hatch_vcs_pyproject, pyproject

pytestmark = pytest.mark.slow
Project = Any  # tests/tox/conftest.py's Project and ToxRun (conftest modules are not imported)
ToxRun = Any


ONLY_THE_PACKAGE = {("py312", "install_package")}

HATCH_PYPROJECT = hatch_vcs_pyproject("shapes", "tinydep", "tinytool==1.0")
HATCH_TOX_INI = EDITABLE_TOX_INI.replace("{commands}", """
    tinytool
    python -c "import shapes, tinylib, importlib.metadata as m; print('project', shapes.__file__, m.version('shapes'))"
""".rstrip())


def _project_line(run: ToxRun) -> str:
    [line] = [line for line in run.out.splitlines() if line.startswith("project ")]
    return line


@pytest.mark.parametrize("runner", ["virtualenv", "uv-venv-runner"])
def test_editable_with_extras_deps_and_dynamic_version(make_project: Callable[..., Project],
                                                        backend_wheelhouse: Path, tmp_path: Path,
                                                        runner: str) -> None:
    """``package = editable`` + ``extras`` + project dependencies + hatch-vcs: the run env (deps and the package's
    dependencies with its extras) and the ``.pkg`` env (hatchling, hatch-vcs, editables) both come from the cache."""
    project = make_project(tox_ini=HATCH_TOX_INI.replace("{runner}", runner))
    project.write("pyproject.toml", HATCH_PYPROJECT)
    project.write("src/shapes/__init__.py", "")
    git_init(project.root)

    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    pkg_env = next(env for env in cold.results() if env.startswith(".pkg"))
    assert cold.result(pkg_env) == "miss", cold.out
    assert {("py312", "install_package_deps"), (pkg_env, "install_requires"),
            (pkg_env, "install_requires_for_build_editable")} <= cold.installers(), cold.out
    assert (cold.stored("py312") or "").startswith("stored"), cold.out
    assert (cold.stored(pkg_env) or "").startswith("stored"), cold.out
    lines = cold.out.splitlines()  # the packaging env is stored once it built the package, not at its teardown
    assert next(i for i, line in enumerate(lines) if line.startswith(f"{pkg_env}: venv cache stored")) < next(
        i for i, line in enumerate(lines) if line.startswith("py312: install_package>")), cold.out
    assert "tinytool 1.0" in cold.out and "1.2" in _project_line(cold)
    run_entry = project.cache / next(key for key in project.entries() if key.startswith(cold.key("py312")))
    info = json.loads((run_entry / "env" / ".tox-info.json").read_text())
    assert info["RunToxEnv"]["package_deps"]["req"] == ["tinydep", "tinytool==1.0"]
    site = next(iter((run_entry / "env").glob("lib/python3.12/site-packages")))
    assert not list(site.glob("shapes*")), "the package under test is not part of an entry"
    pkg_entry = project.cache / next(key for key in project.entries() if key.startswith(cold.key(pkg_env)))
    assert not (pkg_entry / "env" / "dist").exists() and not (pkg_entry / "env" / ".meta").exists()

    project.fresh()
    warm = project.tox("-e", "py312")
    assert warm.results() == {"py312": ("hit", cold.key("py312")), pkg_env: ("hit", cold.key(pkg_env))}, warm.out
    assert warm.installers() == ONLY_THE_PACKAGE, warm.out
    assert warm.ran(pkg_env, "build_editable"), warm.out  # the build itself runs, in this checkout
    if runner == "uv-venv-runner":  # restored in place of the venv: ``uv venv`` never runs
        assert cold.ran("py312", "venv") and not warm.ran("py312", "venv") and not warm.ran(pkg_env, "venv"), warm.out
    assert "tinytool 1.0" in warm.out and f"project {project.root / 'src' / 'shapes'}" in warm.out

    other = project.copy(tmp_path / "elsewhere" / "second")
    moved = other.tox("-e", "py312")
    assert moved.results() == warm.results(), moved.out
    assert moved.installers() == ONLY_THE_PACKAGE, moved.out
    assert f"project {other.root / 'src' / 'shapes'}" in moved.out  # the editable points at this checkout
    if runner == "uv-venv-runner":  # tox-uv names the env after the checkout's folder
        cfg = (other.root / ".tox" / "py312" / "pyvenv.cfg").read_text()
        assert "prompt = second[py312]" in cfg, cfg
        assert "second[py312]" in (other.root / ".tox" / "py312" / "bin" / "activate").read_text()
        # uv's last answer is only a guess: a wrong one (another interpreter) finds no entry, uv's own answer does
        answers = project.cache / ".tox-uv-interpreters.json"
        remembered = json.loads(answers.read_text())
        answers.write_text(json.dumps(dict.fromkeys(remembered, os.path.realpath(sys.executable))))
        other.fresh()
        guessed = other.tox("-e", "py312")
        assert guessed.results() == moved.results() and not guessed.ran("py312", "venv"), guessed.out
        assert "version_info = 3.12" in (other.root / ".tox" / "py312" / "pyvenv.cfg").read_text()
        assert json.loads(answers.read_text()) == remembered, "uv's answer replaces the wrong one"
        # that answer is current while nothing uv's discovery reads changes: the next run does not ask uv again
        asked = answers.stat().st_ino  # every answer uv gives is written anew (a rename)
        other.fresh()
        current = other.tox("-e", "py312")
        assert current.results() == moved.results() and not current.ran("py312", "venv"), current.out
        assert answers.stat().st_ino == asked, "uv was asked although nothing its discovery reads changed"


SCM_PYPROJECT = pyproject("scmshape", backend="setuptools-scm", dependencies=["tinylib==1.0"],
                          groups={"test": ["tinytool"]})

SCM_TOX_TOML = """
env_list = ["py312"]

[env_run_base]
runner = "virtualenv"
dependency_groups = ["test"]
pass_env = ["PYENV_VERSION"]
commands = [["tinytool"], ["python", "-c", "import scmshape, tinylib; print('project', scmshape.__file__)"]]

[env_pkg_base]
pass_env = ["PYENV_VERSION"]

[virtualenv-cache]
cache_path = "{cache}"
"""


def test_sdist_with_setuptools_scm_and_dependency_groups_in_tox_toml(make_project: Callable[..., Project],
                                                                      backend_wheelhouse: Path,
                                                                      tmp_path: Path) -> None:
    """The default ``package = sdist`` built by setuptools-scm, ``dependency_groups`` with an unpinned entry (warned
    like deps), configured in tox.toml."""
    project = make_project(tox_ini="")
    (project.root / "tox.ini").unlink()
    project.write("tox.toml", SCM_TOX_TOML.replace("{cache}", str(project.cache)))
    project.write("pyproject.toml", SCM_PYPROJECT)
    project.write("src/scmshape/__init__.py", "")
    git_init(project.root)

    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    assert "venv cache freezes unpinned deps (tinytool)" in cold.out
    assert ("py312", "install_dependency-groups") in cold.installers(), cold.out

    project.fresh()
    warm = project.tox("-e", "py312")
    assert set(warm.results().values()) == {("hit", warm.key(env)) for env in warm.results()}, warm.out
    assert ".pkg" in warm.results(), warm.out
    assert warm.installers() == ONLY_THE_PACKAGE, warm.out
    assert "tinytool 2.0" in warm.out  # the newest the wheelhouse has, frozen by the cache as the warning says

    moved = project.copy(tmp_path / "clone").tox("-e", "py312")
    assert moved.results() == warm.results(), moved.out
    assert moved.installers() == ONLY_THE_PACKAGE, moved.out
    assert f"project {tmp_path / 'clone'}" in moved.out


SETUP_PY = """
from setuptools import setup

setup(name="dyndeps", version="0.1", packages=["dyndeps"],
      install_requires=open("requirements.txt").read().split())
"""


def test_package_deps_that_change_where_the_key_cannot_see(make_project: Callable[..., Project],
                                                           backend_wheelhouse: Path) -> None:
    """A setup.py that reads its requirements from a file no metadata names: the key (setup.py's content) stays, the
    deps change. tox's own rules still end in the right env: an added dep is installed (and the entry replaced), a
    removed one makes tox recreate the env, which the cache then stores anew."""
    project = make_project(tox_ini="""
        [tox]
        env_list = py312

        [testenv]
        runner = virtualenv
        package = wheel
        pass_env = PYENV_VERSION
        commands = python check.py

        [pkgenv]
        pass_env = PYENV_VERSION

        [virtualenv-cache]
        cache_path = {cache}
    """)
    project.write("pyproject.toml", '[build-system]\nrequires = ["setuptools>=64"]\n'
                                    'build-backend = "setuptools.build_meta"\n')
    project.write("setup.py", SETUP_PY)
    project.write("dyndeps/__init__.py", "")
    project.write("check.py", "import dyndeps, importlib.util as u\n"
                              "print('tinytool', u.find_spec('tinytool') is not None, "
                              "'tinydep', u.find_spec('tinydep') is not None)\n")
    requirements = project.write("requirements.txt", "tinydep\n")
    first = project.tox("-e", "py312")
    assert first.result("py312") == "miss" and "tinytool False tinydep True" in first.out, first.out

    requirements.write_text("tinydep\ntinytool==1.0\n")  # an addition
    project.fresh()
    added = project.tox("-e", "py312")
    assert added.result("py312") == "hit", added.out
    assert "holds other package deps than this build needs (tinytool==1.0)" in added.out, added.out
    assert ("py312", "install_package_deps") in added.installers()
    assert (added.stored("py312") or "").startswith("stored"), added.out  # the entry now has what this build needs
    assert "tinytool True tinydep True" in added.out

    requirements.write_text("tinytool==1.0\n")  # a removal: tox recreates the env
    project.fresh()
    removed = project.tox("-e", "py312")
    assert "recreate env because dependencies removed: tinydep" in removed.out, removed.out
    assert "tinytool True tinydep False" in removed.out, removed.out  # the right env, as tox makes it
    assert (removed.stored("py312") or "").startswith("stored"), removed.out

    project.fresh()
    again = project.tox("-e", "py312")
    assert again.result("py312") == "hit", again.out
    assert again.installers() == ONLY_THE_PACKAGE, again.out
    assert "tinytool True tinydep False" in again.out


def test_deps_a_b_a_in_one_tox_dir_is_a_hit(make_project: Callable[..., Project]) -> None:
    """Branch switching: tox recreates the env because requirements were removed; its second setup restores the
    entry of the deps it now wants, and no line says "miss" for an entry the cache has."""
    project = make_project("deps = -r requirements.txt\ncommands = tinytool")
    requirements = project.write("requirements.txt", "tinytool==1.0\n")
    a = project.tox("-e", "py312")
    assert a.result("py312") == "miss", a.out
    requirements.write_text("tinytool==2.0\n")
    b = project.tox("-e", "py312")  # same .tox: tox recreates (tinytool==1.0 removed), then a miss for B
    assert "recreate env because" in b.out and b.result("py312") == "miss", b.out
    requirements.write_text("tinytool==1.0\n")
    back = project.tox("-e", "py312")
    assert back.result("py312") == "hit" and back.key("py312") == a.key("py312"), back.out
    assert not back.ran("py312", "install_deps") and "tinytool 1.0" in back.out
    requirements.write_text("tinytool==2.0\n")
    b_again = project.tox("-e", "py312")
    assert b_again.result("py312") == "hit" and b_again.key("py312") == b.key("py312"), b_again.out
    for run in (a, b, back, b_again):
        assert "the cache has it already" not in run.out, run.out


def test_deps_added_on_a_branch_switch_restore_the_entry(make_project: Callable[..., Project]) -> None:
    """Branch switching by additions only: tox would install the added deps into the env it reuses; when the cache
    holds the env with them, tox recreates it instead and the entry is restored (no installer runs)."""
    project = make_project("deps = -r requirements.txt\ncommands = tinytool")
    requirements = project.write("requirements.txt", "tinytool==1.0\ntinydep\n")
    with_dep = project.tox("-e", "py312")  # the other branch's env, made elsewhere
    assert with_dep.result("py312") == "miss", with_dep.out
    project.fresh()
    requirements.write_text("tinytool==1.0\n")
    without = project.tox("-e", "py312")
    assert without.result("py312") == "miss", without.out
    requirements.write_text("tinytool==1.0\ntinydep\n")  # back to the branch with the addition, same .tox
    switched = project.tox("-e", "py312")
    assert "recreate env because deps were added and the venv cache holds the env" in switched.out, switched.out
    assert switched.results() == {"py312": ("hit", with_dep.key("py312"))}, switched.out
    assert switched.installers() == set() and "tinytool 1.0" in switched.out, switched.out


LOCK_PYPROJECT = pyproject("lockshape", backend="hatchling", version="0.3", dependencies=["tinydep"],
                           groups={"tests": ["tinytool==1.0"]}, tail="""
[tool.tox]
env_list = ["py312"]

[tool.tox.env_run_base]
runner = "uv-venv-lock-runner"
dependency_groups = ["tests"]
pass_env = ["PYENV_VERSION"]
commands = [["tinytool"], ["python", "-c", "import lockshape, tinylib; print('project', lockshape.__file__)"]]

[tool.tox.virtualenv-cache]
cache_path = "{cache}"
""")


def test_lock_runner_with_a_group_in_pyproject(make_project: Callable[..., Project], backend_wheelhouse: Path,
                                               tmp_path: Path) -> None:
    """uv-venv-lock-runner, uv.lock, ``--group tests``, configured in ``[tool.tox]``: after a restore ``uv sync``
    has nothing to install (in another checkout: only the project itself)."""
    project = make_project(tox_ini="")
    (project.root / "tox.ini").unlink()
    project.write("pyproject.toml", LOCK_PYPROJECT.replace("{cache}", str(project.cache)))
    project.write("src/lockshape/__init__.py", "")
    subprocess.run(["uv", "lock"], cwd=project.root, env=project.env, check=True, capture_output=True)

    def sync_log(root: Path) -> str:
        [log] = (root / ".tox" / "py312" / "log").glob("*-uv-sync.log")
        return log.read_text()

    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    assert "+ tinytool==1.0" in sync_log(project.root)
    project.fresh()
    warm = project.tox("-e", "py312")
    assert warm.result("py312") == "hit", warm.out
    assert cold.ran("py312", "venv") and not warm.ran("py312", "venv"), warm.out  # restored in place of uv venv
    assert warm.installers() == set() and "Installed" not in sync_log(project.root), sync_log(project.root)
    other = project.copy(tmp_path / "lock-clone")
    (other.root / "pyproject.toml").touch()  # a fresh clone: newer files than the entry's project install
    moved = other.tox("-e", "py312")
    assert moved.result("py312") == "hit", moved.out
    installed = [line.strip() for line in sync_log(other.root).splitlines() if line.strip().startswith(("+", "~"))]
    assert installed and all("lockshape" in line for line in installed), sync_log(other.root)
    assert f"project {other.root / 'src' / 'lockshape'}" in moved.out


def test_provisioned_tox_carries_the_plugin(make_project: Callable[..., Project], tox_wheelhouse: Path) -> None:
    """``requires`` the host does not meet: tox provisions ``.tox/.tox``, and the plugin adds this build of venvcache
    to what it provisions (said once), so the provisioned tox caches the envs of the run."""
    project = make_project("deps = tinytool==1.0\ncommands = tinytool")
    ini = project.root / "tox.ini"
    ini.write_text(ini.read_text().replace("[tox]\n", "[tox]\nrequires = tinylib==1.0\n"))
    run = project.tox("-e", "py312")
    lines = [line for line in run.out.splitlines() if "venv cache" in line and "provision" in line]
    assert len(lines) == 1 and "venvcache is provisioned with it (venvcache" in lines[0], run.out
    assert "will run in automatically provisioned tox" in run.out, run.out
    assert run.result("py312") == "miss" and (run.stored("py312") or "").startswith("stored"), run.out
    assert "tinytool 1.0" in run.out
    site = next((project.root / ".tox" / ".tox").glob("lib/python3*/site-packages"))
    assert list(site.glob("venvcache-*.dist-info")), "the provisioned env holds venvcache"
