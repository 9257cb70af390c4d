"""What a requested env is keyed by, read from the request: requirements, referenced files, local projects.

Local paths are keyed relative to a root (the test's directory by default) through the core's placeholders, so the
same project in another test's directory has the same key and is relocated there on restore.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from venvcache_core import (
    Key,
    Placeholders,
    RequirementWalk,
    VenvCacheError,
    build_key,
    file_digest,
    installer_env,
    walk_requirements,
)

from .installers import Installer

TOOL = "pytest"
ROOT = "{project}"  # the same placeholder the core names requirement files with
# options whose value is the next argument (or follows ``=``); pip's and ``uv pip install``'s common ones
_FILE_OPTIONS = frozenset({"-r", "--requirement", "-c", "--constraint"})
_EDITABLE = frozenset({"-e", "--editable"})
_VALUE_OPTIONS = _FILE_OPTIONS | _EDITABLE | frozenset({
    "-f", "--find-links", "-i", "--index-url", "--extra-index-url", "--no-binary", "--only-binary", "--extra",
    "--group", "--python-version", "--platform", "--prefix", "--target", "--config-settings", "-C",
    "--override", "--upgrade-package", "-P", "--resolution", "--prerelease",
})
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_SKIP_DIRS = frozenset({".git", ".hg", ".tox", ".nox", ".venv", "__pycache__", "build", "dist", ".pytest_cache"})


@dataclass(frozen=True)
class Request:
    """A parsed requirement list: ``args`` for the installer (local paths made absolute), and what they name."""

    args: list[str]
    walk: RequirementWalk = field(default_factory=RequirementWalk)  # the -r/-c files read, nested ones too
    editable: list[Path] = field(default_factory=list)
    local: list[Path] = field(default_factory=list)  # non-editable local dirs and archives
    files: list[Path] = field(default_factory=list)  # top-level -r/-c files (the walker follows nested ones)

    @property
    def paths(self) -> list[Path]:
        return [*self.editable, *self.local, *self.files]


def _looks_like_path(value: str) -> bool:
    return "://" not in value and (os.sep in value or "/" in value or value.startswith(".")
                                   or value.endswith(_ARCHIVES))


def parse(requirements: Sequence[str | os.PathLike[str]], cwd: Path) -> Request:
    """Split a list as pip takes it; a string that is neither an option, a path, a URL nor a requirement is an error."""
    if isinstance(requirements, (str, bytes)):
        raise VenvCacheError(f"requirements must be a list, not the string {requirements!r:.60}",
                             fix="pass e.g. ['requests==2.32.3'] or ['-r', 'requirements.txt']")
    items = [os.fspath(r) for r in requirements]
    args: list[str] = []
    request = Request(args)
    i = 0
    while i < len(items):
        item = str(items[i])
        option, value = item, None
        if item.startswith("--") and "=" in item:
            option, value = item.split("=", 1)
        elif option in _VALUE_OPTIONS:
            if i + 1 >= len(items):
                raise VenvCacheError(f"{item} needs a value", fix=f"write {item} <value>")
            value = str(items[i + 1])
            i += 1
        i += 1
        if option in _FILE_OPTIONS and value is not None:
            path = Path(cwd, value).absolute()
            request.files.append(path)
            args += [option, str(path)]
        elif option in _EDITABLE and value is not None:
            if _looks_like_path(value) or Path(cwd, value).is_dir():
                path = Path(cwd, value).absolute()
                _check_project(path)
                request.editable.append(path)
                value = str(path)
            args += [option, value]
        elif value is not None:
            args += [option, value]
        elif item.startswith("-"):
            args.append(item)
        elif _looks_like_path(item):
            path = Path(cwd, item).absolute()
            if not path.exists():
                raise VenvCacheError("local requirement does not exist", path=path,
                                     fix="create it or fix the path in the requirements")
            request.local.append(path)
            args.append(str(path))
        else:
            try:
                Requirement(item)
            except InvalidRequirement as exc:
                raise VenvCacheError(f"{item!r:.80} is not a valid requirement ({str(exc).splitlines()[0]})",
                                     fix="write it as pip does, e.g. 'name==1.0'") from None
            args.append(item)
    walk = walk_requirements(args, cwd=cwd)
    for path in walk.files:
        if not path.is_file():
            raise VenvCacheError("requirements file does not exist", path=path,
                                 fix="create it or fix the -r/-c path")
    return Request(args, walk, request.editable, request.local, request.files)


def _check_project(path: Path) -> None:
    if not any((path / name).is_file() for name in _BUILD_FILES):
        raise VenvCacheError("is not a Python project (no pyproject.toml, setup.py or setup.cfg)", path=path,
                             fix="point -e at the project's folder")


def choose_root(paths: Iterable[Path], candidates: Sequence[Path]) -> Path | None:
    """The first candidate (innermost first) that holds every path; None when none does."""
    wanted = [os.path.abspath(p) for p in paths]
    for candidate in candidates:
        base = os.path.abspath(candidate).rstrip(os.sep) + os.sep
        if all(p.startswith(base) for p in wanted):
            return candidate
    return None


def _tree_digests(folder: Path, names: Iterable[str] | None = None) -> dict[str, str]:
    """Content hashes of a project's files: only ``names`` (build files) or, without them, every source file."""
    if names is not None:
        return {n: file_digest(folder / n) for n in names if (folder / n).is_file()}
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for filename in sorted(filenames):
            path = Path(dirpath, filename)
            if path.is_file() and not filename.endswith((".pyc", ".pyo")):
                found[path.relative_to(folder).as_posix()] = file_digest(path)
    return found


def find_links_digests(folders: Sequence[Path]) -> list[dict[str, str]]:
    """Each find-links folder by content (file name → sha256), not by path: a wheelhouse may live anywhere."""
    result = []
    for folder in folders:
        if not folder.is_dir():
            raise VenvCacheError("find-links folder does not exist", path=folder, fix="create it or fix find_links")
        result.append({p.name: file_digest(p) for p in sorted(folder.iterdir()) if p.is_file()})
    return result


def _version() -> str:
    try:
        return metadata.version("venvcache")
    except metadata.PackageNotFoundError:
        return ""


def env_key(*, interpreter: Mapping[str, Any], installer: Installer, request: Request, root: Path | None,
            environ: Mapping[str, str], find_links: Sequence[Path], salt: str) -> Key:
    """The key of a requested env: interpreter, installer and its variables, requirements with file contents."""
    places = Placeholders({ROOT: root} if root is not None else {})
    local: dict[str, Any] = {}
    for path in request.editable:
        local[places.apply(str(path))] = {"editable": True, "files": _tree_digests(path, _BUILD_FILES)}
    for path in request.local:
        files = _tree_digests(path) if path.is_dir() else {path.name: file_digest(path)}
        local[places.apply(str(path))] = {"editable": False, "files": files}
    inputs = {
        "installer": {"name": installer.name, "version": installer.version},
        "requirements": places.apply(list(request.args)),
        "files": request.walk.named(places),
        "local": local,
        "find_links": find_links_digests(find_links),
        "env": places.apply(installer_env(environ)),
        "venvcache": _version(),
    }
    return build_key(interpreter=interpreter, inputs=inputs, salt=salt, tool=TOOL)
