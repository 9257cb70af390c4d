"""The pack: one cache entry as a single object for a remote store, tar + zstd, streamed both ways.

Layout of a pack (a valid zstd file: ``zstd -d < pack | tar -t`` lists it)::

    zstd frame(s) of a POSIX tar:  meta.json, manifest.json, env/ (directories first, then files and symlinks)
    zstd skippable frame:          b"VCPACK01" + sha256 (hex) of every byte before this frame

Why a trailer and not object metadata: every obstore backend (S3, GCS, Azure, HTTP, local files) keeps the bytes
of an object, not all keep user metadata, and a truncated download loses the trailer, so truncation is caught by
the same check as tampering. The sha256 covers the compressed bytes; unpacking also checks every member against
the entry's own ``manifest.json`` (names, sizes, symlink targets), so a pack that is well formed but not the
entry it claims to be is rejected too.

Unpacking is for untrusted input: no absolute names, no ``..``, only ``meta.json``, ``manifest.json`` and
``env/...``; regular files, directories and symlinks only (no hard links, devices or fifos); nothing is written
through a symlink (a member's parent must be a directory this unpack created); permission bits are limited to
``0o777``; every symlink must resolve inside ``env/`` once the tree is complete, except the interpreter links in
``env/bin`` that resolve to the base interpreter named in ``meta.json`` (the key pins it and the restore's health
check verifies it). The caller unpacks into a fresh temp dir and throws it away when :class:`PackError` is raised.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import stat
import struct
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from . import relocate

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
CHUNK = 1 << 20  # read size for files and decompressed output
COMPRESS_BATCH = 4 << 20  # tar bytes handed to the compressor at once (fewer calls, same ratio)
META_MAX = 256 << 20  # meta.json / manifest.json larger than this are refused (they are read into memory)
DEFAULT_LEVEL = 3  # zstd's own default: ~the speed of a local disk on one core, ratio ~3.5 on a venv
INTERPRETER_NAMES = ("python", "pypy", "graalpy")


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


# -- writing ---------------------------------------------------------------------------------------------------------
class _CompressingSink(io.RawIOBase):
    """A write-only file for :mod:`tarfile`: batches tar bytes, compresses them, hashes and writes the output."""

    def __init__(self, out: BinaryIO, level: int, threads: int) -> None:
        super().__init__()
        z = require_zstd()
        options = {z.CompressionParameter.compression_level: level}
        if threads > 1:
            options[z.CompressionParameter.nb_workers] = threads
        self._compressor = z.ZstdCompressor(options=options)
        self._out = out
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.raw = 0
        self.size = 0
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:  # tarfile asks once, at open
        return self.raw

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self.raw += len(chunk)
        if self._pending_size >= COMPRESS_BATCH:
            self._compress()
        return len(chunk)

    def _compress(self) -> None:
        if self._pending:
            self._emit(self._compressor.compress(b"".join(self._pending)))
            self._pending.clear()
            self._pending_size = 0

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self.digest.update(data)
            self.size += len(data)

    def finish(self) -> str:
        """End the zstd frame, append the trailer; return the sha256 of everything before the trailer."""
        self._compress()
        self._emit(self._compressor.flush())
        hexdigest = self.digest.hexdigest()
        self._out.write(struct.pack("<II", SKIPPABLE_MAGIC, len(FORMAT) + 64) + FORMAT + hexdigest.encode())
        return hexdigest


def _tarinfo(name: str, st: os.stat_result, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode) & 0o777
    info.mtime = int(st.st_mtime)  # whole seconds: what .pyc validation compares
    info.size = st.st_size if kind == tarfile.REGTYPE else 0
    info.linkname = link
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def check_entry_tree(env: Path, manifest: relocate.Manifest) -> tuple[list[str], list[str]]:
    """The directories and files of ``env`` in pack order; :class:`PackError` when the tree is not its manifest.

    Packing a damaged local entry would poison the remote for every reader, so this refuses instead.
    """
    files, links = relocate.walk(env)
    if set(files) != set(manifest.files) or links != manifest.symlinks:
        raise PackError("the local entry does not match its manifest (run 'virtualenv-cache verify')")
    dirs: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(env / rel if rel else env) as it:
            for item in it:
                if item.is_dir(follow_symlinks=False):
                    name = f"{rel}/{item.name}" if rel else item.name
                    dirs.append(name)
                    stack.append(name)
    return sorted(dirs), files


def write_pack(entry: Path, out: BinaryIO, *, level: int = DEFAULT_LEVEL, threads: int = 0) -> PackInfo:
    """Stream the entry at ``entry`` (``meta.json``, ``manifest.json``, ``env/``) as a pack into ``out``."""
    try:
        meta_bytes = (entry / "meta.json").read_bytes()
        manifest_bytes = (entry / "manifest.json").read_bytes()
        manifest = relocate.Manifest.from_json(json.loads(manifest_bytes))
    except (OSError, ValueError, KeyError) as exc:
        raise PackError(f"the local entry cannot be read: {exc}") from None
    env = entry / "env"
    dirs, files = check_entry_tree(env, manifest)
    sink = _CompressingSink(out, level, threads)
    # mode "w", not the stream mode "w|": the latter re-copies its whole buffer on every write (slow with big ones)
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for name, data in (("meta.json", meta_bytes), ("manifest.json", manifest_bytes)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(os.stat(entry / name).st_mtime)
            tar.addfile(info, io.BytesIO(data))
        tar.addfile(_tarinfo("env", os.lstat(env), tarfile.DIRTYPE))
        for name in dirs:
            tar.addfile(_tarinfo(f"env/{name}", os.lstat(env / name), tarfile.DIRTYPE))
        for name in files:
            path = env / name
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_size != manifest.files[name][0]:
                    raise PackError(f"env/{name} changed size while packing")
                tar.addfile(_tarinfo(f"env/{name}", st, tarfile.REGTYPE), fh)
        for name, target in manifest.symlinks.items():
            tar.addfile(_tarinfo(f"env/{name}", os.lstat(env / name), tarfile.SYMTYPE, target))
    sha = sink.finish()
    return PackInfo(sha, sink.size + TRAILER_SIZE, sink.raw, len(files))


# -- reading ---------------------------------------------------------------------------------------------------------
class _VerifyingReader(io.RawIOBase):
    """A read-only file over downloaded chunks: hashes them, keeps back the trailer, hands out decompressed bytes.

    Decompression is bounded (``max_length``), so a small malicious pack cannot expand into memory at once.
    """

    def __init__(self, chunks: Iterable[bytes], on_bytes: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._decompressor = require_zstd().ZstdDecompressor()
        self._digest = hashlib.sha256()
        self._tail = b""  # last TRAILER_SIZE bytes seen: the trailer, once the stream ends
        self._out = bytearray()
        self._ended = False
        self._on_bytes = on_bytes
        self.received = 0

    def readable(self) -> bool:
        return True

    def _feed(self) -> bool:
        """Pull one chunk into the decompressor; False at the end of the download."""
        for chunk in self._chunks:
            data = bytes(chunk)
            if not data:
                continue
            self.received += len(data)
            if self._on_bytes:
                self._on_bytes(len(data))
            data = self._tail + data
            body, self._tail = data[:-TRAILER_SIZE], data[-TRAILER_SIZE:]
            if body:
                self._digest.update(body)
                self._decompress(body)
                return True
        self._ended = True
        return False

    def _decompress(self, data: bytes) -> None:
        if self._decompressor.eof:
            if data:
                raise PackError("data after the end of the compressed stream")
            return
        try:
            self._out += self._decompressor.decompress(data, CHUNK)
        except Exception as exc:  # ZstdError: corrupt input
            raise PackError(f"corrupt compressed data ({exc})") from None

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        while len(self._out) < want:
            if not self._decompressor.eof and not self._decompressor.needs_input:
                self._decompress(b"")  # more output is waiting inside the decompressor
                continue
            if self._ended or not self._feed():
                break
        n = min(want, len(self._out))
        buffer[:n] = self._out[:n]
        del self._out[:n]
        return n

    def _drop_padding(self) -> None:
        if self._out.count(0) != len(self._out):
            raise PackError("data after the end of the archive")
        self._out.clear()

    def finish(self) -> str:
        """Drain the download and check the end: complete zstd frame, trailer present, sha256 equal."""
        while True:
            while not self._decompressor.eof and not self._decompressor.needs_input:
                self._decompress(b"")
                self._drop_padding()
            self._drop_padding()
            if self._ended or not self._feed():
                break
        if not self._decompressor.eof:
            raise PackError("the pack is truncated (the compressed stream does not end)")
        if self._decompressor.unused_data:
            raise PackError("data after the end of the compressed stream")
        magic, length = struct.unpack("<II", self._tail[:8]) if len(self._tail) == TRAILER_SIZE else (0, 0)
        if magic != SKIPPABLE_MAGIC or length != TRAILER_SIZE - 8 or self._tail[8:16] != FORMAT:
            raise PackError("the pack has no valid trailer (truncated, or not a venvcache pack)")
        expected = self._tail[16:].decode("ascii", "replace")
        actual = self._digest.hexdigest()
        if expected != actual:
            raise PackError(f"sha256 mismatch (pack says {expected[:12]}, content is {actual[:12]})")
        return actual


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


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if not member.isreg() or member.size > META_MAX:
        raise PackError(f"{member.name} is not a regular file of reasonable size")
    fh = tar.extractfile(member)
    assert fh is not None
    return fh.read()


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_pack(chunks: Iterable[bytes], dest: Path, *, key: str,
              on_bytes: Callable[[int], None] | None = None) -> tuple[dict[str, Any], str, int]:
    """Unpack a pack streamed as ``chunks`` into the empty new directory ``dest``; raise :class:`PackError`.

    Returns (meta, sha256, bytes received). ``dest`` then holds ``meta.json``, ``manifest.json`` and ``env/``;
    on error it may hold part of them and the caller must delete it.
    """
    reader = _VerifyingReader(chunks, on_bytes)
    try:
        # the default (small) record buffer: the stream mode re-copies its buffer on every 512-byte header read
        with tarfile.open(fileobj=io.BufferedReader(reader, CHUNK), mode="r|") as tar:
            meta, links = _extract(tar, dest, key)
        sha = reader.finish()
    except (tarfile.TarError, EOFError) as exc:
        raise PackError(f"damaged or truncated archive ({exc})") from None
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise PackError(f"cannot unpack: {exc}") from None
    _check_links(dest / "env", links, meta)
    return meta, sha, reader.received


def _extract(tar: tarfile.TarFile, dest: Path, key: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Check and write every member; return meta.json's content and the symlinks made (name below env → target)."""
    meta: dict[str, Any] | None = None
    manifest: relocate.Manifest | None = None
    mtimes: dict[str, Any] = {}  # the entry's own mtimes (ns) from its manifest; the L1 restore compares them
    made_dirs: set[str] = set()
    seen_files: set[str] = set()
    seen_links: dict[str, str] = {}
    for member in tar:
        name = _safe_name(member.name)
        if name in ("meta.json", "manifest.json"):
            if (meta is not None and name == "meta.json") or (manifest is not None and name == "manifest.json"):
                raise PackError(f"{name} appears twice")
            data = _read_small(tar, member)
            (dest / name).write_bytes(data)
            try:
                parsed = json.loads(data)
                if name == "manifest.json":
                    manifest = relocate.Manifest.from_json(parsed)
                    mtimes = parsed["mtimes"] if isinstance(parsed.get("mtimes"), dict) else {}
                elif not isinstance(parsed, dict):
                    raise ValueError("not an object")
                else:
                    meta = parsed
            except (ValueError, KeyError, TypeError) as exc:
                raise PackError(f"{name} is not valid: {exc}") from None
            if meta is not None and meta.get("key") != key:
                raise PackError(f"the pack is for key {str(meta.get('key'))[:12]!r}, not {key[:12]}")
            continue
        if meta is None or manifest is None:
            raise PackError("meta.json and manifest.json must come before env/")
        parent = posixpath.dirname(name)
        if name in made_dirs or name[4:] in seen_files or name[4:] in seen_links:
            raise PackError(f"{name} appears twice")
        if name != "env" and parent not in made_dirs:
            raise PackError(f"{name}: its folder is not a directory of the pack (a link, or missing)")
        path = os.path.join(dest, name)
        rel = name[4:]
        if member.isdir():
            os.mkdir(path, 0o700)
            os.chmod(path, (member.mode & 0o777) | 0o700)
            made_dirs.add(name)
        elif member.isreg():
            expected = manifest.files.get(rel)
            if expected is None or expected[0] != member.size:
                raise PackError(f"{name} is not in the manifest with that size")
            ns = mtimes.get(rel)
            _extract_file(tar, member, path, ns if type(ns) is int and ns >= 0 else member.mtime * 10**9)
            seen_files.add(rel)
        elif member.issym():
            _check_link_name(name, member.linkname, manifest.symlinks.get(rel))
            os.symlink(member.linkname, path)
            seen_links[rel] = member.linkname
        else:
            raise PackError(f"{name} is a {_kind(member)}; only files, folders and symlinks are allowed")
    if meta is None or manifest is None:
        raise PackError("the pack has no meta.json or manifest.json")
    if "env" not in made_dirs:
        raise PackError("the pack has no env/")
    missing = (set(manifest.files) - seen_files) or (set(manifest.symlinks) - set(seen_links))
    if missing:
        raise PackError(f"the pack lacks {len(missing)} entries of its manifest, e.g. env/{sorted(missing)[0]}")
    return meta, seen_links


def _extract_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, mtime_ns: int) -> None:
    """Write one regular file: never through a link (O_EXCL, O_NOFOLLOW), mode limited to 0o777, mtime kept."""
    fh = tar.extractfile(member)
    if fh is None:
        raise PackError(f"{member.name} has no data")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        written = 0
        while block := fh.read(CHUNK):
            _write_all(fd, block)
            written += len(block)
        if written != member.size:
            raise PackError(f"{member.name} is truncated")
        os.fchmod(fd, member.mode & 0o777)
        os.utime(fd, ns=(mtime_ns, mtime_ns))  # .pyc files are validated against their source's mtime
    finally:
        os.close(fd)


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _kind(member: tarfile.TarInfo) -> str:
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "fifo"
    return f"member of type {member.type!r}"


def _check_links(env: Path, links: dict[str, str], meta: dict[str, Any]) -> None:
    """Every symlink, resolved in the finished tree, stays in ``env`` or is the entry's base interpreter."""
    root = os.path.realpath(env)
    interpreter = meta.get("interpreter")
    base = interpreter.get("base_executable") if isinstance(interpreter, dict) else None
    allowed = os.path.realpath(base) if isinstance(base, str) and base.startswith("/") else None
    for rel in links:
        real = os.path.realpath(os.path.join(root, rel))
        if _within(real, root):
            continue
        if allowed is not None and real == allowed and posixpath.basename(posixpath.dirname(rel)) == "bin":
            continue
        raise PackError(f"symlink env/{rel} resolves outside the entry ({real[:120]})")
