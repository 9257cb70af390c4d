"""The two places nox_venvcache hooks into a nox session: its install/run calls, and the end of the session.

``Session.install``/``run_install``/``run`` are wrapped once, process-wide; the wrappers do nothing unless the
session's env is a :class:`~nox_venvcache.backend.CachedVirtualEnv`. ``SessionRunner.execute`` is wrapped so the env
learns whether the session succeeded (only then is anything stored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nox.logger import logger

from . import _nox_internals as internals
from .backend import CachedVirtualEnv


def cached_env(session: Any) -> CachedVirtualEnv | None:
    """The session's env when it is ours, else None."""
    env = internals.env_of_runner(internals.runner_of(session))
    return env if isinstance(env, CachedVirtualEnv) else None


def _make_wrapper(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    if name == "run":
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            env = cached_env(self)
            if env is None or not args:
                return original(self, *args, **kwargs)
            return env.on_command(args, kwargs, lambda: original(self, *args, **kwargs),
                                  install_only=internals.install_only(self))

        return run

    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        env = cached_env(self)
        if env is None or not args or internals.is_reused(env):
            return original(self, *args, **kwargs)
        return env.on_step(name, args, kwargs, lambda: original(self, *args, **kwargs))

    return step


def _after_execute(runner: Any) -> None:
    env = internals.env_of_runner(runner)
    if not isinstance(env, CachedVirtualEnv):
        return
    try:
        env.finish(internals.succeeded(runner))
    except Exception as exc:  # the cache must never turn a session's result into a crash
        logger.warning(f"venvcache: storing failed: {exc!r}")


def install() -> None:
    """Wrap the session methods and the runner (idempotent)."""
    internals.patch_session_methods(_make_wrapper)
    internals.patch_execute(_after_execute)
