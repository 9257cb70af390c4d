"""Why a key missed: the nearest cached entry by key document, and what differs between the two documents.

Every front end's miss line names it (``venv cache miss 10f46efe (no entry; nearest 3f2a9c1e: python 3.12.1 →
3.11.7)``) and ``virtualenv-cache key --diff`` prints the full difference. The documents are those kept in each
entry's ``meta.json`` (:meth:`Cache.store` records the key document).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import VenvCacheError
from .fsutil import read_json
from .key import Key
from .report import nearest_phrase

if TYPE_CHECKING:
    from .cache import Cache, Entry, RestoreResult

__all__ = ["Change", "MissExplanation", "RequireHitError", "diff_documents", "explain_miss"]

MISSING: Any = object()  # a leaf one document has and the other lacks


@dataclass(frozen=True)
class Change:
    """One leaf that differs between two key documents: ``path`` like ``inputs.lock_files.requirements.txt``."""

    path: tuple[str, ...]
    old: Any  # the nearest entry's value, or MISSING
    new: Any  # the wanted key's value, or MISSING

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def line(self) -> str:
        """``inputs.salt: 'a' → 'b'``: one line of ``key --diff`` (``(absent)`` for a side that lacks the leaf)."""
        return f"{self.dotted}: {_show(self.old)} → {_show(self.new)}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.dotted, "entry": None if self.old is MISSING else self.old,
                "key": None if self.new is MISSING else self.new,
                "change": "added" if self.old is MISSING else "removed" if self.new is MISSING else "changed"}


@dataclass(frozen=True)
class MissExplanation:
    """The entry nearest to a key that missed, and how the two key documents differ.

    ``differs`` are short phrases for one log line (``requirements.txt content``, ``python 3.12.1 → 3.12.2``,
    ``salt``); ``changes`` is the full difference (``key --diff``).
    """

    key: str
    nearest: str  # the nearest entry's key
    entry: Entry
    differs: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """``nearest 3f2a9c1e: python 3.12.1 → 3.11.7, requirements.txt content``: the miss line's tail."""
        return nearest_phrase(self.nearest, self.differs)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "nearest": self.nearest, "differs": list(self.differs),
                "changes": [c.to_json() for c in self.changes]}


class RequireHitError(VenvCacheError):
    """A miss where a hit was required (``restore --require-hit``, ``TOX_VENV_CACHE_REQUIRE=1`` ...).

    The front end stops the env instead of installing; the message names the key and the nearest entry.
    """

    def __init__(self, result: RestoreResult, *, label: str = "", fix: str | None = None) -> None:
        self.result = result
        why = result.detail or str(result.reason or "no entry")
        if result.nearest:
            why += f"; {nearest_phrase(result.nearest, result.differs)}"
        where = f"{label}: " if label else ""
        super().__init__(f"{where}venv cache hit required, but key {result.key[:8]} missed ({why})",
                         fix=fix or "run once without requiring a hit to fill the cache, or see "
                                    "'virtualenv-cache key --diff' for what changed")

    @property
    def key(self) -> str:
        return self.result.key

    @property
    def nearest(self) -> str | None:
        return self.result.nearest


def _show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    text = repr(value) if isinstance(value, str) else str(value).replace("'", '"')
    return text if len(text) <= 100 else text[:97] + "..."


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, scalar-or-list) of a JSON document; dicts are walked, lists compared whole."""
    if isinstance(value, Mapping) and (value or not path):
        for name in sorted(value, key=str):
            yield from _leaves(value[name], (*path, str(name)))
    else:
        yield path, value


def diff_documents(entry: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[Change]:
    """Every leaf that differs between an entry's key document and the wanted one, in path order."""
    old, new = dict(_leaves(entry)), dict(_leaves(wanted))
    changes = [Change(path, old.get(path, MISSING), new.get(path, MISSING))
               for path in sorted(old.keys() | new.keys()) if old.get(path, MISSING) != new.get(path, MISSING)]
    return changes


def _version_phrase(old: Any, new: Any) -> str:
    if isinstance(old, str) and isinstance(new, str):
        same_minor = old.split(".")[:2] == new.split(".")[:2]
        return f"python {'patch version ' if same_minor else ''}{old} → {new}"
    return f"python {_show(old)} → {_show(new)}"


def _phrase(change: Change) -> str:
    """A few words for one difference, as the miss line names it."""
    path, old, new = change.path, change.old, change.new
    head, leaf = path[0] if path else "", path[-1] if path else ""
    if head == "interpreter":
        return _version_phrase(old, new) if leaf == "version" else f"interpreter {leaf}"
    if head == "salt":
        return "salt"
    if head == "schema":
        return f"key schema {_show(old)} → {_show(new)}"
    if head == "tool":
        return f"front end {_show(old)} → {_show(new)}"
    if len(path) >= 3 and path[1] == "tools":  # tool versions: {"tox": "4.23.2", ...}
        if old is MISSING or new is MISSING:
            return f"{leaf} {'added' if old is MISSING else 'removed'}"
        return f"{leaf} {old} → {new}"
    if len(path) >= 3 and isinstance(old if old is not MISSING else new, str) and _looks_hashed(old, new):
        name = ".".join(path[2:])  # a file keyed by content: inputs.lock_files.<name>
        if old is MISSING:
            return f"{name} added"
        if new is MISSING:
            return f"{name} removed"
        return f"{name} content"
    return ".".join(path[1:] if head == "inputs" and len(path) > 1 else path)


def _looks_hashed(old: Any, new: Any) -> bool:
    """Whether the values are content digests (64 hex digits), i.e. the leaf is a file keyed by its content."""
    values = [v for v in (old, new) if v is not MISSING]
    return bool(values) and all(isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)
                                for v in values)


def _phrases(changes: list[Change]) -> list[str]:
    """Short phrases, one per difference; a changed interpreter version hides its consequences (base path ...)."""
    phrases = list(dict.fromkeys(_phrase(c) for c in changes))
    if any(p.startswith("python ") for p in phrases):
        phrases = [p for p in phrases if not p.startswith("interpreter ")] + \
                  [p for p in phrases if p == "interpreter implementation"]
    return phrases


def entry_document(cache: Cache, key: str) -> dict[str, Any] | None:
    """The key document an entry was stored with (None when unreadable or not recorded)."""
    try:
        document = read_json(cache.entry_path(key) / "meta.json").get("document")
    except (OSError, ValueError, AttributeError):
        return None
    return document if isinstance(document, dict) and document else None


def _score(changes: list[Change], wanted: Mapping[str, Any], entry: Mapping[str, Any]) -> tuple[int, int]:
    """Lower is nearer: another front end or env kind counts as far, then the number of differing leaves."""
    far = int(entry.get("tool") != wanted.get("tool"))
    return far, len(changes)


def explain_miss(cache: Cache, key: Key | Mapping[str, Any], *, nearest: str | None = None) -> MissExplanation | None:
    """The entry whose key document is nearest to ``key``'s, and what differs; None when the cache has no entry
    with a readable document (or ``key`` carries no document). ``nearest``: compare with that entry instead."""
    wanted: dict[str, Any] = dict(key.document if isinstance(key, Key) else key)
    digest = key.digest if isinstance(key, Key) else ""
    if nearest is not None:
        entry = cache.get(nearest)
        document = entry_document(cache, nearest) if entry else None
        if entry is None or document is None:
            raise VenvCacheError(f"entry {nearest[:12]} is missing or has no key document", path=cache.path,
                                 fix="see 'virtualenv-cache list' for the keys")
        changes = diff_documents(document, wanted)
        return MissExplanation(digest, nearest, entry, _phrases(changes), changes)
    if not wanted:
        return None
    best: tuple[tuple[int, int, float], str, Entry, list[Change]] | None = None
    for entry in cache.entries():  # most recently used first: the tie-break
        if entry.key == digest:
            continue
        document = entry_document(cache, entry.key)
        if document is None:
            continue
        changes = diff_documents(document, wanted)
        score = (*_score(changes, wanted, document), -entry.last_used)
        if best is None or score < best[0]:
            best = (score, entry.key, entry, changes)
    if best is None:
        return None
    _, found, entry, changes = best
    return MissExplanation(digest, found, entry, _phrases(changes), changes)
