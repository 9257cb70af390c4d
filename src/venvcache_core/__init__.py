"""venvcache core: a cache of whole virtual environments, independent of tox and nox.

``Cache.restore(key, dest)`` and ``Cache.store(key, src)`` are the API the tox and nox adapters use.
"""

from __future__ import annotations

from .cache import Cache, Entry, RestoreResult, StoreResult
from .config import Config, load
from .errors import NoSpaceError, VenvCacheError
from .inputs import (
    INSTALLER_ENV_VARS,
    Placeholders,
    RequirementWalk,
    installer_env,
    redact,
    requirement_files,
    unpinned,
    walk_requirements,
)
from .key import Key, build_key, file_digest, find_python, hash_files, interpreter_identity, make_key, venv_python
from .report import (
    describe_miss,
    describe_not_stored,
    describe_restore,
    describe_store,
    human_bytes,
    human_count,
    human_seconds,
)

__all__ = [
    "INSTALLER_ENV_VARS",
    "Cache",
    "Config",
    "Entry",
    "Key",
    "NoSpaceError",
    "Placeholders",
    "RequirementWalk",
    "RestoreResult",
    "StoreResult",
    "VenvCacheError",
    "build_key",
    "describe_miss",
    "describe_not_stored",
    "describe_restore",
    "describe_store",
    "file_digest",
    "find_python",
    "hash_files",
    "human_bytes",
    "human_count",
    "human_seconds",
    "installer_env",
    "interpreter_identity",
    "load",
    "make_key",
    "redact",
    "requirement_files",
    "unpinned",
    "venv_python",
    "walk_requirements",
]
