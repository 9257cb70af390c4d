"""``virtualenv-cache restore --nearest`` with ``uv pip sync``: one bumped pin costs one package, the env is exact."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from coresupport import run

from helpers import have_python
from wheels import wheels_of_installed

CLI = [sys.executable, "-m", "venvcache_core"]
BASE = getattr(sys, "_base_executable", sys.executable)
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")

pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed")


@pytest.fixture
def project(project: Path) -> Path:
    """The core's CLI project (tests/core/conftest.py) with two pins and the config naming this interpreter."""
    (project / "requirements.txt").write_text("tinytool==1.0\ntinylib==1.0\n")
    config = project / ".virtualenv_cache.toml"
    config.write_text(config.read_text() + f'python = "{BASE}"\n')
    return project


def _sync(env: Path, project: Path, offline_env: dict[str, str]) -> str:
    """The uv recipe: ``uv pip sync`` makes the env exactly the lock (installs, upgrades and removes)."""
    if not (env / "pyvenv.cfg").exists():
        run([str(UV), "venv", "-q", "--python", BASE, env], offline_env)
    out = run([str(UV), "pip", "sync", "--python", env / "bin" / "python", project / "requirements.txt"],
              offline_env, cwd=project)
    return out.stdout + out.stderr


def _freeze(env: Path, offline_env: dict[str, str]) -> list[str]:
    return run([str(UV), "pip", "freeze", "--python", env / "bin" / "python"], offline_env).stdout.split()


def _cold(project: Path, offline_env: dict[str, str]) -> list[str]:
    """What a cold build of the current lock holds."""
    env = project.parent / f"cold-{len(list(project.parent.glob('cold-*')))}"
    _sync(env, project, offline_env)
    return _freeze(env, offline_env)


def _restore(project: Path, offline_env: dict[str, str], *args: str) -> tuple[int, dict[str, object], str]:
    out = run([*CLI, "restore", "--format", "json", *args], offline_env, cwd=project, check=False)
    return out.returncode, json.loads(out.stdout), out.stderr


def test_bump_and_removal_sync_only_the_difference(project: Path, offline_env: dict[str, str]) -> None:
    env = project / ".venv"
    _sync(env, project, offline_env)
    old_key = json.loads(run([*CLI, "store", "--format", "json"], offline_env, cwd=project).stdout)["key"]

    (project / "requirements.txt").write_text("tinytool==2.0\ntinylib==1.0\n")
    shutil.rmtree(env)
    code, data, _ = _restore(project, offline_env)
    assert code == 1 and data["result"] == "miss" and not env.exists()  # without the flag: as before
    code, data, err = _restore(project, offline_env, "--nearest")
    assert code == 3 and data["result"] == "partial" and data["source"] == old_key
    assert (data["differ"], data["total"]) == (1, 2) and "run your installer's exact sync, then store" in err
    table = run([*CLI, "restore", "--nearest"], offline_env, cwd=project, check=False)
    assert table.returncode == 3
    assert table.stdout.strip() == f".venv: venv cache partial {old_key[:8]} (1 of 2 packages differ)"

    log = _sync(env, project, offline_env)
    assert "Uninstalled 1 package" in log and "Installed 1 package" in log
    assert "- tinytool==1.0" in log and "+ tinytool==2.0" in log and "tinylib" not in log
    assert _freeze(env, offline_env) == _cold(project, offline_env) == ["tinylib==1.0", "tinytool==2.0"]
    run([*CLI, "store"], offline_env, cwd=project)
    shutil.rmtree(env)
    code, data, _ = _restore(project, offline_env, "--nearest")
    assert code == 0 and data["result"] == "hit"  # the next run is an exact hit

    (project / "requirements.txt").write_text("tinytool==2.0\n")
    code, data, _ = _restore(project, offline_env, "--nearest")
    assert code == 3 and data["differ"] == 1
    log = _sync(env, project, offline_env)
    assert "Uninstalled 1 package" in log and "- tinylib==1.0" in log and "Installed" not in log
    assert _freeze(env, offline_env) == _cold(project, offline_env) == ["tinytool==2.0"]


@pytest.mark.skipif(not have_python("3.12") or sys.version_info[:2] == (3, 12), reason="needs another python")
def test_an_entry_for_another_interpreter_is_never_chosen(project: Path, offline_env: dict[str, str]) -> None:
    _sync(project / ".venv", project, offline_env)
    run([*CLI, "store"], offline_env, cwd=project)
    shutil.rmtree(project / ".venv")
    code, data, _ = _restore(project, offline_env, "--nearest", "--python", "python3.12")
    assert code == 1 and data["result"] == "miss" and not (project / ".venv").exists()
    code, data, _ = _restore(project, offline_env, "--nearest")
    assert code == 0 and data["result"] == "hit"


def _readme_recipe(title: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(rf"```bash\n(# {re.escape(title)}.*?)```", readme, re.S)
    assert block, f"README lost its {title!r} recipe"
    return block.group(1)


def _recipe_bump(project: Path, env: dict[str, str], title: str) -> tuple[Path, str]:
    """Run a README recipe as written: cold (miss, stored), then with one pin bumped (partial, stored); the
    recipe and the bumped run's output (the installer's own log in it)."""
    script = project.parent / "recipe.sh"
    script.write_text("set -u\n" + _readme_recipe(title) + "\n.venv/bin/tinytool\n")
    cold = run(["bash", script], env, cwd=project)
    assert ".venv: venv cache miss " in cold.stdout and ".venv: venv cache stored " in cold.stdout, cold.stdout
    assert "tinytool 1.0" in cold.stdout
    (project / "requirements.txt").write_text("tinytool==2.0\ntinylib==1.0\n")
    shutil.rmtree(project / ".venv")
    bumped = run(["bash", script], env, cwd=project)
    assert re.search(r"^\.venv: venv cache partial [0-9a-f]{8} \(\d+ of \d+ packages differ\)$", bumped.stdout,
                     re.MULTILINE), bumped.stdout
    assert ".venv: venv cache stored " in bumped.stdout and "tinytool 2.0" in bumped.stdout
    return script, bumped.stdout + bumped.stderr


def _recipe_hits(project: Path, env: dict[str, str], script: Path) -> None:
    """The next run of the recipe is an exact hit: nothing installed, nothing stored."""
    shutil.rmtree(project / ".venv")
    hit = run(["bash", script], env, cwd=project)
    assert hit.stdout.startswith(".venv: venv cache hit ") and "stored" not in hit.stdout, hit.stdout


def test_the_readme_uv_recipe_runs_as_written(project: Path, offline_env: dict[str, str]) -> None:
    env = {**offline_env, "UV_PYTHON": BASE}  # uv venv's interpreter: the one the config names
    script, log = _recipe_bump(project, env, "uv: uv pip sync")
    assert "(1 of 2 packages differ)" in log
    assert "- tinytool==1.0" in log and "+ tinytool==2.0" in log and "tinylib" not in log, log
    _recipe_hits(project, env, script)


@pytest.mark.slow  # pip: a few seconds per run
def test_the_readme_pip_tools_recipe_runs_as_written(project: Path, offline_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    tools = tmp_path / "tool-wheels"  # pip-tools and what it needs, from this test env (offline)
    assert any(w.name.startswith("pip_tools-") for w in wheels_of_installed(tools, "pip-tools"))
    env = {**offline_env, "PIP_FIND_LINKS": f"{offline_env['PIP_FIND_LINKS']} {tools}"}
    script, log = _recipe_bump(project, env, "pip-tools: pip-sync")  # the line counts pip-tools' own packages
    # as differing (the lock does not list them; pip-sync keeps them): it is said before the sync, from the lock
    installed = re.findall(r"^\s*Successfully (?:un)?installed (.+)$", log, re.MULTILINE)
    assert sorted(installed) == ["tinytool-1.0", "tinytool-2.0"], log  # pip's own log: one package changed

    other = tmp_path / "cold"  # a cold build of the new lock, by the same recipe with a cache of its own
    shutil.copytree(project, other, ignore=shutil.ignore_patterns(".venv"))
    config = other / ".virtualenv_cache.toml"
    config.write_text(config.read_text().replace(str(tmp_path / "cache"), str(tmp_path / "cold-cache")))
    assert ".venv: venv cache stored " in run(["bash", script], env, cwd=other).stdout

    def freeze(root: Path) -> list[str]:
        return sorted(run([root / ".venv" / "bin" / "python", "-m", "pip", "freeze", "--all"], env).stdout.split())

    assert freeze(project) == freeze(other) and "tinytool==2.0" in freeze(project)
    _recipe_hits(project, env, script)
