"""venvcache core: a cache of whole virtual environments, independent of tox and nox.

``Cache.restore(key, dest)`` and ``Cache.store(key, src)`` are the API the tox and nox adapters use; everything
the adapters, the ``virtualenv-cache`` CLI and users may import is listed in ``__all__`` below (the submodules
are internal and may change).
"""

from __future__ import annotations

from .cache import Cache, Entry, MissReason, RestoreResult, StoreResult
from .config import CONFIG_FILE, SECTION, Config, default_cache_root, from_mapping, load, project_id
from .errors import NoSpaceError, VenvCacheError
from .fsutil import stage_path
from .key import (
                  Key,
                  build_key,
                  canonical_json,
                  file_digest,
                  find_python,
                  hash_files,
                  interpreter_identity,
                  make_key,
                  tool_versions,
                  venv_python,
)
from .linkmode import LINK_MODES, LinkMode, copy_tree

__all__ = [
    "CONFIG_FILE",
    "LINK_MODES",
    "SECTION",
    "Cache",
    "Config",
    "Entry",
    "Key",
    "LinkMode",
    "MissReason",
    "NoSpaceError",
    "RestoreResult",
    "StoreResult",
    "VenvCacheError",
    "build_key",
    "canonical_json",
    "copy_tree",
    "default_cache_root",
    "file_digest",
    "find_python",
    "from_mapping",
    "hash_files",
    "interpreter_identity",
    "load",
    "make_key",
    "project_id",
    "stage_path",
    "tool_versions",
    "venv_python",
]
