"""The one line a front end prints per cache event, and the formatting of bytes, counts and durations in it.

tox, nox, the pytest plugin and the ``virtualenv-cache`` CLI print these lines verbatim, so a user reads the same
words wherever the cache runs::

    py312: venv cache hit 3f2a9c1e (14,606 files, 273 MB, hardlink) in 0.91 s, saved ~24 s
    py312: venv cache miss 3f2a9c1e (no entry; nearest 10f46efe: python 3.12.1 → 3.11.7)
    py312: venv cache stored 3f2a9c1e (14,606 files, 273 MB) in 0.80 s
    py312: venv cache not stored 3f2a9c1e (the cache has it already)
    py312: venv cache partial 3f2a9c1e (2 of 48 packages differ), synced in 1.1 s
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import RestoreResult, StoreResult
    from .key import Key

__all__ = ["describe_miss", "describe_not_stored", "describe_partial", "describe_restore", "describe_store",
           "human_bytes", "human_count", "human_saved", "human_seconds"]

PREFIX = "venv cache"


def human_bytes(count: int | float) -> str:
    """``273 MB``, ``4.2 MB``, ``18 kB``, ``999 B``: decimal units, like ``du --si``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" or abs(value) >= 10 else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def human_count(count: int) -> str:
    """``14,606``: thousands separated by commas."""
    return f"{count:,}"


def human_seconds(seconds: float) -> str:
    """``0.91 s``, ``12.3 s``, ``2 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def human_saved(seconds: float) -> str:
    """``~24 s``, ``~3.4 s``, ``~2 min 05 s``: an estimate of time saved (build minus restore), so rounded."""
    if seconds < 10:
        return f"~{seconds:.1f} s"
    if seconds < 60:
        return f"~{round(seconds)} s"
    return f"~{human_seconds(seconds)}"


def _short(key: Key | str) -> str:
    return str(key)[:8]


def _line(label: str, event: str, key: Key | str, rest: str) -> str:
    """``label`` is the env or session name; tox passes ``""`` because its log prefixes every line with it."""
    return f"{label + ': ' if label else ''}{PREFIX} {event} {_short(key)}{rest}"


def describe_restore(result: RestoreResult, *, label: str) -> str:
    """The line of a restore: ``LABEL: venv cache hit KEY (N files, SIZE, MODE) in T, saved ~S`` (when the entry's
    build time is known) or ``... miss KEY (WHY; nearest KEY2: WHAT DIFFERS)`` (when the cache has other entries)."""
    if result.hit:
        mode = f", {result.link_mode}" if result.link_mode else ""
        saved = f", saved {human_saved(result.saved_seconds)}" if result.saved_seconds > 0 else ""
        return _line(label, "hit", result.key, f" ({human_count(result.files)} files, {human_bytes(result.bytes)}"
                                               f"{mode}) in {human_seconds(result.seconds)}{saved}")
    if result.partial:
        return describe_partial(result, label=label)
    why = result.detail or str(result.reason or "no entry")
    if result.nearest:
        why += f"; {nearest_phrase(result.nearest, result.differs)}"
    return describe_miss(result.key, why, label=label)


def nearest_phrase(nearest: str, differs: list[str], *, limit: int = 3) -> str:
    """``nearest 3f2a9c1e: python 3.12.1 → 3.11.7, requirements.txt content and 2 more``."""
    shown = differs[:limit]
    more = len(differs) - len(shown)
    what = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    return f"nearest {_short(nearest)}: {what or 'same key document'}"


def describe_partial(result: RestoreResult, *, label: str, synced: float | None = None) -> str:
    """``LABEL: venv cache partial SOURCE (D of T packages differ)``, and ``, synced in T`` once the front end's exact
    sync finished: the entry ``SOURCE`` was restored for ``result.key``, which the store line names."""
    tail = f", synced in {human_seconds(synced)}" if synced is not None else ""
    return _line(label, "partial", result.source, f" ({result.differ} of {result.total} packages differ){tail}")


def describe_store(result: StoreResult, *, label: str) -> str:
    """The line of a store: ``LABEL: venv cache stored KEY (N files, SIZE) in T``, or ``not stored`` when another run
    stored the key first."""
    if result.stored:
        return _line(label, "stored", result.key, f" ({human_count(result.files)} files, {human_bytes(result.bytes)})"
                                                  f" in {human_seconds(result.seconds)}")
    return describe_not_stored(result.key, "the cache has it already", label=label)


def describe_miss(key: Key | str, detail: str, *, label: str) -> str:
    """``LABEL: venv cache miss KEY (DETAIL)``: no restore (no entry, expired, refresh asked ...)."""
    return _line(label, "miss", key, f" ({detail})" if detail else "")


def describe_not_stored(key: Key | str, detail: str, *, label: str) -> str:
    """``LABEL: venv cache not stored KEY (DETAIL)``: a store that did not happen, and why."""
    return _line(label, "not stored", key, f" ({detail})" if detail else "")
