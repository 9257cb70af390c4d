"""Where the cache settings come from and what they mean.

Sources, first found wins (unless one is named explicitly): ``.virtualenv_cache.toml`` (``[virtualenv-cache]``),
``pyproject.toml`` (``[tool.virtualenv-cache]``), ``tox.ini`` (``[virtualenv-cache]``, ini syntax).
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from .errors import VenvCacheError
from .linkmode import LINK_MODES, LinkMode, as_link_mode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SECTION = "virtualenv-cache"
CONFIG_FILE = ".virtualenv_cache.toml"
ENV_CONFIG_PATH = "VIRTUALENV_CACHE_CONFIG_PATH"
ENV_VIRTUALENV_PATH = "VIRTUALENV_CACHE_VIRTUALENV_PATH"
REMOTE_MODES = ("read", "write", "readwrite")
REMOTE_SCHEMES = ("s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl", "file", "http", "https")


@dataclass(frozen=True)
class Config:
    """Validated settings; paths are absolute, sizes in bytes, ages in seconds."""

    work_dir: Path
    cache_path: Path
    virtualenv_path: Path
    source: Path | None = None
    cache_size: int = 20
    requirements_lock_paths: tuple[str, ...] = ()
    key_files: tuple[str, ...] = ()
    max_bytes: int | None = None
    max_age: float | None = None
    link_mode: LinkMode = "auto"
    salt: str = ""
    python: str | None = None
    enabled: bool = True
    remote: str | None = None  # L2 object store URL (remote.py)
    remote_mode: str = "readwrite"
    extra: Mapping[str, Any] = field(default_factory=dict)
    # paths and interpreters from the config file must stay inside this folder (the checkout the file came with);
    # None when the file is the user's own (named explicitly and outside the project's checkout) or there is none
    checkout: Path | None = None

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some fields changed (used by the adapters' command-line switches)."""
        return replace(self, **changes)


# key -> (parser of a TOML value, parser of an ini string, what is expected)
def _int(value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    if value < minimum:
        raise ValueError
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _path(value: Any) -> str:
    """A path: a non-empty string without NUL (which no file system accepts; it broke far later, as a traceback)."""
    text = _str(value)
    if not text.strip() or "\0" in text:
        raise ValueError
    return text


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError
    if any("\0" in item for item in value):
        raise ValueError
    return tuple(value)


_INI_TRUE, _INI_FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _from_ini(key: str, value: str) -> Any:
    """Turn an ini string into the TOML type the key expects (lists: one per line, commas also accepted)."""
    if key in {"requirements_lock_paths", "key_files"}:
        return [part.strip() for part in re.split(r"[\n,]", value) if part.strip()]
    if key == "cache_size" and value.strip().isdigit():
        return int(value)
    if key in {"shared", "enabled"} and value.strip().lower() in _INI_TRUE | _INI_FALSE:
        return value.strip().lower() in _INI_TRUE
    return value.strip()


_SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
               "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(value: Any) -> int:
    """``5GB``, ``500MiB``, ``1024`` → bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value)
    if not isinstance(value, str):
        raise TypeError
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    if not match or match.group(2).upper() not in _SIZE_UNITS:
        raise ValueError
    size = float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    if size > 2**63:  # also infinity (e.g. 400 digits): int() of it was an OverflowError
        raise ValueError
    return int(size)


_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(value: Any) -> float:
    """``14d``, ``12h``, ``90m``, ``3600`` → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value < 2.0**63:  # also nan (false against everything), inf, and ints float() cannot hold
            raise ValueError
        return float(value)
    if not isinstance(value, str):
        raise TypeError
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", value.lower())
    if not match or float(match.group(1)) == float("inf"):
        raise ValueError
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def _not_shared(value: Any) -> bool:
    """``shared = false`` is accepted (old configs); ``true`` is refused: a local cache root is one user's."""
    if _bool(value):
        raise ValueError
    return False


def _link_mode(value: Any) -> LinkMode:
    mode = as_link_mode(_str(value))
    if mode is None:
        raise ValueError
    return mode


def remote_url(value: Any) -> str:
    """An object store URL (``s3://bucket/prefix``, ``gs://``, ``az://``, ``file://``, ``https://``); '' is none."""
    url = _str(value).strip()
    if url and ("://" not in url or url.partition("://")[0].lower() not in REMOTE_SCHEMES):
        raise ValueError
    return url


def _remote_mode(value: Any) -> str:
    mode = _str(value)
    if mode not in REMOTE_MODES:
        raise ValueError
    return mode


_KEYS: dict[str, tuple[Any, str]] = {
    "cache_size": (lambda v: _int(v, minimum=1), "a whole number of entries >= 1"),
    "cache_path": (_path, "a path string"),
    "virtualenv_path": (_path, "a path string"),
    "requirements_lock_paths": (_str_list, "a list of file paths or globs"),
    "key_files": (_str_list, "a list of file paths or globs"),
    "max_bytes": (parse_size, 'a size such as "5GB" or a number of bytes'),
    "max_age": (parse_age, 'an age such as "14d", "12h" or a number of seconds'),
    "link_mode": (_link_mode, "one of " + ", ".join(LINK_MODES)),
    "salt": (_str, "a string"),
    "python": (_path, "an interpreter name or path"),
    "shared": (_not_shared, "false (shared = true is gone: a local cache belongs to one user, who alone may write "
                            'it; share between users through a remote, e.g. remote = "file:///srv/venvcache")'),
    "enabled": (_bool, "true or false"),
    "remote": (remote_url, 'an object store URL: "s3://bucket/prefix", gs://, az://, file:// or https://'),
    "remote_mode": (_remote_mode, "one of " + ", ".join(REMOTE_MODES)),
}


def default_cache_root() -> Path:
    """The per-user cache directory (``~/.cache/venvcache`` on Linux, honouring ``XDG_CACHE_HOME``)."""
    return Path(platformdirs.user_cache_dir("venvcache", appauthor=False))


def project_id(work_dir: Path) -> str:
    """A name that is the same in every checkout of one project: ``[project].name``, else the folder name."""
    name = work_dir.name
    pyproject = work_dir / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
            if isinstance(project, dict) and isinstance(project.get("name"), str):
                name = project["name"]
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            pass
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip(".-") or "default"


def expand_path(value: str, *, base: Path, source: Path | None, key: str) -> Path:
    """Expand ``${VAR}``, ``$VAR`` and ``~``; relative paths are taken from ``base``."""
    missing = [m.group(1) or m.group(2) for m in re.finditer(r"\$\{(\w+)\}|\$(\w+)", value)
               if (m.group(1) or m.group(2)) not in os.environ]
    if missing:
        raise VenvCacheError(f"{key} uses ${{{missing[0]}}}, which is not set", path=source,
                             fix=f"export {missing[0]} or write the path out")
    path = Path(os.path.expanduser(os.path.expandvars(value)))
    return path if path.is_absolute() else base / path


def within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or below it, once both are resolved (symlinks and ``..`` included)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def checkout_root(start: Path, source: Path | None = None) -> Path:
    """The checkout a project folder belongs to: the git work tree holding it, else the config file's folder (when
    it holds ``start``), else ``start``. A work tree at ``/`` or the home folder (dotfile repos) does not count."""
    start = Path(os.path.realpath(start))
    unsafe = {Path(os.path.realpath(os.sep)), Path(os.path.realpath(os.path.expanduser("~")))}
    for folder in [start, *start.parents]:
        if os.path.lexists(folder / ".git"):
            if folder not in unsafe:
                return folder
            break
    if source is not None and within(start, source.parent) and Path(os.path.realpath(source.parent)) not in unsafe:
        return Path(os.path.realpath(source.parent))
    return start


def _check_python(value: str, checkout: Path, source: Path | None) -> None:
    """An interpreter from a checkout's config: a name looked up on PATH, or an absolute path outside the checkout."""
    if os.sep not in value and "/" not in value:
        return
    if not os.path.isabs(value) or within(value, checkout):
        raise VenvCacheError(f"python = {value!r} names a file of the checkout; it is not run", path=source,
                             fix="give an interpreter name found on PATH (python3.12) or an absolute path outside "
                                 f"{checkout}, or pass --python")


def _check_virtualenv_path(path: Path, checkout: Path, source: Path | None) -> None:
    if not within(path, checkout):
        raise VenvCacheError(f"virtualenv_path {str(path)!r} is outside the checkout {checkout}; a checkout's config "
                             "may only name envs inside it", path=source,
                             fix=f"use a path inside the project, or pass --virtualenv-path (or {ENV_VIRTUALENV_PATH})")


def from_mapping(data: Mapping[str, Any], *, work_dir: Path, source: Path | None,
                 allow: frozenset[str] = frozenset(), ini: bool = False, trusted: bool = False,
                 virtualenv_path: Path | None = None) -> Config:
    """Validate a raw section (TOML table, or ini section with ``ini=True``) into a :class:`Config`.

    ``allow`` names extra keys an adapter understands; they land in ``Config.extra`` unchecked. Unless ``trusted``
    (the user's own file, outside the project's checkout), the section came with the checkout: its
    ``virtualenv_path`` must be inside the checkout and its ``python`` a name on PATH or an absolute path outside it.
    ``virtualenv_path`` given here (by the user) replaces the section's, unchecked.
    """
    work_dir = work_dir.resolve()
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, raw in data.items():
        if key in allow:
            extra[key] = raw
            continue
        if key in ("signing_key", "remote_signing_key"):  # a secret has no place in a committed file
            raise VenvCacheError(f"{key!r} cannot be set in [{SECTION}]", path=source,
                                 fix="set the secret in the environment: VIRTUALENV_CACHE_REMOTE_SIGNING_KEY")
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise VenvCacheError(f"unknown key {key!r} in [{SECTION}]", path=source, fix=f"known keys: {known}")
        parse, expected = _KEYS[key]
        if ini and isinstance(raw, str):
            raw = _from_ini(key, raw)
        try:
            values[key] = parse(raw)
        except (TypeError, ValueError):
            raise VenvCacheError(f"{key} = {raw!r} is not valid", path=source, fix=f"expected {expected}") from None
    values.pop("shared", None)
    base = source.parent if source is not None else work_dir
    cache_path = (expand_path(values.pop("cache_path"), base=base, source=source, key="cache_path")
                  if "cache_path" in values else default_cache_root() / project_id(work_dir))
    venv_path = expand_path(values.pop("virtualenv_path", ".venv"), base=work_dir, source=source,
                            key="virtualenv_path")
    checkout = None if trusted else checkout_root(work_dir, source)
    if virtualenv_path is not None:
        venv_path = virtualenv_path
    elif checkout is not None:
        _check_virtualenv_path(venv_path, checkout, source)
        if "python" in values:
            _check_python(values["python"], checkout, source)
    return Config(work_dir=work_dir, cache_path=cache_path, virtualenv_path=venv_path, source=source,
                  extra=extra, checkout=checkout, **values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise VenvCacheError(f"is not valid TOML: {exc}", path=path, fix="fix the syntax") from None
    except UnicodeDecodeError:
        raise VenvCacheError("is not UTF-8 text", path=path, fix="save it as UTF-8") from None
    except OSError as exc:
        raise VenvCacheError(f"cannot be read: {exc.strerror}", path=path) from None


def _section(path: Path) -> Mapping[str, Any] | None:
    """The ``virtualenv-cache`` section of one file, or None when the file has none."""
    if path.suffix in {".ini", ".cfg"}:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
        except configparser.Error as exc:
            raise VenvCacheError(f"is not valid ini: {exc.message.splitlines()[0]}", path=path,
                                 fix="fix the syntax") from None
        except UnicodeDecodeError:
            raise VenvCacheError("is not UTF-8 text", path=path, fix="save it as UTF-8") from None
        except OSError as exc:
            raise VenvCacheError(f"cannot be read: {exc.strerror}", path=path) from None
        return dict(parser[SECTION]) if parser.has_section(SECTION) else None
    doc = _read_toml(path)
    tool = doc.get("tool", {}) if path.name == "pyproject.toml" else doc
    table = tool.get(SECTION) if isinstance(tool, dict) else None  # ``tool = 1`` holds no section of ours
    if table is None:
        return None
    if not isinstance(table, dict):
        raise VenvCacheError(f"[{SECTION}] must be a table", path=path, fix=f"write it as [{SECTION}]")
    return table


def candidates(work_dir: Path) -> list[Path]:
    """The files looked at, in order, when no config file is named."""
    return [work_dir / CONFIG_FILE, work_dir / "pyproject.toml", work_dir / "tox.ini"]


def load(work_dir: str | os.PathLike[str] | None = None, config_path: str | os.PathLike[str] | None = None,
         *, allow: frozenset[str] = frozenset(), virtualenv_path: str | os.PathLike[str] | None = None) -> Config:
    """Find and validate the configuration for ``work_dir`` (default: the current directory).

    ``virtualenv_path`` (the command line's, else ``VIRTUALENV_CACHE_VIRTUALENV_PATH``) replaces the config's and
    may be anywhere: the user gave it, not the checkout.
    """
    given = virtualenv_path or os.environ.get(ENV_VIRTUALENV_PATH) or None
    if given is not None and "\0" in os.fspath(given):
        raise VenvCacheError("the virtualenv path holds a NUL character", fix="fix --virtualenv-path")
    venv = Path(os.path.abspath(os.path.expanduser(given))) if given is not None else None
    work = Path(work_dir or os.getcwd()).resolve()
    if not work.is_dir():
        raise VenvCacheError("work directory does not exist", path=work, fix="pass an existing --work-dir")
    named = config_path or os.environ.get(ENV_CONFIG_PATH) or None
    if named:
        path = Path(named)
        path = path if path.is_absolute() else work / path
        if not path.is_file():
            raise VenvCacheError("config file does not exist", path=path,
                                 fix=f"create it with 'virtualenv-cache init' or unset {ENV_CONFIG_PATH}")
        section = _section(path)
        if section is None:
            where = f"[tool.{SECTION}]" if path.name == "pyproject.toml" else f"[{SECTION}]"
            raise VenvCacheError(f"has no {where} section", path=path, fix=f"add a {where} section")
        # a file the user named is theirs unless it lies in the project's checkout (which may have shipped it)
        trusted = not within(path, checkout_root(work, path))
        return from_mapping(section, work_dir=work, source=path, allow=allow, ini=path.suffix in {".ini", ".cfg"},
                            trusted=trusted, virtualenv_path=venv)
    for path in candidates(work):
        if path.is_file():
            section = _section(path)
            if section is not None:
                return from_mapping(section, work_dir=work, source=path, allow=allow,
                                    ini=path.suffix in {".ini", ".cfg"}, virtualenv_path=venv)
            if path.name == CONFIG_FILE:
                raise VenvCacheError(f"has no [{SECTION}] table", path=path, fix=f"add [{SECTION}] at the top")
    return from_mapping({}, work_dir=work, source=None, allow=allow, virtualenv_path=venv)
