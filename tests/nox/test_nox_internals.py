"""The pin on nox's private details: when nox changes one, this fails and says which, and what to update."""

from __future__ import annotations

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
