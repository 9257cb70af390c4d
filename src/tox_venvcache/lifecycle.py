"""What happens to one tox env in one run: restore in place of creating its venv, store after a successful install.

The two moments, for a ``PythonRun`` env (virtualenv, tox-uv ``uv-venv-runner``):

- **restore**, in place of creating the venv (:func:`before_create`, see ``early``): tox creates a venv only for an
  env without a ``Python`` record, and by then every input of the key is known (config, package metadata, the base
  interpreter), so on a hit the entry goes where the venv would be and tox's creator never runs; tox writes its
  ``Python`` record as if it had created the env, and the entry's install records are merged back after that, so
  the installer finds the deps, dependency groups and the package's own dependencies installed and skips them. tox
  then installs only the package under test, from this checkout. Never with ``-r``; in the setup tox repeats after
  its own recreate (deps removed: branch switching) only when the key predicts every layer exactly. Where the key
  cannot be known before the venv exists, the restore happens as before, in ``tox_on_install`` of the ``deps`` step,
  over the fresh venv. tox reusing an env that only lacks added deps is made to recreate it when the cache holds the
  env with them (:func:`_switch_to_entry`).
- **store**, on a miss, as soon as the env's own layers are installed. With a package, that is in ``tox_on_install``
  of the package: the plugin runs tox's own ``install_package_deps`` step first (the installer records it as it
  always does), stores, and tox's installer then finds the package's deps installed and installs only the package.
  Without one: before the commands, or at teardown. A layer counts as installed only if tox recorded it: tox writes
  a step's section after that step succeeded, so a failed install stores nothing. The entry gets the env without
  ``log/``, ``tmp/`` and the package-under-test sections of ``.tox-info.json``.

A packaging env (``.pkg``) is restored in place of its venv too (keyed at that moment by ``[build-system]``'s
requires, the build configuration and the interpreter) and stored once its run env reaches the package step, or else
at its teardown (after the build, without ``dist/`` and ``.meta/``); tox still runs the build in this checkout.
Where a restored entry's record differs from what tox computes, tox's own rules decide (install what was added,
recreate on removals) and the plugin replaces the entry with the env tox ends up with.

Every failure of the cache is one warning line, after which tox carries on uncached.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from venvcache_core import (
    Cache,
    Config,
    Key,
    RequireHitError,
    RestoreResult,
    VenvCacheError,
    canonical_json,
    describe_miss,
    describe_not_stored,
    describe_restore,
    describe_store,
    interpreter_identity,
)

from . import _tox_internals as internals
from . import config as settings_mod
from . import partial
from .key import KeyResult, deps_key, lock_key, package_env_key
from .prompt import read_prompt, set_prompt
from .state import RUN, EnvState

if TYPE_CHECKING:
    from tox.tox_env.api import ToxEnv

LOG = logging.getLogger("tox_venvcache")
_SETTINGS_LOCK = threading.Lock()


def _settings() -> settings_mod.Settings | None:
    """This run's validated ``[virtualenv-cache]``, read at the first env that needs it (``tox_add_core_config`` only
    keeps tox's state: a run that reuses every env never reads the section or imports the core)."""
    with _SETTINGS_LOCK:  # `tox p` sets envs up in threads: the section must be declared to tox once
        if RUN.settings is None and RUN.tox_state is not None:
            RUN.settings = settings_mod.load(RUN.tox_state)
        return RUN.settings


#: tox prefixes every log line with the env name, so the core's line gets no label of its own
LABEL = ""


# -- when the cache applies -----------------------------------------------------------------------------------------
def _active(tox_env: ToxEnv) -> Config | None:
    """The validated config when the cache applies to this env in this run, else None (warned once if broken)."""
    if RUN.state(tox_env).failed:
        return None  # said once already: this env goes on uncached in this run
    problems = internals.problems()
    if problems:
        RUN.warn_once("venv cache off: this tox/tox-uv changed internals venvcache relies on: " + "; ".join(problems)
                      + " (upgrade venvcache)")
        return None
    settings = _settings()
    if settings is None:
        return None
    if settings.error:
        RUN.warn_once(f"venv cache off: {settings.error}")
        return None
    if not settings.enabled or settings_mod.env_opted_out(tox_env) or settings_mod.run_switch_off(tox_env):
        return None
    return settings.config


def _guard(tox_env: ToxEnv, what: str, action: Callable[[], None]) -> None:
    """Run one cache action; any failure becomes one warning line and the env goes on uncached in this run (tox's
    own outcomes, such as the ``Fail`` of a required hit that missed, pass through)."""
    from tox.tox_env.errors import Fail, Recreate, Skip

    try:
        action()
    except (Fail, Recreate, Skip):
        raise
    except VenvCacheError as exc:
        LOG.warning("venv cache %s failed, installing as usual: %s", what, exc)
        RUN.state(tox_env).pending, RUN.state(tox_env).failed = False, True
    except Exception as exc:  # the cache must never break a tox run
        LOG.warning("venv cache %s failed, installing as usual: %s: %s", what, type(exc).__name__, exc)
        LOG.debug("venv cache %s failure", what, exc_info=True)
        RUN.state(tox_env).pending, RUN.state(tox_env).failed = False, True


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
def _restore(tox_env: ToxEnv, config: Config, state: EnvState, key: Key, originals: Sequence[str], *,
             missed: RestoreResult | None = None) -> bool:
    """Put the cached env in place of the fresh one; True on a hit (then tox skips the install). ``missed``: this
    key's restore already missed in this setup, before tox created the venv (reported now, not asked again)."""
    env_dir = Path(tox_env.env_dir)
    current = internals.read_info(env_dir)  # this run's ToxEnv/Python sections, as tox just wrote them
    fresh_prompt = read_prompt(env_dir)  # tox-uv's ``<this checkout>[<env>]``
    result = missed if missed is not None else Cache.from_config(config).restore(
        key, env_dir, project_root=tox_env.core["tox_root"])
    if not result.hit:
        LOG.warning("%s", describe_restore(result, label=LABEL))
        _required(tox_env, result)
        return False
    _adopt(tox_env, state, current, fresh_prompt, originals)
    LOG.warning("%s", describe_restore(result, label=LABEL))
    return True


def _adopt(tox_env: ToxEnv, state: EnvState, current: dict[str, Any], prompt: str | None, originals: Sequence[str],
           *, before_create: bool = False) -> None:
    """A restored env becomes this run's: tox's ``ToxEnv``/``Python`` records with the entry's install records, this
    checkout's prompt, tox's ``tmp``/``log`` folders."""
    env_dir = Path(tox_env.env_dir)
    entry = internals.read_info(env_dir)
    internals.write_info(env_dir, internals.adopt_info(entry, current, originals))
    if before_create:  # tox writes its Python record over the file next: merged again after that (after_ensure)
        state.adopted = (entry, list(originals))
    set_prompt(env_dir, prompt)
    for folder in (tox_env.conf["env_tmp_dir"], tox_env.conf["env_log_dir"]):
        Path(folder).mkdir(parents=True, exist_ok=True)
    state.restored = True


def _begin(tox_env: ToxEnv, config: Config, state: EnvState, result: KeyResult, *, may_restore: bool) -> None:
    """Restore, or else remember that a store is due once the install steps are over."""
    key = result.key
    state.key = key
    state.package_layer = result.package_layer
    refresh = settings_mod.refresh(tox_env)
    early, missed, state.early, state.early_miss = state.early, state.early_miss, None, None
    if may_restore and not refresh:
        already = missed if early is not None and early.key == key else None
        if _restore(tox_env, config, state, key, result.originals, missed=already):
            return
        partial.restore_nearest(tox_env, config, result)  # the nearest entry, for the install to finish
    else:
        why = "refresh asked" if refresh else state.reason or "tox recreated the env"
        LOG.warning("%s", describe_miss(key, why, label=LABEL))
        _required(tox_env, RestoreResult(False, key.digest, Path(tox_env.env_dir), detail=why))
        # a fresh install the user asked for (-r, refresh) or one after an unfit entry replaces what the cache holds
        state.replace = True
    state.pending = True
    state.started = time.perf_counter()
    LOG.info("venv cache key %s: %s", key.short, canonical_json(key.document))


def before_create(tox_env: ToxEnv) -> bool:
    """tox is about to create the env's venv: restore the entry in its place when the key's inputs are all known
    already; True on a hit (tox's creator is skipped). Not with ``-r`` or a refresh; in the setup tox repeats after
    its own recreate only by the rules of the first install step (a run env, not restored before in this run, whose
    key predicts every layer exactly); else the first install step decides, as on any miss."""
    state = RUN.state(tox_env)
    state.early = state.early_miss = None
    again = state.first_step_seen  # tox's second setup, after its recreate
    packaging, lock_runner = internals.is_packaging_env(tox_env), internals.is_lock_runner(tox_env)
    if again and (state.restored or packaging or lock_runner):
        return False
    config = _active(tox_env)
    if config is None or tox_env.conf["recreate"] or settings_mod.refresh(tox_env):
        return False
    restored = False

    def attempt(cache: Cache, python: str, answer: internals.UvFind | None) -> bool:
        """Key the env for this base interpreter and restore its entry; True on a hit (or when nothing is keyed)."""
        nonlocal restored
        identity = cache.interpreter_identity(python)
        if packaging:
            result = package_env_key(tox_env, internals.build_requires(tox_env), config, interpreter=identity)
        elif lock_runner:
            sync_cmd = internals.lock_sync_command(tox_env)
            if sync_cmd is None:
                return True
            result = lock_key(tox_env, sync_cmd, config, interpreter=identity)
        else:
            arguments = internals.predicted_deps(tox_env)
            if arguments is None:
                return True
            result = deps_key(tox_env, arguments, config, interpreter=identity)
            if not _installs_something(result) or (again and not result.exact):
                return True
        state.early = result
        env_dir = Path(tox_env.env_dir)
        current = internals.read_info(env_dir)  # the ToxEnv record tox wrote for this run
        found = cache.restore(result.key, env_dir, project_root=tox_env.core["tox_root"],
                              tool_files=internals.tool_files(tox_env))
        if not found.hit:
            state.early_miss = found  # the first install step reports it and goes on as on any miss
            return False
        _adopt(tox_env, state, current, internals.fresh_prompt(tox_env), result.originals, before_create=True)
        if answer is not None:  # uv's last answer was the guess: compared with today's before the env is used
            state.uv_check = (answer, identity)
            state.check_at_package = not (packaging or lock_runner) and internals.has_package_step(tox_env)
        LOG.warning("%s", describe_restore(found, label=LABEL))
        _warn_unpinned(config, state, result)
        state.key, state.package_layer = result.key, result.package_layer
        if packaging:
            state.section, state.steps = internals.SECTION_PACKAGE_ENV, {internals.REQUIRES_STEP}
        elif lock_runner:
            state.steps = set()
        else:
            state.steps = {internals.DEPS_STEP}
        restored = True
        return True

    def act() -> None:
        cache = Cache.from_config(config)
        python, answer = internals.base_interpreter(tox_env, config.cache_path)
        if python is None or attempt(cache, python, answer) or answer is None:
            return
        picked = answer.result()  # the guess missed: uv's own answer may not
        if picked is not None and picked != python:
            state.early = state.early_miss = None
            attempt(cache, picked, None)

    _guard(tox_env, "restore", act)
    return restored


def check_interpreter(tox_env: ToxEnv, *, in_setup: bool = True) -> None:
    """The env was restored for the interpreter uv picked the last time: now that uv answered for this run, a
    different pick makes tox recreate the env (its own ``Recreate``; the second setup creates it as usual). Outside
    the setup, where tox cannot recreate, it is one warning."""
    state = RUN.state(tox_env)
    check, state.uv_check = state.uv_check, None
    if check is None:
        return
    answer, identity = check
    python = answer.result()
    config = _active(tox_env)
    try:
        same = python is not None and (interpreter_identity(python) if config is None else
                                       Cache.from_config(config).interpreter_identity(python)) == identity
    except VenvCacheError:
        same = False
    if same:
        return
    why = (f"uv picks {python or 'no interpreter'} for this env now, not {identity.get('base_executable')} the venv "
           "cache restored it for")
    if not in_setup:
        LOG.warning("venv cache: %s; run tox with -r to create the env anew", why)
        return
    from tox.tox_env.errors import Recreate

    state.first_step_seen = True  # what follows is tox's second setup: it creates the env (tox recreates only once)
    raise Recreate(why)


def after_ensure(tox_env: ToxEnv) -> None:
    """tox wrote its ``Python`` record over the restored env's ``.tox-info.json``: put the entry's records back."""
    state = RUN.state(tox_env)
    if state.adopted is None:
        return
    (entry, originals), state.adopted = state.adopted, None
    env_dir = Path(tox_env.env_dir)
    internals.write_info(env_dir, internals.adopt_info(entry, internals.read_info(env_dir), originals))


def _installs_something(result: KeyResult) -> bool:
    """Whether the env's install steps put anything into it (a bare venv is as fast to create as to restore)."""
    inputs = result.key.document["inputs"]
    return bool(inputs["deps"]["requirements"] or inputs["deps"]["options"] or inputs["dependency_groups"]["names"]
                or inputs["package"])


def _required(tox_env: ToxEnv, result: RestoreResult) -> None:
    """A miss where ``--venv-cache-require`` asks for a hit: stop the env (tox's ``Fail``) before any installer."""
    if settings_mod.require(tox_env):
        from tox.tox_env.errors import Fail

        raise Fail(str(RequireHitError(result, label=tox_env.name)))


def _second_setup(state: EnvState) -> bool:
    """Called at an env's first install step: False the first time in this run; True when tox set the env up again
    after its own recreate (the plugin then forgets any pending store: that env is gone)."""
    again = state.first_step_seen
    state.first_step_seen = True
    if again:
        state.pending = False
    return again


def on_deps(tox_env: ToxEnv, arguments: Any) -> None:
    """``tox_on_install(PythonRun, deps)``: restore on a hit, else arm the store."""
    state = RUN.state(tox_env)
    if state.deps_added:
        state.deps_added = False
        _guard(tox_env, "restore", lambda: _switch_to_entry(tox_env, arguments))
        return
    again = _second_setup(state)
    config = _active(tox_env)
    if config is None:
        return
    if internals.deps_recorded(internals.read_info(Path(tox_env.env_dir))):
        return  # tox's own reuse of an existing env: faster than any restore, and nothing new to store

    def act() -> None:
        result = deps_key(tox_env, arguments, config)
        if not _installs_something(result):
            return
        _warn_unpinned(config, state, result)
        state.steps = {internals.DEPS_STEP}
        recreate = bool(tox_env.conf["recreate"])
        may_restore = not recreate
        if recreate:
            state.reason = "recreate"
        elif again and state.restored:
            may_restore, state.reason = False, "the restored entry did not fit: tox recreated the env"
        elif again and not result.exact:
            # a restore in tox's second setup must not make tox recreate once more (an error in tox)
            may_restore, state.reason = False, "tox recreated the env and the package metadata is dynamic"
        _begin(tox_env, config, state, result, may_restore=may_restore)

    _guard(tox_env, "restore", act)


def _switch_to_entry(tox_env: ToxEnv, arguments: Any) -> None:
    """tox reuses the env and is about to install the deps added since it was made (a branch switch): when the cache
    holds the env for this run's deps and the key predicts its every layer, make tox recreate the env (its own
    ``Recreate``), whose second setup restores that entry in place of the venv; else tox installs the additions."""
    config = _active(tox_env)
    if config is None or tox_env.conf["recreate"] or settings_mod.refresh(tox_env):
        return
    result = deps_key(tox_env, arguments, config)
    if not result.exact or not Cache.from_config(config).is_complete(result.key.digest):
        return
    from tox.tox_env.errors import Recreate

    raise Recreate(f"deps were added and the venv cache holds the env with them ({result.key.short})")


def on_install(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> None:
    """Any other install step of a run env: the env's own steps are remembered; the package step stores (after the
    package's own deps); any other later step stores as it is."""
    state = RUN.state(tox_env)
    if section == internals.SECTION_RUN and of_type in internals.ENV_STEPS:
        if state.pending:
            state.steps.add(of_type)
        return
    store_package_envs(tox_env)  # the package is built: its packaging envs are set up
    if section == internals.SECTION_RUN_ENV and of_type == internals.PACKAGE_STEP and state.package_layer:
        on_package(tox_env, arguments)
        return
    store(tox_env)


def on_package(tox_env: ToxEnv, packages: Any) -> None:
    """``tox_on_install(RunToxEnv, package)``: the package is built and its deps known. On a miss, install them now as
    tox's own step and store; on a hit, check that the entry holds exactly these deps (else tox's rules apply and
    the entry is replaced by the env tox ends up with)."""
    state = RUN.state(tox_env)
    if not (state.pending or state.restored) or state.key is None or _active(tox_env) is None:
        return
    requirements = internals.package_requirements(tox_env, packages)
    if requirements is None:
        store(tox_env)  # these packages install their own deps: the entry holds the env's own layers only
        return
    if state.restored and not state.pending:
        recorded = internals.recorded_requirements(internals.read_info(Path(tox_env.env_dir)),
                                                   internals.SECTION_RUN_ENV, internals.PACKAGE_DEPS_STEP)
        if recorded == requirements:
            return  # tox finds the package's deps installed and installs only the package
        removed = sorted(set(recorded or ()) - set(requirements))
        LOG.warning("venv cache entry %s holds other package deps than this build needs (%s): %s", state.key.short,
                    ", ".join(removed or sorted(set(requirements) - set(recorded or ()))),
                    "tox recreates the env, and the cache stores the new one" if removed else
                    "installing the added ones and replacing the entry")
        state.replace = True
        if removed:
            return  # tox's installer raises Recreate; its second setup installs and stores
        state.pending = True
    internals.install_package_deps(tox_env, requirements)  # tox's own step: a failure is tox's install failure
    state.steps.add(internals.PACKAGE_DEPS_STEP)
    store(tox_env)


def store_package_envs(tox_env: ToxEnv) -> None:
    """Store the packaging envs of a run env whose store is due: once the run env reaches its package step (or its
    commands, or its teardown) they are set up, and tox tears the last one down without a hook."""
    for package_env in RUN.package_envs(tox_env):
        found = RUN.envs.get(package_env)
        if found is not None and found.pending:
            with internals.package_env_display(tox_env, package_env):  # its lines carry its own name
                store(package_env)


def store(tox_env: ToxEnv) -> None:
    """Store the env if a store is due and every install step it depends on succeeded."""
    if not internals.is_packaging_env(tox_env):
        store_package_envs(tox_env)
    state = RUN.state(tox_env)
    if not state.pending or state.key is None:
        return
    state.pending = False
    key = state.key
    config = _active(tox_env)
    if config is None:
        return
    env_dir = Path(tox_env.env_dir)
    info = internals.read_info(env_dir)
    run_steps = state.steps - {internals.PACKAGE_DEPS_STEP} if state.package_layer else state.steps
    if (not internals.steps_recorded(info, run_steps, section=state.section)
            or (state.package_layer and internals.PACKAGE_DEPS_STEP in state.steps
                and internals.recorded_step(info, internals.SECTION_RUN_ENV, internals.PACKAGE_DEPS_STEP) is None)):
        LOG.warning("%s", describe_not_stored(key, "the deps install did not succeed", label=LABEL))
        return
    if not partial.may_store(tox_env, LOG):
        return

    built = _build_seconds(tox_env, state)

    def act() -> None:
        with _entry_view(tox_env):
            result = Cache.from_config(config).store(key, env_dir, project_root=tox_env.core["tox_root"],
                                                     replace=state.replace, exclude=_session_folders(tox_env),
                                                     metadata={"tox_env": tox_env.name}, build_seconds=built)
        state.build_seconds = built
        LOG.warning("%s", describe_store(result, label=LABEL))

    _guard(tox_env, "store", act)


def _build_seconds(tox_env: ToxEnv, state: EnvState) -> float | None:
    """How long the install the plugin watched took: from the miss to the store, less what the env's packaging envs
    took in between (stored, and counted, on their own)."""
    if state.started is None:
        return None
    spent = time.perf_counter() - state.started
    for package_env in RUN.package_envs(tox_env) if not internals.is_packaging_env(tox_env) else ():
        found = RUN.envs.get(package_env)
        if found is not None and found.build_seconds is not None and found.started is not None \
                and found.started >= state.started:
            spent -= found.build_seconds
    return max(spent, 0.0)


def _session_folders(tox_env: ToxEnv) -> list[str]:
    """``log/`` and ``tmp/`` (tox's ``env_log_dir``/``env_tmp_dir`` when inside the env), and a packaging env's build
    output (``dist/``, ``.meta/``): left out of the entry."""
    env_dir = Path(tox_env.env_dir)
    folders = (Path(tox_env.conf["env_log_dir"]), Path(tox_env.conf["env_tmp_dir"]))
    names = {folder.name for folder in folders if folder.parent == env_dir}
    if internals.is_packaging_env(tox_env):
        names.update(name for name in internals.PACKAGE_ENV_BUILD_FOLDERS if (env_dir / name).exists())
    return sorted(names)


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
    """Last chance to store (setup failed after the deps, ``--notest``, a packaging env after its builds)."""
    store(tox_env)


# -- packaging envs (.pkg) -------------------------------------------------------------------------------------------
def on_package_env_install(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> None:
    """``tox_on_install`` of a packaging env: restore (or arm the store) at ``requires``, its first step; remember
    the later ones (``deps``, ``requires_for_build_<type>``): the store at teardown needs them all recorded."""
    if section != internals.SECTION_PACKAGE_ENV:
        return
    state = RUN.state(tox_env)
    state.section = internals.SECTION_PACKAGE_ENV
    if of_type != internals.REQUIRES_STEP:
        if state.pending:
            state.steps.add(of_type)
        return
    again = _second_setup(state)
    config = _active(tox_env)
    if config is None:
        return
    if internals.recorded_step(internals.read_info(Path(tox_env.env_dir)), internals.SECTION_PACKAGE_ENV,
                               internals.REQUIRES_STEP) is not None:
        return  # tox reuses its packaging env

    def act() -> None:
        result = package_env_key(tox_env, arguments, config)
        state.steps = {internals.REQUIRES_STEP}
        recreate = bool(tox_env.conf["recreate"])
        if recreate:
            state.reason = "recreate"
        elif again:
            state.reason = "tox recreated the env"
        _begin(tox_env, config, state, result, may_restore=not recreate and not again)

    _guard(tox_env, "restore", act)


# -- tox-uv's uv-venv-lock-runner ------------------------------------------------------------------------------------
def before_uv_sync(tox_env: ToxEnv, sync_cmd: Sequence[str], install_pkg: str | None) -> None:
    """Right before ``uv sync``: check uv's pick for an env restored in place of its venv (another pick: tox
    recreates it); restore a venv created in this run where no restore was tried before (``uv sync`` then only checks
    it and installs the project), or arm the store; after tox's recreate of a restored env, store the new one."""
    state = RUN.state(tox_env)
    again = _second_setup(state)
    if state.uv_check is not None:
        check_interpreter(tox_env)
    if not state.created or install_pkg is not None:
        return  # restored in place of the venv, a reused venv (tox's own reuse), or one for an external package
    config = _active(tox_env)
    if config is None:
        return

    def act() -> None:
        result = lock_key(tox_env, sync_cmd, config)
        state.steps = set()
        recreate = bool(tox_env.conf["recreate"])
        if recreate:
            state.reason = "recreate"
        elif again:
            state.reason = ("the restored entry did not fit: tox recreated the env" if state.restored
                            else "tox recreated the env")
        _begin(tox_env, config, state, result, may_restore=not recreate and not again)

    _guard(tox_env, "restore", act)


def after_uv_sync(tox_env: ToxEnv) -> None:
    """``uv sync`` succeeded: store on a miss."""
    partial.synced(tox_env)
    store(tox_env)
