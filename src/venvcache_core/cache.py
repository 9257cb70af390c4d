"""The cache: whole virtual environments under ``<cache_path>/<key>/``, published atomically, locked per key.

Layout of one entry::

    <key>/env/            the venv tree (as stored, with its origin path, bytecode compiled, files read-only)
    <key>/meta.json       created, origin paths, key document, link mode, size, files to relocate, metadata
    <key>/manifest.json   every file's size and sha256, every symlink's target (for verify)
    <key>/usage.json      last_used and hits, rewritten on each hit (never the env itself)
    <key>/COMPLETE        written last: an entry without it does not exist

Around it: ``.locks/<key>.lock`` (:mod:`.keylock`), ``.tmp/`` (entries being built), ``.trash/`` (entries being
deleted), ``stats.json`` (:mod:`.stats`), ``interpreters.json`` (interpreters probed before, so a restore's health
check need not start one again: :mod:`.verify`). Sharing files with an entry is made safe in :mod:`.linkmode`,
bytecode in :mod:`.bytecode`. Eviction is in :mod:`.gc`, checks of an entry in :mod:`.verify`.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import socket
import stat
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import bytecode, gc, root
from .config import Config
from .envpython import health_problem, pinned_interpreter
from .errors import NoSpaceError, VenvCacheError
from .explain import explain_miss
from .fsutil import clean_stale_stages, discard, no_space, read_json, rmtree, stage_path, swap_in, temp_name, write_json
from .key import Key, check_key, interpreter_identity, venv_python
from .keylock import Lock, key_lock
from .linkmode import LinkMode, as_link_mode, copy_tree, make_private, protect, top_level_files, unprotect
from .manifest import Manifest, scan
from .nearest import Accept, installed_distributions, nearest_entry
from .relocate import path_forms, relocation_map, rewrite
from .stats import COUNTERS, Counters
from .verify import ManifestCheck, diff, finite, known_identity, meta_problem, remember_identity

if TYPE_CHECKING:
    from .remote import Remote

log = logging.getLogger("venvcache")

MARKER = "COMPLETE"
#: what a partial restore leaves in the env until its store: the source entry and its cold build time
#: (:func:`cold_build_seconds`); never part of an entry, removed by the store that consumes it
PARTIAL_RECORD = ".venvcache-partial.json"


def cold_build_seconds(measured: float | None, source_seconds: float | None, source_files: int,
                       files: int) -> float | None:
    """What a cold build of an env that came from a partial restore would cost: the source entry's recorded build
    time scaled by the files each env holds (a cold install writes every file), never less than ``measured``
    (restore + sync: what this build really took); ``measured`` when the source's build time is unknown."""
    if source_seconds is None or source_files <= 0:
        return measured
    estimate = source_seconds * files / source_files
    return round(max(estimate, measured or 0.0), 3)


class MissReason(str, enum.Enum):
    """Why a restore missed; :attr:`RestoreResult.detail` says it in words."""

    NO_ENTRY = "no entry"
    EXPIRED = "expired"
    QUARANTINED = "quarantined"
    PARTIAL = "partial"  # no exact entry, the nearest one restored instead (:meth:`Cache.restore_nearest`)

    def __str__(self) -> str:
        return self.value


@dataclass
class Entry:
    """One complete cache entry, as ``list`` shows it; ``metadata`` is what ``store(metadata=...)`` recorded."""

    key: str
    path: Path
    created: float
    last_used: float
    hits: int
    bytes: int
    files: int
    python: str
    origin: str
    link_mode: LinkMode | None
    metadata: dict[str, Any] = field(default_factory=dict)
    build_seconds: float | None = None  # how long building the env took, as the store was told
    saved_seconds: float = 0.0  # build time minus restore time, summed over this entry's hits
    hostname: str = ""  # the host that last used (or stored) the entry, as the original tool's list shows

    def to_json(self) -> dict[str, Any]:
        """The entry as ``list --json`` prints it."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {
            "path": str(self.path), "link_mode": self.link_mode or ""}


@dataclass
class RestoreResult:
    """What ``restore`` did: ``hit`` is True only when ``dest`` now holds the cached env."""

    hit: bool
    key: str
    dest: Path
    seconds: float = 0.0
    bytes: int = 0
    files: int = 0
    link_mode: LinkMode | None = None
    reason: MissReason | None = None  # None on a hit
    detail: str = ""  # the miss reason in words, e.g. "quarantined: file env/bin/python changed size"
    saved_seconds: float = 0.0  # on a hit: the entry's build time minus this restore's (0 when not recorded)
    nearest: str | None = None  # on a miss: the entry nearest by key document (explain.py)
    differs: list[str] = field(default_factory=list)  # on a miss: what differs from it, in short phrases
    #: a partial restore (:meth:`Cache.restore_nearest`): ``dest`` holds the nearest entry ``source``, not ``key``'s
    #: env; ``differ`` of ``total`` distributions are still to add, remove or change (an exact sync does it)
    source: str = ""
    differ: int = 0
    total: int = 0

    @property
    def partial(self) -> bool:
        """``dest`` holds a near entry that an exact sync must finish (``hit`` is False)."""
        return bool(self.source) and not self.hit

    def to_json(self) -> dict[str, Any]:
        """The result as ``restore --json`` prints it (``result`` is ``hit``, ``partial`` or ``miss``)."""
        result = {"result": "hit" if self.hit else "partial" if self.partial else "miss", "key": self.key,
                  "dest": str(self.dest), "seconds": round(self.seconds, 4), "bytes": self.bytes, "files": self.files,
                  "link_mode": self.link_mode or "", "reason": self.reason.value if self.reason else "",
                  "detail": self.detail, "saved_seconds": round(self.saved_seconds, 2), "nearest": self.nearest,
                  "differs": list(self.differs)}
        if self.partial:
            result |= {"source": self.source, "differ": self.differ, "total": self.total}
        return result


@dataclass
class StoreResult:
    """What ``store`` did: ``stored`` is False when an equal entry already existed (first writer wins)."""

    stored: bool
    key: str
    seconds: float = 0.0
    bytes: int = 0
    files: int = 0
    link_mode: LinkMode | None = None
    evicted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The result as ``store --json`` prints it."""
        return {"result": "stored" if self.stored else "exists", "key": self.key, "seconds": round(self.seconds, 4),
                "bytes": self.bytes, "files": self.files, "link_mode": self.link_mode or "",
                "evicted": self.evicted}


def _miss(digest: str, target: Path, reason: MissReason, detail: str) -> RestoreResult:
    return RestoreResult(False, digest, target, reason=reason, detail=detail)


def _seconds(value: Any) -> float | None:
    """A recorded duration, or None when absent or not a finite non-negative number."""
    number = finite(value)
    return None if number is None or number < 0 else number


def _write_partial_record(env: Path, key: str, source: Entry, seconds: float) -> None:
    """Leave the partial restore's source in the env for the store of ``key`` that follows (best effort)."""
    try:
        write_json(env / PARTIAL_RECORD, {"key": key, "source": source.key,
                                          "source_build_seconds": source.build_seconds,
                                          "source_files": source.files, "restored_at": time.time(),
                                          "restore_seconds": round(seconds, 3)}, durable=False)
    except OSError as exc:
        log.debug("venvcache: partial record not written in %s: %s", env, exc)


def _partial_record(env: Path, digest: str) -> dict[str, Any] | None:
    """The record a partial restore for ``digest`` left in ``env`` (None: none, unreadable, or for another key)."""
    try:
        data = read_json(env / PARTIAL_RECORD)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("key") == digest else None


def _partial_seconds(record: Mapping[str, Any], given: float | None) -> float | None:
    """What restore + sync took, from the record's clock; ``given`` (the front end's figure) when that is less (a
    figure from the env's creation, such as the CLI's, would count the source entry's age)."""
    restored, restore = _seconds(record.get("restored_at")), _seconds(record.get("restore_seconds"))
    if restored is None:
        return given
    spent = max(time.time() - restored, 0.0) + (restore or 0.0)
    return round(spent if given is None else min(given, spent), 3)


def _exclusions(exclude: Iterable[str]) -> frozenset[str]:
    """Validated relative paths to leave out of an entry."""
    names = set()
    for name in exclude:
        clean = os.path.normpath(name).replace(os.sep, "/") if isinstance(name, str) and name else ""
        if not clean or "\0" in clean or os.path.isabs(clean) or clean == "." or clean.split("/")[0] == "..":
            raise VenvCacheError(f"cannot leave {name!r:.80} out of an entry: not a path inside the env",
                                 fix="pass relative paths such as 'log' or 'tmp'")
        names.add(clean)
    return frozenset(names)


class Cache:
    """A directory of cached envs. ``restore`` and ``store`` are all the adapters need."""

    def __init__(self, path: str | os.PathLike[str], *, max_entries: int = 20, max_bytes: int | None = None,
                 max_age: float | None = None, link_mode: LinkMode = "auto") -> None:
        self.path = Path(os.path.abspath(path))
        self.tmp = self.path / ".tmp"
        self.trash = self.path / ".trash"
        self.locks = self.path / ".locks"
        self.interpreters = self.path / "interpreters.json"  # identities probed before (verify.known_identity)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.link_mode: LinkMode = link_mode
        self.counters = Counters(self.path)
        self.remote: Remote | None = None  # L2, set by from_config when configured (remote.py)
        self._ready = False

    @classmethod
    def from_config(cls, config: Config) -> Cache:
        """The cache (and its remote, when one is configured) that ``config`` describes."""
        cache = cls(config.cache_path, max_entries=config.cache_size, max_bytes=config.max_bytes,
                    max_age=config.max_age, link_mode=config.link_mode)
        if config.remote or os.environ.get("VIRTUALENV_CACHE_REMOTE"):  # keep the local path's start-up light
            from .remote import remote_from_config  # obstore itself is imported only when the remote is used

            cache.remote = remote_from_config(config)
        return cache

    # -- layout and the entry life cycle (public: the remote builds entries too) ------------------------------
    def entry_path(self, key: str) -> Path:
        """Where the entry of ``key`` lives (whether or not it exists)."""
        return self.path / check_key(key)

    def lock(self, key: str, timeout: float = -1) -> Lock:
        """The exclusive lock of ``key`` (a context manager); ``timeout`` 0 fails at once with ``filelock.Timeout``."""
        self._prepare()
        return key_lock(self.locks / f"{check_key(key)}.lock", timeout)

    def is_complete(self, key: str) -> bool:
        """Whether ``key`` has a complete entry (a real folder with its ``COMPLETE`` marker)."""
        entry = self.entry_path(key)
        try:  # an entry is a real folder: a symlink planted in its place is never served (nor listed)
            if not stat.S_ISDIR(os.lstat(entry).st_mode):
                return False
        except OSError:
            return False
        return (entry / MARKER).is_file()

    @contextlib.contextmanager
    def staging_dir(self) -> Iterator[Path]:
        """A fresh folder in ``.tmp`` to build an entry (or a pack) in; removed on exit unless published."""
        self._prepare()
        tmp = self.tmp / temp_name()
        try:
            tmp.mkdir(mode=0o700)
            yield tmp
        finally:
            if os.path.lexists(tmp):
                rmtree(tmp)

    def publish(self, key: str, staged: Path, *, replace: bool = False) -> bool:
        """Make the entry built in ``staged`` (``env/``, ``meta.json``, ``manifest.json``) the entry of ``key``.

        The caller holds :meth:`lock` of ``key``. Writes ``usage.json`` and the ``COMPLETE`` marker, then renames
        the folder into place; False (nothing changed) when a complete entry exists and not ``replace``.
        """
        digest = check_key(key)
        if self.is_complete(digest) and not replace:
            return False
        write_json(staged / "usage.json", {"last_used": time.time(), "hits": 0})
        write_json(staged / MARKER, {"key": digest})
        entry = self.entry_path(digest)
        if os.path.lexists(entry):  # incomplete leftovers, or the entry being refreshed
            discard(entry, self.trash)
        os.rename(staged, entry)
        return True

    def _prepare(self) -> None:
        """Create the cache root (with its marker) or check that an existing one is this user's cache (:mod:`.root`)."""
        if not self._ready:
            root.prepare(self.path)
            self._ready = True

    def _meta(self, key: str) -> dict[str, Any]:
        return read_json(self.entry_path(key) / "meta.json")

    def _usage(self, key: str) -> dict[str, Any]:
        try:
            return read_json(self.entry_path(key) / "usage.json")
        except (OSError, ValueError):
            return {}

    def _manifest(self, key: str) -> Manifest:
        return Manifest.from_json(read_json(self.entry_path(key) / "manifest.json"))

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
                        if self.is_complete(item.name):
                            found.append(item.name)
        return sorted(found)

    def get(self, key: str) -> Entry | None:
        """One complete entry, or None (missing, incomplete or unreadable metadata)."""
        if not self.is_complete(key):
            return None
        try:
            meta = self._meta(key)
        except (OSError, ValueError):
            return None
        if meta_problem(meta):
            return None
        usage = self._usage(key)
        last_used, hits = finite(usage.get("last_used")), usage.get("hits")
        if last_used is None:
            last_used = float(meta["created"])  # a broken usage.json costs the entry its place in the LRU order only
        return Entry(key=key, path=self.entry_path(key), created=float(meta["created"]), last_used=last_used,
                     hits=hits if type(hits) is int else 0, bytes=meta["bytes"], files=meta["files"],
                     python=str(meta.get("python", "")), origin=meta["origin"],
                     link_mode=as_link_mode(meta.get("link_mode")), metadata=dict(meta.get("metadata", {})),
                     build_seconds=_seconds(meta.get("build_seconds")),
                     saved_seconds=_seconds(usage.get("saved_seconds")) or 0.0,
                     hostname=str(usage.get("hostname") or meta.get("host") or ""))

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
        """Entries, bytes and files now, and the counters since the cache was made (the remote's too)."""
        entries = self.entries()
        counters = self.counters.read()
        return {"path": str(self.path), "entries": len(entries), "bytes": sum(e.bytes for e in entries),
                "files": sum(e.files for e in entries), **{name: counters.get(name, 0) for name in COUNTERS},
                **(self.remote.stats(counters) if self.remote else {})}

    # -- store -------------------------------------------------------------------------------------------------
    def store(self, key: Key | str, src: str | os.PathLike[str], *, project_root: str | os.PathLike[str] | None = None,
              replace: bool = False, exclude: Iterable[str] = (),
              metadata: Mapping[str, Any] | None = None, build_seconds: float | None = None) -> StoreResult:
        """Publish a copy of the env ``src`` under ``key``; an existing complete entry wins unless ``replace``.

        ``exclude``: paths inside the env left out of the entry (e.g. ``("log", "tmp")``); ``metadata``: a JSON
        object kept with the entry (``Entry.metadata``); ``build_seconds``: how long building the env took (the
        install the front end watched), so each hit can count the time it saved.
        """
        started = time.perf_counter()
        if build_seconds is not None and _seconds(build_seconds) is None:
            raise VenvCacheError(f"build time {build_seconds!r:.40} is not a number of seconds",
                                 fix="pass a non-negative number (or None when unknown)")
        digest = check_key(str(key))
        document = dict(key.document) if isinstance(key, Key) else {}
        source = Path(os.path.abspath(src))
        skip = _exclusions([*exclude, PARTIAL_RECORD])
        partial = _partial_record(source, digest)
        if not (source / "pyvenv.cfg").is_file():
            raise VenvCacheError("is not a virtual environment (no pyvenv.cfg)", path=source,
                                 fix="create it first, e.g. python3 -m venv " + str(source))
        self._prepare()
        if self.is_complete(digest) and not replace:
            gc.clean_tmp(self)  # no prune on this path: still clean up after writers that died
            return StoreResult(False, digest, time.perf_counter() - started)
        python = interpreter_identity(venv_python(source))
        remember_identity(self.interpreters, venv_python(source), python)  # so restores need not start it again
        try:
            with self.staging_dir() as tmp:
                origins = [str(source)]
                project = self._project_origin(project_root, python)
                if project:
                    origins.append(project)
                # Hash the source while cp copies it: two cores, one pass each, the same bytes from the page cache.
                with ThreadPoolExecutor(max_workers=1) as pool:
                    scanning = pool.submit(scan, source, path_forms(origins), skip=skip)
                    used = copy_tree(source, tmp / "env", self.link_mode)
                    manifest = scanning.result()
                env = tmp / "env"
                for name in skip:
                    rmtree(env / name)
                if used == "hardlink":  # what tools rewrite in place stays the source's own; the entry gets copies
                    make_private(env, [*top_level_files(env), *manifest.relocate])
                self._compile_bytecode(env, manifest, python)
                measured = _seconds(build_seconds)
                if partial is not None:  # what a later hit saves is a cold build, not this restore + sync
                    measured = _partial_seconds(partial, measured)
                    build_seconds = cold_build_seconds(measured, _seconds(partial.get("source_build_seconds")),
                                                       int(partial.get("source_files") or 0), len(manifest.files))
                meta = {
                    "key": digest, "created": time.time(), "origin": str(source), "origin_project": project,
                    "document": document, "python": python["version"], "interpreter": python, "link_mode": used,
                    "bytes": manifest.bytes, "files": len(manifest.files), "relocate": manifest.relocate,
                    "host": socket.gethostname(), "metadata": dict(metadata or {}), "protected": True,
                    "distributions": installed_distributions(source),  # for restore_nearest
                    "build_seconds": _seconds(build_seconds),
                    **({"partial": {"source": partial.get("source"), "measured_seconds": measured}}
                       if partial is not None else {}),
                }
                # mtimes of the copy: restore compares them (free: it lstats every file anyway), so an in-place edit
                # of a same-sized file (hardlink mode) is caught without hashing; verify still hashes
                mtimes = {name: os.lstat(env / name).st_mtime_ns for name in manifest.files}
                protect(env, manifest.files)  # after the mtimes: a mode change leaves them alone anyway
                write_json(tmp / "manifest.json", {**manifest.to_json(), "mtimes": mtimes})
                write_json(tmp / "meta.json", meta)
                with self.lock(digest):
                    if not self.publish(digest, tmp, replace=replace):
                        return StoreResult(False, digest, time.perf_counter() - started)
        except OSError as exc:
            if no_space(exc):
                raise NoSpaceError("no space left while storing the env", path=self.path,
                                   fix="free some space or lower max_bytes/cache_size") from None
            raise VenvCacheError(f"store failed: {exc.strerror or exc}", path=self.path,
                                 fix="check the cache directory's permissions and free space") from None
        except TypeError as exc:  # metadata that JSON cannot hold
            raise VenvCacheError(f"store failed: metadata is not JSON ({exc})", path=self.path,
                                 fix="pass str, int, float, bool, None, lists and dicts only") from None
        self.counters.add(stores=1)
        if partial is not None:
            with contextlib.suppress(OSError):
                os.unlink(source / PARTIAL_RECORD)
        evicted = self.prune(keep=digest)
        if self.remote is not None:  # L2: upload when remote_mode allows; a fault is a warning, never an error
            self.remote.after_store(self, digest)
        return StoreResult(True, digest, time.perf_counter() - started, manifest.bytes, len(manifest.files), used,
                           evicted)

    @staticmethod
    def _compile_bytecode(env: Path, manifest: Manifest, python: dict[str, Any]) -> None:
        """Compile the site-packages modules that have no bytecode (a uv-built env) in the staged entry."""
        tag = python.get("cache_tag")
        if not isinstance(tag, str) or not tag:
            return  # an implementation without bytecode caching
        todo = bytecode.missing(manifest.files, tag, skip=manifest.relocate)
        if todo:
            manifest.add(env, bytecode.compile_into(env, todo, venv_python(env), tag))

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

    def interpreter_identity(self, python: str | os.PathLike[str]) -> dict[str, Any]:
        """:func:`.key.interpreter_identity` of an interpreter, from the memo of interpreters probed before (by the
        file it resolves to, unchanged) instead of starting it; a new probe of a base interpreter is remembered."""
        path = Path(python)
        found = known_identity(self.interpreters, path)
        if found is not None:
            return found
        identity = interpreter_identity(path)
        # only a file that is the interpreter itself: a shim (pyenv) answers by its environment, not by its file
        if os.path.realpath(path) == identity.get("base_executable") and self.path.is_dir():
            remember_identity(self.interpreters, path, identity)
        return identity

    # -- restore -----------------------------------------------------------------------------------------------
    def restore(self, key: Key | str, dest: str | os.PathLike[str], *,
                project_root: str | os.PathLike[str] | None = None,
                tool_files: Collection[str] = ()) -> RestoreResult:
        """Put the env cached under ``key`` at ``dest``; on a miss (or a bad entry) ``dest`` is left untouched.

        The copy is staged next to ``dest``, relocated, health-checked, then swapped in by rename; only then is the
        old env deleted. A failing entry is quarantined (removed) and reported as a miss. ``tool_files``: top-level
        names a tool puts into ``dest`` before it creates the env there (tox's ``log``, ``tmp``, ``.tox-info.json``);
        a ``dest`` holding only those is replaced like an empty one.
        """
        return self._restore(key, dest, project_root, partial=False, tool_files=tool_files)

    def _restore(self, key: Key | str, dest: str | os.PathLike[str], project_root: str | os.PathLike[str] | None,
                 *, partial: bool, tool_files: Collection[str] = ()) -> RestoreResult:
        """``restore``; with ``partial`` (the nearest entry, for a sync to finish) no hit nor time saved is counted:
        the exact key's miss was, and the store of the synced env records what a cold build costs."""
        started = time.perf_counter()
        digest = check_key(str(key))
        target = Path(os.path.abspath(dest))
        self._prepare()  # a cache dir that cannot be used is an error now, not a silent miss and a failing store
        self._check_dest(target, frozenset(tool_files))
        if not self.is_complete(digest) and not (self.remote is not None and self.remote.fetch_into(self, digest)):
            self.counters.add(misses=1)
            return self._explained(key, _miss(digest, target, MissReason.NO_ENTRY, "no entry"))
        with self.lock(digest):
            if not self.is_complete(digest):  # evicted while we waited
                self.counters.add(misses=1)
                return self._explained(key, _miss(digest, target, MissReason.NO_ENTRY, "no entry"))
            try:
                meta = self._meta(digest)
            except (OSError, ValueError) as exc:
                return self._quarantine(digest, target, f"unreadable meta.json: {exc}")
            problem = meta_problem(meta)
            if problem:
                return self._quarantine(digest, target, problem)
            created = float(meta["created"])
            if self.max_age is not None and time.time() - created > self.max_age:
                discard(self.entry_path(digest), self.trash)
                self.counters.add(misses=1, evictions=1)
                return _miss(digest, target, MissReason.EXPIRED, "expired (max_age)")
            document = key.document if isinstance(key, Key) else None
            expected = pinned_interpreter(digest, document, meta)
            result = self._restore_locked(digest, meta, target, project_root, expected)
            if not result.hit:
                return result
            result.seconds = time.perf_counter() - started
            build = _seconds(meta.get("build_seconds"))
            result.saved_seconds = max(0.0, build - result.seconds) if build is not None and not partial else 0.0
            usage = self._usage(digest)
            hits = usage.get("hits", 0)
            hits = hits if type(hits) is int else 0
            try:  # best effort: a full cache disk must not turn a done restore into an error
                write_json(self.entry_path(digest) / "usage.json",
                           {"last_used": time.time(), "hits": hits + (0 if partial else 1),
                            "hostname": socket.gethostname(),
                            "saved_seconds": round((_seconds(usage.get("saved_seconds")) or 0.0)
                                                   + result.saved_seconds, 3)}, durable=False)
            except OSError as exc:
                log.debug("venvcache: usage of %s not updated: %s", digest[:8], exc)
        if not partial:
            self.counters.add(hits=1, saved_seconds=round(result.saved_seconds, 3))
        result.seconds = time.perf_counter() - started
        return result

    def restore_nearest(self, key: Key, dest: str | os.PathLike[str], wanted: Mapping[str, str], *,
                        requirements: Collection[str], accept: Accept | None = None,
                        project_root: str | os.PathLike[str] | None = None) -> RestoreResult:
        """After ``key`` missed: restore the entry nearest to ``wanted`` (:func:`.nearest.nearest_entry`) at ``dest``.

        The result is never a hit: on success it is ``partial`` (``source``, ``differ``, ``total``) and the caller
        must run an exact sync before it stores ``dest`` under ``key``; else a miss, ``dest`` untouched. ``dest``
        then holds :data:`PARTIAL_RECORD`, so that store (in this process or a later one) records the cold build
        time of the source entry (:func:`cold_build_seconds`), not the restore and sync it took.
        """
        started = time.perf_counter()
        target = Path(os.path.abspath(dest))
        found = nearest_entry(self, key, wanted, requirements=requirements, accept=accept)
        if found is None:
            return _miss(key.digest, target, MissReason.NO_ENTRY, "no entry, none near")
        result = self._restore(found.entry.key, target, project_root, partial=True)
        if not result.hit:
            return _miss(key.digest, target, result.reason or MissReason.NO_ENTRY, result.detail)
        _write_partial_record(target, key.digest, found.entry, time.perf_counter() - started)
        return RestoreResult(False, key.digest, target, time.perf_counter() - started, result.bytes, result.files,
                             result.link_mode, MissReason.PARTIAL, f"{found.differ} of {found.total} packages differ",
                             source=found.entry.key, differ=found.differ, total=found.total)

    def _explained(self, key: Key | str, result: RestoreResult) -> RestoreResult:
        """A miss with the nearest entry and what differs filled in (when ``key`` carries its document)."""
        if isinstance(key, Key) and key.document:
            try:
                found = explain_miss(self, key)
            except (OSError, ValueError) as exc:  # explaining is a courtesy: never fail a restore for it
                log.debug("venvcache: miss of %s not explained: %s", result.key[:8], exc)
                found = None
            if found is not None:
                result.nearest, result.differs = found.nearest, list(found.differs)
        return result

    def _restore_locked(self, digest: str, meta: dict[str, Any], target: Path,
                        project_root: str | os.PathLike[str] | None, expected: dict[str, Any]) -> RestoreResult:
        entry = self.entry_path(digest)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VenvCacheError(f"cannot create the destination's folder: {exc.strerror}",
                                 path=target.parent) from None
        clean_stale_stages(target)
        stage = stage_path(target)
        checker = ManifestCheck(entry)
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
            mapping = relocation_map(str(meta["origin"]), str(target), meta.get("origin_project"),
                                     os.path.abspath(project_root) if project_root else None)
            names = list(meta.get("relocate", []))
            inside = os.path.realpath(stage) + os.sep
            if not all(os.path.realpath(stage / n).startswith(inside) and os.path.isfile(stage / n) for n in names):
                return self._quarantine(digest, target, "meta.json names files to relocate that are not in the env")
            rewrite(stage, names, mapping)  # replaces the files it changes: they are the env's own from here on
            if used == "hardlink":  # the rest of what tools rewrite in place (.tox-info.json, scripts) too
                make_private(stage, [*top_level_files(stage), *names])
            elif meta.get("protected"):  # a private copy of a protected entry: writable, as a plain copy is
                unprotect(stage)
            problem = health_problem(stage, expected, self.interpreters)  # runs nothing from the entry
            if problem:
                return self._quarantine(digest, target, problem)
            swap_in(stage, target)
        except NoSpaceError:  # from the copy: say what it means for a restore
            raise NoSpaceError("no space left to restore the env; the old env is untouched", path=target.parent,
                               fix="free some space") from None
        except OSError as exc:
            if no_space(exc):
                raise NoSpaceError("no space left to restore the env; the old env is untouched", path=target.parent,
                                   fix="free some space") from None
            raise VenvCacheError(f"restore failed, the old env is untouched: {exc.strerror or exc}",
                                 path=target) from None
        finally:
            checker.join()
            if os.path.lexists(stage):
                rmtree(stage)
        return RestoreResult(True, digest, target, bytes=int(meta.get("bytes", 0)), files=int(meta.get("files", 0)),
                             link_mode=used)

    def _check_dest(self, target: Path, tool_files: frozenset[str] = frozenset()) -> None:
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
            usable = target.is_dir() and ((target / "pyvenv.cfg").is_file()
                                          or all(item.name in tool_files for item in target.iterdir()))
        except OSError:
            usable = False
        if not usable:
            raise VenvCacheError("exists and is not a virtual environment; refusing to replace it", path=target,
                                 fix="remove it, or point virtualenv_path at the env")

    def _quarantine(self, digest: str, target: Path, problem: str) -> RestoreResult:
        log.warning("venvcache: entry %s is broken (%s); removed it", digest[:8], problem)
        with contextlib.suppress(OSError):
            discard(self.entry_path(digest), self.trash)
        self.counters.add(misses=1, quarantined=1)
        return _miss(digest, target, MissReason.QUARANTINED, f"quarantined: {problem}")

    # -- maintenance -------------------------------------------------------------------------------------------
    def remove(self, key: str) -> bool:
        """Delete one entry; waits for a reader of it to finish."""
        with self.lock(key):
            entry = self.entry_path(key)
            if not os.path.lexists(entry):
                return False
            discard(entry, self.trash)
        return True

    def erase(self) -> int:
        """Delete every entry (and stale temp dirs); return how many entries went."""
        if not os.path.lexists(self.path):
            return 0
        self._prepare()  # also with no entries: the clean-up below deletes only in a root that is the cache's
        removed = sum(self.remove(key) for key in self.keys())
        gc.clean_tmp(self, max_age=0.0)
        gc.clean_locks(self)
        return removed

    def prune(self, *, keep: str | None = None) -> list[str]:
        """Evict expired entries, then least recently used ones beyond ``max_entries`` / ``max_bytes`` (:mod:`.gc`).

        An entry whose lock another process holds (a restore in progress) is skipped, never deleted under it.
        """
        if not self.path.is_dir():
            return []
        self._prepare()
        return gc.prune(self, keep=keep)

    def verify(self, key: str) -> list[str]:
        """Compare an entry with its manifest (every file's size and sha256, every symlink); return the problems."""
        if not self.is_complete(key):
            return [f"{key[:8]}: incomplete or missing entry"]
        with self.lock(key):  # not while a store replaces it or an eviction deletes it
            if not self.is_complete(key):
                return [f"{key[:8]}: incomplete or missing entry"]
            try:
                manifest = self._manifest(key)
            except (OSError, ValueError, KeyError) as exc:
                return [f"{key[:8]}: unreadable manifest.json ({exc})"]
            try:
                return [f"{key[:8]}: {problem}" for problem in diff(manifest, self.entry_path(key) / "env")]
            except OSError as exc:
                return [f"{key[:8]}: env/ cannot be read ({exc.strerror or exc})"]

    def verify_env(self, key: str, env: str | os.PathLike[str]) -> list[str]:
        """Compare a restored env with the entry's manifest, except the files relocation rewrote.

        In hardlink mode the env shares inodes with the cache: an in-place edit there shows up here.
        """
        if not self.is_complete(key):
            raise VenvCacheError(f"no complete cache entry {key[:12]}", path=self.path,
                                 fix="see 'virtualenv-cache list' for the keys")
        try:
            manifest = self._manifest(key)
        except (OSError, ValueError, KeyError) as exc:
            raise VenvCacheError(f"entry {key[:12]} has an unreadable manifest.json ({exc})", path=self.path,
                                 fix="erase that entry") from None
        try:
            return diff(manifest, Path(env), skip=frozenset(manifest.relocate), extra=False)
        except OSError as exc:
            raise VenvCacheError(f"cannot read the env: {exc.strerror or exc}", path=env) from None
