"""Every tox / tox-uv detail the plugin relies on that is not a documented plugin API, in one place.

tox 4's hooks tell us *when* (``tox_on_install``, ``tox_before_run_commands`` ...), but not *how* tox remembers that
an env's deps are installed. That is ``<env_dir>/.tox-info.json``: sections named after tox's classes (``ToxEnv``,
``Python``, ``PythonRun``), rewritten as a whole by ``tox.tox_env.info.Info``. tox-uv's lock runner runs ``uv sync``
itself, so covering it means subclassing it and overriding a private method.

When upstream changes one of these, :func:`problems` says which, the plugin turns itself off with one warning (the
tox run goes on uncached), and ``tests/tox/test_internals.py`` fails with the same message.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

#: the file tox keeps at the root of every env (``tox.tox_env.info.Info``)
INFO_FILE = ".tox-info.json"
#: ``.tox-info.json`` sections, named by tox after ``ToxEnv.__name__``, ``Python.__name__``, ``PythonRun.__name__``
SECTION_TOX_ENV = "ToxEnv"
SECTION_PYTHON = "Python"
SECTION_RUN = "PythonRun"
#: the install steps of ``PythonRun._setup_env`` (``tox_on_install`` ``of_type``) whose result an entry holds
DEPS_STEP = "deps"
ENV_STEPS = frozenset({"deps", "dependency-groups"})

#: environment variables tox's ``Pip._install_env_vars`` records with the deps (copied: it is a local in a private
#: method); the internals test checks that this is still a superset of tox's list
PIP_RESOLUTION_VARS = frozenset({
    "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_NO_INDEX", "PIP_PRE",
    "PIP_REQUIRE_HASHES", "PIP_TRUSTED_HOST",
    # not recorded by tox, but they change what pip installs
    "PIP_ONLY_BINARY", "PIP_NO_BINARY", "PIP_PREFER_BINARY", "PIP_NO_BUILD_ISOLATION", "PIP_UPGRADE_STRATEGY",
    "PIP_CONSTRAINTS",
})
#: the same for tox-uv (``tox_uv._installer._UV_RESOLUTION_ENV_VARS``), plus the lock runner's switches
UV_RESOLUTION_VARS = frozenset({
    "UV_CONSTRAINT", "UV_DEFAULT_INDEX", "UV_EXCLUDE", "UV_EXCLUDE_NEWER", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS",
    "UV_FORK_STRATEGY", "UV_INDEX", "UV_INDEX_STRATEGY", "UV_INDEX_URL", "UV_KEYRING_PROVIDER", "UV_NO_INDEX",
    "UV_NO_SOURCES", "UV_OFFLINE", "UV_OVERRIDE", "UV_PRERELEASE", "UV_REQUIRE_HASHES", "UV_RESOLUTION",
    "UV_TORCH_BACKEND",
    # not recorded by tox-uv, but they change what uv installs or syncs
    "UV_FROZEN", "UV_LOCKED", "UV_NO_BINARY", "UV_NO_BUILD", "UV_NO_BUILD_ISOLATION", "UV_COMPILE_BYTECODE",
    "UV_LINK_MODE", "UV_NO_EDITABLE", "UV_NO_DEFAULT_GROUPS",
})

#: tox-uv's lock runner: where it lives and the private methods the wrapper overrides (name -> parameters)
LOCK_RUNNER_MODULE = "tox_uv._run_lock"
LOCK_RUNNER_CLASS = "UvVenvLockRunner"
LOCK_RUNNER_ID = "uv-venv-lock-runner"
LOCK_RUNNER_METHODS = {"_build_uv_sync_cmd": ["self", "install_pkg"], "_setup_env": ["self"],
                       "create_python_env": ["self"]}


# -- .tox-info.json --------------------------------------------------------------------------------------------------
def read_info(env_dir: Path) -> dict[str, Any]:
    """The content of an env's ``.tox-info.json`` ({} when missing or unreadable, as tox itself treats it)."""
    path = env_dir / INFO_FILE
    try:
        value = {} if path.is_symlink() else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_info(env_dir: Path, content: dict[str, Any]) -> None:
    """Replace ``.tox-info.json`` atomically, in tox's own format (indent 2, mode 0600 like ``tempfile``)."""
    fd, tmp = tempfile.mkstemp(dir=env_dir, prefix=f"{INFO_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(content, indent=2))
        os.replace(tmp, env_dir / INFO_FILE)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def deps_recorded(info: dict[str, Any]) -> bool:
    """Whether tox has already installed this env's deps (tox's own reuse; the cache has nothing to add)."""
    run = info.get(SECTION_RUN)
    return isinstance(run, dict) and DEPS_STEP in run


def steps_recorded(info: dict[str, Any], steps: Iterable[str]) -> bool:
    """Whether every install step in ``steps`` finished: tox writes a step's section only when it succeeded."""
    run = info.get(SECTION_RUN)
    return isinstance(run, dict) and all(step in run for step in steps)


def entry_info(info: dict[str, Any]) -> dict[str, Any]:
    """The part of ``.tox-info.json`` an entry keeps: the env and its deps, never the package under test."""
    kept: dict[str, Any] = {name: info[name] for name in (SECTION_TOX_ENV, SECTION_PYTHON) if name in info}
    run = info.get(SECTION_RUN)
    if isinstance(run, dict):
        steps = {step: value for step, value in run.items() if step in ENV_STEPS}
        if steps:
            kept[SECTION_RUN] = steps
    return kept


def adopt_info(restored: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The info file of a restored env: this run's ``ToxEnv``/``Python`` (env name, runner, interpreter as tox just
    computed them) with the entry's deps sections, so tox's next comparison finds the deps installed."""
    merged = entry_info(restored)
    for name in (SECTION_TOX_ENV, SECTION_PYTHON):
        if name in current:
            merged[name] = current[name]
        else:
            merged.pop(name, None)
    return merged


# -- other private places ---------------------------------------------------------------------------------------------
def resolve_dependency_groups(root: Path, groups: set[str]) -> list[str]:
    """PEP 735 dependency group requirements, as tox resolves them (``tox.tox_env.python.dependency_groups``)."""
    from tox.tox_env.python.dependency_groups import resolve

    return sorted(str(req) for req in resolve(root, groups))


def lock_runner_class() -> type | None:
    """tox-uv's ``uv-venv-lock-runner`` class, or None when tox-uv is not installed."""
    try:
        module = __import__(LOCK_RUNNER_MODULE, fromlist=[LOCK_RUNNER_CLASS])
    except ImportError:
        return None
    return getattr(module, LOCK_RUNNER_CLASS, None)


def section_loaders(conf_set: Any) -> list[Any]:
    """The loaders of a tox config set (``ConfigSet.loaders``; each has ``found_keys()`` and ``load_raw()``)."""
    return list(conf_set.loaders)


@lru_cache(maxsize=1)
def problems() -> tuple[str, ...]:
    """What no longer matches the tox / tox-uv internals listed above (empty when all is as expected)."""
    found: list[str] = []
    try:
        from tox.tox_env.api import ToxEnv
        from tox.tox_env.info import Info
        from tox.tox_env.python.api import Python
        from tox.tox_env.python.runner import PythonRun
    except ImportError as exc:  # pragma: no cover - tox itself is broken
        return (f"cannot import tox's env classes: {exc}",)
    for cls, section in ((ToxEnv, SECTION_TOX_ENV), (Python, SECTION_PYTHON), (PythonRun, SECTION_RUN)):
        if cls.__name__ != section:
            found.append(f"tox's .tox-info.json section {section!r} is now named {cls.__name__!r}")
    with tempfile.TemporaryDirectory() as tmp:
        info = Info(Path(tmp))
        with info.compare({"probe": 1}, SECTION_RUN, DEPS_STEP):
            pass
        if read_info(Path(tmp)) != {SECTION_RUN: {DEPS_STEP: {"probe": 1}}}:
            found.append(f"tox.tox_env.info.Info no longer writes {INFO_FILE} as {{section: {{of_type: value}}}}")
    try:
        from tox.tox_env.python.dependency_groups import resolve
    except ImportError:
        found.append("tox.tox_env.python.dependency_groups.resolve is gone")
    else:
        if list(inspect.signature(resolve).parameters)[:2] != ["root", "groups"]:
            found.append("tox.tox_env.python.dependency_groups.resolve(root, groups) changed its signature")
    from tox.config.loader.api import Loader
    from tox.config.sets import ConfigSet

    for name in ("found_keys", "load_raw"):
        if not hasattr(Loader, name):
            found.append(f"tox.config.loader.api.Loader.{name} is gone")
    if "loaders" not in inspect.getsource(ConfigSet.__init__):
        found.append("tox.config.sets.ConfigSet has no 'loaders' list any more")
    runner = lock_runner_class()
    if runner is None:
        try:
            __import__("tox_uv")
        except ImportError:
            pass  # tox-uv not installed: nothing to wrap
        else:
            found.append(f"tox-uv has no {LOCK_RUNNER_MODULE}.{LOCK_RUNNER_CLASS} any more")
    else:
        if runner.id() != LOCK_RUNNER_ID:
            found.append(f"tox-uv's lock runner id is now {runner.id()!r}, not {LOCK_RUNNER_ID!r}")
        for method, params in LOCK_RUNNER_METHODS.items():
            func = getattr(runner, method, None)
            if func is None:
                found.append(f"tox-uv's {LOCK_RUNNER_CLASS}.{method} is gone")
            elif list(inspect.signature(func).parameters) != params:
                found.append(f"tox-uv's {LOCK_RUNNER_CLASS}.{method} now takes "
                             f"{list(inspect.signature(func).parameters)}, expected {params}")
    return tuple(found)
