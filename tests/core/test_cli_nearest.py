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

CLI = [sys.executable, "-m", "venvcache_core"]
BASE = getattr(sys, "_base_executable", sys.executable)
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")

pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "requirements.txt").write_text("tinytool==1.0\ntinylib==1.0\n")
    (proj / ".virtualenv_cache.toml").write_text(
        f'[virtualenv-cache]\ncache_path = "{tmp_path / "cache"}"\nrequirements_lock_paths = ["requirements.txt"]\n'
        f'python = "{BASE}"\n')
    return proj


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


def test_the_readme_uv_recipe_runs_as_written(project: Path, offline_env: dict[str, str]) -> None:
    script = project.parent / "recipe.sh"
    script.write_text("set -u\n" + _readme_recipe("uv: uv pip sync") + "\n.venv/bin/tinytool\n")
    env = {**offline_env, "UV_PYTHON": BASE}  # uv venv's interpreter: the one the config names
    cold = run(["bash", script], env, cwd=project)
    assert ".venv: venv cache miss " in cold.stdout and ".venv: venv cache stored " in cold.stdout, cold.stdout
    assert "tinytool 1.0" in cold.stdout
    (project / "requirements.txt").write_text("tinytool==2.0\ntinylib==1.0\n")
    shutil.rmtree(project / ".venv")
    bumped = run(["bash", script], env, cwd=project)
    assert re.search(r"^\.venv: venv cache partial [0-9a-f]{8} \(1 of 2 packages differ\)$", bumped.stdout,
                     re.MULTILINE), bumped.stdout
    assert "- tinytool==1.0" in bumped.stderr and "+ tinytool==2.0" in bumped.stderr, bumped.stderr
    assert ".venv: venv cache stored " in bumped.stdout and "tinytool 2.0" in bumped.stdout
    shutil.rmtree(project / ".venv")
    hit = run(["bash", script], env, cwd=project)
    assert hit.stdout.startswith(".venv: venv cache hit ") and "stored" not in hit.stdout, hit.stdout
    assert "pip-sync requirements.txt && virtualenv-cache store" in _readme_recipe("pip-tools: pip-sync")
