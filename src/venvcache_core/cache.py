"""The cache: whole virtual environments under ``<cache_path>/<key>/``, published atomically, locked per key.

Layout of one entry::

    <key>/env/            the venv tree (as stored, with its origin path)
    <key>/meta.json       created, origin paths, key document, link mode, size, files to relocate
    <key>/manifest.json   every file's size and sha256, every symlink's target (for verify)
    <key>/usage.json      last_used and hits, rewritten on each hit (never the env itself)
    <key>/COMPLETE        written last: an entry without it does not exist

Around it: ``.locks/<key>.lock`` (filelock), ``.tmp/`` (entries being built), ``.trash/`` (entries being deleted),
``stats.json``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import shutil
import socket
import stat
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from . import relocate
from .config import Config
from .errors import NoSpaceError, VenvCacheError
from .key import KEY_RE, Key, check_key, interpreter_identity, venv_python
from .linkmode import copy_tree

if TYPE_CHECKING:
    from .remote import Remote

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("venvcache")

MARKER = "COMPLETE"
STALE_TMP_SECONDS = 6 * 3600  # a temp dir of a dead or stuck writer this old is removed by prune


@dataclass
class Entry:
    """One complete cache entry, as ``list`` shows it."""

    key: str
    path: Path
    created: float
    last_used: float
    hits: int
    bytes: int
    files: int
    python: str
    origin: str
    link_mode: str

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"path": str(self.path)}


@dataclass
class RestoreResult:
    """What ``restore`` did: ``hit`` is True only when ``dest`` now holds the cached env."""

    hit: bool
    key: str
    dest: Path
    seconds: float = 0.0
    bytes: int = 0
    files: int = 0
    link_mode: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"result": "hit" if self.hit else "miss", "key": self.key, "dest": str(self.dest),
                "seconds": round(self.seconds, 4), "bytes": self.bytes, "files": self.files,
                "link_mode": self.link_mode, "reason": self.reason}


@dataclass
class StoreResult:
    """What ``store`` did: ``stored`` is False when an equal entry already existed (first writer wins)."""

    stored: bool
    key: str
    seconds: float = 0.0
    bytes: int = 0
    files: int = 0
    link_mode: str = ""
    evicted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"result": "stored" if self.stored else "exists", "key": self.key, "seconds": round(self.seconds, 4),
                "bytes": self.bytes, "files": self.files, "link_mode": self.link_mode, "evicted": self.evicted}


def _write_json(path: Path, data: Any) -> None:
    """Write a small JSON file atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk must not leave half-written temp files behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except RecursionError:
            raise ValueError(f"{path.name} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def _rmtree(path: Path) -> None:
    """Remove a tree without ever following a symlink out of it."""
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return

    def onerror(func: Any, p: str, exc: Any) -> None:  # make read-only dirs deletable, then retry once
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700) if os.path.isdir(p) and not os.path.islink(p) else None
            func(p)

    shutil.rmtree(path, onerror=onerror)  # rmtree never follows symlinks (it unlinks them)


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class _KeyLock:
    """An exclusive ``flock`` on ``.locks/<key>.lock`` that its holder may delete.

    Whoever wins the flock checks that the path still names the file it locked, and starts over if not; so the
    holder can unlink the file once the key has no entry, and ``.locks`` does not grow with every key ever seen.
    ``timeout``: -1 waits for ever, otherwise seconds before :class:`filelock.Timeout`.
    """

    def __init__(self, path: Path, timeout: float = -1, *, shared: bool = False) -> None:
        self.path = path
        self.timeout = timeout
        self.mode = 0o666 if shared else 0o600
        self._fd: int | None = None

    def _open(self) -> int:
        flags = os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags | os.O_RDWR, self.mode)
        except PermissionError:  # another user's lock file in a shared cache: flock needs no write access
            return os.open(self.path, flags | os.O_RDONLY, self.mode)

    def acquire(self) -> _KeyLock:
        deadline = None if self.timeout < 0 else time.monotonic() + self.timeout
        while True:
            try:
                fd = self._open()
            except OSError as exc:
                if _no_space(exc):
                    raise NoSpaceError("no space left for a lock file", path=self.path, fix="free some space") from None
                raise VenvCacheError(f"cannot open the lock file: {exc.strerror}", path=self.path,
                                     fix="check the permissions of the cache's .locks folder") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if deadline is None else fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = os.fstat(fd)
                try:
                    named = os.stat(self.path, follow_symlinks=False)
                except FileNotFoundError:
                    named = None
                if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
                    self._fd = fd
                    return self
            except BlockingIOError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # busy, or we locked a file its holder deleted: start over
            if deadline is not None:
                if time.monotonic() >= deadline:
                    raise Timeout(str(self.path))
                time.sleep(0.02)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor drops the flock

    def unlink(self) -> None:
        """Delete the lock file; only while holding it, and only when nothing is left to protect."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> _KeyLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Cache:
    """A directory of cached envs. ``restore`` and ``store`` are all the adapters need."""

    def __init__(self, path: str | os.PathLike[str], *, max_entries: int = 20, max_bytes: int | None = None,
                 max_age: float | None = None, link_mode: str = "auto", shared: bool = False) -> None:
        self.path = Path(os.path.abspath(path))
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.link_mode = link_mode
        self.shared = shared
        self.remote: Remote | None = None  # L2, set by from_config when configured (remote.py)
        self._ready = False

    @classmethod
    def from_config(cls, config: Config) -> Cache:
        cache = cls(config.cache_path, max_entries=config.cache_size, max_bytes=config.max_bytes,
                    max_age=config.max_age, link_mode=config.link_mode, shared=config.shared)
        if config.remote or os.environ.get("VIRTUALENV_CACHE_REMOTE"):  # keep the local path's start-up light
            from .remote import remote_from_config  # obstore itself is imported only when the remote is used

            cache.remote = remote_from_config(config)
        return cache

    # -- layout ------------------------------------------------------------------------------------------------
    def _entry(self, key: str) -> Path:
        return self.path / check_key(key)

    def _lock(self, key: str, timeout: float = -1) -> _KeyLock | FileLock:
        path = self.path / ".locks" / f"{check_key(key)}.lock"
        if fcntl is None:  # pragma: no cover - Windows: filelock (which deletes its file on release there)
            return FileLock(path, timeout=timeout, is_singleton=False)
        return _KeyLock(path, timeout, shared=self.shared)

    def _clean_locks(self) -> None:
        """Delete the lock files of keys that have no entry (taken non-blocking: one in use stays)."""
        if fcntl is None:  # pragma: no cover
            return
        with contextlib.suppress(OSError):
            for item in os.scandir(self.path / ".locks"):
                key = item.name[:-len(".lock")]
                if not (item.name.endswith(".lock") and KEY_RE.fullmatch(key)) or os.path.lexists(self.path / key):
                    continue
                with contextlib.suppress(Timeout, VenvCacheError), _KeyLock(Path(item.path), 0) as lock:
                    if not os.path.lexists(self.path / key):
                        lock.unlink()

    def _prepare(self) -> None:
        """Create the cache dir ``0700`` and refuse one that other users may write unless marked ``shared``."""
        if self._ready:
            return
        if "\0" in str(self.path):
            raise VenvCacheError(f"{str(self.path)!r:.120} cannot be a folder name (NUL character)",
                                 fix="fix cache_path")
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            for sub in (".locks", ".tmp", ".trash"):
                (self.path / sub).mkdir(exist_ok=True, mode=0o777 if self.shared else 0o700)
        except OSError as exc:
            if _no_space(exc):
                raise NoSpaceError("no space left for the cache directory", path=self.path,
                                   fix="free some space or point cache_path elsewhere") from None
            raise VenvCacheError(f"cache directory cannot be created: {exc.strerror}", path=self.path,
                                 fix="make it writable or set cache_path to a writable directory") from None
        st = os.stat(self.path)
        if not self.shared:
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise VenvCacheError("cache directory belongs to another user", path=self.path,
                                     fix="use your own cache_path, or set shared = true if that is intended")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise VenvCacheError("cache directory is writable by other users", path=self.path,
                                     fix="chmod 700 it, or set shared = true if that is intended")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise VenvCacheError("cache directory is not writable", path=self.path,
                                 fix="fix its permissions or set cache_path to a writable directory")
        self._ready = True

    def _complete(self, key: str) -> bool:
        entry = self._entry(key)
        try:  # an entry is a real folder: a symlink planted in its place is never served (nor listed)
            if not stat.S_ISDIR(os.lstat(entry).st_mode):
                return False
        except OSError:
            return False
        return (entry / MARKER).is_file()

    def _meta(self, key: str) -> dict[str, Any]:
        return _read_json(self._entry(key) / "meta.json")

    def _usage(self, key: str) -> dict[str, Any]:
        try:
            return _read_json(self._entry(key) / "usage.json")
        except (OSError, ValueError):
            return {}

    def _bump_stats(self, **deltas: int | float) -> None:
        """Add to the counters in ``stats.json`` (best effort: stats never fail a restore or store)."""
        path = self.path / "stats.json"
        try:
            with FileLock(self.path / ".locks" / "stats.lock", timeout=5, is_singleton=False,
                          mode=0o666 if self.shared else 0o600):
                try:
                    data = _read_json(path)
                except (OSError, ValueError):
                    data = {}
                for name, delta in deltas.items():
                    value = data.get(name, 0)
                    data[name] = (value if isinstance(value, (int, float)) else 0) + delta
                _write_json(path, data)
        except (OSError, Timeout) as exc:
            log.debug("venvcache: stats not updated: %s", exc)

    # -- reading -----------------------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Keys of complete entries."""
        if not self.path.is_dir():
            return []
        found = []
        with os.scandir(self.path) as it:
            for item in it:
                if len(item.name) == 64 and not item.name.startswith(".") and item.is_dir(follow_symlinks=False):
                    with contextlib.suppress(VenvCacheError):
                        if self._complete(item.name):
                            found.append(item.name)
        return sorted(found)

    def get(self, key: str) -> Entry | None:
        """One complete entry, or None (missing, incomplete or unreadable metadata)."""
        if not self._complete(key):
            return None
        try:
            meta = self._meta(key)
        except (OSError, ValueError):
            return None
        if _meta_problem(meta):
            return None
        usage = self._usage(key)
        last_used, hits = usage.get("last_used"), usage.get("hits")
        if type(last_used) not in (int, float) or not math.isfinite(last_used):
            last_used = meta["created"]  # a broken usage.json costs the entry its place in the LRU order only
        return Entry(key=key, path=self._entry(key), created=float(meta["created"]), last_used=float(last_used),
                     hits=hits if type(hits) is int else 0, bytes=meta["bytes"], files=meta["files"],
                     python=str(meta.get("python", "")), origin=meta["origin"],
                     link_mode=str(meta.get("link_mode", "")))

    def entries(self) -> list[Entry]:
        """All complete entries, most recently used first."""
        found = [entry for entry in map(self.get, self.keys()) if entry is not None]
        return sorted(found, key=lambda e: e.last_used, reverse=True)

    def resolve(self, prefix: str) -> str:
        """Expand a unique key prefix (as ``list`` shows it) to the full key."""
        matches = [k for k in self.keys() if k.startswith(prefix.lower())] if prefix else []
        if len(matches) != 1:
            what = "no entry" if not matches else f"{len(matches)} entries"
            raise VenvCacheError(f"{what} in the cache match {prefix!r:.80}", path=self.path,
                                 fix="see 'virtualenv-cache list' for the keys")
        return matches[0]

    def stats(self) -> dict[str, Any]:
        entries = self.entries()
        try:
            counters = _read_json(self.path / "stats.json")
        except (OSError, ValueError):
            counters = {}
        return {"path": str(self.path), "entries": len(entries), "bytes": sum(e.bytes for e in entries),
                "files": sum(e.files for e in entries),
                **{name: counters.get(name, 0) for name in ("hits", "misses", "stores", "evictions", "quarantined")},
                **(self.remote.stats(counters) if self.remote else {})}

    # -- store -------------------------------------------------------------------------------------------------
    def store(self, key: Key | str, src: str | os.PathLike[str], *, project_root: str | os.PathLike[str] | None = None,
              replace: bool = False, extra_meta: dict[str, Any] | None = None) -> StoreResult:
        """Publish a copy of the env ``src`` under ``key``; an existing complete entry wins unless ``replace``."""
        started = time.perf_counter()
        digest = check_key(str(key))
        document = dict(key.document) if isinstance(key, Key) else {}
        source = Path(os.path.abspath(src))
        if not (source / "pyvenv.cfg").is_file():
            raise VenvCacheError("is not a virtual environment (no pyvenv.cfg)", path=source,
                                 fix="create it first, e.g. python3 -m venv " + str(source))
        self._prepare()
        if self._complete(digest) and not replace:
            self._clean_tmp()  # no prune on this path: still clean up after writers that died
            return StoreResult(False, digest, time.perf_counter() - started)
        python = interpreter_identity(venv_python(source))
        tmp = self.path / ".tmp" / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            tmp.mkdir(mode=0o700)
            origins = [str(source)]
            project = self._project_origin(project_root, python)
            if project:
                origins.append(project)
            # Hash the source while cp copies it: two cores, one pass each, the same bytes from the page cache.
            with ThreadPoolExecutor(max_workers=1) as pool:
                scanning = pool.submit(relocate.scan, source, relocate.path_forms(origins))
                used = copy_tree(source, tmp / "env", self.link_mode)
                manifest = scanning.result()
            meta = {
                "key": digest, "created": time.time(), "origin": str(source), "origin_project": project,
                "document": document, "python": python["version"], "interpreter": python, "link_mode": used,
                "bytes": manifest.bytes, "files": len(manifest.files), "relocate": manifest.relocate,
                "host": socket.gethostname(), **(extra_meta or {}),
            }
            # mtimes of the copy: restore compares them (free: it lstats every file anyway), so an in-place edit of a
            # same-sized file (hardlink mode) is caught without hashing; verify still hashes
            mtimes = {name: os.lstat(tmp / "env" / name).st_mtime_ns for name in manifest.files}
            _write_json(tmp / "manifest.json", {**manifest.to_json(), "mtimes": mtimes})
            _write_json(tmp / "meta.json", meta)
            _write_json(tmp / "usage.json", {"last_used": meta["created"], "hits": 0})
            _write_json(tmp / MARKER, {"key": digest})
            with self._lock(digest):
                entry = self._entry(digest)
                if os.path.lexists(entry):
                    if self._complete(digest) and not replace:
                        return StoreResult(False, digest, time.perf_counter() - started)
                    self._discard(entry)  # incomplete leftovers, or the entry being refreshed
                os.rename(tmp, entry)
        except OSError as exc:
            if _no_space(exc):
                raise NoSpaceError("no space left while storing the env", path=self.path,
                                   fix="free some space or lower max_bytes/cache_size") from None
            raise VenvCacheError(f"store failed: {exc.strerror or exc}", path=self.path,
                                 fix="check the cache directory's permissions and free space") from None
        finally:
            if os.path.lexists(tmp):
                _rmtree(tmp)
        self._bump_stats(stores=1)
        evicted = self.prune(keep=digest)
        if self.remote is not None:  # L2: upload when remote_mode allows; a fault is a warning, never an error
            self.remote.after_store(self, digest)
        return StoreResult(True, digest, time.perf_counter() - started, manifest.bytes, len(manifest.files), used,
                           evicted)

    @staticmethod
    def _project_origin(project_root: str | os.PathLike[str] | None, python: dict[str, Any]) -> str | None:
        """The project path to relocate, unless it also holds the base interpreter (or is ``/`` or ``~``)."""
        if project_root is None:
            return None
        project = os.path.abspath(project_root)
        base = os.path.realpath(python.get("base_executable", ""))
        unsafe = {os.path.abspath(os.sep), os.path.abspath(os.path.expanduser("~"))}
        if project in unsafe or base.startswith(project.rstrip(os.sep) + os.sep):
            log.debug("venvcache: not relocating project paths under %s (it holds the interpreter)", project)
            return None
        return project

    def _discard(self, entry: Path) -> None:
        """Make an entry disappear at once (rename into ``.trash``), then delete it."""
        trash = self.path / ".trash" / f"{entry.name}-{uuid.uuid4().hex[:8]}"
        os.rename(entry, trash)
        _rmtree(trash)

    # -- restore -----------------------------------------------------------------------------------------------
    def restore(self, key: Key | str, dest: str | os.PathLike[str], *,
                project_root: str | os.PathLike[str] | None = None) -> RestoreResult:
        """Put the env cached under ``key`` at ``dest``; on a miss (or a bad entry) ``dest`` is left untouched.

        The copy is staged next to ``dest``, relocated, health-checked, then swapped in by rename; only then is the
        old env deleted. A failing entry is quarantined (removed) and reported as a miss.
        """
        started = time.perf_counter()
        digest = check_key(str(key))
        target = Path(os.path.abspath(dest))
        self._prepare()  # a cache dir that cannot be used is an error now, not a silent miss and a failing store
        self._check_dest(target)
        if not self._complete(digest) and not (self.remote is not None and self.remote.fetch_into(self, digest)):
            self._bump_stats(misses=1)
            return RestoreResult(False, digest, target, reason="no entry")
        with self._lock(digest):
            if not self._complete(digest):  # evicted while we waited
                self._bump_stats(misses=1)
                return RestoreResult(False, digest, target, reason="no entry")
            try:
                meta = self._meta(digest)
            except (OSError, ValueError) as exc:
                return self._quarantine(digest, target, f"unreadable meta.json: {exc}")
            problem = _meta_problem(meta)
            if problem:
                return self._quarantine(digest, target, problem)
            created = float(meta["created"])
            if self.max_age is not None and time.time() - created > self.max_age:
                self._discard(self._entry(digest))
                self._bump_stats(misses=1, evictions=1)
                return RestoreResult(False, digest, target, reason="expired (max_age)")
            result = self._restore_locked(digest, meta, target, project_root)
            if not result.hit:
                return result
            hits = self._usage(digest).get("hits", 0)
            try:  # best effort: a full cache disk must not turn a done restore into an error
                _write_json(self._entry(digest) / "usage.json",
                            {"last_used": time.time(), "hits": (hits if type(hits) is int else 0) + 1})
            except OSError as exc:
                log.debug("venvcache: usage of %s not updated: %s", digest[:8], exc)
        self._bump_stats(hits=1)
        result.seconds = time.perf_counter() - started
        return result

    def _restore_locked(self, digest: str, meta: dict[str, Any], target: Path,
                        project_root: str | os.PathLike[str] | None) -> RestoreResult:
        entry = self._entry(digest)
        parent = target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VenvCacheError(f"cannot create the destination's folder: {exc.strerror}", path=parent) from None
        _clean_stale_stages(parent, target.name)
        stage = parent / f".{target.name}.venvcache-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        checker = _ManifestCheck(entry)
        checker.start()  # runs on the other core while cp copies
        try:
            try:
                used = copy_tree(entry / "env", stage, self.link_mode)
            except VenvCacheError as exc:  # cp failing on a damaged entry: quarantine it, not an error
                checker.join()
                if checker.problem and not isinstance(exc, NoSpaceError):
                    return self._quarantine(digest, target, checker.problem)
                raise
            checker.join()
            if checker.problem:
                return self._quarantine(digest, target, checker.problem)
            mapping = relocate.relocation_map(str(meta["origin"]), str(target), meta.get("origin_project"),
                                              os.path.abspath(project_root) if project_root else None)
            names = list(meta.get("relocate", []))
            inside = os.path.realpath(stage) + os.sep
            if not all(os.path.realpath(stage / n).startswith(inside) and os.path.isfile(stage / n) for n in names):
                return self._quarantine(digest, target, "meta.json names files to relocate that are not in the env")
            relocate.rewrite(stage, names, mapping)
            problem = _health_problem(stage, meta.get("interpreter"))
            if problem:
                return self._quarantine(digest, target, problem)
            self._swap(stage, target)
        except NoSpaceError:  # from the copy: say what it means for a restore
            raise NoSpaceError("no space left to restore the env; the old env is untouched", path=target.parent,
                               fix="free some space") from None
        except OSError as exc:
            if _no_space(exc):
                raise NoSpaceError("no space left to restore the env; the old env is untouched", path=target.parent,
                                   fix="free some space") from None
            raise VenvCacheError(f"restore failed, the old env is untouched: {exc.strerror or exc}",
                                 path=target) from None
        finally:
            checker.join()
            if os.path.lexists(stage):
                _rmtree(stage)
        return RestoreResult(True, digest, target, bytes=int(meta.get("bytes", 0)), files=int(meta.get("files", 0)),
                             link_mode=used)

    def _check_dest(self, target: Path) -> None:
        """Refuse a destination whose replacement would destroy something that is not a virtual environment."""
        if "\0" in str(target) or not target.name:
            raise VenvCacheError(f"{str(target)!r:.120} cannot be a virtual environment's path",
                                 fix="point virtualenv_path at a folder name")
        real, cache = os.path.realpath(target), os.path.realpath(self.path)
        if real == cache or cache.startswith(real.rstrip(os.sep) + os.sep) or real.startswith(cache + os.sep):
            raise VenvCacheError("the env and the cache cannot hold one another", path=target,
                                 fix="put the env and cache_path in separate folders")
        if os.path.islink(target) or not os.path.lexists(target):
            return  # a symlink is replaced, never followed
        try:
            usable = target.is_dir() and ((target / "pyvenv.cfg").is_file() or not any(target.iterdir()))
        except OSError:
            usable = False
        if not usable:
            raise VenvCacheError("exists and is not a virtual environment; refusing to replace it", path=target,
                                 fix="remove it, or point virtualenv_path at the env")

    @staticmethod
    def _swap(stage: Path, target: Path) -> None:
        """Put ``stage`` at ``target``; the old env (if any) ends up at ``stage`` and is deleted by the caller."""
        if not os.path.lexists(target):
            os.rename(stage, target)
            return
        if _rename_exchange(stage, target):
            return
        old = target.with_name(f".{target.name}.venvcache-old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        try:
            os.rename(stage, target)
        except OSError:
            os.rename(old, target)
            raise
        os.rename(old, stage)

    def _quarantine(self, digest: str, target: Path, problem: str) -> RestoreResult:
        log.warning("venvcache: entry %s is broken (%s); removed it", digest[:8], problem)
        with contextlib.suppress(OSError):
            self._discard(self._entry(digest))
        self._bump_stats(misses=1, quarantined=1)
        return RestoreResult(False, digest, target, reason=f"quarantined: {problem}")

    # -- maintenance -------------------------------------------------------------------------------------------
    def remove(self, key: str) -> bool:
        """Delete one entry; waits for a reader of it to finish."""
        self._prepare()
        with self._lock(key):
            entry = self._entry(key)
            if not os.path.lexists(entry):
                return False
            self._discard(entry)
        return True

    def erase(self) -> int:
        """Delete every entry (and stale temp dirs); return how many entries went."""
        removed = sum(self.remove(key) for key in self.keys())
        self._clean_tmp(max_age=0.0)
        self._clean_locks()
        return removed

    def prune(self, *, keep: str | None = None) -> list[str]:
        """Evict expired entries, then least recently used ones beyond ``max_entries`` / ``max_bytes``.

        An entry whose lock another process holds (a restore in progress) is skipped, never deleted under it.
        """
        if not self.path.is_dir():
            return []
        self._prepare()
        now = time.time()
        entries = sorted(self.entries(), key=lambda e: e.last_used, reverse=True)
        victims: list[Entry] = []
        kept: list[Entry] = []
        for entry in entries:
            if entry.key != keep and self.max_age is not None and now - entry.created > self.max_age:
                victims.append(entry)
            else:
                kept.append(entry)
        total = sum(e.bytes for e in kept)
        while kept and (len(kept) > self.max_entries or (self.max_bytes is not None and total > self.max_bytes)):
            candidates = [e for e in kept if e.key != keep]
            if not candidates:
                break
            oldest = candidates[-1]
            kept.remove(oldest)
            victims.append(oldest)
            total -= oldest.bytes
        evicted = []
        for entry in victims:
            try:
                with self._lock(entry.key, timeout=0):
                    if os.path.lexists(entry.path):
                        self._discard(entry.path)
                        evicted.append(entry.key)
            except Timeout:
                log.debug("venvcache: %s is in use; not evicted this time", entry.key[:8])
        evicted += self._drop_unreadable({e.key for e in entries})
        self._clean_tmp()
        self._clean_locks()
        if evicted:
            self._bump_stats(evictions=len(evicted))
        return evicted

    def _drop_unreadable(self, readable: set[str]) -> list[str]:
        """Remove complete entries whose metadata cannot be used (they are never listed, so never evicted)."""
        dropped = []
        for key in self.keys():
            if key in readable:
                continue
            with contextlib.suppress(Timeout, OSError), self._lock(key, timeout=0):
                if self._complete(key) and self.get(key) is None:
                    log.warning("venvcache: entry %s has unusable metadata; removed it", key[:8])
                    self._discard(self._entry(key))
                    dropped.append(key)
        return dropped

    def _clean_tmp(self, max_age: float = STALE_TMP_SECONDS) -> None:
        """Remove temp dirs of writers that died (same host, dead pid) or that are older than ``max_age``."""
        host = socket.gethostname()
        for folder in (self.path / ".tmp", self.path / ".trash"):
            if not folder.is_dir():
                continue
            for item in folder.iterdir():
                with contextlib.suppress(OSError):
                    age = time.time() - item.lstat().st_mtime
                    stale = age > max_age or folder.name == ".trash"
                    owner_host, _, rest = item.name.rpartition("-")[0].rpartition("-")
                    if folder.name == ".tmp" and owner_host == host and rest.isascii() and rest.isdigit():
                        # this host's writer: gone when its process is; alive, only when stuck for hours
                        stale = not _pid_alive(int(rest)) or age > max(max_age, STALE_TMP_SECONDS)
                    if stale:  # trash is out of the key namespace: nobody reads it any more
                        _rmtree(item)

    def verify(self, key: str) -> list[str]:
        """Compare an entry with its manifest (every file's size and sha256, every symlink); return the problems."""
        if not self._complete(key):
            return [f"{key[:8]}: incomplete or missing entry"]
        self._prepare()
        with self._lock(key):  # not while a store replaces it or an eviction deletes it
            if not self._complete(key):
                return [f"{key[:8]}: incomplete or missing entry"]
            try:
                manifest = self._manifest(key)
            except (OSError, ValueError, KeyError) as exc:
                return [f"{key[:8]}: unreadable manifest.json ({exc})"]
            try:
                return [f"{key[:8]}: {problem}" for problem in _diff(manifest, self._entry(key) / "env")]
            except OSError as exc:
                return [f"{key[:8]}: env/ cannot be read ({exc.strerror or exc})"]

    def verify_env(self, key: str, env: str | os.PathLike[str]) -> list[str]:
        """Compare a restored env with the entry's manifest, except the files relocation rewrote.

        In hardlink mode the env shares inodes with the cache: an in-place edit there shows up here.
        """
        if not self._complete(key):
            raise VenvCacheError(f"no complete cache entry {key[:12]}", path=self.path,
                                 fix="see 'virtualenv-cache list' for the keys")
        try:
            manifest = self._manifest(key)
        except (OSError, ValueError, KeyError) as exc:
            raise VenvCacheError(f"entry {key[:12]} has an unreadable manifest.json ({exc})", path=self.path,
                                 fix="erase that entry") from None
        try:
            return _diff(manifest, Path(env), skip=frozenset(manifest.relocate), extra=False)
        except OSError as exc:
            raise VenvCacheError(f"cannot read the env: {exc.strerror or exc}", path=env) from None

    def _manifest(self, key: str) -> relocate.Manifest:
        return relocate.Manifest.from_json(_read_json(self._entry(key) / "manifest.json"))


def _meta_problem(meta: dict[str, Any]) -> str:
    """Why an entry's ``meta.json`` cannot be used (wrong types, relocation names leaving the env), or ''."""
    for name, kinds in (("created", (int, float)), ("bytes", (int,)), ("files", (int,)), ("origin", (str,))):
        if type(meta.get(name)) not in kinds:
            return f"meta.json: {name} is missing or not a {kinds[0].__name__}"
    if not math.isfinite(meta["created"]) or meta["bytes"] < 0 or meta["files"] < 0:
        return "meta.json: created, bytes or files out of range"
    if not isinstance(meta.get("origin_project"), (str, type(None))):
        return "meta.json: origin_project is not a path"
    names = meta.get("relocate", [])
    if not isinstance(names, list) or not all(
            isinstance(n, str) and n and "\0" not in n and not os.path.isabs(n) and ".." not in n.split("/")
            for n in names):
        return "meta.json: relocate is not a list of paths inside the env"
    return ""


def _diff(manifest: relocate.Manifest, tree: Path, *, skip: frozenset[str] = frozenset(),
          extra: bool = True) -> list[str]:
    """Differences between a tree and a manifest: missing, changed and (with ``extra``) unexpected files."""
    actual = relocate.scan(tree)
    problems = []
    for name, expected in manifest.files.items():
        got = actual.files.get(name)
        if name in skip:
            continue
        if got is None:
            problems.append(f"missing file {name}")
        elif got != expected:
            problems.append(f"changed file {name}")
    for name, target in manifest.symlinks.items():
        if actual.symlinks.get(name) != target:
            problems.append(f"changed or missing symlink {name}")
    if extra:
        problems += [f"extra file {name}" for name in sorted(actual.files.keys() - manifest.files.keys())]
        problems += [f"extra symlink {name}" for name in sorted(actual.symlinks.keys() - manifest.symlinks.keys())]
    return problems


class _ManifestCheck(threading.Thread):
    """Check, while the copy runs, that every file of the entry is there with its recorded size."""

    def __init__(self, entry: Path) -> None:
        super().__init__(daemon=True)
        self.entry = entry
        self.problem = ""

    def run(self) -> None:
        try:
            raw = _read_json(self.entry / "manifest.json")
            manifest = relocate.Manifest.from_json(raw)
            mtimes = raw.get("mtimes") if isinstance(raw.get("mtimes"), dict) else {}
            env = self.entry / "env"
            try:
                mode = os.lstat(env).st_mode
            except OSError:
                mode = 0
            if not stat.S_ISDIR(mode):
                self.problem = "env/ is missing or not a folder"
                return
            files, links = relocate.walk(env)
            extra = sorted(set(files) - manifest.files.keys() | set(links) - manifest.symlinks.keys())
            if extra:
                self.problem = f"unexpected file env/{extra[0]}"
                return
            for name, (size, _) in manifest.files.items():
                try:
                    st = os.lstat(env / name)
                except FileNotFoundError:
                    self.problem = f"file env/{name} is missing"
                    return
                if st.st_size != size or not stat.S_ISREG(st.st_mode):
                    self.problem = f"file env/{name} changed size"
                    return
                if type(mtimes.get(name)) is int and st.st_mtime_ns != mtimes[name]:
                    self.problem = f"file env/{name} was modified in place"
                    return
            for name, target in manifest.symlinks.items():
                try:
                    if os.readlink(env / name) != target:
                        self.problem = f"symlink env/{name} changed"
                        return
                except OSError:
                    self.problem = f"symlink env/{name} is missing"
                    return
        except (OSError, ValueError, KeyError) as exc:
            self.problem = f"unreadable manifest.json ({exc})"


def _health_problem(env: Path, expected: Any) -> str:
    """Why the env at ``env`` cannot be served (its interpreter does not start or is another one), or ''."""
    python = venv_python(env)
    if not os.path.exists(python):
        return f"{python.relative_to(env)} is missing or its link is dangling"
    try:
        got = interpreter_identity(python)
    except VenvCacheError as exc:
        return str(exc)
    if isinstance(expected, dict):
        for name in ("implementation", "version", "cache_tag", "base_executable"):
            if got.get(name) != expected.get(name):
                return f"interpreter {name} is {got.get(name)!r}, the entry was built with {expected.get(name)!r}"
    return ""


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negative numbers name process groups, not a writer
        return pid == 0
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # a number too big for a pid names no process
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_stages(parent: Path, name: str) -> None:
    """Clean up after restores into ``parent/name`` that died: drop their stages, put back a moved-away old env."""
    prefix = f".{name}.venvcache-"
    target = parent / name
    with contextlib.suppress(OSError):
        for item in sorted(parent.iterdir()):
            if not item.name.startswith(prefix):
                continue
            owner = item.name[len(prefix):].split("-")[0]
            if owner == "old":  # the two-rename swap died between its renames: the old env is here
                if not os.path.lexists(target):
                    os.rename(item, target)
                else:
                    _rmtree(item)
            elif owner.isascii() and owner.isdigit() and not _pid_alive(int(owner)):
                _rmtree(item)

