"""Partial restore: on an exact miss, the entry nearest to what is wanted, for an installer's exact sync to finish.

An entry is a candidate only when its key document equals the wanted one apart from the inputs the front end names
as "the requirements" (so the interpreter identity, the tools, the installer variables and the salt are the same);
among candidates the one whose installed distributions (recorded in ``meta.json`` at store) share the most
``name==version`` pairs with the wanted ones wins, ties to the most recently used. The env restored that way is
never a hit: the front end runs an exact sync (``uv sync``, ``uv pip sync``, ``pip-sync``) and stores the result
under its own key only once that succeeded, so a hit still serves exactly what its key describes.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from .errors import VenvCacheError
from .inputs import _pinned, _requirement, walk_requirements

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from .cache import Cache, Entry
    from .key import Key

__all__ = ["Nearest", "distribution_changes", "installed_distributions", "locked_distributions", "nearest_entry",
           "pinned_distributions"]

#: a predicate on a candidate entry's key document (e.g. "its deps are a subset of mine"); None accepts all
Accept = Callable[[Mapping[str, Any]], bool]


#: TOML locks with ``[[package]]`` tables of ``name`` and ``version`` (``pylock*.toml`` has ``[[packages]]``)
_TOML_LOCKS = frozenset({"uv.lock", "poetry.lock", "pdm.lock"})


def _site_packages(env: Path) -> list[str]:
    """The env's ``site-packages`` folders (POSIX ``lib/pythonX.Y/``, Windows ``Lib/``)."""
    found = glob.glob(os.path.join(glob.escape(str(env)), "lib*", "python*", "site-packages"))
    if sys.platform == "win32" or (env / "Lib" / "site-packages").is_dir():
        found.append(str(env / "Lib" / "site-packages"))
    return sorted({os.path.realpath(p) for p in found if os.path.isdir(p)})


def installed_distributions(env: str | os.PathLike[str]) -> dict[str, str]:
    """``{normalised name: version}`` of what an env's site-packages holds (its ``*.dist-info``/``*.egg-info``)."""
    from importlib import metadata  # 18 ms to import: only the stores and partial restores that read dists pay

    found: dict[str, str] = {}
    for dist in metadata.Distribution.discover(path=_site_packages(Path(env))):
        name = dist.metadata["Name"] if dist.metadata else None
        if name and dist.version:
            found.setdefault(canonicalize_name(name), dist.version)
    return dict(sorted(found.items()))


def locked_distributions(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{normalised name: version}`` a lock file pins: ``uv.lock``/``poetry.lock``/``pdm.lock``/``pylock.toml``
    packages, ``Pipfile.lock``'s ``==`` versions, or the ``name==version`` lines of a requirements lock (nested
    ``-r``/``-c`` files followed; unpinned lines left out)."""
    file = Path(path)
    try:
        if file.suffix == ".toml" or file.name in _TOML_LOCKS:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
            packages = data.get("package" if file.name in _TOML_LOCKS else "packages", [])
            return dict(sorted((canonicalize_name(str(p["name"])), str(p["version"])) for p in packages
                               if isinstance(p, dict) and p.get("name") and p.get("version")))
        if file.name == "Pipfile.lock":
            data = json.loads(file.read_text(encoding="utf-8"))
            return dict(sorted((canonicalize_name(name), str(spec["version"]).lstrip("=")) for section in
                               ("default", "develop") for name, spec in data.get(section, {}).items()
                               if isinstance(spec, dict) and str(spec.get("version", "")).startswith("==")))
        if not file.is_file():
            raise OSError(2, "No such file or directory")
    except (OSError, ValueError, TypeError, AttributeError) as exc:  # TOML/JSON errors are ValueErrors
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise VenvCacheError(f"lock file cannot be read: {reason}", path=file,
                             fix="fix the lock file or leave it out of requirements_lock_paths") from None
    return pinned_distributions(walk_requirements(["-r", str(file)], cwd=file.parent).requirements)


def pinned_distributions(requirements: Iterable[str]) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines among ``requirements`` (others skipped)."""
    found: dict[str, str] = {}
    for line in requirements:
        req = _requirement(line)
        if req is None or req.url or not _pinned(req):
            continue
        for spec in req.specifier:
            if spec.operator in ("==", "==="):
                found[canonicalize_name(req.name)] = spec.version
    return dict(sorted(found.items()))


def distribution_changes(before: Mapping[str, str], after: Mapping[str, str]) -> int:
    """How many distributions an env gains, loses or changes the version of between ``before`` and ``after``."""
    return sum(before.get(name) != after.get(name) for name in set(before) | set(after))


@dataclass(frozen=True)
class Nearest:
    """The entry chosen for a partial restore, and how far it is from what is wanted."""

    entry: Entry
    distributions: dict[str, str]  # what the entry holds
    matches: int  # name==version pairs it shares with the wanted ones
    differ: int  # distributions to add, remove or change (:func:`distribution_changes`)

    @property
    def total(self) -> int:
        """Distributions in the entry and the wanted set together (the ``48`` of "2 of 48 packages differ")."""
        return self.matches + self.differ


def _without(document: Mapping[str, Any], requirements: Collection[str]) -> dict[str, Any]:
    """The key document without the given ``inputs`` fields (nor ``schema``-independent noise: none today)."""
    doc = dict(document)
    inputs = doc.get("inputs")
    if isinstance(inputs, Mapping):
        doc["inputs"] = {name: value for name, value in inputs.items() if name not in requirements}
    return doc


def nearest_entry(cache: Cache, key: Key, wanted: Mapping[str, str], *, requirements: Collection[str],
                  accept: Accept | None = None) -> Nearest | None:
    """The entry to start from when ``key`` misses, or None.

    ``requirements``: the names of the ``inputs`` fields of the key document that say what gets installed (e.g.
    ``("uv_lock",)``); every other field, the interpreter identity and the salt must be equal. ``wanted``: the
    distributions the install will leave (``locked_distributions``). ``accept`` may veto a candidate by its key
    document. An entry that shares no distribution with ``wanted``, or ``key``'s own entry, is never chosen.
    """
    same = _without(key.document, requirements)
    want: dict[str, str] = {canonicalize_name(name): version for name, version in wanted.items()}
    best: tuple[int, float] | None = None
    chosen: Nearest | None = None
    for entry in cache.entries():
        if entry.key == key.digest:
            continue
        try:
            meta = cache._meta(entry.key)  # noqa: SLF001 (the core reading its own entries)
        except (OSError, ValueError):
            continue
        document, dists = meta.get("document"), meta.get("distributions")
        if not isinstance(document, Mapping) or not isinstance(dists, Mapping) or not dists:
            continue
        if _without(document, requirements) != same or (accept is not None and not accept(document)):
            continue
        have = {str(name): str(version) for name, version in dists.items()}
        matches = sum(have.get(name) == version for name, version in want.items())
        if matches == 0:
            continue
        rank = (matches, entry.last_used)
        if best is None or rank > best:
            best = rank
            chosen = Nearest(entry, have, matches, distribution_changes(have, want))
    return chosen
