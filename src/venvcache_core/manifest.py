"""What an entry holds, and the one tree walker: store, verify, relocate and pack all read a tree through it.

:func:`walk` lists a tree (files, symlinks with their targets, folders) without following a link;
:func:`scan` hashes every file of it into a :class:`Manifest` and notes the text files that name given paths.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# Never searched for paths: compiled code, archives and data that cannot hold a usable text path.
BINARY_SUFFIXES = frozenset({
    ".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".a", ".o", ".lib", ".exe", ".whl", ".zip", ".gz", ".bz2",
    ".xz", ".zst", ".npy", ".npz", ".pkl", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".ttf",
    ".mo", ".db", ".sqlite", ".parquet", ".h5",
})


@dataclass
class Tree:
    """A tree as :func:`walk` saw it: relative names of regular files, symlinks (with targets) and folders."""

    files: list[str] = field(default_factory=list)
    symlinks: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """What an entry holds: files (size, sha256), symlinks (target) and the files to relocate."""

    files: dict[str, tuple[int, str]] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    relocate: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        """The total size of the files."""
        return sum(size for size, _ in self.files.values())

    def to_json(self) -> dict[str, object]:
        """The ``manifest.json`` document."""
        return {"files": {k: [s, h] for k, (s, h) in self.files.items()}, "symlinks": self.symlinks,
                "relocate": self.relocate}

    def add(self, root: Path, names: Sequence[str]) -> None:
        """Hash files added below ``root`` after the scan (bytecode compiled into a staged entry) into the manifest."""
        for name in names:
            _, size, digest, _ = _scan_one(root, name, ())
            self.files[name] = (size, digest)
        self.files = dict(sorted(self.files.items()))

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Manifest:
        """Parse a ``manifest.json`` document; ValueError (or KeyError) when it has the wrong shape."""
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
            parsed[str(name)] = (value[0], value[1])
        return cls(parsed, {str(k): str(v) for k, v in symlinks.items()}, [str(r) for r in relocate])


def walk(root: Path, *, skip: frozenset[str] = frozenset()) -> Tree:
    """Everything below ``root``, sorted, never following a symlink; top-level names in ``skip`` left out."""
    tree = Tree()
    links: dict[str, str] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for entry in it:
                name = f"{rel}/{entry.name}" if rel else entry.name
                if name in skip:
                    continue
                if entry.is_symlink():
                    links[name] = os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    tree.dirs.append(name)
                    stack.append(name)
                elif entry.is_file(follow_symlinks=False):
                    tree.files.append(name)
    tree.files.sort()
    tree.dirs.sort()
    tree.symlinks = dict(sorted(links.items()))
    return tree


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


def scan(root: Path, origins: Sequence[str] = (), *, workers: int = 4, skip: frozenset[str] = frozenset()) -> Manifest:
    """Hash every file below ``root`` and list the text files that mention one of ``origins``."""
    tree = walk(root, skip=skip)
    needles = [form.encode() for form in origins]
    manifest = Manifest(symlinks=tree.symlinks)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # hashlib and read() release the GIL
        for name, size, digest, mentions in pool.map(lambda n: _scan_one(root, n, needles), tree.files,
                                                     chunksize=64):
            manifest.files[name] = (size, digest)
            if mentions:
                manifest.relocate.append(name)
    return manifest
