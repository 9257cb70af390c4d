"""Rewriting the text files of an env that embed its absolute path (found by :func:`manifest.scan`).

A venv names its own path in console-script shebangs (plain and pip's ``'''exec'`` trampoline), ``activate*``,
``pyvenv.cfg``, and an editable install names the project checkout in ``.pth`` files, ``__editable__`` finders
and ``direct_url.json``. Binaries (``.so``, ``.pyc``, anything with a NUL byte) are left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

SHEBANG_MAX = 127  # Linux BINPRM_BUF_SIZE-1 on older kernels: longer shebangs are cut


def path_forms(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Every spelling a path may have in an env's files: as given, resolved, and percent-quoted (file URLs)."""
    forms: list[str] = []
    for path in paths:
        for form in (os.path.abspath(path), os.path.realpath(path)):
            for spelled in (form, quote(form, safe="/:")):
                if spelled not in forms:
                    forms.append(spelled)
    return forms


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
