"""nox backend ``cached``: whole session envs restored from and stored to venvcache (issue 4).

``import nox_venvcache`` at the top of a noxfile registers the backend, then any of::

    @nox.session(venv_backend="cached")              # uv when nox finds it, else virtualenv
    nox.options.default_venv_backend = "cached"
    NOX_DEFAULT_VENV_BACKEND=cached nox ...

(``-db cached`` cannot work: nox builds the choices of ``-db``/``-fb`` from its backend registry when it is imported,
before any noxfile runs.) ``cached-uv``, ``cached-virtualenv`` and ``cached-venv`` pick the inner backend explicitly.
Settings: :func:`configure` and, per session, ``venv_params=params(...)``; see :mod:`nox_venvcache.settings`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from . import _nox_internals
from .settings import configure, params

__all__ = ["BACKENDS", "configure", "params", "register"]

#: registry name -> inner backend (None: uv when nox finds it, else virtualenv)
BACKENDS: dict[str, str | None] = {"cached": None, "cached-uv": "uv", "cached-virtualenv": "virtualenv",
                                   "cached-venv": "venv"}


def _fallback_factory(inner: str | None) -> Callable[..., Any]:
    """What ``cached`` means when this nox no longer matches: nox's own backend, uncached."""
    import nox.virtualenv

    def factory(*args: Any, venv_backend: str | None = None, **kwargs: Any) -> Any:
        backend = inner or ("uv" if nox.virtualenv.HAS_UV else "virtualenv")
        accepted = _nox_internals.virtualenv_kwargs()
        return nox.virtualenv.VirtualEnv(*args, venv_backend=backend,
                                         **{k: v for k, v in kwargs.items() if k in accepted})

    return factory


def register() -> None:
    """Add the ``cached*`` backends to nox (idempotent). Done on import."""
    registry = _nox_internals.all_venvs()
    problems = _nox_internals.problems()
    if problems:
        warnings.warn(f"nox_venvcache does not know this nox ({_nox_internals.nox_version()}): "
                      f"{'; '.join(problems)}. The 'cached' backends run uncached.", RuntimeWarning, stacklevel=2)
        for name, inner in BACKENDS.items():
            registry[name] = _fallback_factory(inner)
        return
    from . import hooks
    from .backend import CachedVirtualEnv

    hooks.install()
    for name, inner in BACKENDS.items():
        registry[name] = functools.partial(CachedVirtualEnv, venv_backend=inner) if inner else CachedVirtualEnv


register()
