"""The pin on nox's private details: when nox changes one, this fails and says which, and what to update."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox.sessions
import nox.virtualenv
import pytest

import nox_venvcache
from nox_venvcache import _nox_internals as internals
from nox_venvcache.backend import CachedVirtualEnv


def test_nox_still_has_everything_nox_venvcache_uses() -> None:
    problems = internals.problems()
    assert problems == [], (
        f"nox {internals.nox_version()} changed what nox_venvcache relies on (written for {internals.TESTED_WITH}): "
        + "; ".join(problems) + ". Update src/nox_venvcache/_nox_internals.py."
    )


def test_the_pin_names_a_missing_private_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(nox.virtualenv.VirtualEnv, "_clean_location")
    monkeypatch.delattr(nox.sessions.Session, "run_install")
    problems = internals.problems()
    assert "VirtualEnv._clean_location() is gone" in problems
    assert "Session.run_install() is gone" in problems


def test_import_registers_the_backends_and_hooks() -> None:
    for name in nox_venvcache.BACKENDS:
        assert name in nox.virtualenv.ALL_VENVS
    for name in internals.SESSION_METHODS:
        assert getattr(nox.sessions.Session, name).__venvcache_original__ is not None
    assert nox.sessions.SessionRunner.execute.__venvcache_original__ is not None
    nox_venvcache.register()  # idempotent: wrapping twice would run installs twice
    assert not hasattr(nox.sessions.Session.install.__venvcache_original__, "__venvcache_original__")


def test_the_env_is_a_real_virtualenv_reporting_its_inner_backend(tmp_path: object) -> None:
    env = nox.virtualenv.ALL_VENVS["cached-virtualenv"](str(tmp_path), reuse_existing=False, venv_params=(),
                                                         download_python="never", a_future_nox_kwarg=1)
    assert isinstance(env, nox.virtualenv.VirtualEnv) and isinstance(env, CachedVirtualEnv)
    assert env.venv_backend == "virtualenv"
    auto = nox.virtualenv.ALL_VENVS["cached"](str(tmp_path))
    assert auto.venv_backend == ("uv" if nox.virtualenv.HAS_UV else "virtualenv")


def _import_in(tmp_path: Path, prelude: str,
               fake_nox: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``import nox_venvcache`` in a fresh interpreter after ``prelude`` (and with a fake ``nox`` package first on
    the path when ``fake_nox`` gives its modules), warnings shown."""
    env = dict(os.environ)
    if fake_nox is not None:
        package = tmp_path / "fake" / "nox"
        package.mkdir(parents=True)
        for name, text in {"__init__": "", **fake_nox}.items():
            (package / f"{name}.py").write_text(text, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "fake"), env.get("PYTHONPATH", "")])
    code = f"{prelude}\nimport nox_venvcache, nox.virtualenv\nprint(sorted(getattr(nox.virtualenv, 'ALL_VENVS', {{}})))"
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def test_importing_never_raises_in_a_nox_it_does_not_know(tmp_path: Path) -> None:
    """A nox without the modules or attributes nox_venvcache reads: the import warns, registers nothing, no error."""
    bare = _import_in(tmp_path, "", fake_nox={"virtualenv": "", "sessions": ""})
    assert bare.returncode == 0, bare.stderr
    assert "RuntimeWarning: nox_venvcache: this nox cannot be used" in bare.stderr, bare.stderr
    assert bare.stdout.strip() == "[]"


def test_a_changed_private_attribute_falls_back_to_plain_nox(tmp_path: Path) -> None:
    """The real nox with one private attribute gone: one warning naming it, and ``cached`` is nox's own backend."""
    run = _import_in(tmp_path, "import nox.virtualenv\ndel nox.virtualenv.VirtualEnv._clean_location\n"
                               "del nox.virtualenv.__getattr__")
    assert run.returncode == 0, run.stderr
    assert "VirtualEnv._clean_location() is gone" in run.stderr and "run uncached" in run.stderr, run.stderr
    assert "nox.virtualenv.HAS_UV is gone" in run.stderr, run.stderr
    assert "'cached'" in run.stdout, run.stdout
