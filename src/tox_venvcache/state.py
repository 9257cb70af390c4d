"""The plugin's memory during one tox run: one ``EnvState`` per env object, the run's settings once read.

A light module on purpose (no import of the core): tox's hooks consult it on every run, and a run that only reuses
its envs must not pay for more than this (see ``plugin``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._tox_internals import SECTION_RUN, wheel_build_env

if TYPE_CHECKING:
    from tox.session.state import State
    from tox.tox_env.api import ToxEnv

    from venvcache_core import Key, RestoreResult

    from .config import Settings
    from .key import KeyResult

LOG = logging.getLogger("tox_venvcache")


@dataclass
class EnvState:
    """The plugin's memory of one tox env during one run."""

    first_step_seen: bool = False  # the first install step (or uv sync) already came once in this run
    restored: bool = False
    created: bool = False  # lock runner: tox created the venv in this run
    key: Key | None = None
    reason: str = ""  # why no restore is tried although the env is fresh (``recreate``)
    section: str = SECTION_RUN  # the .tox-info.json section of the env's own install steps
    steps: set[str] = field(default_factory=set)  # install steps that must have succeeded before a store
    pending: bool = False  # a store is due once the env's install steps are over
    package_layer: bool = False  # the entry holds the package's own deps: stored at the package step
    replace: bool = False  # refresh, or the restored entry did not fit: replace it
    warned_unpinned: bool = False
    started: float | None = None  # perf_counter at the miss: the install the plugin watches starts
    build_seconds: float | None = None  # what the store recorded as this env's build time
    failed: bool = False  # a cache action failed (warned): the env goes on uncached in this run
    uv_check: tuple[Any, dict[str, Any]] | None = None  # (UvFind, identity): uv's answer, not yet compared with
    # the interpreter of the entry restored in place of the venv
    check_at_package: bool = False  # compare it at the package step (else at the env's first install step)
    deps_added: bool = False  # tox is about to install added deps into the env it reuses
    early: KeyResult | None = None  # the key computed before the venv existed, when its restore missed
    early_miss: RestoreResult | None = None  # that restore's miss (the first install step reports it, asks no more)
    adopted: tuple[dict[str, Any], list[str]] | None = None  # the entry's .tox-info.json and this run's originals:
    # merged with tox's own records once tox wrote its Python section


class _Run:
    """Per-process state: the settings of the current tox run and one ``EnvState`` per env object."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: Settings | None = None
        self.tox_state: State | None = None
        self.warned: set[str] = set()
        self.envs: weakref.WeakKeyDictionary[Any, EnvState] = weakref.WeakKeyDictionary()

    def state(self, tox_env: ToxEnv) -> EnvState:
        with self.lock:
            found = self.envs.get(tox_env)
            if found is None:
                found = self.envs[tox_env] = EnvState()
            return found

    def package_envs(self, tox_env: ToxEnv) -> list[Any]:
        """The packaging envs of a run env: tox's ``package_envs`` and the one that builds its wheel, by name among
        the envs of this run (:func:`_tox_internals.wheel_build_env`)."""
        envs: list[Any] = list(getattr(tox_env, "package_envs", None) or ())
        name = wheel_build_env(tox_env)
        if name is not None and all(getattr(env, "name", None) != name for env in envs):
            with self.lock:
                known = list(self.envs.keys())
            envs.extend(env for env in known if getattr(env, "name", None) == name and env is not tox_env)
        return envs

    def warn_once(self, message: str) -> None:
        with self.lock:
            if message in self.warned:
                return
            self.warned.add(message)
        LOG.warning("%s", message)


RUN = _Run()


def configure(tox_state: State) -> None:
    """A new tox run: keep its state for reading ``[virtualenv-cache]`` at first use, forget the last run's."""
    RUN.tox_state = tox_state
    RUN.settings = None
    RUN.warned.clear()
