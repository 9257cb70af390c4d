"""Restore a tox env's venv in place of creating it: the run envs of ``virtualenv`` and tox-uv's ``uv-venv-runner``
and their packaging envs (``.pkg``), and tox-uv's ``uv-venv-lock-runner`` (see ``lock_runner``).

tox creates a venv (virtualenv, ``uv venv``) only for an env without a ``Python`` record, before its first install step.
Every input of the key is known by then: the deps and dependency groups (config), the package's own metadata
(pyproject.toml and the files that define it), the build backend's requirements (``[build-system]``), for the lock
runner ``uv.lock`` and the ``uv sync`` command, and the base interpreter (virtualenv's discovery; for tox-uv, uv's own
answer to the request ``uv venv`` gets). So on a hit the entry is put where the venv would be, tox's creator never runs,
and tox records its ``Python`` section as if it had created the env; the entry's install records are merged back after
that. On a miss tox creates the venv and the plugin goes on as before (at the first install step). tox has no hook
before it creates a venv: the plugin registers subclasses of these env types (``trylast``, same ids and class names)
built in ``_tox_internals``.

Light on purpose: an env tox reuses never calls the creator, and ``after_ensure`` returns at once for it.
"""

from __future__ import annotations

from typing import Any

from . import _tox_internals as internals
from .state import RUN


def before_create(tox_env: Any) -> bool:
    """In place of the env's creator: True when the venv was restored (the creator is not run)."""
    from . import lifecycle

    return lifecycle.before_create(tox_env)


def after_ensure(tox_env: Any) -> None:
    """tox wrote the env's ``Python`` record: the restored entry's records go back in (nothing to do otherwise)."""
    found = RUN.envs.get(tox_env)
    if found is not None and found.adopted is not None:
        from . import lifecycle

        lifecycle.after_ensure(tox_env)


def wrap(base: type[Any]) -> type[Any]:
    """A subclass of a run or packaging env type that restores instead of creating its venv when the cache can."""
    return internals.wrap_env_class(base, before_create=before_create, after_ensure=after_ensure)
