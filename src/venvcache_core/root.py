"""The cache root: a folder venvcache made, proven by its marker file, and checked before anything in it is used.

The cache deletes things (``erase``, ``prune``, clean-up of dead writers), so it must be sure the folder is its own:
with ``cache_path = "~"`` it once emptied ``~/.tmp`` and ``~/.trash``. A root gets ``.venvcache-root`` when the
cache creates it; a folder without one is refused, except an empty folder, or an existing cache of an earlier
version (only the cache's layout and entries it recognises, nothing else): those are adopted, the marker is written
and one info line says so. The root, its marker and every folder above it are checked with ``lstat`` (never
following a link): a root that is a symlink, owned by another user or writable by others is refused, and so is one
under a folder another user could rename it in (owned by someone else, or writable by others without the sticky
bit). Sharing one cache between users is done through a remote (e.g. ``remote = "file:///srv/venvcache"``), whose
packs every reader verifies; a local root is one user's.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

from .errors import NoSpaceError, VenvCacheError
from .fsutil import no_space, temp_owner
from .key import KEY_RE

log = logging.getLogger("venvcache")

ROOT_MARKER = ".venvcache-root"
SUBDIRS = (".locks", ".tmp", ".trash")
LAYOUT = frozenset({*SUBDIRS, "stats.json", "interpreters.json", ROOT_MARKER})
# the JSON files the cache writes (atomically, through a ``.<name>.<8 hex>`` temp file)
JSON_FILES = frozenset({"meta.json", "manifest.json", "usage.json", "COMPLETE", "stats.json", "interpreters.json"})
ENTRY_FILES = frozenset({"env", "meta.json", "manifest.json", "usage.json", "COMPLETE"})


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _unsafe_folder(st: os.stat_result, uid: int | None) -> str:
    """Why another user could replace what a folder holds (its owner, or write access without the sticky bit)."""
    if uid is None:  # pragma: no cover - Windows: no POSIX owners
        return ""
    if st.st_uid not in (uid, 0):
        return "belongs to another user"
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if st.st_mode & stat.S_IWOTH and not sticky:
        return "is writable by every user"
    if st.st_mode & stat.S_IWGRP and not sticky and st.st_gid != os.getgid():
        return "is writable by its group"
    return ""


def check_parents(path: Path) -> None:
    """Every folder above ``path`` (as given and as resolved) is safe: no other user can swap ``path`` out."""
    uid = _uid()
    seen: set[str] = set()
    for chain in (Path(os.path.abspath(path)).parents, Path(os.path.realpath(path)).parents):
        for folder in chain:
            if str(folder) in seen:
                continue
            seen.add(str(folder))
            try:
                st = os.lstat(folder)
            except FileNotFoundError:
                continue  # created below, by us
            except OSError as exc:
                raise VenvCacheError(f"cannot check the cache's parent folder {folder}: {exc.strerror}",
                                     path=path, fix="fix its permissions or set cache_path elsewhere") from None
            if stat.S_ISLNK(st.st_mode):
                if uid is not None and st.st_uid not in (uid, 0):
                    raise VenvCacheError(f"the cache's parent {folder} is a symlink of another user", path=path,
                                         fix="set cache_path to a folder of yours")
                continue  # its target is in the resolved chain
            problem = _unsafe_folder(st, uid)
            if problem:
                raise VenvCacheError(f"the cache's parent folder {folder} {problem}, who could replace the cache",
                                     path=path, fix="set cache_path below folders only you can write")


def _recognised(root: Path) -> str:
    """'' when ``root`` holds only the cache's layout and entries it recognises, else the first stranger's name."""
    with os.scandir(root) as it:
        items = list(it)
    for item in items:
        name = item.name
        if name in LAYOUT:
            if name in SUBDIRS and not item.is_dir(follow_symlinks=False):
                return name
            if name in SUBDIRS and not _recognised_sub(Path(item.path)):
                return f"{name}/..."
            continue
        if not (KEY_RE.fullmatch(name) and item.is_dir(follow_symlinks=False)):
            return name
        with os.scandir(item.path) as inner:
            for part in inner:
                if part.name not in ENTRY_FILES and not _json_temp(part.name):
                    return f"{name}/{part.name}"
    return ""


def _json_temp(name: str) -> bool:
    """A temp file of :func:`fsutil.write_json` (``.<name>.<8 hex>``)."""
    base, _, suffix = name[1:].rpartition(".")
    return name.startswith(".") and base in JSON_FILES and len(suffix) == 8


def _recognised_sub(folder: Path) -> bool:
    for name in os.listdir(folder):
        if folder.name == ".locks":
            key = name[:-len(".lock")]
            if not (name.endswith(".lock") and (KEY_RE.fullmatch(key) or key == "stats")):
                return False
        elif temp_owner(name.removesuffix(".pack")) is None and not _json_temp(name):
            return False
    return True


def generated(name: str) -> bool:
    """Whether a name in ``.tmp`` or ``.trash`` is one the cache makes (:func:`fsutil.temp_name`); others stay."""
    return temp_owner(name) is not None


def _write_marker(root: Path) -> None:
    fd = os.open(root / ROOT_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"tool": "venvcache", "format": 1, "created": time.time()}, fh)


def _marker_problem(root: Path, uid: int | None) -> str | None:
    """None when the marker is missing; '' when it is ours; else what is wrong with it."""
    try:
        st = os.lstat(root / ROOT_MARKER)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"{ROOT_MARKER} is not a regular file"
    if uid is not None and st.st_uid != uid:
        return f"{ROOT_MARKER} belongs to another user"
    return ""


def prepare(root: Path) -> None:
    """Create the cache root (``0700``, with its marker) or check an existing one; :class:`VenvCacheError` if unsafe."""
    if "\0" in str(root):
        raise VenvCacheError(f"{str(root)!r:.120} cannot be a folder name (NUL character)", fix="fix cache_path")
    uid = _uid()
    check_parents(root)
    try:
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            root.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(root, 0o700)
                _write_marker(root)
            except FileExistsError:  # another process made it meanwhile: check it like any existing root
                pass
            st = os.lstat(root)
        if stat.S_ISLNK(st.st_mode):
            raise VenvCacheError("cache directory is a symlink; refusing to follow it", path=root,
                                 fix=f"set cache_path to the folder it points to ({os.path.realpath(root)})")
        if not stat.S_ISDIR(st.st_mode):
            raise VenvCacheError("cache_path exists and is not a folder", path=root, fix="point cache_path elsewhere")
        if uid is not None and st.st_uid != uid:
            raise VenvCacheError("cache directory belongs to another user", path=root,
                                 fix="use your own cache_path (share caches between users through a remote)")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise VenvCacheError("cache directory is writable by other users", path=root,
                                 fix="chmod 700 it (share caches between users through a remote)")
        problem = _marker_problem(root, uid)
        if problem:
            raise VenvCacheError(problem, path=root, fix="remove that file, or point cache_path elsewhere")
        if problem is None:
            stranger = _recognised(root)
            if stranger:
                raise VenvCacheError(f"is not a venvcache cache (no {ROOT_MARKER}) and holds {stranger!r:.80}; "
                                     "refusing to use it, since the cache deletes what it holds", path=root,
                                     fix="point cache_path at a new or empty folder")
            try:
                _write_marker(root)
                log.info("venvcache: adopted %s as a cache root (it held only cache entries)", root)
            except FileExistsError:  # another process created this root a moment ago and marked it: check that
                problem = _marker_problem(root, uid)
                if problem:
                    raise VenvCacheError(problem, path=root, fix="remove that file, or point cache_path elsewhere") \
                        from None
        for sub in SUBDIRS:
            try:
                os.mkdir(root / sub, 0o700)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(root / sub).st_mode):
                    raise VenvCacheError(f"{sub} in the cache is not a folder", path=root,
                                         fix=f"remove {root / sub}") from None
    except OSError as exc:
        if no_space(exc):
            raise NoSpaceError("no space left for the cache directory", path=root,
                               fix="free some space or point cache_path elsewhere") from None
        raise VenvCacheError(f"cache directory cannot be created: {exc.strerror}", path=root,
                             fix="make it writable or set cache_path to a writable directory") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise VenvCacheError("cache directory is not writable", path=root,
                             fix="fix its permissions or set cache_path to a writable directory")
