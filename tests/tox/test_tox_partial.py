"""Partial restore in real tox runs: a bumped pin starts from the nearest entry, the installer changes only that.

- ``uv-venv-lock-runner``: ``uv sync`` makes the restored env exactly the new ``uv.lock`` (upgrades and removals).
- ``virtualenv`` (pip): only an entry whose deps are a subset of the new ones is a start; else a plain miss.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from projects import pyproject

pytestmark = pytest.mark.slow

PARTIAL = re.compile(r"^py312: venv cache partial (?P<source>[0-9a-f]{8}) \((?P<differ>\d+) of (?P<total>\d+) "
                     r"packages differ\), synced in [\d.]+ s$", re.MULTILINE)

def _lock(project: Any, *deps: str) -> None:
    project.write("pyproject.toml", pyproject("lockdemo", dependencies=deps))
    subprocess.run(["uv", "lock", "-q"], cwd=project.root, env=project.env, check=True, capture_output=True)


def _sync_changes(root: Path) -> dict[str, set[str]]:
    """``{"+": {"tinytool==2.0"}, "-": {...}}``: what ``uv sync`` installed and removed (its own log), the project
    itself left out (uv reinstalls the editable project whenever pyproject.toml changed)."""
    [log] = (root / ".tox" / "py312" / "log").glob("*-uv-sync.log")
    found: dict[str, set[str]] = {"+": set(), "-": set()}
    for sign, spec in re.findall(r"^ ([-+~]) (\S+)", log.read_text(), re.MULTILINE):
        if not spec.startswith("lockdemo=="):
            found.setdefault(sign, set()).add(spec)
    return found


def _freeze(env: Path, project: Any) -> list[str]:
    """The env's distributions (``uv pip freeze``), the editable project's own line without its path."""
    out = subprocess.run(["uv", "pip", "freeze", "--python", str(env / "bin" / "python")], env=project.env,
                         check=True, capture_output=True, text=True).stdout
    return sorted("lockdemo (editable)" if line.startswith("-e ") else line for line in out.splitlines())


def _cold(project: Any, tmp_path: Path, name: str) -> list[str]:
    """What a cold build of the project as it is now holds (a copy, run without the cache)."""
    other = project.copy(tmp_path / name)
    other.tox("-e", "py312", "--no-venv-cache")
    return _freeze(other.root / ".tox" / "py312", other)


def test_lock_runner_bump_and_removal_sync_only_the_difference(make_project: Callable[..., Any],
                                                                tmp_path: Path) -> None:
    project = make_project("""
        runner = uv-venv-lock-runner
        commands = tinytool
    """)
    project.write("src/lockdemo/__init__.py", "")
    _lock(project, "tinytool==1.0", "tinydep")
    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss" and (cold.stored("py312") or "").startswith("stored"), cold.out
    assert "tinytool 1.0" in cold.out
    first_key = cold.key("py312")

    _lock(project, "tinytool==2.0", "tinydep")  # a dependency-update PR: one pin bumped
    project.fresh()
    bumped = project.tox("-e", "py312")
    assert bumped.result("py312") == "miss", bumped.out
    match = PARTIAL.search(bumped.out)
    assert match and match["source"] == first_key and match["differ"] == "1", bumped.out
    assert _sync_changes(project.root) == {"+": {"tinytool==2.0"}, "-": {"tinytool==1.0"}}, bumped.out
    assert (bumped.stored("py312") or "").startswith("stored"), bumped.out
    assert "tinytool 2.0" in bumped.out
    env = project.root / ".tox" / "py312"
    assert _freeze(env, project) == _cold(project, tmp_path, "cold-bumped")
    assert "tinytool==2.0" in _freeze(env, project)

    project.fresh()
    again = project.tox("-e", "py312")
    assert again.result("py312") == "hit" and not PARTIAL.search(again.out), again.out
    assert again.key("py312") == bumped.key("py312")

    _lock(project, "tinytool==2.0")  # tinydep (and with it tinylib) dropped
    project.fresh()
    removed = project.tox("-e", "py312")
    match = PARTIAL.search(removed.out)
    assert match and match["source"] == bumped.key("py312") and match["differ"] == "2", removed.out
    assert _sync_changes(project.root) == {"+": set(), "-": {"tinydep==1.0", "tinylib==1.0"}}, removed.out
    assert _freeze(env, project) == _cold(project, tmp_path, "cold-removed")
    assert not any(line.startswith(("tinydep", "tinylib")) for line in _freeze(env, project))


def test_lock_runner_never_starts_from_another_interpreter(make_project: Callable[..., Any]) -> None:
    project = make_project("""
        runner = uv-venv-lock-runner
        commands = tinytool
        [testenv:py311]
        base_python = python3.11
    """)
    project.write("src/lockdemo/__init__.py", "")
    _lock(project, "tinytool==1.0")
    assert project.tox("-e", "py312").result("py312") == "miss"
    _lock(project, "tinytool==2.0")
    other = project.tox("-e", "py311")
    assert other.result("py311") == "miss" and "venv cache partial" not in other.out, other.out


def _deps_log(root: Path) -> str:
    [log] = (root / ".tox" / "py312" / "log").glob("*-install_deps.log")
    return log.read_text()


@pytest.mark.parametrize("runner", ["virtualenv", "uv-venv-runner"])
def test_pip_style_runners_start_from_a_subset_entry_only(make_project: Callable[..., Any], runner: str) -> None:
    project = make_project(f"""
        runner = {runner}
        deps = tinytool==1.0
        commands = tinytool
    """)
    tox_ini = (project.root / "tox.ini").read_text()
    first = project.tox("-e", "py312")
    assert first.result("py312") == "miss" and (first.stored("py312") or "").startswith("stored"), first.out

    (project.root / "tox.ini").write_text(tox_ini.replace("deps = tinytool==1.0", "deps = tinytool==1.0\n  tinydep"))
    project.fresh()
    added = project.tox("-e", "py312")
    match = PARTIAL.search(added.out)
    assert match and match["source"] == first.key("py312") and match["differ"] == "2", added.out
    log = _deps_log(project.root)  # the installer adds tinydep and tinylib only; tinytool is already there
    if runner == "virtualenv":
        assert "Successfully installed tinydep-1.0 tinylib-1.0\n" in log, log
    else:
        assert set(re.findall(r"^ \+ (\S+)", log, re.MULTILINE)) == {"tinydep==1.0", "tinylib==1.0"}, log
    assert (added.stored("py312") or "").startswith("stored"), added.out
    project.fresh()
    assert project.tox("-e", "py312").result("py312") == "hit"

    (project.root / "tox.ini").write_text(tox_ini.replace("deps = tinytool==1.0", "deps = tinytool==2.0\n  tinydep"))
    project.fresh()
    bumped = project.tox("-e", "py312")  # tinytool==1.0 is gone from the deps: tox would recreate, so a cold miss
    assert bumped.result("py312") == "miss" and "venv cache partial" not in bumped.out, bumped.out
    assert "tinytool 2.0" in bumped.out


def test_pip_runner_failed_install_after_a_partial_restore_stores_nothing(make_project: Callable[..., Any]) -> None:
    project = make_project("""
        runner = virtualenv
        deps = tinytool==1.0
        commands = tinytool
    """)
    tox_ini = (project.root / "tox.ini").read_text()
    first = project.tox("-e", "py312")
    assert (first.stored("py312") or "").startswith("stored"), first.out
    (project.root / "tox.ini").write_text(tox_ini.replace("deps = tinytool==1.0", "deps = tinytool==1.0\n  nosuch"))
    project.fresh()
    failed = project.tox("-e", "py312", expect=None)
    assert failed.code != 0 and "venv cache partial" not in failed.out, failed.out
    assert failed.stored("py312") == "not stored (the install after a partial restore did not finish)", failed.out
    assert len(project.entries()) == 1  # only the first run's entry
