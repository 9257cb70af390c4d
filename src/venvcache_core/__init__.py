"""venvcache core: a cache of whole virtual environments, independent of tox and nox.

``Cache.restore(key, dest)`` and ``Cache.store(key, src)`` are the API the tox and nox adapters use; everything
the adapters, the ``virtualenv-cache`` CLI and users may import is listed in ``__all__`` below (the submodules
are internal and may change).
"""

from __future__ import annotations

from .cache import Cache, Entry, MissReason, RestoreResult, StoreResult
from .config import CONFIG_FILE, SECTION, Config, default_cache_root, from_mapping, load, project_id
from .errors import NoSpaceError, VenvCacheError
from .explain import Change, MissExplanation, RequireHitError, diff_documents, explain_miss
from .fsutil import stage_path
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
from .nearest import (
    Nearest,
    distribution_changes,
    installed_distributions,
    locked_distributions,
    nearest_entry,
    pinned_distributions,
)
from .progress import Progress, progress_wanted
from .report import (
    describe_miss,
    describe_not_stored,
    describe_partial,
    describe_restore,
    describe_store,
    human_bytes,
    human_count,
    human_saved,
    human_seconds,
    nearest_phrase,
)
from .resolve import Resolution, resolve_interpreter

__all__ = [
    "CONFIG_FILE",
    "INSTALLER_ENV_VARS",
    "LINK_MODES",
    "SECTION",
    "Cache",
    "Change",
    "Config",
    "Entry",
    "Key",
    "LinkMode",
    "MissExplanation",
    "MissReason",
    "Nearest",
    "NoSpaceError",
    "Placeholders",
    "Progress",
    "RequireHitError",
    "RequirementWalk",
    "Resolution",
    "RestoreResult",
    "StoreResult",
    "VenvCacheError",
    "build_key",
    "canonical_json",
    "copy_tree",
    "default_cache_root",
    "describe_miss",
    "describe_not_stored",
    "describe_partial",
    "describe_restore",
    "describe_store",
    "diff_documents",
    "distribution_changes",
    "explain_miss",
    "file_digest",
    "find_python",
    "from_mapping",
    "hash_files",
    "human_bytes",
    "human_count",
    "human_saved",
    "human_seconds",
    "installed_distributions",
    "installer_env",
    "interpreter_identity",
    "load",
    "locked_distributions",
    "make_key",
    "nearest_entry",
    "nearest_phrase",
    "pinned_distributions",
    "progress_wanted",
    "project_id",
    "redact",
    "requirement_files",
    "resolve_interpreter",
    "stage_path",
    "tool_versions",
    "unpinned",
    "venv_python",
    "walk_requirements",
]
