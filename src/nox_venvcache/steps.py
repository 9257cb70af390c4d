"""What one ``session.install(...)`` / ``session.run_install(...)`` call puts into the key.

A step is described by a JSON-able document: the call, its arguments (absolute paths inside the project written
``{project}/...`` so every checkout agrees, URL credentials ``***``: the core's ``Placeholders``), the folder it ran
in, the content hashes of the files it reads (the core's ``walk_requirements``), and the installer variables that
change what gets resolved (the core's ``installer_env``, the same names and redaction as tox's key). Two calls
with equal documents install the same thing, as far as anything short of running them can tell.

Files read: ``-r``/``-c`` (and uv's ``--override``/``--build-constraint``) files, followed into nested ``-r``/``-c``
lines; for a local project (``.``, ``-e ./lib``, ``pkg @ file:...``) its ``pyproject.toml``, ``setup.cfg``,
``setup.py`` and lock files; for a local wheel the dependencies in its metadata; for ``run_install`` the project
files of the folder it runs in (``uv sync``, ``poetry install`` ... read them). An installer run through
``session.run`` (``pip install ...``, ``uv pip install ...``) is described by its own arguments, as ``install`` is.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from venvcache_core import Placeholders, file_digest, installer_env, unpinned, walk_requirements

#: files of a local project that decide what installing it pulls in
PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "uv.lock", "poetry.lock", "pdm.lock", "pylock.toml")
#: options that read the project in the current folder
PROJECT_OPTIONS = frozenset({"--group", "--all-groups", "--only-group"})
#: installer variables that name constraint files (their pins count for the unpinned warning)
CONSTRAINT_ENV = ("PIP_CONSTRAINT", "UV_CONSTRAINT")
_ARCHIVE = re.compile(r"\.(whl|zip|tar\.gz|tgz|tar\.bz2|tar\.xz|tar)$", re.IGNORECASE)
_EXTRAS = re.compile(r"^(.*?)(\[[^\]]*\])?$")


def _texts(args: Sequence[Any]) -> list[str]:
    return [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]


class StepDescriber:
    """Builds step documents for one session: paths inside ``root`` (the noxfile's folder) are ``{project}/...``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.places = Placeholders({"{project}": self.root})

    def name(self, path: str | os.PathLike[str]) -> str:
        """A path as the key shows it: ``{project}/rel`` inside the project, else absolute (the core's scheme)."""
        return self.places.name(path)

    # -- the document --------------------------------------------------------------------------------------------
    def describe(self, call: str, args: Sequence[Any], *, cwd: str | os.PathLike[str],
                 env: Mapping[str, str | None]) -> dict[str, Any]:
        """The document of one install call run in ``cwd`` with the effective environment ``env``."""
        here = Path(os.path.abspath(cwd))
        texts = _texts(args)
        walk = walk_requirements(installer_arguments(call, texts), cwd=here)
        files = walk.named(self.places)
        for kind, value, folder in walk.targets:
            self._local_target(value, folder, files, editable=kind == "editable")
        if call == "run_install" or any(t.split("=")[0] in PROJECT_OPTIONS for t in texts) \
                or (call == "run" and "pip" not in " ".join(texts[:installer_start(texts)])):
            self._project(here, files)
        set_env = {name: value for name, value in env.items() if value is not None}
        relevant = installer_env(set_env)
        for key in relevant:
            for part in set_env[key].split():
                candidate = Path(part)
                if candidate.is_file():
                    files[self.name(candidate)] = file_digest(candidate)
        return {"call": call, "args": self.places.apply(texts), "cwd": self.name(here),
                "files": dict(sorted(files.items())), "env": relevant}

    def unpinned(self, call: str, args: Sequence[Any], *, cwd: str | os.PathLike[str],
                 env: Mapping[str, str | None]) -> list[str]:
        """Requirements of an ``install`` call that the core's ``unpinned`` finds (a cache freezes them).

        Pins come from the requirements themselves, from ``-c`` files and from ``PIP_CONSTRAINT``/``UV_CONSTRAINT``
        files; local paths are not requirements; ``run_install`` calls (lock files) count as pinned.
        """
        texts = _texts(args)
        start = installer_start(texts)
        if call != "install" and (call != "run" or not start or texts[start - 1] != "install"):
            return []
        here = Path(os.path.abspath(cwd))
        walk = walk_requirements(installer_arguments(call, texts), cwd=here)
        constraints = list(walk.constraints)
        for name in CONSTRAINT_ENV:
            value = env.get(name)
            if value:
                constraints += walk_requirements([f"--constraint={part}" for part in value.split()],
                                                 cwd=here).constraints
        return unpinned([value for _, value, folder in walk.targets if not _looks_local(value, folder)],
                        constraints=constraints)

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


#: the sub-commands after which an installer's own arguments start (``pip install``, ``uv pip sync``, ``uv sync``)
INSTALLER_VERBS = frozenset({"install", "uninstall", "sync", "add", "remove"})


def installer_start(texts: Sequence[str]) -> int:
    """Where the installer's own arguments start in a command line (``pip install -r x`` -> 2; 0 when no verb)."""
    return next((i + 1 for i, word in enumerate(texts) if word in INSTALLER_VERBS), 0)


def installer_arguments(call: str, texts: Sequence[str]) -> list[str]:
    """The arguments that name requirements and files: all of ``session.install``'s, the installer's own of a command
    line (``session.run("uv", "pip", "install", ...)``); the positional files of ``pip sync`` read as ``-r``."""
    if call == "install":
        return list(texts)
    start = installer_start(texts)
    rest = list(texts[start:])
    if start and texts[start - 1] == "sync" and "pip" in texts[:start]:  # pip-sync / uv pip sync req.txt
        return [part for arg in rest for part in (("-r", arg) if not arg.startswith("-") else (arg,))]
    return rest


def _looks_local(value: str, here: Path) -> bool:
    """Whether an argument names a local path or a URL rather than a requirement on an index."""
    base = _split_extras(value)[0]
    if " @ " in value or "://" in value or base.startswith((".", "/", "~", "file:")) or os.sep in base:
        return True
    try:
        return (here / base).exists()
    except OSError:  # not a file name at all (too long, ...)
        return False


def _split_extras(arg: str) -> tuple[str, str]:
    match = _EXTRAS.match(arg)
    assert match is not None  # the pattern matches every string
    return match.group(1), match.group(2) or ""


def _file_url_path(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path) or None


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


#: ``uv sync`` flags after which the env is not made exactly the lock (or nothing is written at all)
_INEXACT_SYNC = frozenset({"--inexact", "--dry-run", "--check", "--script"})
#: ``uv pip sync`` flags that send the install elsewhere than the session's env (or nowhere)
_ELSEWHERE = frozenset({"--system", "--target", "--prefix", "--dry-run", "--user"})
#: uv options that take a value as the next argument (the ones a positional file could be confused with)
_VALUE_OPTIONS = frozenset({
    "-p", "--python", "-c", "--constraint", "--constraints", "-b", "--build-constraint", "--build-constraints",
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--index", "--default-index", "--target",
    "--prefix", "--python-version", "--python-platform", "--config-file", "--cache-dir", "--directory",
    "--project", "--keyring-provider", "--link-mode", "--resolution", "--prerelease", "--index-strategy",
    "--exclude-newer", "--reinstall-package", "--no-binary", "--only-binary", "-C", "--config-setting",
    "--no-build-package", "--no-binary-package", "--package", "--extra", "--group", "--only-group", "--no-group",
    "--no-extra", "--no-install-package", "--refresh-package", "--upgrade-package", "-P", "--color",
    "--allow-insecure-host", "--override", "--torch-backend", "--fork-strategy", "--python-preference",
})


def _same_env(path: str | None, location: str, here: Path) -> bool:
    """Whether ``path`` (an env folder or its interpreter) is the session's env at ``location``."""
    if not path:
        return False
    given = os.path.abspath(here / os.path.expanduser(path))
    env = os.path.realpath(location)  # (it may not exist yet: the env is created or restored on demand)
    return os.path.realpath(given) == env or os.path.realpath(os.path.dirname(os.path.dirname(given))) == env


def exact_sync_locks(call: str, args: Sequence[Any], *, cwd: str | os.PathLike[str],
                     env: Mapping[str, str | None], location: str) -> list[Path]:
    """The lock files that an install call makes the session's env exactly (installs, upgrades *and removes*):
    ``uv sync`` (its project's ``uv.lock``) or ``uv pip sync FILE...`` run through ``session.run``/``run_install``
    into this env (nox's ``UV_PROJECT_ENVIRONMENT``/``VIRTUAL_ENV``, or ``--python``/``--active`` naming it).
    Empty for anything else: ``session.install`` and ``uv pip install`` never remove, so they cannot finish a
    partial restore."""
    texts = _texts(args)
    if call == "install" or not texts or not os.path.basename(texts[0]).startswith("uv"):
        return []
    here = Path(os.path.abspath(cwd))
    words: list[str] = []  # the sub-command words and positional arguments, option values left out
    options: dict[str, str] = {}
    rest = iter(texts[1:])
    for word in rest:
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            options[name] = value if eq else (next(rest, "") if name in _VALUE_OPTIONS else "")
        else:
            words.append(word)
    if words[:1] == ["sync"] and len(words) == 1:
        if _INEXACT_SYNC & set(options):
            return []
        project = here / options.get("--project", options.get("--directory", "."))
        target = env.get("VIRTUAL_ENV") if "--active" in options else env.get("UV_PROJECT_ENVIRONMENT")
        if not _same_env(target, location, project):
            return []
        lock = project / "uv.lock"
        return [lock] if lock.is_file() else []
    if words[:2] == ["pip", "sync"] and len(words) > 2:
        if _ELSEWHERE & set(options) or (env.get("UV_SYSTEM_PYTHON") or "0").lower() not in ("", "0", "false"):
            return []
        target = options.get("--python") or options.get("-p") or env.get("UV_PYTHON") or env.get("VIRTUAL_ENV")
        if not _same_env(target, location, here):
            return []
        files = [here / name for name in words[2:]]
        return files if all(f.is_file() for f in files) else []
    return []
