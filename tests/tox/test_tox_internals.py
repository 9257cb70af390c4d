"""Pins the private tox / tox-uv details ``tox_venvcache._tox_internals`` relies on.

When one of these fails after a tox or tox-uv upgrade, the plugin has already turned itself off (with a warning
naming the same problem); update ``_tox_internals.py`` and the end-to-end tests tell whether the cache works again.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from tox_venvcache import _tox_internals as internals
from tox_venvcache.lock_runner import wrap


def test_no_internal_has_changed() -> None:
    problems = internals.problems()
    assert problems == (), "tox/tox-uv internals changed under tox_venvcache:\n  " + "\n  ".join(problems)


def test_pip_resolution_variables_are_all_keyed() -> None:
    """tox records these variables with the deps; a restored env's record must match, so the key must hold them."""
    from tox.tox_env.python.pip import pip_install

    # a module constant in some tox 4 releases, a literal inside the method in others
    recorded = set(getattr(pip_install, "_PIP_RESOLUTION_ENV_VARS", ()))
    recorded |= set(re.findall(r'"(PIP_[A-Z_]+)"', inspect.getsource(pip_install.Pip._install_env_vars)))
    assert recorded, "tox's Pip._install_env_vars no longer lists PIP_* names: read how tox records them now"
    missing = recorded - internals.PIP_RESOLUTION_VARS
    assert not missing, f"tox now records {sorted(missing)} with the deps: add them to PIP_RESOLUTION_VARS"


def test_uv_resolution_variables_are_all_keyed() -> None:
    installer = pytest.importorskip("tox_uv._installer")
    recorded = getattr(installer, "_UV_RESOLUTION_ENV_VARS", None)
    assert recorded is not None, "tox_uv._installer._UV_RESOLUTION_ENV_VARS is gone: read how tox-uv records vars"
    missing = set(recorded) - internals.UV_RESOLUTION_VARS
    assert not missing, f"tox-uv now records {sorted(missing)} with the deps: add them to UV_RESOLUTION_VARS"


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
    live = {
        "ToxEnv": {"name": "py312", "type": "VirtualEnvRunner"},
        "Python": {"version_info": [3, 12, 1, "final", 0]},
        "PythonRun": {"deps": {"requirements": ["a==1"]}, "dependency-groups": {"req": ["b==2"]},
                      "package_deps": {"req": ["c"]}},
        "RunToxEnv": {"package_deps": {"req": ["c"]}},
    }
    entry = internals.entry_info(live)
    assert entry == {"ToxEnv": live["ToxEnv"], "Python": live["Python"],
                     "PythonRun": {"deps": {"requirements": ["a==1"]}, "dependency-groups": {"req": ["b==2"]}}}
    current = {"ToxEnv": {"name": "py312-other", "type": "VirtualEnvRunner"}, "Python": {"version_info": [3, 12]}}
    adopted = internals.adopt_info(entry, current)
    assert adopted["ToxEnv"]["name"] == "py312-other" and adopted["Python"] == current["Python"]
    assert adopted["PythonRun"] == entry["PythonRun"]
    internals.write_info(tmp_path, adopted)
    assert internals.read_info(tmp_path) == adopted
    assert internals.deps_recorded(adopted)
    assert internals.steps_recorded(adopted, {"deps", "dependency-groups"})
    assert not internals.steps_recorded({"PythonRun": {}}, {"deps"})
