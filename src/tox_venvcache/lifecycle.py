"""What happens to one tox env in one run: restore before its deps install, store after a successful one.

The two moments, for a ``PythonRun`` env (virtualenv, tox-uv ``uv-venv-runner``):

- **restore**, in ``tox_on_install`` of the ``deps`` step, the first time it fires for the env, only when tox has no
  deps recorded (a fresh env) and the user did not ask for ``-r``. The cached env replaces the fresh one; its
  ``.tox-info.json`` gets this run's ``ToxEnv``/``Python`` sections, so the installer, which re-reads the file,
  finds the deps installed and skips. tox then installs the package under test as usual.
- **store**, on a miss, as soon as the env's own install steps are over: at the next install step (the package),
  before the commands, or at teardown, whichever comes first. The deps count as installed only if tox recorded
  them: tox writes a step's section after that step succeeded, so a failed install stores nothing. The entry gets
  the env without ``log/``, ``tmp/`` and the package-under-test sections of ``.tox-info.json``.

Every failure of the cache is one warning line, after which tox carries on uncached.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from venvcache_core import (
    Cache,
    Config,
    Key,
    VenvCacheError,
    canonical_json,
    describe_miss,
    describe_not_stored,
    describe_restore,
    describe_store,
)

from . import _tox_internals as internals
from . import config as settings_mod
from . import partial
from .key import KeyResult, deps_key, lock_key

if TYPE_CHECKING:
    from tox.session.state import State
    from tox.tox_env.api import ToxEnv

LOG = logging.getLogger("tox_venvcache")


@dataclass
class EnvState:
    """The plugin's memory of one tox env during one run."""

    first_step_seen: bool = False  # the deps step (or uv sync) already came once: never restore a second time
    restored: bool = False
    created: bool = False  # lock runner: tox created the venv in this run
    key: Key | None = None
    reason: str = ""  # why no restore is tried although the env is fresh (``recreate``)
    steps: set[str] = field(default_factory=set)  # install steps that must have succeeded before a store
    pending: bool = False  # a store is due once the env's install steps are over
    replace: bool = False  # refresh, or the restored entry did not fit: replace it
    warned_unpinned: bool = False


class _Run:
    """Per-process state: the settings of the current tox run and one ``EnvState`` per env object."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: settings_mod.Settings | None = None
        self.warned: set[str] = set()
        self.envs: weakref.WeakKeyDictionary[Any, EnvState] = weakref.WeakKeyDictionary()

    def state(self, tox_env: ToxEnv) -> EnvState:
        with self.lock:
            found = self.envs.get(tox_env)
            if found is None:
                found = self.envs[tox_env] = EnvState()
            return found

    def warn_once(self, message: str) -> None:
        with self.lock:
            if message in self.warned:
                return
            self.warned.add(message)
        LOG.warning("%s", message)


RUN = _Run()


def configure(state: State) -> None:
    """Read and validate ``[virtualenv-cache]`` for this tox run (errors are kept, and warned at first use)."""
    RUN.settings = settings_mod.load(state)
    RUN.warned.clear()


#: tox prefixes every log line with the env name, so the core's line gets no label of its own
LABEL = ""


# -- when the cache applies -----------------------------------------------------------------------------------------
def _active(tox_env: ToxEnv) -> Config | None:
    """The validated config when the cache applies to this env in this run, else None (warned once if broken)."""
    problems = internals.problems()
    if problems:
        RUN.warn_once("venv cache off: this tox/tox-uv changed internals venvcache relies on: " + "; ".join(problems)
                      + " (upgrade venvcache)")
        return None
    settings = RUN.settings
    if settings is None:
        return None
    if settings.error:
        RUN.warn_once(f"venv cache off: {settings.error}")
        return None
    if not settings.enabled or settings_mod.env_opted_out(tox_env) or settings_mod.run_switch_off(tox_env):
        return None
    return settings.config


def _guard(tox_env: ToxEnv, what: str, action: Callable[[], None]) -> None:
    """Run one cache action; any failure becomes one warning line and the env goes on uncached."""
    try:
        action()
    except VenvCacheError as exc:
        LOG.warning("venv cache %s failed, installing as usual: %s", what, exc)
        RUN.state(tox_env).pending = False
    except Exception as exc:  # the cache must never break a tox run
        LOG.warning("venv cache %s failed, installing as usual: %s: %s", what, type(exc).__name__, exc)
        LOG.debug("venv cache %s failure", what, exc_info=True)
        RUN.state(tox_env).pending = False


def _warn_unpinned(config: Config, state: EnvState, result: KeyResult) -> None:
    """Once per env: a cache keeps unpinned deps at today's versions (silent when the user set ``max_age``)."""
    if not result.unpinned or state.warned_unpinned or config.max_age is not None:
        return
    state.warned_unpinned = True
    shown = ", ".join(result.unpinned[:5]) + (f" and {len(result.unpinned) - 5} more" if len(result.unpinned) > 5
                                              else "")
    LOG.warning("venv cache freezes unpinned deps (%s) at the versions installed now; set max_age in "
                "[virtualenv-cache] or run with --venv-cache-refresh to pick up new releases", shown)


# -- restore --------------------------------------------------------------------------------------------------------
def _restore(tox_env: ToxEnv, config: Config, state: EnvState, key: Key, originals: Sequence[str]) -> bool:
    """Put the cached env in place of the fresh one; True on a hit (then tox skips the install)."""
    env_dir = Path(tox_env.env_dir)
    current = internals.read_info(env_dir)  # this run's ToxEnv/Python sections, as tox just wrote them
    result = Cache.from_config(config).restore(key, env_dir, project_root=tox_env.core["tox_root"])
    if not result.hit:
        LOG.warning("%s", describe_restore(result, label=LABEL))
        return False
    internals.write_info(env_dir, internals.adopt_info(internals.read_info(env_dir), current, originals))
    for folder in (tox_env.conf["env_tmp_dir"], tox_env.conf["env_log_dir"]):
        Path(folder).mkdir(parents=True, exist_ok=True)
    state.restored = True
    LOG.warning("%s", describe_restore(result, label=LABEL))
    return True


def _begin(tox_env: ToxEnv, config: Config, state: EnvState, result: KeyResult, *, may_restore: bool) -> None:
    """Restore, or else remember that a store is due once the install steps are over."""
    key = result.key
    state.key = key
    refresh = settings_mod.refresh(tox_env)
    if may_restore and not refresh:
        if _restore(tox_env, config, state, key, result.originals):
            return
        partial.restore_nearest(tox_env, config, result)  # the nearest entry, for the install to finish
    else:
        LOG.warning("%s", describe_miss(key, "refresh asked" if refresh else state.reason or "tox recreated the env",
                                        label=LABEL))
    state.pending = True
    state.replace = state.replace or refresh
    LOG.info("venv cache key %s: %s", key.short, canonical_json(key.document))


def on_deps(tox_env: ToxEnv, arguments: Any) -> None:
    """``tox_on_install(PythonRun, deps)``: restore on a hit, else arm the store."""
    state = RUN.state(tox_env)
    first = not state.first_step_seen
    state.first_step_seen = True
    if not first:
        state.replace = state.replace or state.restored  # tox threw the restored env away: that entry is unfit
        state.pending = False
    config = _active(tox_env)
    if config is None:
        return
    if internals.deps_recorded(internals.read_info(Path(tox_env.env_dir))):
        return  # tox's own reuse of an existing env: faster than any restore, and nothing new to store

    def act() -> None:
        result = deps_key(tox_env, arguments, config)
        inputs = result.key.document["inputs"]
        if not (inputs["deps"]["requirements"] or inputs["deps"]["options"] or inputs["dependency_groups"]["names"]):
            return  # nothing is installed: a bare venv is as fast to create as to restore
        _warn_unpinned(config, state, result)
        state.steps = {internals.DEPS_STEP}
        if tox_env.conf["recreate"]:
            state.reason = "recreate"
        _begin(tox_env, config, state, result, may_restore=first and not tox_env.conf["recreate"])

    _guard(tox_env, "restore", act)


def on_install(tox_env: ToxEnv, section: str, of_type: str) -> None:
    """Any other install step: the env's own steps are remembered, the first later one (the package) stores."""
    state = RUN.state(tox_env)
    if not state.pending:
        return
    if section == internals.SECTION_RUN and of_type in internals.ENV_STEPS:
        state.steps.add(of_type)
        return
    store(tox_env)


def store(tox_env: ToxEnv) -> None:
    """Store the env if a store is due and every install step it depends on succeeded."""
    state = RUN.state(tox_env)
    if not state.pending or state.key is None:
        return
    state.pending = False
    key = state.key
    config = _active(tox_env)
    if config is None:
        return
    env_dir = Path(tox_env.env_dir)
    if state.steps and not internals.steps_recorded(internals.read_info(env_dir), state.steps):
        LOG.warning("%s", describe_not_stored(key, "the deps install did not succeed", label=LABEL))
        return
    if not partial.may_store(tox_env, LOG):
        return

    def act() -> None:
        with _entry_view(tox_env):
            result = Cache.from_config(config).store(key, env_dir, project_root=tox_env.core["tox_root"],
                                                     replace=state.replace, exclude=_session_folders(tox_env),
                                                     metadata={"tox_env": tox_env.name})
        LOG.warning("%s", describe_store(result, label=LABEL))

    _guard(tox_env, "store", act)


def _session_folders(tox_env: ToxEnv) -> list[str]:
    """``log/`` and ``tmp/`` (tox's ``env_log_dir``/``env_tmp_dir`` when inside the env): left out of the entry."""
    env_dir = Path(tox_env.env_dir)
    folders = (Path(tox_env.conf["env_log_dir"]), Path(tox_env.conf["env_tmp_dir"]))
    return sorted(folder.name for folder in folders if folder.parent == env_dir)


@contextlib.contextmanager
def _entry_view(tox_env: ToxEnv) -> Iterator[None]:
    """Make ``.tox-info.json`` read as the entry's for the duration of the store: without the package-under-test
    sections, tox's recorded variables redacted; put back afterwards."""
    env_dir = Path(tox_env.env_dir)
    live = internals.read_info(env_dir)
    kept = internals.entry_info(live)
    try:
        if kept != live:
            internals.write_info(env_dir, kept)
        yield
    finally:
        if kept != live:
            internals.write_info(env_dir, live)


def teardown(tox_env: ToxEnv) -> None:
    """Last chance to store (setup failed after the deps, or ``--notest``), then forget the env."""
    store(tox_env)


# -- tox-uv's uv-venv-lock-runner ------------------------------------------------------------------------------------
def on_lock_created(tox_env: ToxEnv) -> None:
    """The lock runner created its venv in this run (only then is there something to restore into)."""
    RUN.state(tox_env).created = True


def before_uv_sync(tox_env: ToxEnv, sync_cmd: Sequence[str], install_pkg: str | None) -> None:
    """Right before ``uv sync``: restore a fresh venv (``uv sync`` then only checks it and installs the project)."""
    state = RUN.state(tox_env)
    first = not state.first_step_seen
    state.first_step_seen = True
    if not first or not state.created or install_pkg is not None:
        return  # a reused venv (tox's own reuse), or one that will hold an external package
    config = _active(tox_env)
    if config is None:
        return

    def act() -> None:
        result = lock_key(tox_env, sync_cmd, config)
        state.steps = set()
        if tox_env.conf["recreate"]:
            state.reason = "recreate"
        _begin(tox_env, config, state, result, may_restore=not tox_env.conf["recreate"])

    _guard(tox_env, "restore", act)


def after_uv_sync(tox_env: ToxEnv) -> None:
    """``uv sync`` succeeded: store on a miss."""
    partial.synced(tox_env)
    store(tox_env)
