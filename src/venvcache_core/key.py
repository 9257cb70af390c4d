"""The cache key: sha256 of a canonical JSON document of everything that decides what an env contains.

The document is kept with the entry and shown by ``virtualenv-cache key --explain`` so a miss can be explained.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .config import checkout_root
from .config import within as within_folder
from .errors import VenvCacheError

SCHEMA = 2  # bump when the layout of an entry or of this document changes (2: shared inputs, redaction)
KEY_RE = re.compile(r"[0-9a-f]{64}")

# Runs inside the interpreter being identified; prints one JSON object. Works on 3.8+.
_PROBE = r"""
import json, os, platform, sys, sysconfig
v = sys.version_info
version = "%d.%d.%d" % v[:3] + ("" if v.releaselevel == "final" else "%s%d" % (v.releaselevel[0], v.serial))
base = getattr(sys, "_base_executable", None) or sys.executable
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": version,
    "cache_tag": sys.implementation.cache_tag,
    "abiflags": getattr(sys, "abiflags", ""),
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
    "platform": sysconfig.get_platform(),
    "machine": platform.machine(),
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "base_executable": os.path.realpath(base),
}, sort_keys=True))
"""


@dataclass(frozen=True)
class Key:
    """A cache key: ``digest`` names the entry, ``document`` says what went into it."""

    digest: str
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def short(self) -> str:
        return self.digest[:8]

    def __str__(self) -> str:
        return self.digest


def canonical_json(document: Mapping[str, Any]) -> str:
    """The one JSON spelling of a key document (sorted keys, no spaces): what its digest is taken of."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_key(document: Mapping[str, Any]) -> Key:
    """Hash a key document (``schema`` is added so a format change never reuses old entries)."""
    doc = {"schema": SCHEMA, **document}
    return Key(hashlib.sha256(canonical_json(doc).encode()).hexdigest(), doc)


def check_key(digest: str) -> str:
    """Reject anything that is not a full hex digest (keys become directory names)."""
    if not isinstance(digest, str) or not KEY_RE.fullmatch(digest):
        raise VenvCacheError(f"{digest!r:.80} is not a cache key",
                             fix="a key is 64 hex digits; see 'virtualenv-cache list'")
    return digest


def venv_python(env: Path) -> Path:
    """The interpreter inside a virtual environment (``bin/python`` or ``Scripts/python.exe``)."""
    for candidate in (env / "bin" / "python", env / "Scripts" / "python.exe", env / "bin" / "python3"):
        if os.path.lexists(candidate):
            return candidate
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def find_python(spec: str | None) -> Path:
    """Resolve an interpreter given by name (``python3.12``) or path; default ``python3`` on PATH.

    A name is looked up in the absolute folders of PATH only: a relative entry (``.``, ``bin``) would find a file
    of whatever checkout the command runs in.
    """
    name = spec or "python3"
    search = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if os.path.isabs(p))
    found = shutil.which(name, path=search) if os.sep not in name else name
    if not found or not os.path.exists(found):
        raise VenvCacheError(f"interpreter {name!r} not found",
                             fix="install it, put it on PATH or set 'python' in the config")
    return Path(found)


@lru_cache(maxsize=64)
def _probe(python: str, stamp: tuple[int, int]) -> str:
    try:
        out = subprocess.run([python, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=60,
                             check=False)
    except OSError as exc:
        raise VenvCacheError(f"cannot run interpreter: {exc.strerror}", path=python,
                             fix="recreate the environment or choose another interpreter") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise VenvCacheError(f"interpreter failed to start: {last}", path=python,
                             fix="recreate the environment or choose another interpreter")
    return out.stdout


def interpreter_identity(python: str | os.PathLike[str]) -> dict[str, Any]:
    """Implementation, full version, ABI, platform and real base executable of an interpreter (or venv's python)."""
    path = os.fspath(python)
    try:
        st = os.stat(path)
    except OSError:
        raise VenvCacheError("interpreter does not exist or its link is dangling", path=path,
                             fix="recreate the environment or choose another interpreter") from None
    identity: dict[str, Any] = json.loads(_probe(path, (st.st_ino, st.st_mtime_ns)))
    return identity


def file_digest(path: Path) -> str:
    """sha256 of a file's content, read in 1 MiB chunks (the adapters key their referenced files with it)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def relative_name(path: Path, root: Path) -> str:
    """How a file is named in a key: relative to the project root, ``/``-separated, normalised."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # another drive on Windows
        rel = os.path.abspath(path)
    return Path(os.path.normpath(rel)).as_posix()


MAX_LOCK_FILES = 10_000  # files one set of lock patterns may match ("/usr/**" ran for minutes)
MAX_LOCK_BYTES = 1 << 30  # and their total size


def _glob_prefix(path: str) -> str:
    """The folder a glob pattern can only match below: its parts before the first one with a wildcard."""
    parts = path.split(os.sep)
    for index, part in enumerate(parts):
        if glob.has_magic(part):
            return os.sep.join(parts[:index]) or os.sep
    return path


def hash_files(patterns: Iterable[str], root: Path, *, source: Path | None = None,
               within: Path | None = None) -> dict[str, str]:
    """Content hashes of lock files, by normalised relative name. A missing file or an empty glob is an error.

    Every file must lie inside ``within`` (default: the checkout of ``root``, see :func:`config.checkout_root`) once
    symlinks are resolved, so a checkout's config cannot put ``/etc/shadow`` or ``~/.ssh/*`` digests in keys and
    packs; and the patterns may match at most :data:`MAX_LOCK_FILES` files of :data:`MAX_LOCK_BYTES` in all.
    """
    boundary = within if within is not None else checkout_root(root, source)
    result: dict[str, str] = {}
    count = total = 0
    for pattern in patterns:
        expanded = os.path.expanduser(os.path.expandvars(pattern))
        full = os.path.normpath(expanded if os.path.isabs(expanded) else os.path.join(root, expanded))
        if not within_folder(_glob_prefix(full), boundary):
            raise VenvCacheError(f"lock file pattern {pattern!r} points outside the checkout {boundary}",
                                 path=source or root, fix="list only files of the project in requirements_lock_paths")
        if glob.has_magic(expanded):
            matches = []
            for found in glob.iglob(full, recursive=True):
                if not os.path.isfile(found):
                    continue
                matches.append(found)
                if count + len(matches) > MAX_LOCK_FILES:
                    raise VenvCacheError(f"lock file pattern {pattern!r} matches more than {MAX_LOCK_FILES:,} files",
                                         path=source or root, fix="name the lock files, or narrow the glob")
            matches.sort()
            if not matches:
                raise VenvCacheError(f"lock file pattern {pattern!r} matches no file", path=source or root,
                                     fix="fix requirements_lock_paths or create the file")
        else:
            matches = [full]
        for match in matches:
            path = Path(match)
            if not path.is_file():
                raise VenvCacheError(f"lock file {pattern!r} does not exist", path=path,
                                     fix="create it or remove it from requirements_lock_paths")
            if not within_folder(path, boundary):
                raise VenvCacheError(f"lock file {pattern!r} resolves outside the checkout {boundary}", path=path,
                                     fix="list only files of the project in requirements_lock_paths")
            try:
                total += path.stat().st_size
                if total > MAX_LOCK_BYTES:
                    raise VenvCacheError(f"lock files add up to more than {MAX_LOCK_BYTES >> 20:,} MiB",
                                         path=source or root, fix="name the lock files, or narrow the globs")
                result[relative_name(path, root)] = file_digest(path)
            except OSError as exc:
                raise VenvCacheError(f"lock file cannot be read: {exc.strerror}", path=path) from None
            count += 1
    return dict(sorted(result.items()))


def tool_versions(*names: str) -> dict[str, str]:
    """Installed versions of distributions whose on-disk formats matter (absent ones are left out)."""
    from importlib import metadata

    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build_key(*, interpreter: Mapping[str, Any], inputs: Mapping[str, Any], salt: str = "",
              tool: str = "virtualenv-cache") -> Key:
    """The key of an env: interpreter identity + the adapter's inputs + our version + the user's salt."""
    return make_key({
        "tool": tool,
        "interpreter": dict(interpreter),
        "inputs": dict(inputs),
        "salt": salt,
    })
