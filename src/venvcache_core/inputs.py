"""Key inputs every front end gathers the same way: installer variables, pins, path placeholders, requirement files.

tox, nox, the pytest plugin and the CLI each know *which* requirements and files an env is built from; how those
become part of a key document is decided here, once, so that the same input reads the same in every key:

- :data:`INSTALLER_ENV_VARS` / :func:`installer_env`: the ``PIP_*`` / ``UV_*`` variables that change what an install
  resolves to (a superset of what pip, uv, tox and tox-uv read), with credentials redacted.
- :func:`unpinned`: which requirements a cache would freeze at today's versions. Pinned means ``==X`` without a
  wildcard, ``===X``, or a direct URL; ``foo==1.*`` is *not* pinned (it resolves to new releases), and neither is a
  ``>=``/``~=`` range. A requirement is also pinned when a constraint line pins its name.
- :class:`Placeholders`: absolute paths of the project (``{project}``) and the env (``{env}``) replaced by names,
  so that another checkout computes the same key; every string also goes through :func:`redact`.
- :func:`redact`: ``user:password@`` in URLs and secret-looking query values (``?token=...``), parsed with
  :mod:`urllib.parse` (a password may hold ``@`` or ``/``).
- :func:`walk_requirements` / :func:`requirement_files`: ``-r``/``-c`` (and uv's ``--override`` /
  ``--build-constraint``) files followed into their nested ``-r``/``-c`` lines, with their contents' digests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .key import file_digest

__all__ = [
    "INSTALLER_ENV_VARS",
    "Placeholders",
    "RequirementWalk",
    "file_digest",
    "installer_env",
    "redact",
    "requirement_files",
    "unpinned",
    "walk_requirements",
]

#: installer variables that change what an install resolves to or how the env is laid out. tox records the first
#: eight PIP_* names with the deps (``Pip._install_env_vars``), tox-uv the UV_* names of
#: ``tox_uv._installer._UV_RESOLUTION_ENV_VARS``; tests/tox/test_tox_internals.py checks this covers both.
INSTALLER_ENV_VARS: frozenset[str] = frozenset({
    # pip (what tox records)
    "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_NO_INDEX", "PIP_PRE",
    "PIP_REQUIRE_HASHES", "PIP_TRUSTED_HOST",
    # pip (not recorded by tox, but they change what pip installs)
    "PIP_BUILD_CONSTRAINT", "PIP_CONFIG_FILE", "PIP_CONSTRAINTS", "PIP_EDITABLE_MODE", "PIP_NO_BINARY",
    "PIP_NO_BUILD_ISOLATION", "PIP_NO_DEPS", "PIP_ONLY_BINARY", "PIP_PREFER_BINARY", "PIP_UPGRADE",
    "PIP_UPGRADE_STRATEGY", "PIP_USE_FEATURE",
    # uv (what tox-uv records)
    "UV_CONSTRAINT", "UV_DEFAULT_INDEX", "UV_EXCLUDE", "UV_EXCLUDE_NEWER", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS",
    "UV_FORK_STRATEGY", "UV_INDEX", "UV_INDEX_STRATEGY", "UV_INDEX_URL", "UV_KEYRING_PROVIDER", "UV_NO_INDEX",
    "UV_NO_SOURCES", "UV_OFFLINE", "UV_OVERRIDE", "UV_PRERELEASE", "UV_REQUIRE_HASHES", "UV_RESOLUTION",
    "UV_TORCH_BACKEND",
    # uv (not recorded by tox-uv, but they change what uv installs or syncs)
    "UV_BUILD_CONSTRAINT", "UV_COMPILE_BYTECODE", "UV_CONFIG_FILE", "UV_FROZEN", "UV_LINK_MODE", "UV_LOCKED",
    "UV_NO_BINARY", "UV_NO_BINARY_PACKAGE", "UV_NO_BUILD", "UV_NO_BUILD_ISOLATION", "UV_NO_BUILD_PACKAGE",
    "UV_NO_CONFIG", "UV_NO_DEFAULT_GROUPS", "UV_NO_EDITABLE", "UV_PYTHON_PREFERENCE",
})

REDACTED = "***"
#: query parameters whose value is a secret (matched as a part of the lower-cased name)
_SECRET_QUERY = re.compile(r"token|auth|key|pass|secret|sig|credential|session", re.IGNORECASE)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[\w.-]+)(:\d*)?")
_HOST_PORT_ONLY = re.compile(r"[\w.-]+:\d*")


# -- credentials -----------------------------------------------------------------------------------------------------
def _split_authority(url: str) -> tuple[str, str, str] | None:
    """(``scheme://``, userinfo, the rest from the host on) when ``url`` carries a userinfo, else None.

    :func:`urllib.parse.urlsplit` ends the authority at the first ``/``, so a password holding ``/``
    (``user:pa/ss@host``) would leak: when the first segment reads ``user:...`` (not ``host:port``), the userinfo
    runs to the last ``@`` that a host follows. A password holding ``@`` ends at the last ``@`` of the authority.
    """
    scheme, sep, rest = url.partition("://")
    try:
        authority = urlsplit(url).netloc if sep else ""
    except ValueError:  # e.g. an unbalanced ``[`` of an IPv6 host: not a URL we can read
        return None
    if "@" in authority:
        at = authority.rindex("@")
        return scheme + sep, rest[:at], rest[at + 1:]
    if ":" in authority and not _HOST_PORT_ONLY.fullmatch(authority):
        for index in range(len(rest) - 1, len(authority) - 1, -1):
            if rest[index] == "@" and _HOST.match(rest, index + 1):
                return scheme + sep, rest[:index], rest[index + 1:]
    return None


def _redact_url(url: str) -> str:
    split = _split_authority(url)
    if split is not None:
        scheme, userinfo, after = split
        user, colon, _password = userinfo.partition(":")
        if colon:  # ``user:password@``: the user name stays readable
            url = f"{scheme}{user}:{REDACTED}@{after}"
        elif "ssh" not in scheme.lower():  # a lone ``TOKEN@`` is the secret itself (``git@`` of ssh is not)
            url = f"{scheme}{REDACTED}@{after}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(_SECRET_QUERY.search(name) for name, _ in pairs):
        return url
    query = urlencode([(name, REDACTED if _SECRET_QUERY.search(name) else value) for name, value in pairs],
                      safe="*", quote_via=quote)
    return urlunsplit(parts._replace(query=query))


def redact(text: str) -> str:
    """``text`` with URL credentials replaced by ``***``: the password of ``user:password@`` (a lone
    ``token@`` entirely) and the values of secret-looking query parameters (``token``, ``api_key``, ``sig`` ...)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: _redact_url(match.group(0)), text)


def installer_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The :data:`INSTALLER_ENV_VARS` set in ``environ`` (default ``os.environ``), sorted, values redacted."""
    source = os.environ if environ is None else environ
    return {name: redact(str(source[name])) for name in sorted(INSTALLER_ENV_VARS)
            if source.get(name) is not None}


# -- pins ------------------------------------------------------------------------------------------------------------
def _requirement(line: str) -> Requirement | None:
    """A requirement line as packaging reads it (trailing per-line options such as ``--hash`` dropped)."""
    text = re.split(r"\s+--?[A-Za-z]", " " + line.strip(), maxsplit=1)[0].strip() if " -" in line else line.strip()
    if not text or text.startswith("-"):
        return None
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _pinned(req: Requirement) -> bool:
    """``==X`` (no wildcard), ``===X`` or a direct URL: the requirement resolves to one release only."""
    return bool(req.url) or any(spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith("*"))
                                for spec in req.specifier)


def unpinned(requirements: Iterable[str], *, constraints: Iterable[str] = ()) -> list[str]:
    """Names of the requirement lines a cache would freeze at today's versions, sorted, each once.

    Lines that are not requirements (options, paths) are skipped; a requirement counts as pinned when it pins
    itself (``==1.2``, ``===1.2``, ``name @ url``) or when a line of ``constraints`` pins its name. ``foo==1.*`` is
    not a pin.
    """
    pins = {canonicalize_name(req.name) for req in map(_requirement, constraints) if req is not None and _pinned(req)}
    found: dict[str, str] = {}
    for line in requirements:
        req = _requirement(line)
        if req is not None and not _pinned(req) and canonicalize_name(req.name) not in pins:
            found.setdefault(canonicalize_name(req.name), req.name)
    return sorted(found.values(), key=str.lower)


# -- path placeholders -----------------------------------------------------------------------------------------------
class Placeholders:
    """One path-placeholder scheme: ``Placeholders({"{project}": root, "{env}": env_dir}).apply(value)``.

    Every absolute spelling of each path (``abspath`` and ``realpath``) is replaced by its name in every string of a
    JSON-like value, longest first (the env usually lives inside the project), only where a whole path component
    ends (``/proj`` does not match in ``/project2``); then the string is :func:`redact`-ed.
    """

    def __init__(self, places: Mapping[str, str | os.PathLike[str]]) -> None:
        forms: dict[str, str] = {}
        for name, path in places.items():
            for form in (os.path.abspath(path), os.path.realpath(path)):
                forms.setdefault(form.rstrip(os.sep) or os.sep, name)
        self._forms = sorted(forms.items(), key=lambda item: len(item[0]), reverse=True)
        self._pattern = re.compile("|".join(f"(?:{re.escape(form)})(?![\\w.-])" for form, _ in self._forms)) \
            if self._forms else None

    def apply(self, value: Any) -> Any:
        """``value`` with placeholders in every string (dict keys included), lists and dicts rebuilt."""
        if isinstance(value, str):
            if self._pattern is not None:
                names = dict(self._forms)
                value = self._pattern.sub(lambda match: names[match.group(0)], value)
            return redact(value)
        if isinstance(value, (list, tuple)):
            return [self.apply(item) for item in value]
        if isinstance(value, Mapping):
            return {self.apply(str(key)): self.apply(item) for key, item in value.items()}
        return value

    def name(self, path: str | os.PathLike[str]) -> str:
        """A file as a key names it: ``{project}/req/dev.txt`` inside a placeholder's folder, else absolute."""
        text: str = self.apply(Path(os.path.normpath(os.path.abspath(path))).as_posix())
        return text


# -- requirement files -----------------------------------------------------------------------------------------------
#: options whose value is a requirements-style file (pip and uv spellings)
REQUIREMENT_OPTIONS = frozenset({"-r", "--requirement", "--requirements"})
#: options whose value is a file of constraints: its pins count for :func:`unpinned`
CONSTRAINT_OPTIONS = frozenset({"-c", "--constraint", "--constraints", "--override", "--overrides"})
#: options whose value is a file read by the build only
BUILD_CONSTRAINT_OPTIONS = frozenset({"-b", "--build-constraint", "--build-constraints"})
FILE_OPTIONS = REQUIREMENT_OPTIONS | CONSTRAINT_OPTIONS | BUILD_CONSTRAINT_OPTIONS
EDITABLE_OPTIONS = frozenset({"-e", "--editable"})
MISSING = "missing"
_MAX_NESTING = 20


@dataclass
class RequirementWalk:
    """What a set of install arguments reads: files (digest, or ``"missing"``) and the lines found in them."""

    #: every requirements/constraints file read, by absolute path
    files: dict[Path, str] = field(default_factory=dict)
    #: requirement words and lines (``kind``, value, folder it is relative to); kind is ``local`` or ``editable``
    targets: list[tuple[str, str, Path]] = field(default_factory=list)
    #: lines of constraint / override files (their pins count for :func:`unpinned`)
    constraints: list[str] = field(default_factory=list)

    @property
    def requirements(self) -> list[str]:
        """The requirement lines and words (local paths included: :func:`unpinned` skips them)."""
        return [value for _, value, _ in self.targets]

    def unpinned(self) -> list[str]:
        """:func:`unpinned` of the requirements, with the constraints' pins."""
        return unpinned(self.requirements, constraints=self.constraints)

    def named(self, places: Placeholders) -> dict[str, str]:
        """``{name: digest}`` of the files read, named by ``places`` and sorted."""
        return dict(sorted((places.name(path), digest) for path, digest in self.files.items()))


def logical_lines(text: str) -> list[str]:
    """Requirement-file lines with comments dropped and ``\\`` continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            out.append(line)
    return out


def _option_kind(option: str) -> str:
    if option in EDITABLE_OPTIONS:
        return "editable"
    if option in REQUIREMENT_OPTIONS:
        return "requirements"
    return "constraints" if option in CONSTRAINT_OPTIONS else "build-constraints"


def references(words: Sequence[str]) -> list[tuple[str, str]]:
    """(kind, value) of what install arguments name: ``requirements``/``constraints``/``build-constraints`` files,
    ``editable`` targets, and ``local`` words (a requirement, or a local path)."""
    found: list[tuple[str, str]] = []
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        option, eq, inline = word.partition("=")
        if word in FILE_OPTIONS or word in EDITABLE_OPTIONS:
            if index + 1 < len(words):
                found.append((_option_kind(word), words[index + 1]))
                skip = True
        elif eq and option.startswith("--") and option in FILE_OPTIONS | EDITABLE_OPTIONS:
            found.append((_option_kind(option), inline))
        elif len(word) > 2 and word[:2] in {"-r", "-c", "-e", "-b"} and not word.startswith("--"):
            found.append((_option_kind(word[:2]), word[2:]))
        elif not word.startswith("-"):
            found.append(("local", word))
    return found


def _line_words(line: str) -> list[str]:
    """A requirements-file line as words: an option line split, a requirement line whole (``pkg==1 --hash=..``)."""
    return line.split() if line.startswith("-") else [line]


def walk_requirements(args: Sequence[str], *, cwd: Path) -> RequirementWalk:
    """Follow the files ``args`` name (run in ``cwd``) into nested ``-r``/``-c`` lines, reading each file once."""
    walk = RequirementWalk()
    _walk(walk, list(args), Path(os.path.abspath(cwd)), constraint=False, depth=0)
    return walk


def _walk(walk: RequirementWalk, words: Sequence[str], here: Path, *, constraint: bool, depth: int) -> None:
    for kind, value in references(words):
        if kind in {"requirements", "constraints", "build-constraints"}:
            path = Path(os.path.normpath(here / os.path.expanduser(value)))
            if path in walk.files or depth >= _MAX_NESTING:
                continue
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
                walk.files[path] = file_digest(path)
            except OSError:
                walk.files[path] = MISSING  # the installer will fail; the key just records it
                continue
            lines = logical_lines(text)
            nested = constraint or kind != "requirements"
            if kind == "constraints" or (constraint and kind == "requirements"):
                walk.constraints.extend(line for line in lines if not line.startswith("-"))
            _walk(walk, [word for line in lines for word in _line_words(line)], path.parent,
                  constraint=nested, depth=depth + 1)
        elif not constraint:
            walk.targets.append((kind, value, here))


def requirement_files(args: Sequence[str], *, cwd: Path, root: Path) -> dict[str, str]:
    """``{name: sha256 or "missing"}`` of the ``-r``/``-c`` files ``args`` read (nested ones too), named relative to
    ``root`` as ``{project}/...`` (absolute outside it)."""
    return walk_requirements(args, cwd=cwd).named(Placeholders({"{project}": root}))
