"""The cache's counters in ``stats.json``: hits, misses, stores, evictions (and the remote's), best effort."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .fsutil import read_json, write_json

log = logging.getLogger("venvcache")

COUNTERS = ("hits", "misses", "stores", "evictions", "quarantined", "saved_seconds")  # saved: build minus restore


class Counters:
    """Counters kept in ``<cache>/stats.json``, updated under ``<cache>/.locks/stats.lock``."""

    def __init__(self, root: Path) -> None:
        self.path = root / "stats.json"
        self.lock_path = root / ".locks" / "stats.lock"

    def read(self) -> dict[str, Any]:
        """The counters as stored (empty when there are none or the file is unreadable)."""
        try:
            return read_json(self.path)
        except (OSError, ValueError):
            return {}

    def add(self, **deltas: int | float) -> None:
        """Add to some counters (best effort: stats never fail a restore or store)."""
        try:
            with FileLock(self.lock_path, timeout=5, is_singleton=False, mode=0o600):
                data = self.read()
                for name, delta in deltas.items():
                    value = data.get(name, 0)
                    data[name] = (value if isinstance(value, (int, float)) else 0) + delta
                write_json(self.path, data, durable=False)  # counters: best effort, no fsync
        except (OSError, Timeout) as exc:
            log.debug("venvcache: stats not updated: %s", exc)
