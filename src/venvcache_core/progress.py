"""One redrawn line of progress on a terminal (bytes and rate) for work that takes more than a second or so.

Shown only when the stream is a terminal and ``CI`` is not set: CI logs get the summary line alone. Work that ends
within ``delay`` seconds shows nothing; at the end the line is erased, so the result line stands by itself. The
remote's uploads and downloads call :meth:`Progress.update` with the bytes moved; the CLI's store and restore, whose
copy runs in ``cp``, show the size and the time so far.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from .report import human_bytes, human_seconds

__all__ = ["Progress", "progress_wanted"]


def progress_wanted(stream: TextIO | None = None) -> bool:
    """Whether to draw progress: ``stream`` (default stderr) is a terminal and this is not a CI job (``CI`` set)."""
    target = stream or sys.stderr
    try:
        tty = target.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not os.environ.get("CI")


class Progress:
    """``with Progress(".venv: restoring", total=n) as meter: ... meter.update(done)``: a line redrawn 4 times a
    second, ``LABEL 120 MB of 273 MB, 85 MB/s`` (or ``LABEL 273 MB, 2.1 s`` while no byte count is known)."""

    def __init__(self, label: str, *, total: int | None = None, stream: TextIO | None = None, delay: float = 1.0,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.delay = delay
        self.enabled = progress_wanted(self.stream) if enabled is None else enabled
        self.done: int | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = 0

    def update(self, done: int) -> None:
        """Bytes done so far (the line's rate is computed from them)."""
        self.done = done

    def line(self) -> str:
        """The text drawn now."""
        elapsed = max(time.monotonic() - self._started, 1e-6)
        if self.done is not None:
            of = f" of {human_bytes(self.total)}" if self.total else ""
            return f"{self.label} {human_bytes(self.done)}{of}, {human_bytes(self.done / elapsed)}/s"
        size = f" {human_bytes(self.total)}," if self.total else ""
        return f"{self.label}{size} {human_seconds(elapsed)}"

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            self._draw(self.line())
            self._stop.wait(0.25)

    def _draw(self, text: str) -> None:
        try:
            self.stream.write("\r" + text.ljust(self._drawn))
            self.stream.flush()
        except (OSError, ValueError):
            self._stop.set()
        self._drawn = len(text)

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="venvcache-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._drawn:  # erase the line: the summary follows on its own
            self._draw("")
            try:
                self.stream.write("\r")
                self.stream.flush()
            except (OSError, ValueError):
                pass
