"""The cache keys of nox sessions.

Every key holds the interpreter identity (full version, ABI, platform, real base executable), the inner backend
(uv or virtualenv) with its version, the remaining ``venv_params``, the session's env folder name (sessions do not
overwrite each other's entries) and the salt. Then either

- ``first_step``: the document of the session's first install call (zero configuration), or
- ``lock_files``: content hashes of declared files (the fast path, restored while nox creates the env).

Either way the entry records the session's whole install sequence, and the backend checks each later call against it
(see ``backend.py``): an entry is only ever served for the exact sequence that built it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from venvcache_core import Key, build_key

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


def first_step_key(*, interpreter: Mapping[str, Any], environment: Mapping[str, Any], step: Mapping[str, Any],
                   salt: str) -> Key:
    """Zero-config key: the session's environment and its first install call."""
    return build_key(interpreter=interpreter, inputs={**environment, "first_step": dict(step)}, salt=salt, tool=TOOL)


def lock_files_key(*, interpreter: Mapping[str, Any], environment: Mapping[str, Any],
                   lock_files: Mapping[str, str], salt: str) -> Key:
    """Fast-path key: the session's environment and its declared files' contents."""
    return build_key(interpreter=interpreter, inputs={**environment, "lock_files": dict(lock_files)}, salt=salt,
                     tool=TOOL)


def inner_backend_version(backend: str, uv_version: str, interpreter: Mapping[str, Any]) -> str:
    """The version of what creates the env and installs into it (it decides the env's layout and seeded tools)."""
    if backend == "uv":
        return uv_version
    if backend == "virtualenv":
        return _version("virtualenv")
    return str(interpreter.get("version", ""))
