"""The one error class the core raises: a single line that names the file and the fix."""

from __future__ import annotations

import os


class VenvCacheError(Exception):
    """A user-facing failure: ``str(err)`` is one line naming what went wrong, where, and how to fix it.

    The CLI prints it and exits 2; the tox and nox adapters log it and fall back to a normal install.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None, fix: str | None = None) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.fix = fix
        super().__init__(self._line())

    def _line(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.fix:
            text = f"{text} ({self.fix})"
        return " ".join(text.split())  # always one line, whatever the inputs held


class NoSpaceError(VenvCacheError):
    """The cache or the destination file system is full."""
