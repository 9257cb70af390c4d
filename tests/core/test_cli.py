"""The ``virtualenv-cache`` command: the seed's CI snippet, exit codes, formats and one-line errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from coresupport import run

from venvcache_core.cli import main

CLI = [sys.executable, "-m", "venvcache_core"]

SEED_SNIPPET = """
set -u
cd "$1"
virtualenv-cache restore
[ $? -eq 1 ] && ( python3 -m venv .venv && source .venv/bin/activate && pip install -r requirements.txt && virtualenv-cache store )
.venv/bin/tinytool
"""  # noqa: E501 (verbatim)


def test_seed_ci_snippet_misses_then_hits(project: Path, offline_env: dict[str, str]) -> None:
    script = project.parent / "ci.sh"
    script.write_text(SEED_SNIPPET)
    base = Path(getattr(sys, "_base_executable", sys.executable)).parent
    env = {**offline_env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), str(base), offline_env["PATH"]])}

    first = run(["bash", script, project], env)
    assert ".venv: venv cache miss " in first.stdout and ".venv: venv cache stored " in first.stdout
    assert "tinytool 1.0" in first.stdout

    run(["rm", "-rf", project / ".venv"], env)
    second = run(["bash", script, project], env)
    assert second.stdout.startswith(".venv: venv cache hit ") and "venv cache stored" not in second.stdout
    assert "tinytool 1.0" in second.stdout


def test_restore_exit_codes_and_json(project: Path, offline_env: dict[str, str], make_venv) -> None:  # type: ignore[no-untyped-def]
    miss = run([*CLI, "restore", "--format", "json"], offline_env, cwd=project, check=False)
    assert miss.returncode == 1 and json.loads(miss.stdout)["result"] == "miss"
    make_venv(project / ".venv", "-r", str(project / "requirements.txt"))
    stored = run([*CLI, "store", "--format", "json"], offline_env, cwd=project)
    assert json.loads(stored.stdout)["result"] == "stored"
    run(["rm", "-rf", project / ".venv"], offline_env)
    hit = run([*CLI, "--format", "json", "restore"], {**offline_env, "VIRTUALENV_CACHE_WORK_DIR": str(project)})
    data = json.loads(hit.stdout)
    assert hit.returncode == 0 and data["result"] == "hit" and data["files"] > 0

    listed = json.loads(run([*CLI, "list"], {**offline_env, "VIRTUALENV_CACHE_FORMAT": "json"}, cwd=project).stdout)
    (entry,) = listed
    assert entry["key"] == data["key"] and entry["hits"] == 1 and entry["python"].count(".") == 2
    assert json.loads(run([*CLI, "stats", "--format", "json"], offline_env, cwd=project).stdout)["hits"] == 1
    assert run([*CLI, "verify"], offline_env, cwd=project).returncode == 0
    explain = run([*CLI, "key", "--explain"], offline_env, cwd=project).stdout
    assert data["key"] in explain and "requirements.txt" in explain and "base_executable" in explain
    table = run([*CLI, "list"], offline_env, cwd=project).stdout
    assert table.splitlines()[0].split() == ["KEY", "SIZE", "FILES", "PYTHON", "CREATED", "LAST", "USED", "HITS",
                                             "BUILD", "SAVED"]
    assert run([*CLI, "erase"], offline_env, cwd=project).stdout.strip() == "removed 1 entry"


def test_verify_reports_damage_with_exit_1(project: Path, offline_env: dict[str, str], make_venv) -> None:  # type: ignore[no-untyped-def]
    make_venv(project / ".venv")
    key = json.loads(run([*CLI, "store", "--format", "json"], offline_env, cwd=project).stdout)["key"]
    cfg = project.parent / "cache" / key / "env" / "pyvenv.cfg"
    cfg.write_text(cfg.read_text() + "# edited\n")
    out = run([*CLI, "verify", key[:10]], offline_env, cwd=project, check=False)
    assert out.returncode == 1 and "changed file pyvenv.cfg" in out.stdout


def test_init_writes_defaults_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "requirements-dev.txt").write_text("x\n")
    (tmp_path / "poetry.lock").write_text("x\n")
    assert main(["init", "--work-dir", str(tmp_path)]) == 0
    text = (tmp_path / ".virtualenv_cache.toml").read_text()
    assert '"requirements-dev.txt"' in text and '"poetry.lock"' in text and "cache_size = 20" in text
    assert main(["--work-dir", str(tmp_path), "init"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["init", "--force", "--work-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize(("config", "message"), [
    ("[virtualenv-cache]\ncache_size = [\n", "is not valid TOML"),
    ('[virtualenv-cache]\nrequirements_lock_paths = ["req.txt"]\nbogus = 1\n', "unknown key 'bogus'"),
    ('[virtualenv-cache]\nrequirements_lock_paths = ["missing.txt"]\n', "lock file 'missing.txt' does not exist"),
    ('[virtualenv-cache]\nrequirements_lock_paths = ["req.txt"]\ncache_path = "{tmp}/afile/cache"\n',
     "cache directory cannot be created"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, offline_env: dict[str, str], config: str,
                                         message: str) -> None:
    (tmp_path / "req.txt").write_text("x\n")
    (tmp_path / "afile").write_text("a regular file where a directory should be\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /nowhere\n")
    (tmp_path / ".virtualenv_cache.toml").write_text(config.replace("{tmp}", str(tmp_path)))
    for command in ("restore", "store"):  # store trips over the fake env's interpreter first: any one line
        out = run([*CLI, command], offline_env, cwd=tmp_path, check=False)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2, out
        assert len(lines) == 1 and lines[0].startswith("virtualenv-cache: error: ") and "Traceback" not in out.stderr
        assert message in lines[0] or command == "store"


def test_store_without_env_or_lock_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".virtualenv_cache.toml").write_text("[virtualenv-cache]\n")
    assert main(["store", "--work-dir", str(tmp_path)]) == 2
    assert "no pyvenv.cfg" in capsys.readouterr().err
    assert main(["restore", "--work-dir", str(tmp_path)]) == 2
    assert "requirements_lock_paths is empty" in capsys.readouterr().err
