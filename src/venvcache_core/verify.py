"""Is an entry what it claims to be: its metadata, its tree against the manifest, the interpreter it runs."""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
from pathlib import Path
from typing import Any

from .fsutil import read_json, write_json
from .manifest import Manifest, scan, walk

log = logging.getLogger("venvcache")


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool, not an int too large for a float), else None:
    JSON metadata may hold anything."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def meta_problem(meta: dict[str, Any]) -> str:
    """Why an entry's ``meta.json`` cannot be used (wrong types, relocation names leaving the env), or ''."""
    for name, kinds in (("created", (int, float)), ("bytes", (int,)), ("files", (int,)), ("origin", (str,))):
        if type(meta.get(name)) not in kinds:
            return f"meta.json: {name} is missing or not a {kinds[0].__name__}"
    if finite(meta["created"]) is None or meta["bytes"] < 0 or meta["files"] < 0:
        return "meta.json: created, bytes or files out of range"
    if not isinstance(meta.get("origin_project"), (str, type(None))):
        return "meta.json: origin_project is not a path"
    if not isinstance(meta.get("metadata", {}), dict):
        return "meta.json: metadata is not an object"
    names = meta.get("relocate", [])
    if not isinstance(names, list) or not all(
            isinstance(n, str) and n and "\0" not in n and not os.path.isabs(n) and ".." not in n.split("/")
            for n in names):
        return "meta.json: relocate is not a list of paths inside the env"
    return ""


def diff(manifest: Manifest, tree: Path, *, skip: frozenset[str] = frozenset(), extra: bool = True) -> list[str]:
    """Differences between a tree and a manifest: missing, changed and (with ``extra``) unexpected files."""
    actual = scan(tree)
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


class ManifestCheck(threading.Thread):
    """Check, while the copy runs, that every file of the entry is there with its recorded size (and mtime)."""

    def __init__(self, entry: Path) -> None:
        super().__init__(daemon=True)
        self.entry = entry
        self.problem = ""

    def run(self) -> None:
        try:
            self.problem = self._check()
        except (OSError, ValueError, KeyError) as exc:
            self.problem = f"unreadable manifest.json ({exc})"

    def _check(self) -> str:
        raw = read_json(self.entry / "manifest.json")
        manifest = Manifest.from_json(raw)
        mtimes: dict[str, Any] = raw["mtimes"] if isinstance(raw.get("mtimes"), dict) else {}
        env = self.entry / "env"
        try:
            mode = os.lstat(env).st_mode
        except OSError:
            mode = 0
        if not stat.S_ISDIR(mode):
            return "env/ is missing or not a folder"
        tree = walk(env)
        extra = sorted(set(tree.files) - manifest.files.keys() | set(tree.symlinks) - manifest.symlinks.keys())
        if extra:
            return f"unexpected file env/{extra[0]}"
        for name, (size, _) in manifest.files.items():
            try:
                st = os.lstat(env / name)
            except FileNotFoundError:
                return f"file env/{name} is missing"
            if st.st_size != size or not stat.S_ISREG(st.st_mode):
                return f"file env/{name} changed size"
            if type(mtimes.get(name)) is int and st.st_mtime_ns != mtimes[name]:
                return f"file env/{name} was modified in place"
        for name, target in manifest.symlinks.items():
            try:
                if os.readlink(env / name) != target:
                    return f"symlink env/{name} changed"
            except OSError:
                return f"symlink env/{name} is missing"
        return ""


def interpreter_file(python: Path) -> list[int]:
    """What identifies the interpreter file ``python`` resolves to: device, inode, size and mtime (a reinstall or
    an upgrade of the interpreter changes them)."""
    st = os.stat(python)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def known_identity(memo: Path, python: Path) -> dict[str, Any] | None:
    """The identity probed earlier for the interpreter file ``python`` resolves to, if that file is unchanged."""
    try:
        found = read_json(memo).get(os.path.realpath(python))
        if isinstance(found, dict) and found.get("file") == interpreter_file(python):
            identity = found.get("identity")
            return identity if isinstance(identity, dict) else None
    except (OSError, ValueError):
        pass
    return None


def remember_identity(memo: Path, python: Path, identity: dict[str, Any]) -> None:
    """Note ``identity`` for the interpreter file ``python`` resolves to (best effort: a memo only saves time)."""
    try:
        try:
            known = read_json(memo)
        except (OSError, ValueError):
            known = {}
        known[os.path.realpath(python)] = {"file": interpreter_file(python), "identity": identity}
        write_json(memo, known)
    except OSError as exc:
        log.debug("venvcache: interpreter memo not written: %s", exc)

