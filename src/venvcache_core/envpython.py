"""Is an entry's interpreter the base interpreter its key pins? Checked without running anything from the entry.

A venv's ``bin/python*`` are links to the base interpreter (or byte-identical copies where links are impossible)
and ``pyvenv.cfg``'s ``home`` names the base's folder, from which the interpreter loads the standard library. An
entry from a pack (or a tampered local one) could instead hold a script named ``python3.12`` that the health check
ran, a 3.11 env under a 3.12 key, or a ``home`` leading into the env itself. So the check compares the links and
``home`` with the key's recorded base interpreter, and probes that base interpreter (outside the entry) only.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import within
from .errors import VenvCacheError
from .key import canonical_json, interpreter_identity
from .verify import known_identity, remember_identity

INTERPRETER_RE = re.compile(r"(python|pypy|graalpy)[0-9.]*(t|w)?(\.exe)?")
COMPARED = ("implementation", "version", "cache_tag", "abiflags", "platform", "free_threaded", "base_executable")


def pinned_interpreter(digest: str, document: Mapping[str, Any] | None, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The interpreter identity the key pins: the caller's key document, else the entry's own copy of it when that
    hashes to ``digest``, else (an entry stored under a bare digest) the entry's meta."""
    for doc in (document, meta.get("document")):
        if isinstance(doc, Mapping) and doc:
            if hashlib.sha256(canonical_json(doc).encode()).hexdigest() != digest:
                continue
            named = doc.get("interpreter")
            if isinstance(named, Mapping):
                return dict(named)
    named = meta.get("interpreter")
    return dict(named) if isinstance(named, Mapping) else {}


def _same_file(a: str, b: str) -> bool:
    """Byte-identical regular files (a ``--copies`` venv), compared by size, then content."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def _home(env: Path) -> str | None:
    try:
        text = (env / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().lower() == "home":
            return value.strip()
    return None


def health_problem(env: Path, expected: Mapping[str, Any], memo: Path | None = None) -> str:
    """Why ``env`` may not be served as an env of the ``expected`` interpreter identity, or ''.

    Runs only the recorded base interpreter (``expected["base_executable"]``), never a file of ``env``; with
    ``memo`` (the cache's ``interpreters.json``) not even that when the base file is unchanged since it was probed
    (that start was most of a restore's fixed cost).
    """
    base = expected.get("base_executable")
    if not isinstance(base, str) or not os.path.isabs(base):
        return "the key names no base interpreter to check the env's against"
    real_base = os.path.realpath(base)
    if within(real_base, env):
        return "the key's base interpreter lies inside the env"
    bindir = env / ("Scripts" if (env / "Scripts").is_dir() and not (env / "bin").is_dir() else "bin")
    try:
        names = sorted(item.name for item in os.scandir(bindir) if INTERPRETER_RE.fullmatch(item.name))
    except OSError:
        names = []
    if not names:
        return f"{bindir.name}/ holds no interpreter"
    for name in names:
        path = bindir / name
        if os.path.islink(path):
            if os.path.realpath(path) != real_base:
                return (f"{bindir.name}/{name} leads to {os.path.realpath(path)[:120]}, not the key's base "
                        f"interpreter {real_base[:120]}")
        elif not _same_file(str(path), real_base):
            return f"{bindir.name}/{name} is neither a link to nor a copy of the base interpreter {real_base[:120]}"
    home = _home(env)
    if home is None:
        return "pyvenv.cfg is missing or has no home"
    if not os.path.isabs(home) or within(home, env):
        return f"pyvenv.cfg's home {home[:120]!r} is not the base interpreter's folder"
    try:
        candidates = [os.path.join(home, item.name) for item in os.scandir(home)
                      if INTERPRETER_RE.fullmatch(item.name)]
    except OSError:
        candidates = []
    if not any(os.path.realpath(c) == real_base or _same_file(c, real_base) for c in candidates):
        return f"pyvenv.cfg's home {home[:120]!r} does not hold the base interpreter {real_base[:120]}"
    got = known_identity(memo, Path(real_base)) if memo is not None else None
    if got is None:
        try:
            got = interpreter_identity(real_base)
        except VenvCacheError as exc:
            return str(exc)
        if memo is not None:
            remember_identity(memo, Path(real_base), got)
    for name in COMPARED:
        if name in expected and got.get(name) != expected.get(name):
            return f"interpreter {name} is {got.get(name)!r}, the key says {expected.get(name)!r}"
    return ""
