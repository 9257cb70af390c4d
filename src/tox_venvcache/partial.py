"""Partial restore for tox: when the exact key misses, start from the nearest entry and let the installer finish.

- ``uv-venv-lock-runner``: ``uv sync`` makes the env exactly ``uv.lock`` (it installs, upgrades and removes), so the
  nearest entry for the same interpreter, tools and sync flags is a safe start whatever changed in the lock.
- ``virtualenv`` and ``uv-venv-runner`` (``pip install`` / ``uv pip install`` of the deps): tox installs what was
  added and recreates the env when a requirement was removed or changed, so only an entry whose deps lines are a
  subset of this run's (same options, constraints, extras, groups) is a safe start; anything else is a plain miss.

The restored env is never a hit: tox runs its installer as on a miss, and the env is stored under this run's key only
once that succeeded (``uv sync`` returned, or tox recorded this run's deps in ``.tox-info.json``). The log says
``venv cache partial SOURCE (D of T packages differ), synced in T`` just before the store line.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from venvcache_core import (
    Cache,
    Config,
    RestoreResult,
    VenvCacheError,
    describe_not_stored,
    describe_partial,
    distribution_changes,
    installed_distributions,
    locked_distributions,
    pinned_distributions,
)

from . import _tox_internals as internals
from .prompt import read_prompt, set_prompt

if TYPE_CHECKING:
    from tox.tox_env.api import ToxEnv

    from .key import KeyResult

LOG = logging.getLogger("tox_venvcache")

#: the key-document inputs that say what gets installed, per env kind (everything else must be equal)
LOCK_REQUIREMENTS = ("uv_lock",)
DEPS_REQUIREMENTS = ("deps",)


@dataclass
class _Partial:
    """A partial restore in progress: what was restored, and when the installer's sync began."""

    result: RestoreResult
    before: dict[str, str]  # the distributions of the restored entry
    deps_section: Any  # the entry's recorded deps (``.tox-info.json``), which tox rewrites once it installed
    lock: bool  # ``uv sync`` finishes it: :func:`synced` says when it returned
    synced: bool = False
    started: float = field(default_factory=time.perf_counter)


_PENDING: weakref.WeakKeyDictionary[Any, _Partial] = weakref.WeakKeyDictionary()


def _subset_of(inputs: Mapping[str, Any]) -> Any:
    """The veto for pip-style installs: the entry's deps lines and files are a subset of ``inputs``', options equal."""
    deps = inputs["deps"]

    def accept(document: Mapping[str, Any]) -> bool:
        theirs = document.get("inputs", {}).get("deps", {})
        return (theirs.get("options") == deps["options"]
                and set(theirs.get("requirements", ())) <= set(deps["requirements"])
                and set(theirs.get("files", {}).items()) <= set(deps["files"].items()))

    return accept


def restore_nearest(tox_env: ToxEnv, config: Config, result: KeyResult) -> bool:
    """After an exact miss: restore the nearest safe entry into the env dir (True when one was restored)."""
    key = result.key
    inputs = key.document["inputs"]
    env_dir = Path(tox_env.env_dir)
    if "uv_lock" in inputs:
        lock = Path(tox_env.core["tox_root"]) / next(iter(inputs["uv_lock"]))
        wanted, requirements, accept = locked_distributions(lock), LOCK_REQUIREMENTS, None
    elif "deps" in inputs:
        wanted = pinned_distributions(inputs["deps"]["requirements"])
        requirements, accept = DEPS_REQUIREMENTS, _subset_of(inputs)
    else:
        return False
    current = internals.read_info(env_dir)  # this run's ToxEnv/Python sections, as tox just wrote them
    fresh_prompt = read_prompt(env_dir)
    try:
        restored = Cache.from_config(config).restore_nearest(key, env_dir, wanted, requirements=requirements,
                                                              accept=accept, project_root=tox_env.core["tox_root"])
    except VenvCacheError as exc:  # the env dir is untouched: a plain miss
        LOG.warning("venv cache partial restore failed, installing as usual: %s", exc)
        return False
    if not restored.partial:
        return False
    info = internals.adopt_info(internals.read_info(env_dir), current, result.originals)
    internals.write_info(env_dir, info)
    set_prompt(env_dir, fresh_prompt)
    for folder in (tox_env.conf["env_tmp_dir"], tox_env.conf["env_log_dir"]):
        Path(folder).mkdir(parents=True, exist_ok=True)
    _PENDING[tox_env] = _Partial(restored, installed_distributions(env_dir), _deps_section(info),
                                 lock=requirements == LOCK_REQUIREMENTS)
    return True


def synced(tox_env: ToxEnv) -> None:
    """The lock runner's ``uv sync`` returned: the env is exact, it may be stored."""
    pending = _PENDING.get(tox_env)
    if pending is not None:
        pending.synced = True


def _deps_section(info: Mapping[str, Any]) -> Any:
    run = info.get(internals.SECTION_RUN)
    return run.get(internals.DEPS_STEP) if isinstance(run, dict) else None


def may_store(tox_env: ToxEnv, log: Any) -> bool:
    """Before a store: False (and a ``not stored`` line) when a partial restore's sync did not finish; else True,
    after the ``partial ... synced in`` line."""
    pending = _PENDING.pop(tox_env, None)
    if pending is None:
        return True
    env_dir = Path(tox_env.env_dir)
    result = pending.result
    if (not pending.synced if pending.lock
            else _deps_section(internals.read_info(env_dir)) in (None, pending.deps_section)):
        log.warning("%s", describe_not_stored(result.key, "the install after a partial restore did not finish",
                                              label=""))
        return False
    after = installed_distributions(env_dir)
    result.differ = distribution_changes(pending.before, after)
    result.total = len(set(pending.before) | set(after))
    log.warning("%s", describe_partial(result, label="", synced=time.perf_counter() - pending.started))
    return True
