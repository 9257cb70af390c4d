"""The pack: one cache entry as a single object for a remote store, tar + zstd, streamed both ways.

Layout of a pack (a valid zstd file: ``zstd -d < pack | tar -t`` lists it)::

    zstd frame of a POSIX (pax) tar:  meta.json, manifest.json, env/ (directories first, then files, then symlinks)
    zstd skippable frame:             b"VCPACK01" + sha256 (hex) of every byte before this frame

Why a trailer and not object metadata: every obstore backend (S3, GCS, Azure, HTTP, local files) keeps the bytes
of an object, not all keep user metadata, and a truncated download loses the trailer, so truncation is caught by
the same check as tampering. The sha256 covers the compressed bytes; unpacking also checks every member against
the entry's own ``manifest.json`` (names, sizes, symlink targets), so a pack that is well formed but not the
entry it claims to be is rejected too.

Unpacking is for untrusted input: no absolute names, no ``..``, only ``meta.json``, ``manifest.json`` and
``env/...``; regular files, directories and symlinks only (no hard links, devices or fifos); nothing is written
through a symlink (a member's parent must be a directory this unpack created, files are opened ``O_EXCL |
O_NOFOLLOW``); modes are normalised (``0o755`` folders and executables, ``0o644`` other files, less the umask:
a pack never makes an env writable by others); every symlink must resolve inside ``env/`` once the tree is complete,
except the interpreter links in ``env/bin`` that resolve to the base interpreter the key pins. Numbers are parsed
strictly (octal or decimal digits, nothing negative), every loop consumes input, the tar bytes are bounded by what
the manifest accounts for, the files by the cache's ``max_bytes``, the whole by a deadline; each file's content is
checked against the manifest's sha256 as it is written, and ``bytes``/``files`` in ``meta.json`` are recomputed from
what was written. The caller unpacks into a fresh temp dir and throws it away when :class:`PackError` is raised.

Speed: the tar headers are written and parsed here rather than by :mod:`tarfile`, whose per-member overhead
(~70 µs) was most of the time on a 15k-file env; and zstd runs in a second thread (it releases the GIL) while
this one reads or writes files, so packing and unpacking use two cores like ``tar | zstd`` does; unpacking also
creates and writes small files from a few writer threads (:class:`_Writers`), because creating a file, not writing
its bytes, is what an unpack spends its time on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import queue
import re
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .key import canonical_json
from .manifest import Manifest, walk

try:  # Python 3.14+
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # older Pythons: the same API from the backport (the ``remote`` extra installs it)
    try:
        from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:  # pragma: no cover - reported when a pack is made or read
        zstd = None

FORMAT = b"VCPACK01"
SKIPPABLE_MAGIC = 0x184D2A5A  # one of the 16 zstd skippable-frame magics (0x184D2A50..5F)
TRAILER_SIZE = 8 + len(FORMAT) + 64  # frame header (magic, length) + format tag + hex digest
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
CHUNK = 1 << 20  # decompressed output per step, and file read size
BATCH = 4 << 20  # tar bytes handed to the compressor thread at once
QUEUE_DEPTH = 8  # batches in flight between the two threads (bounds memory to a few tens of MB)
WRITERS = min(8, 2 * (os.cpu_count() or 1))  # threads creating files at unpack (kernel time that overlaps)
WRITE_QUEUE = 64  # small files in flight to them (at most CHUNK bytes each)
META_MAX = 256 << 20  # meta.json / manifest.json larger than this are refused (they are read into memory)
PAX_MAX = 1 << 20
DEFAULT_LEVEL = 3  # zstd's own default: ratio ~3.2 on a venv, faster than a disk
INTERPRETER_NAMES = ("python", "pypy", "graalpy")
REGTYPE, DIRTYPE, SYMTYPE, PAXTYPE = b"0", b"5", b"2", b"x"
_OCTAL = re.compile(rb"[0-7]+")
_DIGITS = re.compile(rb"[0-9]+")
SIZE_MAX = 1 << 50  # no member of an env is a petabyte: anything larger is a crafted header
MEMBER_OVERHEAD = 16 << 10  # tar bytes allowed per member beyond its data (header, pax header and records, padding)
DIRS_SLACK = 1000  # folders allowed beyond one per file or link (empty folders exist, but not millions)
DRAIN_MAX = 1 << 20  # zero padding allowed after the end of the archive (tar pads to 10 kB records)
_KINDS = {b"1": "hard link", b"3": "device file", b"4": "device file", b"6": "fifo", b"7": "contiguous file",
          b"g": "global pax header", b"L": "GNU long name", b"K": "GNU long link name"}


class PackError(Exception):
    """A pack cannot be made or is not acceptable (damaged, truncated, tampered, unsafe or for another key)."""


@dataclass
class PackInfo:
    """What :func:`write_pack` produced: ``size`` bytes on the wire with this ``sha256``; ``raw`` tar bytes."""

    sha256: str
    size: int
    raw: int
    files: int


def require_zstd() -> Any:
    """The zstd module, or :class:`PackError` saying how to get it."""
    if zstd is None:
        raise PackError("zstd support is missing (install venvcache[remote], which brings backports.zstd)")
    return zstd


# -- tar headers -----------------------------------------------------------------------------------------------------
def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}=".encode() + _encode(value) + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def header(name: str, kind: bytes, *, mode: int = 0o644, size: int = 0, mtime: int = 0, link: str = "") -> bytes:
    """One ustar header (512 bytes), preceded by a pax header when the name or link is long or not ASCII."""
    bname, blink = _encode(name), _encode(link)
    pax = b""
    if len(bname) > 100 or not bname.isascii():
        pax += _pax_record("path", name)
    if len(blink) > 100 or not blink.isascii():
        pax += _pax_record("linkpath", link)
    if size >= 8**11:
        pax += _pax_record("size", str(size))
    prefix = b""
    if pax:
        prefix = _ustar(b"././@PaxHeader", PAXTYPE, 0o644, len(pax), mtime, b"") + pax + bytes(-len(pax) % BLOCK)
    return prefix + _ustar(bname[:100], kind, mode, size if size < 8**11 else 0, mtime, blink[:100])


def _ustar(name: bytes, kind: bytes, mode: int, size: int, mtime: int, link: bytes) -> bytes:
    block = bytearray(BLOCK)
    block[0:len(name)] = name
    block[100:108] = b"%07o\0" % (mode & 0o7777)
    block[108:116] = block[116:124] = b"0000000\0"  # uid, gid: 0 (owner never matters in an env)
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % max(0, min(mtime, 8**11 - 1))
    block[148:156] = b"        "
    block[156:157] = kind
    block[157:157 + len(link)] = link
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _number(field: bytes) -> int:
    """A tar number field: octal digits only, NUL/space padded (no sign, no base-256, no ``0o``/``_`` spellings).

    ``int(text, 8)`` took ``-1``: a negative size made the reader loop for ever while holding the key lock.
    """
    text = field.rstrip(b"\0 ").lstrip(b" ")
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise PackError("a tar header holds a malformed number")
    return int(text, 8)


def _decimal(text: bytes | str, what: str, maximum: int) -> int:
    """A pax number: decimal digits only, at most ``maximum`` (``int()`` also took signs, spaces and ``_``)."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if not _DIGITS.fullmatch(raw) or len(raw) > 20 or int(raw) > maximum:
        raise PackError(f"a pax header holds a malformed or out-of-range {what}")
    return int(raw)


def _string(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def parse_header(block: bytes) -> tuple[str, bytes, int, int, int, str]:
    """(name, type, mode, size, mtime, link) of a ustar header; :class:`PackError` when its checksum is wrong."""
    if _number(block[148:156]) != sum(block[:148]) + 256 + sum(block[156:]):
        raise PackError("a tar header has a bad checksum")
    name = _string(block[0:100])
    if block[257:262] == b"ustar" and block[345] != 0:
        name = _string(block[345:500]) + "/" + name
    return (name, block[156:157] or REGTYPE, _number(block[100:108]), _number(block[124:136]),
            _number(block[136:148]), _string(block[157:257]))


def parse_pax(data: bytes) -> dict[str, str]:
    """The records of a pax extended header (``<length> <key>=<value>\\n``; lengths strictly decimal and positive)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 21)
        if space == -1:
            raise PackError("a pax header is malformed")
        length = _decimal(data[pos:space], "record length", len(data) - pos)
        if length <= space - pos:  # a record is longer than its own length field: this also keeps pos moving on
            raise PackError("a pax header is malformed")
        record = data[space + 1:pos + length]
        if not record.endswith(b"\n") or b"=" not in record:
            raise PackError("a pax header is malformed")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


# -- writing ---------------------------------------------------------------------------------------------------------
class _CompressorThread(threading.Thread):
    """Compresses, hashes and writes the batches the packer hands over (zstd releases the GIL meanwhile)."""

    def __init__(self, out: BinaryIO, level: int, threads: int) -> None:
        super().__init__(daemon=True, name="venvcache-zstd")
        z = require_zstd()
        options = {z.CompressionParameter.compression_level: level}
        if threads > 1:
            options[z.CompressionParameter.nb_workers] = threads
        self._compressor = z.ZstdCompressor(options=options)
        self._out = out
        self.queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_DEPTH)
        self.digest = hashlib.sha256()
        self.size = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while (batch := self.queue.get()) is not None:
                if self.error is None:
                    self._emit(self._compressor.compress(batch))
            if self.error is None:
                self._emit(self._compressor.flush())
        except BaseException as exc:  # handed to the packer, which raises it
            self.error = exc
            while self.queue.get() is not None:  # let the packer finish putting; it stops at the next put
                pass

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self.digest.update(data)
            self.size += len(data)

    def put(self, batch: bytes) -> None:
        if self.error is not None:
            raise PackError(f"writing the pack failed: {self.error}")
        self.queue.put(batch)


def check_entry_tree(env: Path, manifest: Manifest) -> list[str]:
    """The directories of ``env`` in pack order; :class:`PackError` when the tree is not its manifest.

    Packing a damaged local entry would poison the remote for every reader, so this refuses instead.
    """
    tree = walk(env)
    if set(tree.files) != set(manifest.files) or tree.symlinks != manifest.symlinks:
        raise PackError("the local entry does not match its manifest (run 'virtualenv-cache verify')")
    return tree.dirs


def write_pack(entry: Path, out: BinaryIO, *, level: int = DEFAULT_LEVEL, threads: int = 0) -> PackInfo:
    """Stream the entry at ``entry`` (``meta.json``, ``manifest.json``, ``env/``) as a pack into ``out``."""
    try:
        meta_bytes = (entry / "meta.json").read_bytes()
        manifest_bytes = (entry / "manifest.json").read_bytes()
        manifest = Manifest.from_json(json.loads(manifest_bytes))
    except (OSError, ValueError, KeyError) as exc:
        raise PackError(f"the local entry cannot be read: {exc}") from None
    env = str(entry / "env")
    dirs = check_entry_tree(Path(env), manifest)
    worker = _CompressorThread(out, level, threads)
    worker.start()
    buf = bytearray()
    raw = 0

    def flush() -> None:
        nonlocal raw
        raw += len(buf)
        worker.put(bytes(buf))
        buf.clear()

    try:
        now = int(os.stat(entry / "meta.json").st_mtime)
        for name, data in (("meta.json", meta_bytes), ("manifest.json", manifest_bytes)):
            buf += header(name, REGTYPE, size=len(data), mtime=now) + data + bytes(-len(data) % BLOCK)
        for name in ["", *dirs]:
            st = os.lstat(os.path.join(env, name))
            buf += header(f"env/{name}".rstrip("/"), DIRTYPE, mode=st.st_mode, mtime=int(st.st_mtime))
        for name, (size, _) in manifest.files.items():
            with open(os.path.join(env, name), "rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_size != size:
                    raise PackError(f"env/{name} changed size while packing")
                buf += header(f"env/{name}", REGTYPE, mode=st.st_mode, size=size, mtime=int(st.st_mtime))
                left = size
                while left:
                    chunk = fh.read(min(left, BATCH))
                    if not chunk:
                        raise PackError(f"env/{name} shrank while packing")
                    buf += chunk
                    left -= len(chunk)
                    if len(buf) >= BATCH:
                        flush()
                buf += bytes(-size % BLOCK)
            if len(buf) >= BATCH:
                flush()
        for name, target in manifest.symlinks.items():
            buf += header(f"env/{name}", SYMTYPE, mode=0o777, link=target)
        buf += ZERO_BLOCK * 2
        flush()
    finally:
        worker.queue.put(None)
        worker.join()
    if worker.error is not None:
        raise PackError(f"writing the pack failed: {worker.error}")
    sha = worker.digest.hexdigest()
    out.write(struct.pack("<II", SKIPPABLE_MAGIC, len(FORMAT) + 64) + FORMAT + sha.encode())
    return PackInfo(sha, worker.size + TRAILER_SIZE, raw, len(manifest.files))


# -- reading ---------------------------------------------------------------------------------------------------------
class _Cancelled(Exception):
    pass


class _DecompressorThread(threading.Thread):
    """Downloads (iterates ``chunks``), hashes, keeps back the trailer and decompresses, in its own thread.

    Output goes to a bounded queue in pieces of at most :data:`CHUNK` bytes (so a small malicious pack cannot expand
    into memory at once), then ``None``; an error is put in the queue instead. ``sha256`` is set only when the
    stream ended with a complete zstd frame and a trailer whose digest matches.
    """

    def __init__(self, chunks: Iterable[Any]) -> None:
        super().__init__(daemon=True, name="venvcache-unzstd")
        self._chunks = chunks
        self._decompressor = require_zstd().ZstdDecompressor()
        self.queue: queue.Queue[memoryview | BaseException | None] = queue.Queue(QUEUE_DEPTH)
        self.cancelled = threading.Event()
        self.received = 0
        self.sha256 = ""

    def _put(self, item: memoryview | BaseException | None) -> None:
        while not self.cancelled.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.2)
                return
        raise _Cancelled

    def run(self) -> None:
        try:
            self._run()
            self._put(None)
        except _Cancelled:
            pass
        except BaseException as exc:
            with contextlib.suppress(_Cancelled):
                self._put(exc)

    def _run(self) -> None:
        digest = hashlib.sha256()
        tail = b""
        d = self._decompressor
        for chunk in self._chunks:
            if self.cancelled.is_set():
                return
            data = bytes(chunk)
            self.received += len(data)
            if not data:
                continue
            data = tail + data
            body, tail = data[:-TRAILER_SIZE], data[-TRAILER_SIZE:]
            if not body:
                continue
            digest.update(body)
            if d.eof:
                raise PackError("data after the end of the compressed stream")
            try:
                out = d.decompress(body, CHUNK)
                while True:
                    if out:
                        self._put(memoryview(out))
                    if d.eof or d.needs_input:
                        break
                    out = d.decompress(b"", CHUNK)
            except PackError:
                raise
            except Exception as exc:  # ZstdError: corrupt input
                raise PackError(f"corrupt compressed data ({exc})") from None
            if d.eof and d.unused_data:
                raise PackError("data after the end of the compressed stream")
        if not d.eof:
            raise PackError("the pack is truncated (the compressed stream does not end)")
        magic, length = struct.unpack("<II", tail[:8]) if len(tail) == TRAILER_SIZE else (0, 0)
        if magic != SKIPPABLE_MAGIC or length != TRAILER_SIZE - 8 or tail[8:16] != FORMAT:
            raise PackError("the pack has no valid trailer (truncated, or not a venvcache pack)")
        expected, actual = tail[16:].decode("ascii", "replace"), digest.hexdigest()
        if expected != actual:
            raise PackError(f"sha256 mismatch (pack says {expected[:12]}, content is {actual[:12]})")
        self.sha256 = actual


class _Source:
    """Exact reads from the decompressor thread's output, within a byte budget and before a deadline.

    Every read takes at least one byte or fails, so no loop over it can spin; ``limit`` (tar bytes) and
    ``deadline`` (``time.monotonic()``) turn a bomb or a stalled download into a :class:`PackError`.
    """

    def __init__(self, worker: _DecompressorThread, deadline: float | None = None) -> None:
        self._worker = worker
        self._cur = memoryview(b"")
        self._pos = 0
        self.ended = False
        self.deadline = deadline
        self.consumed = 0  # tar bytes handed out so far
        self.limit: int | None = None  # at most this many in all (set once the manifest is known)

    def _next(self) -> bool:
        if self.ended:
            return False
        while True:
            wait = None if self.deadline is None else self.deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise PackError("unpacking took longer than the time allowed for a restore (slow or hostile remote)")
            try:
                item = self._worker.queue.get(timeout=None if wait is None else min(wait, 1.0))
                break
            except queue.Empty:
                continue
        if item is None:
            self.ended = True
            return False
        if isinstance(item, BaseException):
            raise item
        self._cur, self._pos = item, 0
        return True

    def some(self, limit: int) -> memoryview:
        """Between 1 and ``limit`` (>= 1) bytes; :class:`PackError` at the end of the stream or beyond the budget."""
        if limit < 1:
            raise PackError("a tar member has a negative or empty length")
        while self._pos >= len(self._cur):
            if not self._next():
                raise PackError("the archive ends early (truncated)")
        piece = self._cur[self._pos:self._pos + limit]
        self._pos += len(piece)
        self.consumed += len(piece)
        if self.limit is not None and self.consumed > self.limit:
            raise PackError("the archive is larger than its manifest accounts for (a decompression bomb?)")
        return piece

    def exact(self, n: int) -> bytes:
        if n < 0:
            raise PackError("a tar member has a negative length")
        if n and self._pos + n <= len(self._cur) and (self.limit is None or self.consumed + n <= self.limit):
            self._pos += n  # the common case: a header within the current piece
            self.consumed += n
            return bytes(self._cur[self._pos - n:self._pos])
        parts = []
        while n:
            piece = self.some(n)
            parts.append(bytes(piece))
            n -= len(piece)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        if n < 0:
            raise PackError("a tar member has a negative length")
        while n:
            n -= len(self.some(n))

    def drain(self) -> None:
        """The rest of the stream: only zero padding (at most :data:`DRAIN_MAX` bytes) may follow the archive."""
        seen = 0
        while True:
            rest = self._cur[self._pos:]
            seen += rest.nbytes
            if rest.nbytes and bytes(rest).count(0) != rest.nbytes:
                raise PackError("data after the end of the archive")
            if seen > DRAIN_MAX:
                raise PackError("too much padding after the end of the archive")
            self._pos = len(self._cur)
            if not self._next():
                return


def read_pack(chunks: Iterable[Any], dest: Path, *, key: str, max_bytes: int | None = None,
              timeout: float | None = None, interpreter: str | None = None) -> tuple[dict[str, Any], str, int]:
    """Unpack a pack streamed as ``chunks`` into the empty new directory ``dest``; raise :class:`PackError`.

    ``max_bytes``: the cache's size budget; a pack whose files add up to more is refused before (and, should the
    manifest lie, while) writing. ``timeout``: seconds for the whole download and unpack. ``interpreter``: the base
    interpreter the key pins (the only place an ``env/bin/python*`` link may lead); default: the one the pack's own
    key document names, used only when that document hashes to ``key``.

    Returns (meta, sha256, bytes received) only once the whole stream is verified. ``dest`` then holds
    ``meta.json`` (its ``bytes`` and ``files`` recomputed from what was written), ``manifest.json`` and ``env/``;
    on error it may hold part of them and the caller deletes it.
    """
    worker = _DecompressorThread(chunks)
    worker.start()
    source = _Source(worker, None if timeout is None else time.monotonic() + timeout)
    writers = _Writers(WRITERS)
    try:
        meta, links, written, files = _extract(source, dest, key, max_bytes, writers)
        writers.finish()
        source.drain()  # up to the worker's end mark, which it puts only after verifying the sha256
    except BaseException:
        worker.cancelled.set()  # the worker stops at its next step; no need to wait for a slow network
        writers.abort()  # joined before the caller deletes ``dest``
        raise
    worker.join()
    if not worker.sha256:  # pragma: no cover - the queue carried the reason; this is a backstop
        raise PackError("the pack was not verified")
    _check_links(dest / "env", links, interpreter or _pinned_interpreter(meta, key))
    if meta.get("bytes") != written or meta.get("files") != files:  # list, stats and eviction use these
        meta = {**meta, "bytes": written, "files": files}
        with open(dest / "meta.json", "w", encoding="utf-8") as fh:
            json.dump(meta, fh, sort_keys=True)
    return meta, worker.sha256, worker.received


def _pinned_interpreter(meta: dict[str, Any], key: str) -> str | None:
    """The base interpreter named by the pack's key document, if that document is the key's (its sha256 is ``key``).

    A pack stored without a key document (a bare digest) names it only in its meta: that is used as before, and the
    restore's health check compares the interpreter with the caller's key.
    """
    document = meta.get("document")
    if isinstance(document, dict) and document:
        if hashlib.sha256(canonical_json(document).encode()).hexdigest() != key:
            raise PackError("the pack's key document is not the document of its key (a pack for another env)")
        named = document.get("interpreter")
    else:
        named = meta.get("interpreter")
    base = named.get("base_executable") if isinstance(named, dict) else None
    return base if isinstance(base, str) and base.startswith("/") else None


def _members(source: _Source) -> Iterable[tuple[str, bytes, int, int, int, str]]:
    """The members' headers (pax records applied); the caller reads or skips each member's data."""
    pax: dict[str, str] = {}
    while True:
        block = source.exact(BLOCK)
        if block == ZERO_BLOCK:
            return
        name, kind, mode, size, mtime, link = parse_header(block)
        if kind == PAXTYPE:
            if pax:
                raise PackError("two pax headers in a row")
            if size > PAX_MAX:
                raise PackError("a pax header is too large")
            pax = parse_pax(source.exact(size + (-size % BLOCK))[:size])
            if not pax:
                raise PackError("an empty pax header")
            continue
        if pax:
            name, link = pax.get("path", name), pax.get("linkpath", link)
            if "size" in pax:
                size = _decimal(pax["size"], "size", SIZE_MAX)
            pax = {}
        if size > SIZE_MAX:
            raise PackError("a tar member is larger than any env file")
        yield name.rstrip("/") if kind == DIRTYPE else name, kind, mode, size, mtime, link


def _extract(source: _Source, dest: Path, key: str, max_bytes: int | None,
             writers: _Writers) -> tuple[dict[str, Any], dict[str, str], int, int]:
    """Check and write every member (small files through ``writers``: the caller waits for them); return meta.json's
    content, the symlinks made (name below env → target), and the bytes and number of files written."""
    meta: dict[str, Any] | None = None
    manifest: Manifest | None = None
    mtimes: dict[str, Any] = {}  # the entry's own mtimes (ns) from its manifest; the L1 restore compares them
    made_dirs: set[str] = set()
    seen_files: set[str] = set()
    seen_links: dict[str, str] = {}
    written = 0
    max_dirs = 0
    root = str(dest)
    for name, kind, mode, size, mtime, link in _members(source):
        name = _safe_name(name)
        if kind not in (REGTYPE, b"\0", DIRTYPE, SYMTYPE):
            raise PackError(f"{name} is a {_KINDS.get(kind, f'member of type {kind!r}')}; only files, folders and "
                            "symlinks are allowed")
        regular = kind in (REGTYPE, b"\0")
        if not regular and size:
            raise PackError(f"{name}: a folder or link with data")
        if name in ("meta.json", "manifest.json"):
            if not regular or size > META_MAX:
                raise PackError(f"{name} is not a regular file of reasonable size")
            if (meta is not None and name == "meta.json") or (manifest is not None and name == "manifest.json"):
                raise PackError(f"{name} appears twice")
            data = source.exact(size)
            source.skip(-size % BLOCK)
            with open(os.path.join(root, name), "xb") as fh:
                fh.write(data)
            try:
                parsed = json.loads(data)
                if name == "manifest.json":
                    manifest = Manifest.from_json(parsed)
                    mtimes = parsed["mtimes"] if isinstance(parsed.get("mtimes"), dict) else {}
                elif not isinstance(parsed, dict):
                    raise ValueError("not an object")
                else:
                    meta = parsed
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise PackError(f"{name} is not valid: {exc}") from None
            if meta is not None and meta.get("key") != key:
                raise PackError(f"the pack is for key {str(meta.get('key'))[:12]!r}, not {key[:12]}")
            if manifest is not None and name == "manifest.json":
                total = sum(s for s, _ in manifest.files.values())
                if any(s < 0 for s, _ in manifest.files.values()):
                    raise PackError("manifest.json lists a negative size")
                if max_bytes is not None and total > max_bytes:
                    raise PackError(f"the pack holds {total:,} bytes, more than the cache's max_bytes "
                                    f"({max_bytes:,}); not unpacked")
                members = len(manifest.files) + len(manifest.symlinks)
                max_dirs = members + DIRS_SLACK
                source.limit = source.consumed + total + MEMBER_OVERHEAD * (members + max_dirs) + 2 * META_MAX
            continue
        if meta is None or manifest is None:
            raise PackError("meta.json and manifest.json must come before env/")
        rel = name[4:]
        if name in made_dirs or rel in seen_files or rel in seen_links:
            raise PackError(f"{name} appears twice")
        if name != "env" and posixpath.dirname(name) not in made_dirs:
            raise PackError(f"{name}: its folder is not a directory of the pack (a link, or missing)")
        path = os.path.join(root, name)
        if kind == DIRTYPE:
            if len(made_dirs) >= max_dirs:
                raise PackError("the pack holds far more folders than its manifest has files")
            os.mkdir(path, 0o755)  # modes are normalised (the umask applies): a pack never makes anything writable
            made_dirs.add(name)  # by others, whatever its headers say
        elif regular:
            expected = manifest.files.get(rel)
            if expected is None or expected[0] != size:
                raise PackError(f"{name} is not in the manifest with that size")
            if max_bytes is not None and written + size > max_bytes:  # pragma: no cover - the manifest check above
                raise PackError(f"unpacking stopped at the cache's max_bytes ({max_bytes:,})")
            ns = mtimes.get(rel)
            _extract_file(source, writers, path, size, mode, ns if type(ns) is int and ns >= 0 else mtime * 10**9,
                          expected[1])
            written += size
            seen_files.add(rel)
        else:
            _check_link_name(name, link, manifest.symlinks.get(rel))
            os.symlink(link, path)
            seen_links[rel] = link
    if meta is None or manifest is None:
        raise PackError("the pack has no meta.json or manifest.json")
    if "env" not in made_dirs:
        raise PackError("the pack has no env/")
    missing = (set(manifest.files) - seen_files) or (set(manifest.symlinks) - set(seen_links))
    if missing:
        raise PackError(f"the pack lacks {len(missing)} entries of its manifest, e.g. env/{sorted(missing)[0]}")
    return meta, seen_links, written, len(seen_files)


def _extract_file(source: _Source, writers: _Writers, path: str, size: int, mode: int, mtime_ns: int,
                  sha256: str) -> None:
    """Read one regular file's data and hand it to the writer threads (a file larger than :data:`CHUNK` is written
    here, as it streams in, so memory stays bounded)."""
    if size <= CHUNK:
        data = source.exact(size) if size else b""
        source.skip(-size % BLOCK)
        writers.submit(path, [data], mode, mtime_ns, sha256)
        return

    def streamed() -> Iterable[memoryview]:
        left = size
        while left:
            piece = source.some(min(left, CHUNK))
            left -= len(piece)
            yield piece

    _write_file(path, streamed(), mode, mtime_ns, sha256)
    source.skip(-size % BLOCK)


def _write_file(path: str, pieces: Iterable[bytes | memoryview], mode: int, mtime_ns: int, sha256: str) -> None:
    """Write one new file from ``pieces``, never through a link (O_EXCL, O_NOFOLLOW), mode normalised to 0o755 or
    0o644 (less the umask), dated ``mtime_ns``, its content checked against the manifest's ``sha256``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o755 if mode & 0o100 else 0o644)
    digest = hashlib.sha256()
    try:
        for piece in pieces:
            digest.update(piece)
            _write_all(fd, piece)
        os.utime(fd, ns=(mtime_ns, mtime_ns))  # .pyc files are validated against their source's mtime
    finally:
        os.close(fd)
    if digest.hexdigest() != sha256:
        raise PackError(f"{path.rsplit(os.sep + 'env' + os.sep, 1)[-1]}: content differs from the manifest's sha256")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Writers:
    """Threads that create, write, date and check small files while the main thread parses the next members.

    On this kind of disk creating a file costs far more than writing its bytes, and it is kernel time that several
    threads overlap (measured on 2 cores, 14.6k files: 1 thread 8-12 s, 4 threads 5.5-6.8 s). The queue is bounded
    (at most :data:`WRITE_QUEUE` files of at most :data:`CHUNK` bytes in flight); the first error stops them all and
    is raised by the next :meth:`submit` or by :meth:`finish`. :meth:`close` always joins the threads, so nothing is
    written into ``dest`` after the caller's cleanup starts.
    """

    def __init__(self, count: int) -> None:
        self._jobs: queue.Queue[tuple[str, list[bytes], int, int, str] | None] = queue.Queue(WRITE_QUEUE)
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._threads = [threading.Thread(target=self._run, daemon=True, name=f"venvcache-write-{i}")
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._stop.is_set():
                continue
            try:
                _write_file(*job)
            except BaseException as exc:
                if self.error is None:
                    self.error = exc
                self._stop.set()

    def submit(self, path: str, pieces: list[bytes], mode: int, mtime_ns: int, sha256: str) -> None:
        if self.error is not None:
            raise self.error
        self._jobs.put((path, pieces, mode, mtime_ns, sha256))

    def close(self) -> None:
        """Let the threads finish what is queued (or skip it after an error) and join them."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def finish(self) -> None:
        """Every queued file written and checked; the first error raised."""
        self.close()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        self._stop.set()
        self.close()


def _safe_name(name: str) -> str:
    """A member name checked for absolute paths, ``..``, empty parts and anything outside the entry's layout."""
    if not name or "\0" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackError(f"unsafe member name {name[:120]!r} (absolute)")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise PackError(f"unsafe member name {name[:120]!r} (.., . or empty part)")
    if name not in ("meta.json", "manifest.json", "env") and parts[0] != "env":
        raise PackError(f"unexpected member {name[:120]!r} (only meta.json, manifest.json and env/)")
    return name


def _check_link_name(name: str, target: str, expected: str | None) -> None:
    """A symlink must be in the manifest, relative and inside env/, or an interpreter link in env/bin."""
    if expected != target:
        raise PackError(f"symlink {name} is not in the manifest with that target")
    if not target or "\0" in target:
        raise PackError(f"symlink {name} has an empty target")
    parent = posixpath.dirname(name)
    if target.startswith("/"):
        if parent != "env/bin" or not posixpath.basename(name).startswith(INTERPRETER_NAMES):
            raise PackError(f"symlink {name} points outside the entry ({target[:120]})")
        return
    resolved = posixpath.normpath(posixpath.join(parent, target))
    if resolved != "env" and not resolved.startswith("env/"):
        raise PackError(f"symlink {name} points outside the entry ({target[:120]})")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_links(env: Path, links: dict[str, str], interpreter: str | None) -> None:
    """Every symlink, resolved in the finished tree, stays in ``env`` or is the pinned base ``interpreter``."""
    root = os.path.realpath(env)
    allowed = os.path.realpath(interpreter) if interpreter else None
    for rel in links:
        real = os.path.realpath(os.path.join(root, rel))
        if _within(real, root):
            continue
        if allowed is not None and real == allowed and posixpath.basename(posixpath.dirname(rel)) == "bin":
            continue
        raise PackError(f"symlink env/{rel} resolves outside the entry ({real[:120]})")
