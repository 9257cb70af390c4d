"""The install sequences a session's entries were built with, as a prefix tree the backend walks call by call.

A session's install calls are only known as the session makes them, and two runs may branch (``if BRANCH == "b":
session.install(...)``, per-Python extras, posargs). Every full sequence keeps its own entry (keyed by the whole
sequence, see :func:`keying.sequence_key`), and the sequence is recorded in that entry's metadata. The backend asks
this tree, after each call, whether some cached sequence still continues the calls made so far (then nothing runs
yet), which entry holds exactly those calls (restore it: a plain hit), and which entry holds the longest prefix of
them (restore it and run the rest on top: :meth:`SequenceTree.nearest`). A call that makes the env exactly a lock
(``uv sync``) may start from any entry of the session instead: the backend asks the core's ``restore_nearest``.

A family is what all sequences of one session share (interpreter, backend, ``venv_params``, session name, salt, lock
files): only entries of the same family are in one tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from venvcache_core import Cache, canonical_json

#: the key of the install sequence in the entry's metadata (``Cache.store(metadata=...)``, ``Entry.metadata``)
MARKER = "nox_install_sequence"
MARKER_SCHEMA = 2


def digest(document: Mapping[str, Any]) -> str:
    """The identity of a key document or of one install call's document."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class Cached:
    """One entry of the tree: its key, the digests of its install calls, and per call what it installed locally."""

    key: str
    steps: tuple[str, ...]
    volatile: tuple[tuple[str, ...], ...]
    last_used: float = 0.0

    def continues(self, prefix: Sequence[str]) -> bool:
        return len(self.steps) >= len(prefix) and self.steps[:len(prefix)] == tuple(prefix)


def marker(*, session: str, family: str, steps: Sequence[tuple[str, Mapping[str, Any], Sequence[str]]]
           ) -> dict[str, Any]:
    """The metadata record of an entry: its family and its calls as ``(digest, document, volatile)``."""
    return {"schema": MARKER_SCHEMA, "session": session, "family": family,
            "steps": [{"digest": d, "doc": dict(doc), "volatile": list(vol)} for d, doc, vol in steps]}


def read_marker(key: str, metadata: Mapping[str, Any], *, last_used: float = 0.0) -> tuple[str, Cached]:
    """``(family, Cached)`` from an entry's metadata; ``ValueError`` when missing or of another format."""
    data = metadata.get(MARKER)
    if data is None:
        raise ValueError(f"the entry's metadata has no {MARKER!r} record")
    if not isinstance(data, dict) or data.get("schema") != MARKER_SCHEMA or not isinstance(data.get("steps"), list) \
            or not isinstance(data.get("family"), str):
        raise ValueError(f"the entry's {MARKER!r} record has an unknown format")
    steps, volatile = [], []
    for item in data["steps"]:
        if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
            raise ValueError(f"the entry's {MARKER!r} record has an unknown format")
        steps.append(item["digest"])
        volatile.append(tuple(str(v) for v in item.get("volatile", [])))
    return data["family"], Cached(key, tuple(steps), tuple(volatile), last_used)


class SequenceTree:
    """The cached sequences of one family (most recently used first)."""

    def __init__(self, entries: Iterable[Cached] = ()) -> None:
        self.entries = sorted(entries, key=lambda e: e.last_used, reverse=True)

    @classmethod
    def from_cache(cls, cache: Cache, family: str) -> SequenceTree:
        """The entries of ``family`` in the local cache (entries without a readable record are not ours)."""
        found = []
        for entry in cache.entries():
            try:
                fam, cached = read_marker(entry.key, entry.metadata, last_used=entry.last_used)
            except ValueError:
                continue
            if fam == family:
                found.append(cached)
        return cls(found)

    def add(self, cached: Cached) -> None:
        self.entries = [cached, *(e for e in self.entries if e.key != cached.key)]

    def continues(self, prefix: Sequence[str]) -> bool:
        """Whether a cached sequence starts with ``prefix`` (so far, the calls need not run)."""
        return any(e.continues(prefix) for e in self.entries)

    def exact(self, steps: Sequence[str]) -> Cached | None:
        """The entry built with exactly these calls."""
        return next((e for e in self.entries if e.steps == tuple(steps)), None)

    def nearest(self, steps: Sequence[str]) -> Cached | None:
        """The entry to restore and install the rest of ``steps`` on top of: the longest cached sequence that is a
        proper prefix of ``steps`` (None: none is, start from an empty env). Safe for any call: the entry holds a
        subset of what the calls install (an exact sync's partial restore is the core's ``restore_nearest``)."""
        best: Cached | None = None
        for entry in self.entries:
            if entry.steps and len(entry.steps) < len(steps) and tuple(steps[:len(entry.steps)]) == entry.steps \
                    and (best is None or len(entry.steps) > len(best.steps)):
                best = entry
        return best
