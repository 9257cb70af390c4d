"""The original virtualenv-cache's documented commands, options and output shapes work unchanged on ours.

From its README and cli.py: ``version`` prints ``virtualenv-cache: X.Y.Z``; ``init``, ``store``, ``restore``,
``list``, ``erase`` take ``-c/--config-path`` and ``-w/--work-dir`` after the command (and the
``VIRTUALENV_CACHE_CONFIG_PATH``/``_WORK_DIR``/``_FORMAT`` variables); ``-v`` goes before the command; ``list
--format json`` prints a JSON list of ``{"datetime", "hostname", "id"}`` (newest first); ``restore`` exits 1 on a
miss. Our errors exit 2 (the original used 1 for most).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from coresupport import MakeVenv, run

CLI = [sys.executable, "-m", "venvcache_core"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the original README's config file (its keys only), outside the current directory."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "requirements.txt").write_text("tinytool==1.0\n")
    (proj / "conf").mkdir()
    (proj / "conf" / "cache.toml").write_text(
        '[virtualenv-cache]\ncache_size = 25\ncache_path = "${VC_HOME}/.virtualenv-cache/my-project/cache/"\n'
        'virtualenv_path = ".venv"\nrequirements_lock_paths = [\n    "requirements.txt",\n]\n')
    return proj


def test_version(offline_env: dict[str, str]) -> None:
    out = run([*CLI, "version"], offline_env)
    assert re.fullmatch(r"virtualenv-cache: \d+\.\d+\.\d+\S*\n", out.stdout)


def test_documented_commands_with_short_options(project: Path, tmp_path: Path, offline_env: dict[str, str],
                                                make_venv: MakeVenv) -> None:
    env = {**offline_env, "VC_HOME": str(tmp_path / "home")}
    where = ["-c", "conf/cache.toml", "-w", str(project)]
    elsewhere = tmp_path  # every command runs outside the project: -w must carry it
    miss = run([*CLI, "restore", *where], env, cwd=elsewhere, check=False)
    assert miss.returncode == 1 and "venv cache miss" in miss.stdout
    assert json.loads(run([*CLI, "list", *where, "--format", "json"], env, cwd=elsewhere).stdout) == []

    keys = []
    for line in ("tinytool==1.0\n", "tinytool==2.0\n"):
        (project / "requirements.txt").write_text(line)
        make_venv(project / ".venv", "-r", str(project / "requirements.txt"))
        run([*CLI, "store", *where], env, cwd=elsewhere)
        keys.append(json.loads(run([*CLI, "key", *where, "--format", "json"], env, cwd=elsewhere).stdout)["key"])
        run(["rm", "-rf", project / ".venv"], env)
        time.sleep(0.05)
    (project / "requirements.txt").write_text("tinytool==1.0\n")
    assert run([*CLI, "-v", "restore", *where], env, cwd=elsewhere).returncode == 0  # the first is now newest
    assert (project / ".venv" / "bin" / "tinytool").exists()

    # the variables instead of the options; list's JSON as the original printed it
    by_env = {**env, "VIRTUALENV_CACHE_CONFIG_PATH": "conf/cache.toml", "VIRTUALENV_CACHE_WORK_DIR": str(project),
              "VIRTUALENV_CACHE_FORMAT": "json"}
    listed = json.loads(run([*CLI, "list"], by_env, cwd=elsewhere).stdout)
    assert isinstance(listed, list) and [item["id"] for item in listed] == [keys[0], keys[1]]
    for item in listed:
        assert list(item)[:3] == ["datetime", "hostname", "id"]  # the original's keys, in its (sorted) order
        assert item["hostname"] == socket.gethostname()
        assert datetime.fromisoformat(item["datetime"]).utcoffset() is not None  # ISO 8601 with its zone
        assert {"key", "bytes", "files", "python", "hits", "build_seconds", "saved_seconds"} <= set(item)
    stamps = [datetime.fromisoformat(item["datetime"]) for item in listed]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    # jq '.[0].id', as scripts written against the original do
    assert listed[0]["id"] == keys[0]

    table = run([*CLI, "list", *where], env, cwd=elsewhere).stdout
    assert keys[0][:12] in table and keys[1][:12] in table
    assert run([*CLI, "erase", *where], env, cwd=elsewhere).returncode == 0
    assert json.loads(run([*CLI, "list", *where, "--format", "json"], env, cwd=elsewhere).stdout) == []


def test_init_with_config_path(tmp_path: Path, offline_env: dict[str, str]) -> None:
    (tmp_path / "requirements.txt").write_text("x\n")
    (tmp_path / "ci").mkdir()
    run([*CLI, "init", "-w", str(tmp_path), "-c", "ci/venv-cache.toml"], offline_env, cwd=tmp_path.parent)
    written = tmp_path / "ci" / "venv-cache.toml"
    assert written.is_file() and "requirements.txt" in written.read_text()
    assert not (tmp_path / ".virtualenv_cache.toml").exists()
    out = run([*CLI, "key", "-w", str(tmp_path), "-c", "ci/venv-cache.toml"], offline_env, check=False)
    assert out.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", out.stdout)


def test_errors_exit_2_not_1(tmp_path: Path, offline_env: dict[str, str]) -> None:
    """The original exited 1 on a missing config file, like a miss; ours is 2 with one line."""
    out = run([*CLI, "restore", "-w", str(tmp_path), "-c", "missing.toml"], offline_env, check=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "config file does not exist" in out.stderr
