"""Scanning an env for its size, content hashes and the text files that embed its absolute path, and rewriting them.

A venv names its own path in console-script shebangs (plain and pip's ``'''exec'`` trampoline), ``activate*``,
``pyvenv.cfg``, and an editable install names the project checkout in ``.pth`` files, ``__editable__`` finders
and ``direct_url.json``. Binaries (``.so``, ``.pyc``, anything with a NUL byte) are left alone.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Never rewritten and never searched: compiled code, archives and data that cannot hold a usable text path.
BINARY_SUFFIXES = frozenset({
    ".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".a", ".o", ".lib", ".exe", ".whl", ".zip", ".gz", ".bz2",
    ".xz", ".zst", ".npy", ".npz", ".pkl", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".ttf",
    ".mo", ".db", ".sqlite", ".parquet", ".h5",
})
SHEBANG_MAX = 127  # Linux BINPRM_BUF_SIZE-1 on older kernels: longer shebangs are cut


@dataclass
class Manifest:
    """What an entry holds: files (size, sha256), symlinks (target) and the files to relocate."""

    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    relocate: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.files.values())

    def to_json(self) -> dict[str, object]:
        return {"files": {k: [s, h] for k, (s, h) in self.files.items()}, "symlinks": self.symlinks,
                "relocate": self.relocate}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Manifest:
        files = data["files"]
        symlinks = data["symlinks"]
        relocate = data["relocate"]
        if not isinstance(files, dict) or not isinstance(symlinks, dict) or not isinstance(relocate, list):
            raise ValueError("manifest has the wrong shape")
        parsed = {}
        for name, value in files.items():
            if (not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int)
                    or not isinstance(value[1], str)):
                raise ValueError(f"manifest entry {name!r} has the wrong shape")
            parsed[name] = (value[0], value[1])
        return cls(parsed, {str(k): str(v) for k, v in symlinks.items()}, [str(r) for r in relocate])


def path_forms(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Every spelling a path may have in an env's files: as given, resolved, and percent-quoted (file URLs)."""
    forms: list[str] = []
    for path in paths:
        for form in (os.path.abspath(path), os.path.realpath(path)):
            for spelled in (form, quote(form, safe="/:")):
                if spelled not in forms:
                    forms.append(spelled)
    return forms


def walk(root: Path) -> tuple[list[str], dict[str, str]]:
    """Relative paths of regular files, and symlinks with their targets, below ``root``."""
    files: list[str] = []
    links: dict[str, str] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for entry in it:
                name = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_symlink():
                    links[name] = os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(name)
                elif entry.is_file(follow_symlinks=False):
                    files.append(name)
    files.sort()
    return files, dict(sorted(links.items()))


def _scan_one(root: Path, name: str, needles: Sequence[bytes]) -> tuple[str, int, str, bool]:
    digest = hashlib.sha256()
    mentions = False
    searchable = bool(needles) and os.path.splitext(name)[1].lower() not in BINARY_SUFFIXES
    size = 0
    with open(os.path.join(root, name), "rb") as fh:
        while chunk := fh.read(1 << 22):
            size += len(chunk)
            digest.update(chunk)
            if searchable:
                if b"\0" in chunk:
                    searchable = False
                elif not mentions:
                    mentions = any(n in chunk for n in needles)
    return name, size, digest.hexdigest(), mentions and searchable


def scan(root: Path, origins: Sequence[str] = (), *, workers: int = 4) -> Manifest:
    """Hash every file below ``root`` and list the text files that mention one of ``origins``."""
    files, links = walk(root)
    needles = [form.encode() for form in origins]
    manifest = Manifest(symlinks=links)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # hashlib and read() release the GIL
        for name, size, digest, mentions in pool.map(lambda n: _scan_one(root, n, needles), files, chunksize=64):
            manifest.files[name] = (size, digest)
            if mentions:
                manifest.relocate.append(name)
    return manifest


def _pattern(mapping: Sequence[tuple[str, str]]) -> tuple[re.Pattern[bytes], dict[bytes, bytes]]:
    table = {old.encode(): new.encode() for old, new in mapping}
    olds = sorted(table, key=len, reverse=True)  # longest first: the env path wins over the project path
    return re.compile(b"(?:" + b"|".join(re.escape(o) for o in olds) + rb")(?![\w.-])"), table


def _fix_shebang(data: bytes, new_prefixes: Sequence[bytes]) -> bytes:
    """Rewrite ``#!<long or spaced path>`` into the ``/bin/sh`` trampoline pip uses for such paths."""
    if not data.startswith(b"#!"):
        return data
    end = data.find(b"\n")
    line = data[2:end if end != -1 else len(data)].rstrip(b"\r")
    for prefix in new_prefixes:
        if line.startswith(prefix):
            cut = line.find(b" ", len(prefix))
            exe, args = (line, b"") if cut == -1 else (line[:cut], line[cut:])
            if (len(line) + 2 > SHEBANG_MAX or b" " in exe) and not args.strip():
                rest = data[end + 1:] if end != -1 else b""
                return b"#!/bin/sh\n'''exec' \"" + exe + b"\" \"$0\" \"$@\"\n' '''\n" + rest
    return data


def rewrite(root: Path, names: Iterable[str], mapping: Sequence[tuple[str, str]]) -> int:
    """Replace old path prefixes by new ones in the named files below ``root``; return how many changed.

    Files are replaced (write + rename), never edited in place, so a hardlinked cache entry is never touched.
    """
    if not mapping:
        return 0
    pattern, table = _pattern(mapping)
    new_prefixes = sorted({new for new in table.values()}, key=len, reverse=True)
    changed = 0
    for name in names:
        path = os.path.join(root, name)
        with open(path, "rb") as fh:
            data = fh.read()
        new = pattern.sub(lambda m: table[m.group(0)], data)
        new = _fix_shebang(new, new_prefixes)
        if new == data:
            continue
        st = os.lstat(path)
        tmp = f"{path}.venvcache-tmp"
        with open(tmp, "wb") as fh:
            fh.write(new)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, path)
        changed += 1
    return changed


def relocation_map(old_env: str, new_env: str, old_project: str | None,
                   new_project: str | None) -> list[tuple[str, str]]:
    """Pairs (old spelling, new path) for the env and, for editable installs, the project checkout."""
    pairs: list[tuple[str, str]] = []
    for old, new in ((old_env, new_env), (old_project, new_project)):
        if not old or not new:
            continue
        for form in path_forms([old]):
            target = quote(new, safe="/:") if "%" in form and form != os.path.abspath(old) else new
            if form != target and all(form != existing for existing, _ in pairs):
                pairs.append((form, target))
    return pairs
