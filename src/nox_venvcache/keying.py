"""The cache keys of nox sessions.

Every key holds the interpreter identity (full version, ABI, platform, real base executable), the inner backend
(uv or virtualenv) with its version, the remaining ``venv_params``, the session's name (sessions do not overwrite
each other's entries), the salt and, for the fast path, the content hashes of the declared lock files: together the
session's *family* (:func:`family`). Then either

- ``steps``: the documents of the session's whole install sequence (:func:`sequence_key`): every sequence keeps its
  own entry, found call by call through :mod:`nox_venvcache.sequences`, or
- nothing more (:func:`lock_files_key`): the fast path's first entry, restored while nox creates the env, before any
  call is known; another sequence of the same lock files gets a ``sequence_key`` of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from venvcache_core import Key, build_key

from .sequences import digest

TOOL = "nox"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def environment_inputs(*, backend: str, backend_version: str, venv_params: Sequence[str],
                       session: str) -> dict[str, Any]:
    """What every key of this session shares besides the interpreter and the salt."""
    return {"backend": backend, "backend_version": backend_version, "venv_params": list(venv_params),
            "session": session, "venvcache": _version("venvcache")}


def family(*, interpreter: Mapping[str, Any], environment: Mapping[str, Any], salt: str) -> str:
    """What every sequence of one session shares (``environment`` includes the lock files on the fast path)."""
    return digest({"interpreter": dict(interpreter), "inputs": dict(environment), "salt": salt, "tool": TOOL})


def sequence_key(*, interpreter: Mapping[str, Any], environment: Mapping[str, Any],
                 steps: Sequence[Mapping[str, Any]], salt: str) -> Key:
    """The key of one whole install sequence of a session."""
    return build_key(interpreter=interpreter, inputs={**environment, "steps": [dict(s) for s in steps]}, salt=salt,
                     tool=TOOL)


def lock_files_key(*, interpreter: Mapping[str, Any], environment: Mapping[str, Any], salt: str) -> Key:
    """Fast-path key: the session's environment with its declared files' contents (``with_lock_files``)."""
    return build_key(interpreter=interpreter, inputs=dict(environment), salt=salt, tool=TOOL)


def with_lock_files(environment: Mapping[str, Any], lock_files: Mapping[str, str]) -> dict[str, Any]:
    return {**environment, "lock_files": dict(lock_files)}


def inner_backend_version(backend: str, uv_version: str, interpreter: Mapping[str, Any]) -> str:
    """The version of what creates the env and installs into it (it decides the env's layout and seeded tools)."""
    if backend == "uv":
        return uv_version
    if backend == "virtualenv":
        return _version("virtualenv")
    return str(interpreter.get("version", ""))
