"""Pins the private tox / tox-uv details ``tox_venvcache._tox_internals`` relies on.

When one of these fails after a tox or tox-uv upgrade, the plugin has already turned itself off (with a warning
naming the same problem); update ``_tox_internals.py`` and the end-to-end tests tell whether the cache works again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tox_venvcache import _tox_internals as internals
from tox_venvcache.lock_runner import wrap
from venvcache_core import INSTALLER_ENV_VARS


def test_no_internal_has_changed() -> None:
    problems = internals.problems()
    assert problems == (), "tox/tox-uv internals changed under tox_venvcache:\n  " + "\n  ".join(problems)


def _pip_option_variables() -> set[str]:
    """``PIP_<OPTION>`` for every long option of ``pip install`` (pip reads each from the environment)."""
    from pip._internal.commands import create_command

    parser = create_command("install").parser
    return {"PIP_" + name.lstrip("-").replace("-", "_").upper()
            for option in parser._get_all_options() for name in option._long_opts}


def test_pip_variables_tox_records_are_all_keyed() -> None:
    """tox records some PIP_* variables with the deps; a restored env's record must match, so the key holds them.

    Behaviour, not source text: tox's own ``Pip._install_env_vars`` is run on an environment holding every pip option
    variable, and what it picks must be in the core's list."""
    candidates = _pip_option_variables() | INSTALLER_ENV_VARS
    recorded = internals.recorded_pip_vars(dict.fromkeys(candidates, "x"))
    assert recorded, "tox's Pip._install_env_vars records no PIP_* variable any more: read how tox records them now"
    missing = recorded - INSTALLER_ENV_VARS
    assert not missing, f"tox now records {sorted(missing)} with the deps: add them to INSTALLER_ENV_VARS"


def test_uv_variables_tox_uv_records_are_all_keyed() -> None:
    recorded = internals.recorded_uv_vars()
    if recorded is None:
        pytest.skip("tox-uv is not installed")
    missing = recorded - INSTALLER_ENV_VARS
    assert not missing, f"tox-uv now records {sorted(missing)} with the deps: add them to INSTALLER_ENV_VARS"


def test_a_changed_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """``problems()`` probes behaviour: a tox whose ``PythonDeps.unroll`` or ``Pip._install_env_vars`` stopped
    working the way the plugin reads them is reported by name (and the plugin turns itself off)."""
    from tox.tox_env.python.pip.pip_install import Pip
    from tox.tox_env.python.pip.req_file import PythonDeps

    monkeypatch.setattr(PythonDeps, "unroll", lambda self: ([], ["a==1", "-r nested.txt"]))
    monkeypatch.setattr(Pip, "_install_env_vars", lambda self: {})
    internals.problems.cache_clear()
    try:
        found = internals.problems()
    finally:
        internals.problems.cache_clear()
    assert any("PythonDeps.unroll() no longer expands nested files" in line for line in found), found
    assert any("Pip._install_env_vars now records []" in line for line in found), found


def test_lock_runner_wrapper_keeps_identity() -> None:
    """tox records the runner's class name in .tox-info.json: the wrapper must not change it, nor the id."""
    base = internals.lock_runner_class()
    if base is None:
        pytest.skip("tox-uv is not installed")
    wrapped = wrap(base)
    assert issubclass(wrapped, base)
    assert wrapped.__name__ == base.__name__ == internals.LOCK_RUNNER_CLASS
    assert wrapped.id() == internals.LOCK_RUNNER_ID
    for name in internals.LOCK_RUNNER_METHODS:
        assert name in vars(wrapped), f"the wrapper no longer overrides {name}"


def test_info_sections_for_an_entry_and_a_restore(tmp_path: Path) -> None:
    """An entry keeps the env's layers and the package's own deps (``package_deps``, under ``RunToxEnv``, or under
    ``PythonRun`` for ``package = deps-only``), and every record of a packaging env; never the package itself."""
    live = {
        "ToxEnv": {"name": "py312", "type": "VirtualEnvRunner"},
        "Python": {"version_info": [3, 12, 1, "final", 0]},
        "PythonRun": {"deps": {"requirements": ["a==1"]}, "dependency-groups": {"req": ["b==2"]},
                      "package_deps": {"req": ["c"]}, "something-new": {"req": ["x"]}},
        "RunToxEnv": {"package_deps": {"req": ["c"]}, "package": {"req": ["the-package-under-test"]}},
        "PythonPackageToxEnv": {"requires": {"req": ["hatchling"]}, "requires_for_build_editable": {"req": ["e"]}},
    }
    entry = internals.entry_info(live)
    assert entry == {"ToxEnv": live["ToxEnv"], "Python": live["Python"],
                     "PythonRun": {"deps": {"requirements": ["a==1"]}, "dependency-groups": {"req": ["b==2"]},
                                   "package_deps": {"req": ["c"]}},
                     "RunToxEnv": {"package_deps": {"req": ["c"]}},
                     "PythonPackageToxEnv": live["PythonPackageToxEnv"]}
    assert internals.recorded_requirements(entry, "RunToxEnv", "package_deps") == ["c"]
    assert internals.recorded_requirements(entry, "RunToxEnv", "package") is None
    current = {"ToxEnv": {"name": "py312-other", "type": "VirtualEnvRunner"}, "Python": {"version_info": [3, 12]}}
    adopted = internals.adopt_info(entry, current)
    assert adopted["ToxEnv"]["name"] == "py312-other" and adopted["Python"] == current["Python"]
    assert adopted["PythonRun"] == entry["PythonRun"]
    internals.write_info(tmp_path, adopted)
    assert internals.read_info(tmp_path) == adopted
    assert internals.deps_recorded(adopted)
    assert internals.steps_recorded(adopted, {"deps", "dependency-groups"})
    assert not internals.steps_recorded({"PythonRun": {}}, {"deps"})


def test_env_wrappers_keep_identity() -> None:
    """The plugin re-registers the env types it restores in place of creating their venv: same class name (tox
    records it) and id, a subclass overriding exactly the two methods it needs; the lock runner keeps its wrapper."""
    from tox.tox_env.python.virtual_env.package.pyproject import Pep517VirtualEnvPackager
    from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner
    from tox.tox_env.register import ToxEnvRegister

    from tox_venvcache import plugin

    register = ToxEnvRegister()
    runners: list[Any] = [VirtualEnvRunner]
    packagers: list[Any] = [Pep517VirtualEnvPackager]
    try:
        from tox_uv._package import UvVenvPep517Packager
        from tox_uv._run import UvVenvRunner
    except ImportError:
        pass
    else:
        runners.append(UvVenvRunner)
        packagers.append(UvVenvPep517Packager)
    for runner in runners:
        register.add_run_env(runner)
    for packager in packagers:
        register.add_package_env(packager)
    for _ in range(2):  # a second registration wraps nothing twice
        plugin.tox_register_tox_env(register)
        for base, wrapped in [*((b, register.runner(b.id())) for b in runners),
                              *((b, register.package(b.id())) for b in packagers)]:
            assert wrapped.__mro__[1] is base, base
            assert wrapped.__name__ == base.__name__ and wrapped.id() == base.id()
            assert {"create_python_env", "ensure_python_env"} <= set(vars(wrapped))


def test_deps_only_added(tmp_path: Path) -> None:
    """tox installs the additions into an env it reuses only when the recorded requirements are a strict subset and
    the options are the same (else it recreates, or there is nothing to do)."""
    from tox.tox_env.python.pip.req_file import PythonDeps

    def info(*requirements: str, options: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"PythonRun": {"deps": {"options": list(options), "requirements": list(requirements)}}}

    deps = PythonDeps("a==1\nb\n", root=tmp_path)
    assert internals.deps_only_added(info("a==1"), deps)
    assert not internals.deps_only_added(info("a==1", "b"), deps)  # the same: tox's own reuse
    assert not internals.deps_only_added(info("a==1", "c"), deps)  # a removal: tox recreates
    assert not internals.deps_only_added(info("a==1", options=("--pre",)), deps)
    assert not internals.deps_only_added({}, deps)
    assert not internals.deps_only_added(info("a==1"), ["a==1", "b"])  # not a PythonDeps


def test_a_restore_for_another_interpreter_than_uv_picks_is_recreated() -> None:
    """The interpreter uv picked the last time is a guess: once uv answers for this run, another pick makes tox
    recreate the env (inside its setup), or is one warning where tox cannot (before the commands)."""
    import re
    import sys

    from tox.tox_env.errors import Recreate

    from tox_venvcache import lifecycle
    from tox_venvcache.state import RUN
    from venvcache_core import interpreter_identity

    class Answer:
        def __init__(self, path: str) -> None:
            self.path = path

        def result(self) -> str:
            return self.path

    class Env:
        """Stands for a tox env (the plugin keeps its memory per env object)."""

    env: Any = Env()
    identity = interpreter_identity(sys.executable)
    RUN.state(env).uv_check = (Answer(sys.executable), identity)
    lifecycle.check_interpreter(env)  # the same interpreter: nothing happens
    RUN.state(env).uv_check = (Answer("/nonexistent/python3.12"), identity)
    assert not RUN.state(env).first_step_seen
    with pytest.raises(Recreate, match=re.escape("uv picks /nonexistent/python3.12")):
        lifecycle.check_interpreter(env)
    assert RUN.state(env).uv_check is None
    assert RUN.state(env).first_step_seen, "tox's second setup must create the env, not restore the same entry again"
    RUN.state(env).uv_check = (Answer("/nonexistent/python3.12"), identity)
    lifecycle.check_interpreter(env, in_setup=False)  # a warning, no exception


def test_uv_is_not_asked_again_while_nothing_its_discovery_reads_changed(tmp_path: Path) -> None:
    """uv's answer is remembered with what its discovery could read; while none of it changed the answer is current
    and no ``uv python find`` runs. A version file appearing above the project, an interpreter installed into a PATH
    folder, or the picked interpreter itself changing make uv be asked again."""
    import os
    import sys

    python = os.path.realpath(sys.executable)
    calls = tmp_path / "calls"
    fake_uv = tmp_path / "uv"
    fake_uv.write_text(f"#!/bin/sh\necho asked >> {calls}\necho {python}\n")
    fake_uv.chmod(0o755)
    bin_dir, root = tmp_path / "bin", tmp_path / "work" / "project"
    bin_dir.mkdir()
    root.mkdir(parents=True)
    answers = tmp_path / "cache" / internals.UV_ANSWERS_FILE
    answers.parent.mkdir()
    environ = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home")}

    def ask() -> internals.UvFind:
        seen = internals.discovery_inputs(environ["PATH"], root, environ)
        found = internals.UvFind([str(fake_uv)], environ, str(root), "request", answers, seen)
        assert found.result() == python
        return found

    def asked() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    assert not ask().current and asked() == 1  # the first time uv answers, and the answer is remembered
    again = ask()
    assert again.current and again.last == python and asked() == 1  # nothing changed: uv is not asked
    (tmp_path / "work" / ".python-version").write_text("3.12\n")  # pyenv local, above the project
    assert not ask().current and asked() == 2
    assert ask().current and asked() == 2
    (bin_dir / "python3.12").symlink_to(python)  # an interpreter installed into a folder on PATH
    assert not ask().current and asked() == 3
    record = internals._read_json(answers)["request"]
    record["python"] = str(bin_dir / "python3.12")  # the answer is a path that changed since: a guess to check
    answers.write_text(json_dumps({"request": record}))
    assert not ask().current and asked() == 4
    answers.write_text(json_dumps({"request": python}))  # a bare path (an older venvcache's record): checked
    assert not ask().current and asked() == 5


def json_dumps(value: object) -> str:
    import json

    return json.dumps(value)
