"""What one ``session.install(...)`` / ``session.run_install(...)`` call puts into the key.

A step is described by a JSON-able document: the call, its arguments (absolute paths inside the project written
relative to it, so every checkout agrees), the folder it ran in, the content hashes of the files it reads, and the
installer variables that change what gets resolved. Two calls with equal documents install the same thing, as far as
anything short of running them can tell.

Files read: ``-r``/``-c`` (and uv's ``--override``/``--build-constraint``) files, followed into nested ``-r``/``-c``
lines; for a local project (``.``, ``-e ./lib``, ``pkg @ file:...``) its ``pyproject.toml``, ``setup.cfg``,
``setup.py`` and lock files; for a local wheel the dependencies in its metadata; for ``run_install`` the project
files of the folder it runs in (``uv sync``, ``poetry install`` ... read them).
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from venvcache_core import file_digest

#: files of a local project that decide what installing it pulls in
PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "uv.lock", "poetry.lock", "pdm.lock", "pylock.toml")
#: options whose value is a requirements-style file (pip and uv spellings); all but the first three constrain
REQUIREMENT_OPTIONS = frozenset({"-r", "--requirement", "--requirements"})
FILE_OPTIONS = REQUIREMENT_OPTIONS | {"-c", "--constraint", "--constraints", "--override", "--overrides", "-b",
                                      "--build-constraint", "--build-constraints"}
EDITABLE_OPTIONS = frozenset({"-e", "--editable"})
#: options that read the project in the current folder
PROJECT_OPTIONS = frozenset({"--group", "--all-groups", "--only-group"})
#: installer variables that change what an install resolves to (values that name a file also hash the file)
RELEVANT_ENV = frozenset({
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_PRE",
    "PIP_NO_BINARY", "PIP_ONLY_BINARY", "PIP_UPGRADE", "PIP_UPGRADE_STRATEGY", "PIP_NO_DEPS", "PIP_CONFIG_FILE",
    "PIP_USE_FEATURE", "PIP_EDITABLE_MODE", "PIP_BUILD_CONSTRAINT",
    "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_FIND_LINKS", "UV_NO_INDEX",
    "UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT", "UV_PRERELEASE", "UV_RESOLUTION", "UV_EXCLUDE_NEWER",
    "UV_NO_BINARY", "UV_NO_BUILD", "UV_INDEX_STRATEGY", "UV_TORCH_BACKEND", "UV_CONFIG_FILE", "UV_NO_CONFIG",
    "UV_PYTHON_PREFERENCE", "UV_COMPILE_BYTECODE", "UV_LINK_MODE",
})
_ARCHIVE = re.compile(r"\.(whl|zip|tar\.gz|tgz|tar\.bz2|tar\.xz|tar)$", re.IGNORECASE)
_EXTRAS = re.compile(r"^(.*?)(\[[^\]]*\])?$")
_MAX_NESTING = 20


class StepDescriber:
    """Builds step documents for one session: paths are named relative to ``root`` (the noxfile's folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))

    # -- naming --------------------------------------------------------------------------------------------------
    def name(self, path: str | os.PathLike[str]) -> str:
        """A path as the key shows it: ``<project>/rel`` inside the project, else absolute."""
        full = os.path.normpath(os.path.abspath(path))
        try:
            rel = os.path.relpath(full, self.root)
        except ValueError:  # another drive
            return Path(full).as_posix()
        if rel == os.curdir:
            return "<project>"
        if rel.startswith(os.pardir):
            return Path(full).as_posix()
        return "<project>/" + Path(rel).as_posix()

    def _normalise_arg(self, arg: str, cwd: Path) -> str:
        """Absolute paths into the project become ``<project>/...`` (checkouts differ only in their location)."""
        base, extras = _split_extras(arg)
        if os.path.isabs(base) and self._inside(base):
            return self.name(base) + extras
        if base.startswith("file:"):
            path = _file_url_path(base)
            if path and self._inside(path):
                return "file:" + self.name(path) + extras
        if " @ " in arg:
            name, _, url = arg.partition(" @ ")
            path = _file_url_path(url.strip()) if url.strip().startswith("file:") else None
            if path and self._inside(path):
                return f"{name.strip()} @ file:{self.name(path)}"
        return arg

    def _inside(self, path: str) -> bool:
        full = os.path.normpath(os.path.abspath(path))
        return full == str(self.root) or full.startswith(str(self.root).rstrip(os.sep) + os.sep)

    # -- the document --------------------------------------------------------------------------------------------
    def describe(self, call: str, args: Sequence[Any], *, cwd: str | os.PathLike[str],
                 env: Mapping[str, str | None]) -> dict[str, Any]:
        """The document of one install call run in ``cwd`` with the effective environment ``env``."""
        here = Path(os.path.abspath(cwd))
        texts = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
        files: dict[str, str] = {}
        for kind, value in _references(texts):
            if kind in {"file", "constraints"}:
                self._requirements_file(here / value, files, depth=0)
            else:
                self._local_target(value, here, files, editable=kind == "editable")
        if call == "run_install" or any(t.split("=")[0] in PROJECT_OPTIONS for t in texts):
            self._project(here, files)
        relevant = {}
        for key in sorted(RELEVANT_ENV):
            value = env.get(key)
            if value is None:
                continue
            relevant[key] = value
            for part in value.split():
                candidate = Path(part)
                if candidate.is_file():
                    files[self.name(candidate)] = file_digest(candidate)
        return {"call": call, "args": [self._normalise_arg(t, here) for t in texts], "cwd": self.name(here),
                "files": dict(sorted(files.items())), "env": relevant}

    def unpinned(self, call: str, args: Sequence[Any], *, cwd: str | os.PathLike[str],
                 env: Mapping[str, str | None]) -> list[str]:
        """Requirements of an install call not pinned with ``==`` (a cache freezes whatever they resolved to).

        Calls with constraints (``-c``, ``PIP_CONSTRAINT``/``UV_CONSTRAINT``) and ``run_install`` calls (lock files)
        count as pinned.
        """
        if call != "install" or env.get("PIP_CONSTRAINT") or env.get("UV_CONSTRAINT"):
            return []
        texts = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
        names: set[str] = set()
        if not _collect_unpinned(texts, Path(os.path.abspath(cwd)), names, set()):
            return []
        return sorted(names)

    def _requirements_file(self, path: Path, files: dict[str, str], *, depth: int) -> None:
        name = self.name(path)
        if name in files or depth > _MAX_NESTING:
            return
        if not path.is_file():
            files[name] = "missing"  # the installer will fail; the key just records it
            return
        files[name] = file_digest(path)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        for line in _logical_lines(lines):
            words = line.split()
            for kind, value in _references(words):
                if kind in {"file", "constraints"}:
                    self._requirements_file(path.parent / value, files, depth=depth + 1)
                else:
                    self._local_target(value, path.parent, files, editable=kind == "editable")

    def _local_target(self, value: str, here: Path, files: dict[str, str], *, editable: bool) -> None:
        """A local project directory or archive named by an argument (anything else is an index requirement)."""
        base, _ = _split_extras(value)
        if " @ " in value:
            base = value.partition(" @ ")[2].strip()
        if base.startswith("file:"):
            base = _file_url_path(base) or ""
        if not base or "://" in base:
            return
        path = Path(os.path.expanduser(base))
        path = path if path.is_absolute() else here / path
        if path.is_dir():
            self._project(path, files)
        elif path.is_file() and _ARCHIVE.search(path.name):
            files[self.name(path)] = _wheel_requirements(path) if path.suffix == ".whl" else file_digest(path)
        elif editable:
            files[self.name(path)] = "missing"

    def _project(self, folder: Path, files: dict[str, str]) -> None:
        for name in PROJECT_FILES:
            candidate = folder / name
            if candidate.is_file():
                files[self.name(candidate)] = file_digest(candidate)


def _looks_local(value: str, here: Path) -> bool:
    """Whether an argument names a local path or a URL rather than a requirement on an index."""
    base = _split_extras(value)[0]
    return (" @ " in value or "://" in value or base.startswith((".", "/", "~", "file:"))
            or os.sep in base or (here / base).exists())


def _split_extras(arg: str) -> tuple[str, str]:
    match = _EXTRAS.match(arg)
    assert match is not None  # the pattern matches every string
    return match.group(1), match.group(2) or ""


def _file_url_path(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path) or None


def _logical_lines(lines: Iterable[str]) -> list[str]:
    """Requirement-file lines with comments dropped and ``\\`` continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            out.append(line)
    return out


def _kind(option: str) -> str:
    if option in EDITABLE_OPTIONS:
        return "editable"
    return "file" if option in REQUIREMENT_OPTIONS else "constraints"


def _references(words: Sequence[str]) -> list[tuple[str, str]]:
    """(kind, value) of what arguments read: ``file`` (requirements), ``constraints`` (files), ``editable``,
    ``local`` (a requirement or a local path)."""
    found: list[tuple[str, str]] = []
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        option, eq, inline = word.partition("=")
        if word in FILE_OPTIONS or word in EDITABLE_OPTIONS:
            if index + 1 < len(words):
                found.append((_kind(word), words[index + 1]))
                skip = True
        elif eq and option.startswith("--") and option in FILE_OPTIONS | EDITABLE_OPTIONS:
            found.append((_kind(option), inline))
        elif len(word) > 2 and word[:2] in {"-r", "-c", "-e"} and not word.startswith("--"):
            found.append((_kind(word[:2]), word[2:]))
        elif not word.startswith("-"):
            found.append(("local", word))
    return found


def _collect_unpinned(words: Sequence[str], here: Path, names: set[str], seen: set[Path]) -> bool:
    """Add unpinned requirement names of ``words`` (and the requirement files they name) to ``names``.

    False when constraints are involved: then what is pinned cannot be told from the words.
    """
    for kind, value in _references(words):
        if kind == "constraints":
            return False
        if kind == "file":
            path = (here / value).resolve()
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            try:
                lines = _logical_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                continue
            # a requirement line is one requirement (its own options such as --hash follow it)
            line_words = [w for line in lines for w in (line.split() if line.startswith("-") else [line])]
            if not _collect_unpinned(line_words, path.parent, names, seen):
                return False
        elif kind == "local" and not _looks_local(value, here) and "==" not in value:
            names.add(re.split(r"[<>=!~;\[ ]", value, maxsplit=1)[0].strip())
    return True


def _wheel_requirements(path: Path) -> str:
    """A wheel's dependency lines (Requires-Dist, Requires-Python), hashed: what installing it pulls in."""
    try:
        with zipfile.ZipFile(path) as zf:
            meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
            text = zf.read(meta).decode("utf-8", "replace") if meta else ""
    except (OSError, zipfile.BadZipFile):
        return file_digest(path)
    wanted = ("Requires-Dist:", "Requires-Python:")
    lines = sorted(line.strip() for line in text.splitlines() if line.startswith(wanted))
    return "requires:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()
