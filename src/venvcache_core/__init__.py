"""venvcache core: a cache of whole virtual environments, independent of tox and nox.

``Cache.restore(key, dest)`` and ``Cache.store(key, src)`` are the API the tox and nox adapters use.
"""

from __future__ import annotations

from .cache import Cache, Entry, RestoreResult, StoreResult
from .config import Config, load
from .errors import NoSpaceError, VenvCacheError
from .key import Key, build_key, hash_files, interpreter_identity, make_key, venv_python

__all__ = [
    "Cache",
    "Config",
    "Entry",
    "Key",
    "NoSpaceError",
    "RestoreResult",
    "StoreResult",
    "VenvCacheError",
    "build_key",
    "hash_files",
    "interpreter_identity",
    "load",
    "make_key",
    "venv_python",
]
