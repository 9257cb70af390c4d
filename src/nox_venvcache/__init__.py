"""nox backend ``cached``: whole session envs restored from and stored to venvcache (issue 4).

``import nox_venvcache`` at the top of a noxfile registers the backend, then any of::

    @nox.session(venv_backend="cached")              # uv when nox finds it, else virtualenv
    nox.options.default_venv_backend = "cached"
    NOX_DEFAULT_VENV_BACKEND=cached nox ...

(``-db cached`` cannot work: nox builds the choices of ``-db``/``-fb`` from its backend registry when it is imported,
before any noxfile runs.) ``cached-uv``, ``cached-virtualenv`` and ``cached-venv`` pick the inner backend explicitly.

For one run, without editing the noxfile: ``NOX_VENV_CACHE=1 nox ...`` (the noxfile imports ``nox_venvcache``) or
``python -m nox_venvcache ...`` (it need not) wrap nox's own ``virtualenv``, ``venv`` and ``uv`` backends, so every
session that would get one of them gets it cached, whatever backend it names.
Settings: :func:`configure` and, per session, ``venv_params=params(...)``; see :mod:`nox_venvcache.settings`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from .settings import ENV_SWITCH, configure, flag, params

__all__ = ["BACKENDS", "WRAPPED", "configure", "params", "register"]

#: registry name -> inner backend (None: uv when nox finds it, else virtualenv)
BACKENDS: dict[str, str | None] = {"cached": None, "cached-uv": "uv", "cached-virtualenv": "virtualenv",
                                   "cached-venv": "venv"}
#: nox's own backends that ``NOX_VENV_CACHE=1`` replaces by their cached variant
WRAPPED = ("virtualenv", "venv", "uv")


def _warn(message: str) -> None:
    warnings.warn(f"nox_venvcache: {message}", RuntimeWarning, stacklevel=3)


def register() -> None:
    """Add the ``cached*`` backends to nox (idempotent). Done on import, and never raises: with a nox it does not know,
    it warns and registers nox's own backends under the ``cached*`` names (uncached), or nothing at all when even
    nox's backend registry is not what it expects."""
    try:
        from . import _nox_internals as internals

        registry = internals.all_venvs()
        problems = internals.problems()
    except Exception as exc:  # an import in a noxfile must not fail, whatever nox looks like
        _warn(f"this nox cannot be used ({type(exc).__name__}: {exc}); the 'cached' backends are not registered")
        return
    if problems:
        _warn(f"does not know this nox ({internals.nox_version()}): {'; '.join(problems)}. "
              "The 'cached' backends run uncached.")
        for name, inner in BACKENDS.items():
            registry[name] = internals.fallback_factory(inner)
        return
    try:
        from . import hooks
        from .backend import CachedVirtualEnv

        hooks.install()
    except Exception as exc:  # problems() missed something: still no exception in the noxfile
        _warn(f"cannot hook into this nox ({type(exc).__name__}: {exc}); the 'cached' backends run uncached")
        for name, inner in BACKENDS.items():
            registry[name] = internals.fallback_factory(inner)
        return
    for name, inner in BACKENDS.items():
        factory: Callable[..., Any] = functools.partial(CachedVirtualEnv, venv_backend=inner) if inner \
            else CachedVirtualEnv
        registry[name] = factory
    if flag(ENV_SWITCH):  # the one-run switch: nox's own backends become cached ones
        for name in WRAPPED:
            registry[name] = functools.partial(CachedVirtualEnv, venv_backend=name)


register()
