"""The tox 4 hooks of venvcache (entry point group ``tox``): installing the package turns the cache on.

Each hook only routes to :mod:`tox_venvcache.lifecycle`; none of them may break a tox run, so an unexpected error
here is one warning line and tox goes on as if the plugin were not installed.

Installed but idle costs nothing: this module imports only tox and the light ``state``/``config``/``_tox_internals``
modules; ``lifecycle`` (and with it the core) is imported when an env is fresh or a store is due. A run that
reuses every env reads each env's ``.tox-info.json`` once and returns.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tox.plugin import impl

from . import _tox_internals as internals
from . import config
from . import state as run_state

if TYPE_CHECKING:
    from tox.config.cli.parser import ToxParser
    from tox.config.sets import ConfigSet, EnvConfigSet
    from tox.session.state import State
    from tox.tox_env.api import ToxEnv
    from tox.tox_env.register import ToxEnvRegister

F = TypeVar("F", bound=Callable[..., None])


def _never_fails(hook: F) -> F:
    """A hook that logs a warning instead of raising: the cache is an optimisation, never a reason to fail. tox's own
    outcomes pass through (``Fail``/``Recreate``/``Skip``, a failed install's ``SystemExit``): the package deps step
    the plugin runs for tox is tox's step, and fails as tox's."""

    @functools.wraps(hook)
    def safe(*args: Any, **kwargs: Any) -> None:
        from tox.tox_env.errors import Fail, Recreate, Skip

        try:
            hook(*args, **kwargs)
        except (Fail, Recreate, Skip):
            raise
        except Exception as exc:  # the cache must never break a tox run
            logging.getLogger("tox_venvcache").warning("venv cache skipped: %s: %s", type(exc).__name__, exc)

    return safe  # type: ignore[return-value]


@impl(trylast=True)
@_never_fails
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    """Wrap the env types whose venv the cache can restore in place of creating it, and tox-uv's
    ``uv-venv-lock-runner`` (registered by tox and tox-uv before us: trylast)."""
    _wrap_early(register)
    base = internals.lock_runner_class()
    if base is None or internals.lock_runner_problems(base):
        return
    try:
        current = register.runner(internals.LOCK_RUNNER_ID)
    except KeyError:
        return
    if issubclass(current, base) and not getattr(current, "venvcache_wrapped", False):
        from .lock_runner import wrap

        register.add_run_env(wrap(current))


def _wrap_early(register: ToxEnvRegister) -> None:
    """``virtualenv``/``uv-venv-runner`` and their packaging env types, when tox's internals are as expected."""
    from tox.tox_env.python.api import Python

    if internals.problems():
        return  # the plugin is off in this run (and says why at the first env)
    from .early import wrap

    for ids, lookup, add in ((internals.EARLY_RUN_ENVS, register.runner, register.add_run_env),
                             (internals.EARLY_PACKAGE_ENVS, register.package, register.add_package_env)):
        for env_id in ids:
            try:
                current: Any = lookup(env_id)
            except KeyError:
                continue  # tox-uv not installed
            if issubclass(current, Python) and not getattr(current, "venvcache_wrapped", False):
                add(wrap(current))


@impl
def tox_add_option(parser: ToxParser) -> None:
    """``--no-venv-cache`` and ``--venv-cache-refresh``."""
    config.add_options(parser)


@impl
@_never_fails
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    """A new run: ``[virtualenv-cache]`` is read at the first env that needs the cache. When tox is about to provision
    ``.tox/.tox`` for ``requires`` the host does not meet, add venvcache (this build) to what it provisions, so the
    provisioned tox caches its envs too; where no pin to this build can be made, say once how to add it."""
    run_state.configure(state)
    requires = core_conf["requires"]
    unmet = internals.unmet_requires(requires)
    if not unmet or any(getattr(req, "name", "").lower() == "venvcache" for req in requires):
        return
    from .provision import carry_plugin

    log = logging.getLogger("tox_venvcache")
    added = carry_plugin(requires)
    if added is not None and any(req is added for req in core_conf["requires"]):  # tox provisions from this list
        log.warning("venv cache: tox provisions .tox/.tox for requires the host does not meet (%s); venvcache is "
                    "provisioned with it (%s)", ", ".join(unmet), added)
        return
    log.warning("venv cache off in this run: tox provisions .tox/.tox for requires the host does not meet (%s), and "
                "that tox has no venvcache; add venvcache to requires in [tox] to cache its envs", ", ".join(unmet))


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:
    """``virtualenv_cache = false`` opts one env out."""
    config.add_env_config(env_conf)


@impl
@_never_fails
def tox_on_install(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> None:
    """Restore before a run env's deps step (a packaging env's ``requires``); store once the env's layers are in."""
    from tox.tox_env.runner import RunToxEnv

    run_env = isinstance(tox_env, RunToxEnv)
    if not run_env and not internals.is_packaging_env(tox_env):
        return
    env_state = run_state.RUN.envs.get(tox_env)
    if env_state is not None and env_state.uv_check is not None and (
            not env_state.check_at_package
            or (section, of_type) == (internals.SECTION_RUN_ENV, internals.PACKAGE_STEP)):
        from . import lifecycle

        lifecycle.check_interpreter(tox_env)
    if _reused(tox_env, arguments, section, of_type):
        return
    from . import lifecycle

    if not run_env:
        lifecycle.on_package_env_install(tox_env, arguments, section, of_type)
    elif section == internals.SECTION_RUN and of_type == internals.DEPS_STEP:
        lifecycle.on_deps(tox_env, arguments)
    else:
        lifecycle.on_install(tox_env, arguments, section, of_type)


def _reused(tox_env: ToxEnv, arguments: Any, section: str, of_type: str) -> bool:
    """The fast path of an env tox reuses (nothing recorded by the plugin for it in this run): True when the hook has
    nothing to do. At the env's first step that is tox's own record of the step (unless tox is about to install
    added deps into it: the cache may hold the env with them); at a later one, no restore and no pending store."""
    env_state = run_state.RUN.state(tox_env)
    first = (section, of_type) in {(internals.SECTION_RUN, internals.DEPS_STEP),
                                   (internals.SECTION_PACKAGE_ENV, internals.REQUIRES_STEP)}
    if first:
        info = internals.read_info(tox_env.env_dir)
        if env_state.first_step_seen or internals.recorded_step(info, section, of_type) is None:
            return False
        env_state.first_step_seen = True  # tox's second setup after its recreate must know it is one
        if section == internals.SECTION_RUN and internals.deps_only_added(info, arguments):
            env_state.deps_added = True
            return False
        return True
    return not (env_state.restored or _store_due(tox_env))


def _store_due(tox_env: ToxEnv) -> bool:
    """Whether the env, or a packaging env of this run env, waits for its store."""
    envs = [tox_env, *run_state.RUN.package_envs(tox_env)]
    return any((found := run_state.RUN.envs.get(env)) is not None and found.pending for env in envs)


@impl
@_never_fails
def tox_before_run_commands(tox_env: ToxEnv) -> None:
    """Store an env that had no package to install (``skip_install``, ``no_package``)."""
    found = run_state.RUN.envs.get(tox_env)
    if found is not None and found.uv_check is not None:
        from . import lifecycle

        lifecycle.check_interpreter(tox_env, in_setup=False)
    if _store_due(tox_env):
        from . import lifecycle

        lifecycle.store(tox_env)


@impl
@_never_fails
def tox_env_teardown(tox_env: ToxEnv) -> None:
    """Store when setup stopped after the deps (a package build failed, ``--notest``), or a packaging env's."""
    if _store_due(tox_env):
        from . import lifecycle

        lifecycle.teardown(tox_env)
