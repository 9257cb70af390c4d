"""The CLI's own additions: interpreter resolution on restore, misses that name what differs, ``key --diff``,
time saved, ``--require-hit``, and quiet logs (filelock's debug lines only with ``-vv``)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from coresupport import MakeVenv, run

from helpers import have_python
from venvcache_core.cli import main

CLI = [sys.executable, "-m", "venvcache_core"]
needs_312 = pytest.mark.skipif(not have_python("3.12") or not have_python("3.11"), reason="needs python3.11 and 3.12")


@pytest.fixture
def py311_env(offline_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """PATH where ``python3`` is 3.11 (first), the way the issue's machine was; python3.12 still reachable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, version in (("python3", "3.11"), ("python3.12", "3.12")):
        target = shutil.which(f"python{version}", path=offline_env["PATH"])
        assert target
        (bin_dir / name).symlink_to(target)
    return {**offline_env, "PATH": os.pathsep.join([str(bin_dir), offline_env["PATH"]])}


@needs_312
def test_restore_finds_the_entry_of_another_interpreter(project: Path, py311_env: dict[str, str],
                                                        make_venv: MakeVenv) -> None:
    """The issue's new-user story: store with python3.12, restore with nothing configured where python3 is 3.11."""
    python312 = shutil.which("python3.12", path=py311_env["PATH"])
    assert python312
    make_venv(project / ".venv", "-r", str(project / "requirements.txt"), python=python312)
    stored = json.loads(run([*CLI, "store", "--format", "json"], py311_env, cwd=project).stdout)
    shutil.rmtree(project / ".venv")

    out = run([*CLI, "restore"], py311_env, cwd=project)
    assert out.stdout.startswith(f".venv: venv cache hit {stored['key'][:8]} ")
    assert "interpreter " in out.stderr and "(3.12.1)" in out.stderr and "has no entry" in out.stderr
    version = run([project / ".venv" / "bin" / "python", "-c", "import sys; print(sys.version_info[:2])"], py311_env)
    assert version.stdout.strip() == "(3, 12)"
    assert (project / ".venv" / "bin" / "tinytool").exists()
    key = run([*CLI, "key"], py311_env, cwd=project).stdout.strip()
    assert key == stored["key"]  # key resolves the same way

    # a python named explicitly is used exactly: python3 (3.11) has no entry, and the miss says what differs
    miss = run([*CLI, "restore", "--python", "python3"], py311_env, cwd=project, check=False)
    assert miss.returncode == 1
    assert f"(no entry; nearest {stored['key'][:8]}: python 3.12.1 → 3.11.7)" in miss.stdout

    # the lock file changed: no entry matches, python3 is tried and the miss names both differences
    (project / "requirements.txt").write_text("tinytool==2.0\n")
    changed = run([*CLI, "restore", "--format", "json"], py311_env, cwd=project, check=False)
    data = json.loads(changed.stdout)
    assert changed.returncode == 1 and data["nearest"] == stored["key"]
    assert data["differs"] == ["requirements.txt content", "python 3.12.1 → 3.11.7"]


def test_miss_names_the_lock_file_and_key_diff(project: Path, offline_env: dict[str, str],
                                               make_venv: MakeVenv) -> None:
    make_venv(project / ".venv", "-r", str(project / "requirements.txt"))
    stored = json.loads(run([*CLI, "store", "--format", "json"], offline_env, cwd=project).stdout)["key"]
    (project / "requirements.txt").write_text("tinytool==2.0\n")
    miss = run([*CLI, "restore"], offline_env, cwd=project, check=False)
    assert miss.returncode == 1
    assert miss.stdout.strip().endswith(f"(no entry; nearest {stored[:8]}: requirements.txt content)")

    diff = run([*CLI, "key", "--diff", stored[:10]], offline_env, cwd=project).stdout.splitlines()
    assert diff[1] == f"entry:   {stored}"
    assert len(diff) == 3 and diff[2].startswith("  inputs.lock_files.requirements.txt: '")
    nearest = json.loads(run([*CLI, "key", "--diff", "--format", "json"], offline_env, cwd=project).stdout)
    assert nearest["nearest"] == stored and [c["path"] for c in nearest["changes"]] == [
        "inputs.lock_files.requirements.txt"]


def test_key_diff_with_empty_cache_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "--diff", "-w", str(project)]) == 2
    assert "no entry to compare with" in capsys.readouterr().err


def test_require_hit(project: Path, offline_env: dict[str, str], make_venv: MakeVenv) -> None:
    out = run([*CLI, "restore", "--require-hit"], offline_env, cwd=project, check=False)
    assert out.returncode == 2 and not (project / ".venv").exists()
    assert out.stderr.strip().splitlines()[-1].startswith("virtualenv-cache: error: .venv: venv cache hit required, "
                                                         "but key ")
    make_venv(project / ".venv", "-r", str(project / "requirements.txt"))
    stored = json.loads(run([*CLI, "store", "--format", "json"], offline_env, cwd=project).stdout)["key"]
    (project / "requirements.txt").write_text("tinytool==2.0\n")
    by_env = run([*CLI, "restore", "--format", "json"], {**offline_env, "VIRTUALENV_CACHE_REQUIRE": "1"},
                 cwd=project, check=False)
    data = json.loads(by_env.stdout)
    assert by_env.returncode == 2 and data["nearest"] == stored and "hit required" in data["error"]
    assert f"nearest {stored[:8]}: requirements.txt content" in by_env.stderr
    (project / "requirements.txt").write_text("tinytool==1.0\n")
    assert run([*CLI, "restore", "--require-hit"], offline_env, cwd=project).returncode == 0


def test_time_saved_from_build_seconds_and_pyvenv_mtime(project: Path, offline_env: dict[str, str],
                                                        make_venv: MakeVenv) -> None:
    make_venv(project / ".venv", "-r", str(project / "requirements.txt"))
    cfg = project / ".venv" / "pyvenv.cfg"
    created = cfg.stat().st_mtime - 40  # as if creating the env and installing had taken 40 s
    os.utime(cfg, (created, created))
    run([*CLI, "store"], offline_env, cwd=project)
    (entry,) = json.loads(run([*CLI, "list", "--format", "json"], offline_env, cwd=project).stdout)
    assert 40 <= entry["build_seconds"] < 300
    shutil.rmtree(project / ".venv")
    hit = run([*CLI, "restore"], offline_env, cwd=project).stdout
    assert ", saved ~" in hit and hit.rstrip().endswith(" s")
    stats = json.loads(run([*CLI, "stats", "--format", "json"], offline_env, cwd=project).stdout)
    assert 30 < stats["saved_seconds"] < entry["build_seconds"]
    assert "saved_seconds: " in run([*CLI, "stats"], offline_env, cwd=project).stdout
    table = run([*CLI, "list"], offline_env, cwd=project).stdout
    assert "saved ~" in table.splitlines()[-1]

    # --build-seconds wins; an old env (pyvenv.cfg from days ago) records no build time rather than a wrong one
    old = cfg.stat().st_mtime - 3 * 86400
    make_venv(project / ".venv")
    os.utime(project / ".venv" / "pyvenv.cfg", (old, old))
    (project / "requirements.txt").write_text("tinytool==2.0\n")
    run([*CLI, "store"], offline_env, cwd=project)
    (project / "requirements.txt").write_text("tinylib==1.0\n")
    run([*CLI, "store", "--build-seconds", "12.5"], offline_env, cwd=project)
    builds = [e["build_seconds"] for e in
              json.loads(run([*CLI, "list", "--format", "json"], offline_env, cwd=project).stdout)]
    assert sorted(builds, key=lambda b: -1 if b is None else b) == [None, 12.5, entry["build_seconds"]]


@pytest.mark.parametrize(("flags", "shown"), [(["-v"], False), (["-vv"], True)])
def test_filelock_debug_only_with_vv(project: Path, offline_env: dict[str, str], make_venv: MakeVenv,
                                     flags: list[str], shown: bool) -> None:
    make_venv(project / ".venv")
    out = run([*CLI, *flags, "store"], offline_env, cwd=project)
    assert ("Attempting to acquire lock" in out.stderr) is shown
