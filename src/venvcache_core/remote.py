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

Settings: ``remote`` and ``remote_mode`` in the config; ``VIRTUALENV_CACHE_REMOTE`` and
``VIRTUALENV_CACHE_REMOTE_MODE`` override them (so one config file serves read-only PR jobs and writing main jobs;
an empty ``VIRTUALENV_CACHE_REMOTE`` turns the remote off). Credentials, endpoint and HTTP client options come from
each store's standard variables (``AWS_*``, ``GOOGLE_*``, ``AZURE_*``), e.g. ``AWS_ENDPOINT_URL`` and
``AWS_ALLOW_HTTP=true`` for a local S3-compatible server.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from . import pack
from .config import REMOTE_MODES, Config, remote_url
from .errors import VenvCacheError
from .key import KEY_RE, check_key

if TYPE_CHECKING:
    from .cache import Cache

log = logging.getLogger("venvcache")

ENV_REMOTE = "VIRTUALENV_CACHE_REMOTE"
ENV_REMOTE_MODE = "VIRTUALENV_CACHE_REMOTE_MODE"
DOWNLOAD_CHUNK = 8 << 20

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


@dataclass
class Transfer:
    """What one pull or push did. ``action``: downloaded, present, missing, uploaded, exists."""

    key: str
    action: str
    bytes: int = 0
    seconds: float = 0.0
    sha256: str = ""

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

    def __init__(self, url: str, mode: str = "readwrite") -> None:
        self.url = remote_url(url)
        if mode not in REMOTE_MODES:
            raise VenvCacheError(f"remote_mode {mode!r} is not valid", fix="use read, write or readwrite")
        self.mode = mode
        self._store: Any = None

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
        """An entry was published in L1: upload it when the mode allows; faults are one warning."""
        if not self.can_write:
            return
        try:
            self.push(cache, key)
        except Exception as exc:
            log.warning("venvcache: %s; the local cache has the entry", _describe(exc))
            log.debug("venvcache: remote upload traceback", exc_info=True)
            cache.counters.add(remote_errors=1)

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
        import obstore

        digest = check_key(key)
        started = time.perf_counter()
        with cache.lock(digest):
            if cache.is_complete(digest):  # another process filled it while we waited
                return Transfer(digest, "present")
            try:
                result = obstore.get(self.store, digest)
            except FileNotFoundError:
                cache.counters.add(remote_misses=1)
                return Transfer(digest, "missing", seconds=time.perf_counter() - started)
            modified = result.meta.get("last_modified")
            if (cache.max_age is not None and isinstance(modified, datetime)
                    and datetime.now(timezone.utc) - modified > timedelta(seconds=cache.max_age)):
                cache.counters.add(remote_misses=1)
                return Transfer(digest, "missing", seconds=time.perf_counter() - started)
            with cache.staging_dir() as tmp:
                try:
                    _, sha, received = pack.read_pack(result.stream(min_chunk_size=DOWNLOAD_CHUNK), tmp, key=digest)
                except pack.PackError as exc:
                    cache.counters.add(remote_rejected=1)
                    raise pack.PackError(f"the pack was rejected: {exc}") from None
                cache.publish(digest, tmp)
        seconds = time.perf_counter() - started
        cache.counters.add(remote_hits=1, remote_bytes_down=received, remote_seconds_down=round(seconds, 4))
        cache.prune(keep=digest)
        log.info("venvcache: fetched %s from %s (%d bytes) in %.2f s", digest[:8], self.url, received, seconds)
        return Transfer(digest, "downloaded", received, seconds, sha)

    def _push(self, cache: Cache, key: str) -> Transfer:
        import obstore
        from obstore.exceptions import AlreadyExistsError, NotSupportedError

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
            with cache.lock(digest):  # no eviction or refresh of the entry while it is read
                if not cache.is_complete(digest):
                    raise VenvCacheError(f"no complete entry {digest[:12]} in the local cache", path=cache.path,
                                         fix="see 'virtualenv-cache list'")
                with open(packed, "wb") as fh:
                    info = pack.write_pack(cache.entry_path(digest), fh)
            with open(packed, "rb") as fh:
                try:  # a conditional put is a single request: obstore reads the pack into memory for it
                    obstore.put(self.store, digest, fh, mode="create", use_multipart=False)
                except AlreadyExistsError:
                    cache.counters.add(remote_upload_exists=1)
                    return Transfer(digest, "exists", seconds=time.perf_counter() - started, sha256=info.sha256)
                except NotSupportedError:  # e.g. plain HTTP/WebDAV: no conditional put; we checked just above
                    fh.seek(0)
                    obstore.put(self.store, digest, fh, use_multipart=False)
        seconds = time.perf_counter() - started
        cache.counters.add(remote_uploads=1, remote_bytes_up=info.size, remote_seconds_up=round(seconds, 4))
        log.info("venvcache: uploaded %s to %s (%d bytes) in %.2f s", digest[:8], self.url, info.size, seconds)
        return Transfer(digest, "uploaded", info.size, seconds, info.sha256)

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

    def resolve(self, prefix: str) -> str:
        """A full key from a unique prefix of a key on the remote (a full key is taken as it is)."""
        if KEY_RE.fullmatch(prefix):
            return prefix
        matches = [str(e["key"]) for e in self.entries() if e["key"].startswith(prefix.lower())] if prefix else []
        if len(matches) != 1:
            what = "no pack" if not matches else f"{len(matches)} packs"
            raise VenvCacheError(f"{what} on {self.url} match {prefix!r:.80}",
                                 fix="see 'virtualenv-cache list --remote' for the keys")
        return matches[0]


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

