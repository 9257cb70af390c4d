"""What the cache did in one run, added up across xdist workers, and the terminal summary line that says it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from venvcache_core import human_seconds


@dataclass
class Tally:
    """Counters of one process (or, on the xdist controller, of all workers)."""

    requested: int = 0  # fixture calls that produced an env (a session env shared by many tests counts once)
    hits: int = 0
    misses: int = 0
    failed: int = 0  # installs that failed (counted in misses too)
    build_seconds: float = 0.0
    restore_seconds: float = 0.0
    saved_seconds: float = 0.0  # per hit: the entry's recorded build time minus the restore's

    def hit(self, seconds: float, build_seconds: float | None) -> None:
        self.requested += 1
        self.hits += 1
        self.restore_seconds += seconds
        if build_seconds is not None:
            self.saved_seconds += build_seconds - seconds

    def built(self, seconds: float, *, ok: bool = True) -> None:
        self.requested += 1
        self.misses += 1
        self.failed += not ok
        self.build_seconds += seconds

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Tally:
        """Read a worker's counters; anything that is not a number of ours is ignored."""
        tally = cls()
        if isinstance(data, dict):
            for f in fields(cls):
                value = data.get(f.name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    setattr(tally, f.name, type(getattr(tally, f.name))(value))
        return tally

    def line(self, *, enabled: bool) -> str:
        """``venvcache: 6 envs requested, 5 hits, 1 miss; 4.2 s building, 1.1 s restoring; saved 19.9 s``."""
        def n(count: int, word: str) -> str:
            return f"{count} {word}" + ("" if count == 1 else ("es" if word.endswith("s") else "s"))

        if not enabled:
            return f"venvcache: off; {n(self.requested, 'env')} built in {human_seconds(self.build_seconds)}"
        failed = f" ({self.failed} failed)" if self.failed else ""
        return (f"venvcache: {n(self.requested, 'env')} requested, {n(self.hits, 'hit')}, "
                f"{n(self.misses, 'miss')}{failed}; {human_seconds(self.build_seconds)} building, "
                f"{human_seconds(self.restore_seconds)} restoring; saved {human_seconds(max(self.saved_seconds, 0))}")
