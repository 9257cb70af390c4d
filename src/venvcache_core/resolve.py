"""Which interpreter to restore for when none is named: the one an entry for these inputs was built with.

``virtualenv-cache restore`` with no ``python`` set used to key for ``python3`` on PATH only, so an env stored with
``python3.12`` was never found on a machine whose ``python3`` is 3.11. Now the preferred interpreter's key is tried
first, then the entries with the same inputs, most recently used first, whose recorded interpreter exists here with
exactly the recorded identity (its key then equals the entry's).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import VenvCacheError
from .explain import entry_document
from .key import SCHEMA, Key, build_key, canonical_json, interpreter_identity

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["Resolution", "resolve_interpreter"]


@dataclass(frozen=True)
class Resolution:
    """The interpreter chosen, its key, and why (``preferred``: it was asked for or is the default; ``entry``: the
    preferred one has no entry and this one's entry matches these inputs)."""

    python: Path
    key: Key
    why: str  # "preferred" | "entry"
    preferred: Path
    preferred_version: str = ""

    @property
    def version(self) -> str:
        return str(self.key.document.get("interpreter", {}).get("version", ""))

    def describe(self, label: str) -> str:
        """The log line naming the interpreter: ``.venv: interpreter /usr/bin/python3.12 (3.12.1) ...``."""
        head = f"{label + ': ' if label else ''}interpreter {self.python} ({self.version})"
        if self.why == "entry":
            return (f"{head}: {self.preferred} ({self.preferred_version}) has no entry for these inputs; using the "
                    "most recently used entry's interpreter")
        return head


def resolve_interpreter(cache: Cache, *, preferred: Path, inputs: Mapping[str, Any], salt: str = "",
                        tool: str = "virtualenv-cache") -> Resolution:
    """The key to restore: ``preferred``'s when the cache has it, else that of the most recently used entry for the
    same ``inputs``/``salt``/``tool`` whose interpreter is here, identical; else ``preferred``'s (a miss)."""
    identity = interpreter_identity(preferred)
    wanted = build_key(interpreter=identity, inputs=inputs, salt=salt, tool=tool)
    fallback = Resolution(preferred, wanted, "preferred", preferred, str(identity.get("version", "")))
    if cache.is_complete(wanted.digest):
        return fallback
    same = canonical_json({"schema": SCHEMA, "tool": tool, "inputs": dict(wanted.document["inputs"]), "salt": salt})
    for entry in cache.entries():  # most recently used first
        document = entry_document(cache, entry.key)
        if document is None:
            continue
        if canonical_json({name: document.get(name) for name in ("schema", "tool", "inputs", "salt")}) != same:
            continue
        recorded = document.get("interpreter")
        base = recorded.get("base_executable") if isinstance(recorded, dict) else None
        if not isinstance(base, str) or not os.path.isfile(base) or not os.access(base, os.X_OK):
            continue
        try:
            here = interpreter_identity(base)
        except VenvCacheError:
            continue
        key = build_key(interpreter=here, inputs=inputs, salt=salt, tool=tool)
        if key.digest == entry.key:  # the same interpreter, to the patch version and ABI
            return Resolution(Path(base), key, "entry", preferred, fallback.preferred_version)
    return fallback
