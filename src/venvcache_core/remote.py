"""The shared remote cache (L2): whole entries as packs on an object store, through obstore.

The local cache stays the level everything is served from (L1). A restore that misses L1 asks the remote: the pack
named by the key is downloaded, its sha256 checked, unpacked into ``<cache>/.tmp/`` and published into L1 with the
same rename as a local store, then restored from L1 as usual. A store publishes to L1, then uploads the pack when
``remote_mode`` allows it; uploads use ``mode="create"``, so the first writer of a key wins and later writers
find the object there and move on.

Why obstore: one library, in Rust, for S3 (and S3-compatible servers), GCS, Azure, HTTP/WebDAV and local files,
with the stores' usual credential chains and environment variables, retries, and conditional puts.

A remote is an accelerator, never a dependency: a timeout, a dropped connection, a refused upload or a bad pack
becomes one warning line and a local miss (the job builds the env as it would without a cache). Only the explicit
``push`` and ``pull`` commands report errors as errors.

Big packs: a pack larger than the part size (``VIRTUALENV_CACHE_REMOTE_PART_SIZE``, default 64 MiB) goes up as a
multipart upload, which the store makes visible only when it completes; it is checked for once before and once
more right before completion (stores offer no create-only multipart upload), so a second writer that lost the race
aborts. Downloads of packs larger than a part are read as parallel byte ranges pinned to the object's e_tag and
streamed in order into the unpack.

Uploads after a store run in a background thread, so the tox/nox run goes on; the process waits for them only at
exit, at most ``VIRTUALENV_CACHE_REMOTE_UPLOAD_WAIT`` seconds (default 600), and prints one line saying what they
did. An upload that is cut off (timeout, killed job) is never visible: a single PUT is atomic and an unfinished
multipart upload is not an object.

Signed packs (signing.py): with ``VIRTUALENV_CACHE_REMOTE_SIGNING_KEY`` set, uploads are signed and downloads
that are unsigned or signed with another key are refused (checked on the pack's last bytes before downloading it,
and over every byte while unpacking).

Settings: ``remote`` and ``remote_mode`` in the config; ``VIRTUALENV_CACHE_REMOTE`` and
``VIRTUALENV_CACHE_REMOTE_MODE`` override them (so one config file serves read-only PR jobs and writing main jobs;
an empty ``VIRTUALENV_CACHE_REMOTE`` turns the remote off). Credentials, endpoint and HTTP client options come from
each store's standard variables (``AWS_*``, ``GOOGLE_*``, ``AZURE_*``), e.g. ``AWS_ENDPOINT_URL`` and
``AWS_ALLOW_HTTP=true`` for a local S3-compatible server.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, cast

from . import pack, signing
from .config import REMOTE_MODES, Config, parse_age, parse_size, remote_url
from .errors import VenvCacheError
from .key import KEY_RE, check_key
from .signing import Signer, signer_from_env

if TYPE_CHECKING:
    from obstore import GetOptions

    from .cache import Cache

log = logging.getLogger("venvcache")

ENV_REMOTE = "VIRTUALENV_CACHE_REMOTE"
ENV_REMOTE_MODE = "VIRTUALENV_CACHE_REMOTE_MODE"
ENV_REMOTE_TIMEOUT = "VIRTUALENV_CACHE_REMOTE_TIMEOUT"
FETCH_TIMEOUT = 600.0  # seconds for one pack's download and unpack: a hostile or stuck remote holds the key lock
ENV_PART_SIZE = "VIRTUALENV_CACHE_REMOTE_PART_SIZE"
ENV_UPLOAD_WAIT = "VIRTUALENV_CACHE_REMOTE_UPLOAD_WAIT"
DOWNLOAD_CHUNK = 8 << 20
DEFAULT_PART_SIZE = 64 << 20  # packs above it: multipart upload, ranged parallel download
MIN_PART_SIZE = 5 << 20  # S3's and GCS's smallest part (but the last)
RANGE_SIZE = 16 << 20  # one ranged read of a big download (at most the part size)
TRANSFER_THREADS = 4  # parts in flight, each way
DEFAULT_UPLOAD_WAIT = 600.0
PROBE_PREFIX = ".venvcache-probe-"  # create-only probe objects: made and deleted again by a writer

# obstore replaces (does not merge) the client options read from the environment when some are passed, so the
# ones a user may set the standard way are read here and passed on, with our defaults for the timeouts.
_CLIENT_KEYS = ("allow_http", "allow_invalid_certificates", "connect_timeout", "default_content_type",
                "http1_only", "http2_keep_alive_interval", "http2_keep_alive_timeout", "http2_keep_alive_while_idle",
                "http2_only", "pool_idle_timeout", "pool_max_idle_per_host", "proxy_url", "proxy_ca_certificate",
                "proxy_excludes", "randomize_addresses", "read_timeout", "timeout", "user_agent")
_ENV_PREFIX = {"s3": "AWS_", "s3a": "AWS_", "gs": "GOOGLE_", "az": "AZURE_", "azure": "AZURE_", "abfs": "AZURE_",
               "abfss": "AZURE_", "adl": "AZURE_"}
# connect fast or give up; a stalled transfer (no byte for read_timeout) is a fault; a whole transfer may be long
DEFAULT_CLIENT = {"connect_timeout": timedelta(seconds=10), "read_timeout": timedelta(seconds=30),
                  "timeout": timedelta(minutes=30)}
# few, quick retries: a flaky remote must cost a job seconds, not the 3 minutes of obstore's default
DEFAULT_RETRY = {"max_retries": 3, "retry_timeout": timedelta(seconds=30),
                 "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2),
                             "base": 2}}

REMOTE_COUNTERS = ("remote_hits", "remote_misses", "remote_errors", "remote_rejected", "remote_uploads",
                   "remote_upload_exists", "remote_bytes_down", "remote_bytes_up", "remote_seconds_down",
                   "remote_seconds_up")


class _LostRace(Exception):
    """Another writer completed the pack while ours was uploading: abort ours."""


@dataclass
class Transfer:
    """What one pull or push did. ``action``: downloaded, present, missing, uploaded, exists."""

    key: str
    action: str
    bytes: int = 0
    seconds: float = 0.0
    sha256: str = ""
    pack_seconds: float = 0.0  # of ``seconds``: making the pack (an upload)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "result": self.action, "bytes": self.bytes, "seconds": round(self.seconds, 4),
                "sha256": self.sha256}


class RemoteError(VenvCacheError):
    """A transfer with the remote failed (network, server, credentials) or its pack was rejected."""


def _describe(exc: BaseException) -> str:
    """One short line for any error (obstore's messages are multi-line debug dumps)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 200:
        text = text[:200] + "…"
    return text if isinstance(exc, (VenvCacheError, pack.PackError)) else f"{type(exc).__name__}: {text}"


def _env_client_options(url: str) -> dict[str, Any]:
    scheme, _, rest = url.partition("://")
    prefix = _ENV_PREFIX.get(scheme.lower(), "")
    host = rest.split("/", 1)[0].lower()
    if scheme.lower() in ("http", "https"):  # obstore maps these hosts to its S3 and Azure stores
        if host.endswith(("amazonaws.com", "r2.cloudflarestorage.com")):
            prefix = "AWS_"
        elif host.endswith(("windows.net", "fabric.microsoft.com")):
            prefix = "AZURE_"
    options: dict[str, Any] = dict(DEFAULT_CLIENT)
    if prefix:
        for name in _CLIENT_KEYS:
            value = os.environ.get(prefix + name.upper())
            if value is not None:
                options[name] = value
    return options


class Remote:
    """One remote store (L2) and what this process may do with it (``mode``: read, write or readwrite)."""

    def __init__(self, url: str, mode: str = "readwrite", *, signer: Signer | Literal["env"] | None = "env",
                 part_size: int | None = None, background: bool = True) -> None:
        """``signer``: "env" reads ``VIRTUALENV_CACHE_REMOTE_SIGNING_KEY``; ``part_size`` None reads
        ``VIRTUALENV_CACHE_REMOTE_PART_SIZE``; ``background``: uploads after a store run in a thread."""
        self.url = remote_url(url)
        if mode not in REMOTE_MODES:
            raise VenvCacheError(f"remote_mode {mode!r} is not valid", fix="use read, write or readwrite")
        self.mode = mode
        self.signer = signer_from_env() if signer == "env" else signer
        self.part_size = _part_size() if part_size is None else part_size
        if self.part_size < MIN_PART_SIZE:
            raise VenvCacheError(f"a part size of {self.part_size} bytes is below the stores' minimum",
                                 fix=f"use at least {MIN_PART_SIZE >> 20} MiB ({ENV_PART_SIZE})")
        self.background = background
        self.create_only: bool | None = None  # does the store honour create-only puts (probed on first upload)
        self._store: Any = None
        self.uploads: list[_Upload] = []  # background uploads not yet waited for

    def __repr__(self) -> str:
        return f"Remote({self.url!r}, mode={self.mode!r})"

    @property
    def can_read(self) -> bool:
        return self.mode in ("read", "readwrite")

    @property
    def can_write(self) -> bool:
        return self.mode in ("write", "readwrite")

    @property
    def store(self) -> Any:
        """The obstore store, made on first use (importing obstore costs time only when a remote is used)."""
        if self._store is None:
            try:
                from obstore.store import from_url
            except ImportError:
                raise VenvCacheError(f"remote = {self.url!r} needs obstore, which is not installed",
                                     fix="pip install 'venvcache[remote]'") from None
            pack.require_zstd()
            try:
                if self.url.lower().startswith("file://"):
                    self._store = from_url(self.url, mkdir=True)
                else:
                    options: dict[str, Any] = {"client_options": _env_client_options(self.url),
                                               "retry_config": DEFAULT_RETRY}  # obstore's TypedDicts, built here
                    self._store = from_url(self.url, **options)
            except Exception as exc:  # obstore raises its own errors and ValueError for bad URLs or settings
                raise VenvCacheError(f"remote {self.url!r} cannot be used: {_describe(exc)}",
                                     fix="check the URL and the store's environment variables") from None
        return self._store

    @staticmethod
    def stats(counters: dict[str, Any]) -> dict[str, Any]:
        """The remote's counters for ``Cache.stats`` (from ``stats.json``): hits, bytes moved and seconds spent."""
        return {name: counters.get(name, 0) for name in REMOTE_COUNTERS}

    # -- the two hooks the core calls (never raise) -----------------------------------------------------------
    def fetch_into(self, cache: Cache, key: str) -> bool:
        """L1 missed: fill it from L2. True when the entry is now in L1; faults are one warning and False."""
        if not self.can_read:
            return False
        try:
            return self.pull(cache, key).action in ("downloaded", "present")
        except Exception as exc:  # a remote must never fail a job: the caller builds the env instead
            log.warning("venvcache: %s; building the env instead", _describe(exc))
            log.debug("venvcache: remote fetch traceback", exc_info=True)
            cache.counters.add(remote_errors=1)
            return False

    def after_store(self, cache: Cache, key: str) -> None:
        """An entry was published in L1: upload it when the mode allows, in the background unless told otherwise.

        Faults are one line: a warning now (foreground), or the line :meth:`wait` or the process's exit prints.
        """
        if not self.can_write:
            return
        upload = _Upload(self, key)
        if not self.background:
            upload.run(cache)
            if upload.error:
                log.warning("venvcache: %s; the local cache has the entry", upload.error)
            return
        upload.thread = threading.Thread(target=upload.run, args=(cache,), daemon=True,
                                         name=f"venvcache-upload-{key[:8]}")
        with _UPLOADS_LOCK:
            self.uploads.append(upload)
            _PENDING.append(upload)
            _register_exit_hook()
        upload.thread.start()

    def wait(self, timeout: float | None = None) -> str | None:
        """Wait up to ``timeout`` seconds for this remote's background uploads; log and return the one line
        saying what they did (None when there were none). A failure or an unfinished upload is a warning."""
        with _UPLOADS_LOCK:
            uploads, self.uploads = self.uploads, []
        line, problem = _finish(uploads, timeout)
        if line:
            log.log(logging.WARNING if problem else logging.INFO, "%s", line)
        return line

    # -- transfers ----------------------------------------------------------------------------------------------
    def head(self, key: str) -> dict[str, Any] | None:
        """The remote object's metadata (size, last_modified, e_tag), or None when it does not exist."""
        import obstore

        try:
            return dict(obstore.head(self.store, check_key(key)))
        except FileNotFoundError:
            return None

    def pull(self, cache: Cache, key: str) -> Transfer:
        """Download the pack of ``key``, verify and unpack it into L1 (under the key's lock, atomic publish).

        Any failure (network, server, a pack that fails a check) raises :class:`RemoteError` and leaves nothing.
        """
        try:
            return self._pull(cache, key)
        except VenvCacheError:
            raise
        except Exception as exc:
            raise RemoteError(f"remote {self.url}: fetching {key[:8]} failed: {_describe(exc)}") from exc

    def push(self, cache: Cache, key: str) -> Transfer:
        """Upload the L1 entry ``key`` as a pack unless the remote has it (first writer wins).

        Any failure raises :class:`RemoteError`; a ``read`` mode a :class:`VenvCacheError`.
        """
        try:
            return self._push(cache, key)
        except VenvCacheError:
            raise
        except Exception as exc:
            raise RemoteError(f"remote {self.url}: uploading {key[:8]} failed: {_describe(exc)}") from exc

    def _pull(self, cache: Cache, key: str) -> Transfer:
        digest = check_key(key)
        started = time.perf_counter()
        with cache.lock(digest):
            if cache.is_complete(digest):  # another process filled it while we waited
                return Transfer(digest, "present")
            meta = self.head(digest)
            modified = meta.get("last_modified") if meta else None
            if meta is None or (cache.max_age is not None and isinstance(modified, datetime)
                                and datetime.now(timezone.utc) - modified > timedelta(seconds=cache.max_age)):
                cache.counters.add(remote_misses=1)
                return Transfer(digest, "missing", seconds=time.perf_counter() - started)
            counted = _Counter()
            with cache.staging_dir() as tmp:
                try:
                    chunks = signing.verified(counted.count(self.download(digest, meta)), key=digest,
                                              signer=self.signer)
                    _, sha, _ = pack.read_pack(chunks, tmp, key=digest, max_bytes=cache.max_bytes,
                                               timeout=fetch_timeout())
                except pack.PackError as exc:
                    cache.counters.add(remote_rejected=1)
                    raise pack.PackError(f"the pack was rejected: {exc}") from None
                cache.publish(digest, tmp)
        seconds = time.perf_counter() - started
        received = counted.bytes
        cache.counters.add(remote_hits=1, remote_bytes_down=received, remote_seconds_down=round(seconds, 4))
        cache.prune(keep=digest)
        log.info("venvcache: fetched %s from %s (%d bytes) in %.2f s", digest[:8], self.url, received, seconds)
        return Transfer(digest, "downloaded", received, seconds, sha)

    def download(self, digest: str, meta: dict[str, Any]) -> Iterator[Any]:
        """The object's bytes in order: one streamed GET, or parallel ranged GETs for a pack above the part size.

        Every request is pinned to the e_tag seen by ``head`` (a pack replaced meanwhile fails, never mixes), and
        with a signing key the pack's last bytes are checked first, so an unsigned or foreign pack is refused
        before it is downloaded.
        """
        import obstore

        size, etag = int(meta["size"]), meta.get("e_tag")

        def options(span: tuple[int, int] | None = None) -> GetOptions:
            found: dict[str, Any] = {"if_match": etag} if etag else {}
            if span is not None:
                found["range"] = span
            return cast("GetOptions", found)

        if self.signer is not None:
            tail = b"" if size < signing.SIG_SIZE else bytes(obstore.get(
                self.store, digest, options=options((size - signing.SIG_SIZE, size))).bytes())
            problem = signing.tail_problem(tail, self.signer)
            if problem:
                raise pack.PackError(problem)
        if size <= self.part_size:
            yield from obstore.get(self.store, digest, options=options()).stream(min_chunk_size=DOWNLOAD_CHUNK)
            return
        step = min(self.part_size, RANGE_SIZE)
        ranges = iter([(start, min(start + step, size)) for start in range(0, size, step)])

        def fetch(span: tuple[int, int]) -> bytes:
            return bytes(obstore.get(self.store, digest, options=options(span)).bytes())

        pool = ThreadPoolExecutor(TRANSFER_THREADS, thread_name_prefix="venvcache-get")
        pending: deque[Future[bytes]] = deque()
        try:
            for span in ranges:
                pending.append(pool.submit(fetch, span))
                if len(pending) >= 2 * TRANSFER_THREADS:
                    break
            while pending:
                data = pending.popleft().result()
                following = next(ranges, None)
                if following is not None:
                    pending.append(pool.submit(fetch, following))
                yield data
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _push(self, cache: Cache, key: str) -> Transfer:
        digest = check_key(key)
        started = time.perf_counter()
        if not self.can_write:
            raise VenvCacheError(f"remote_mode is {self.mode!r}, so nothing is uploaded to {self.url}",
                                 fix=f"set remote_mode = \"readwrite\" (or {ENV_REMOTE_MODE}=readwrite)")
        if self.head(digest) is not None:
            cache.counters.add(remote_upload_exists=1)
            return Transfer(digest, "exists", seconds=time.perf_counter() - started)
        with cache.staging_dir() as tmp:
            packed = tmp / "entry.pack"
            packing = time.perf_counter()
            with cache.lock(digest):  # no eviction or refresh of the entry while it is read
                if not cache.is_complete(digest):
                    raise VenvCacheError(f"no complete entry {digest[:12]} in the local cache", path=cache.path,
                                         fix="see 'virtualenv-cache list'")
                with open(packed, "wb") as fh:
                    if self.signer is None:
                        info = pack.write_pack(cache.entry_path(digest), fh)
                    else:
                        signed = signing.SigningWriter(fh, self.signer, digest)
                        info = pack.write_pack(cache.entry_path(digest), cast(BinaryIO, signed))
                        signed.finish()
            packing = time.perf_counter() - packing
            size = os.path.getsize(packed)
            action = self._put_multipart(digest, packed) if size > self.part_size else \
                self._put_single(digest, packed)
        seconds = time.perf_counter() - started
        if action == "exists":
            cache.counters.add(remote_upload_exists=1)
            return Transfer(digest, "exists", seconds=seconds, sha256=info.sha256, pack_seconds=packing)
        cache.counters.add(remote_uploads=1, remote_bytes_up=size, remote_seconds_up=round(seconds, 4))
        log.info("venvcache: uploaded %s to %s (%d bytes) in %.2f s", digest[:8], self.url, size, seconds)
        return Transfer(digest, "uploaded", size, seconds, info.sha256, packing)

    def _put_single(self, digest: str, path: os.PathLike[str] | str) -> str:
        """One PUT: create-only where the store honours it, else checked right before (the fallback)."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, NotSupportedError, PreconditionError

        with open(path, "rb") as fh:
            if self.honours_create_only():
                try:  # a conditional put is a single request: obstore reads the pack into memory for it
                    obstore.put(self.store, digest, fh, mode="create", use_multipart=False)
                    return "uploaded"
                except (AlreadyExistsError, PreconditionError):
                    return "exists"
                except NotSupportedError:
                    self.create_only = False
                    fh.seek(0)
            if self.head(digest) is not None:
                return "exists"
            obstore.put(self.store, digest, fh, use_multipart=False)
        return "uploaded"

    def _put_multipart(self, digest: str, path: os.PathLike[str] | str) -> str:
        """A multipart upload, visible only once complete; aborted when another writer completed first."""
        import obstore

        try:
            with open(path, "rb") as fh, obstore.open_writer(self.store, digest, buffer_size=self.part_size,
                                                            max_concurrency=TRANSFER_THREADS) as out:
                while chunk := fh.read(self.part_size):
                    out.write(chunk)
                if self.head(digest) is not None:  # stores have no create-only completion: check just before
                    raise _LostRace
        except _LostRace:  # leaving the writer with an exception aborts the upload
            return "exists"
        return "uploaded"

    def honours_create_only(self) -> bool:
        """Whether create-only puts are refused when the object exists: probed once, with an object of our own.

        Some S3-compatible servers and emulators accept the request and overwrite; for them the fallback is a
        check right before the put (a writer racing in that instant replaces the pack with an equivalent one).
        """
        if self.create_only is None:
            import obstore
            from obstore.exceptions import AlreadyExistsError, NotSupportedError, PreconditionError

            probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
            try:
                obstore.put(self.store, probe, b"venvcache create-only probe\n", mode="create")
                try:
                    obstore.put(self.store, probe, b"venvcache create-only probe\n", mode="create")
                    self.create_only = False
                    log.debug("venvcache: %s ignores create-only puts; checking before each put instead", self.url)
                except (AlreadyExistsError, PreconditionError):
                    self.create_only = True
            except NotSupportedError:
                self.create_only = False
            finally:
                with contextlib.suppress(Exception):  # a writer without delete rights leaves it: prune removes it
                    obstore.delete(self.store, probe)
        return self.create_only

    def entries(self) -> list[dict[str, Any]]:
        """The packs on the remote: key, size, last_modified (ISO), newest first."""
        import obstore

        found = []
        try:
            for batch in obstore.list(self.store):
                for meta in batch:
                    name = str(meta["path"]).rsplit("/", 1)[-1]
                    if KEY_RE.fullmatch(name):
                        modified = meta.get("last_modified")
                        found.append({"key": name, "size": int(meta["size"]), "last_modified":
                                      modified.isoformat() if isinstance(modified, datetime) else ""})
        except VenvCacheError:
            raise
        except Exception as exc:
            raise RemoteError(f"remote {self.url}: listing failed: {_describe(exc)}") from exc
        return sorted(found, key=lambda e: e["last_modified"], reverse=True)

    def prune(self, *, max_age: float | None = None, max_count: int | None = None,
              max_bytes: int | str | None = None) -> list[dict[str, Any]]:
        """Delete packs older than ``max_age`` seconds (by upload time), then the oldest beyond ``max_count``
        packs or ``max_bytes`` (bytes, or a size such as "50GB") in all; also leftover create-only probes older
        than an hour. Returns the packs deleted (key, size, last_modified, age)."""
        import obstore

        if isinstance(max_bytes, str):
            try:
                max_bytes = parse_size(max_bytes)
            except (TypeError, ValueError):
                raise VenvCacheError(f"{max_bytes!r:.40} is not a size", fix='use e.g. "50GB"') from None

        if not self.can_write:
            raise VenvCacheError(f"remote_mode is {self.mode!r}, so nothing is deleted from {self.url}",
                                 fix=f"run it where remote_mode = \"readwrite\" (or {ENV_REMOTE_MODE}=readwrite)")
        now = datetime.now(timezone.utc)
        kept, total, dropped = 0, 0, []
        for entry in self.entries():  # newest first
            age = (now - datetime.fromisoformat(entry["last_modified"])).total_seconds() \
                if entry["last_modified"] else 0.0
            if ((max_age is not None and age > max_age) or (max_count is not None and kept >= max_count)
                    or (max_bytes is not None and total + entry["size"] > max_bytes)):
                dropped.append({**entry, "age": round(age, 1)})
                continue
            kept += 1
            total += entry["size"]
        try:
            for entry in dropped:
                with contextlib.suppress(FileNotFoundError):
                    obstore.delete(self.store, entry["key"])
            for batch in obstore.list(self.store):
                for meta in batch:
                    name = str(meta["path"]).rsplit("/", 1)[-1]
                    modified = meta.get("last_modified")
                    if name.startswith(PROBE_PREFIX) and isinstance(modified, datetime) and \
                            (now - modified).total_seconds() > 3600:
                        with contextlib.suppress(FileNotFoundError):
                            obstore.delete(self.store, str(meta["path"]))
        except Exception as exc:
            raise RemoteError(f"remote {self.url}: pruning failed: {_describe(exc)}") from exc
        return dropped

    def resolve(self, prefix: str) -> str:
        """A full key from a unique prefix of a key on the remote (a full key is taken as it is)."""
        if KEY_RE.fullmatch(prefix):
            return prefix
        matches = [e["key"] for e in self.entries() if e["key"].startswith(prefix.lower())] if prefix else []
        if len(matches) != 1:
            what = "no pack" if not matches else f"{len(matches)} packs"
            raise VenvCacheError(f"{what} on {self.url} match {prefix!r:.80}",
                                 fix="see 'virtualenv-cache list --remote' for the keys")
        return str(matches[0])


def fetch_timeout() -> float:
    """Seconds a pull may take in all (``VIRTUALENV_CACHE_REMOTE_TIMEOUT``, default :data:`FETCH_TIMEOUT`).

    The key lock is held meanwhile, so every other job restoring that key waits at most this long.
    """
    raw = os.environ.get(ENV_REMOTE_TIMEOUT, "").strip()
    try:
        value = float(raw) if raw else FETCH_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:
        raise VenvCacheError(f"{ENV_REMOTE_TIMEOUT}={raw!r} is not a number of seconds",
                             fix=f"set it to e.g. 600, or unset it for {FETCH_TIMEOUT:.0f}")
    return value


def remote_from_config(config: Config) -> Remote | None:
    """The remote for a config (``VIRTUALENV_CACHE_REMOTE[_MODE]`` override it), or None when there is none."""
    url = os.environ.get(ENV_REMOTE, config.remote or "")
    mode = os.environ.get(ENV_REMOTE_MODE) or config.remote_mode
    if not url.strip():
        return None
    if mode not in REMOTE_MODES:
        raise VenvCacheError(f"remote_mode {mode!r} is not valid", path=config.source,
                             fix=f"use one of {', '.join(REMOTE_MODES)} (config or {ENV_REMOTE_MODE})")
    try:
        return Remote(url.strip(), mode)
    except ValueError:
        raise VenvCacheError(f"remote {url!r:.120} is not an object store URL", path=config.source,
                             fix='use e.g. "s3://bucket/prefix", gs://, az://, file:// or https://') from None



def _part_size() -> int:
    value = os.environ.get(ENV_PART_SIZE, "").strip()
    if not value:
        return DEFAULT_PART_SIZE
    try:
        return parse_size(value)
    except (TypeError, ValueError):
        raise VenvCacheError(f"{ENV_PART_SIZE}={value!r:.40} is not a size", fix='use e.g. "64MiB"') from None


def _upload_wait() -> float:
    value = os.environ.get(ENV_UPLOAD_WAIT, "").strip()
    if not value:
        return DEFAULT_UPLOAD_WAIT
    try:
        return parse_age(value)
    except (TypeError, ValueError):
        log.warning("venvcache: %s=%r is not a number of seconds; waiting %d s", ENV_UPLOAD_WAIT, value,
                    DEFAULT_UPLOAD_WAIT)
        return DEFAULT_UPLOAD_WAIT


class _Counter:
    """Counts the bytes of a stream as they pass (what was downloaded, signature included)."""

    def __init__(self) -> None:
        self.bytes = 0

    def count(self, chunks: Iterable[Any]) -> Iterator[Any]:
        for chunk in chunks:
            self.bytes += len(chunk)
            yield chunk


@dataclass(eq=False)
class _Upload:
    """One upload after a store; ``run`` never raises (its outcome is kept for the line at the end)."""

    remote: Remote
    key: str
    thread: threading.Thread | None = None
    result: Transfer | None = None
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, cache: Cache) -> None:
        try:
            self.result = self.remote.push(cache, self.key)
        except Exception as exc:  # a remote never fails a job
            self.error = _describe(exc)
            log.debug("venvcache: remote upload traceback", exc_info=True)
            with contextlib.suppress(Exception):
                cache.counters.add(remote_errors=1)
        finally:
            self.done.set()

    def describe(self) -> str:
        if not self.done.is_set():
            return f"{self.key[:8]} unfinished, abandoned (an unfinished upload is never visible)"
        if self.error:
            return f"{self.key[:8]} failed ({self.error}); the local cache has the entry"
        assert self.result is not None
        if self.result.action == "uploaded":
            return f"{self.key[:8]} uploaded ({self.result.bytes / 1e6:.1f} MB in {self.result.seconds:.2f} s)"
        return f"{self.key[:8]} already there"


_UPLOADS_LOCK = threading.Lock()
_PENDING: list[_Upload] = []
_HOOKED = False


def _finish(uploads: list[_Upload], timeout: float | None) -> tuple[str | None, bool]:
    """Join ``uploads`` within ``timeout`` seconds in all: (the one line about them, whether any went wrong)."""
    if not uploads:
        return None, False
    started = time.monotonic()
    for upload in uploads:
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        upload.done.wait(left)
    waited = time.monotonic() - started
    with _UPLOADS_LOCK:
        for upload in uploads:
            with contextlib.suppress(ValueError):
                _PENDING.remove(upload)
            with contextlib.suppress(ValueError):
                upload.remote.uploads.remove(upload)
    by_remote: dict[str, list[str]] = {}
    for upload in uploads:
        by_remote.setdefault(upload.remote.url, []).append(upload.describe())
    text = "; ".join(f"{url}: {', '.join(parts)}" for url, parts in by_remote.items())
    problem = any(u.error or not u.done.is_set() for u in uploads)
    return f"venvcache: background upload to {text} (waited {waited:.1f} s)", problem


def wait_for_uploads(timeout: float | None = None) -> str | None:
    """Wait for every background upload of this process (at most ``timeout`` s); the one line about them."""
    with _UPLOADS_LOCK:
        uploads = list(_PENDING)
    return _finish(uploads, timeout)[0]


def _at_exit() -> None:
    line = wait_for_uploads(_upload_wait())
    if line:
        with contextlib.suppress(Exception):
            sys.stderr.write(line + "\n")
            sys.stderr.flush()


def _register_exit_hook() -> None:
    global _HOOKED
    if not _HOOKED:
        atexit.register(_at_exit)
        _HOOKED = True
