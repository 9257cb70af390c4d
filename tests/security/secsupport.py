"""Helpers of the security suite: hand-made packs (every header field under the test's control), a tree snapshot,
and a CLI runner."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from venvcache_core.pack import (
    BLOCK,
    DIRTYPE,
    FORMAT,
    REGTYPE,
    SKIPPABLE_MAGIC,
    SYMTYPE,
    ZERO_BLOCK,
    header,
    require_zstd,
)

CLI = [sys.executable, "-m", "venvcache_core"]
KEY = "cd" * 32


def member(name: str, data: bytes = b"", *, kind: bytes = REGTYPE, mode: int = 0o644, link: str = "") -> bytes:
    """One tar member as the packer writes it."""
    return header(name, kind, mode=mode, size=len(data), link=link) + data + bytes(-len(data) % BLOCK)


def set_field(block: bytes, start: int, end: int, value: bytes) -> bytes:
    """A ustar header with one field replaced (``value`` padded with NULs) and its checksum fixed."""
    raw = bytearray(block)
    raw[start:end] = value.ljust(end - start, b"\0")[:end - start]
    raw[148:156] = b"        "
    raw[148:156] = b"%06o\0 " % sum(raw)
    return bytes(raw)


def meta_json(key: str = KEY, **extra: Any) -> bytes:
    meta = {"key": key, "created": time.time(), "bytes": 0, "files": 0, "origin": "/nowhere/.venv",
            "origin_project": None, "relocate": [], "document": {}, "python": "3.0.0",
            "interpreter": {"base_executable": "/usr/bin/python3"}, "link_mode": "copy", **extra}
    return json.dumps(meta).encode()


def manifest_json(files: dict[str, bytes | tuple[int, str]], links: dict[str, str] | None = None) -> bytes:
    listed = {name: list(value) if isinstance(value, tuple) else [len(value), hashlib.sha256(value).hexdigest()]
              for name, value in files.items()}
    return json.dumps({"files": listed, "symlinks": links or {}, "relocate": []}).encode()


def compress(parts: Iterable[bytes]) -> bytes:
    """A pack on the wire: zstd of the tar parts, then the sha256 trailer (so only the unpacker's rules refuse it)."""
    z = require_zstd().ZstdCompressor()
    body = b"".join(z.compress(part) for part in parts) + z.flush()
    digest = hashlib.sha256(body).hexdigest()
    return body + struct.pack("<II", SKIPPABLE_MAGIC, len(FORMAT) + 64) + FORMAT + digest.encode()


def pack(files: dict[str, bytes], *, key: str = KEY, dirs: Iterable[tuple[str, int]] = (), modes: dict[str, int] | None
         = None, links: dict[str, str] | None = None, meta: bytes | None = None, body: Iterable[bytes] = ()) -> bytes:
    """A well-formed pack: meta, manifest, ``env/`` and the given folders (name, mode), files and links."""
    parts = [member("meta.json", meta or meta_json(key)), member("manifest.json", manifest_json(files, links)),
             member("env", kind=DIRTYPE, mode=0o755)]
    folders = dict(dirs)
    for name in [*files, *(links or {})]:  # every parent folder, outermost first, unless given with its mode
        parts_of = name.split("/")[:-1]
        for depth in range(1, len(parts_of) + 1):
            folders.setdefault("/".join(parts_of[:depth]), 0o755)
    parts += [member(f"env/{name}", kind=DIRTYPE, mode=mode) for name, mode in sorted(folders.items())]
    parts += [member(f"env/{name}", data, mode=(modes or {}).get(name, 0o644)) for name, data in files.items()]
    parts += [member(f"env/{name}", kind=SYMTYPE, mode=0o777, link=target) for name, target in (links or {}).items()]
    return compress([*parts, *body, ZERO_BLOCK * 2])


def snapshot(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


def run(cmd: list[Any], env: dict[str, str], cwd: Path | None = None, timeout: float = 120,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def clean_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("VIRTUALENV_CACHE_")} | {"LC_ALL": "C.UTF-8"}


def tree_modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): os.lstat(p).st_mode & 0o7777 for p in [root, *root.rglob("*")]
            if not p.is_symlink()}
