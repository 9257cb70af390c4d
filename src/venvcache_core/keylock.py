"""The per-key lock: an exclusive ``flock`` on ``.locks/<key>.lock`` that its holder may delete."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TypeAlias

from filelock import FileLock, Timeout

from .errors import NoSpaceError, VenvCacheError
from .fsutil import no_space

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    HAS_FLOCK = False
else:
    HAS_FLOCK = True

__all__ = ["HAS_FLOCK", "KeyLock", "Lock", "Timeout", "key_lock"]


# what the cache needs of a lock: a context manager (``KeyLock`` or, on Windows, ``filelock.FileLock``)
Lock: TypeAlias = contextlib.AbstractContextManager[object]


class KeyLock:
    """An exclusive ``flock`` on ``path`` that its holder may delete.

    Whoever wins the flock checks that the path still names the file it locked, and starts over if not; so the
    holder can unlink the file once the key has no entry, and ``.locks`` does not grow with every key ever seen.
    ``timeout``: -1 waits for ever, otherwise seconds before :class:`filelock.Timeout`.
    """

    def __init__(self, path: Path, timeout: float = -1) -> None:
        self.path = path
        self.timeout = timeout
        self.mode = 0o600
        self._fd: int | None = None

    def _open(self) -> int:
        flags = os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        return os.open(self.path, flags | os.O_RDWR, self.mode)

    def acquire(self) -> KeyLock:
        """Take the lock (waiting up to ``timeout``); :class:`filelock.Timeout` when it stays busy."""
        deadline = None if self.timeout < 0 else time.monotonic() + self.timeout
        while True:
            try:
                fd = self._open()
            except OSError as exc:
                if no_space(exc):
                    raise NoSpaceError("no space left for a lock file", path=self.path, fix="free some space") from None
                raise VenvCacheError(f"cannot open the lock file: {exc.strerror}", path=self.path,
                                     fix="check the permissions of the cache's .locks folder") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if deadline is None else fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = os.fstat(fd)
                try:
                    named: os.stat_result | None = os.stat(self.path, follow_symlinks=False)
                except FileNotFoundError:
                    named = None
                if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
                    self._fd = fd
                    return self
            except BlockingIOError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # busy, or we locked a file its holder deleted: start over
            if deadline is not None:
                if time.monotonic() >= deadline:
                    raise Timeout(str(self.path))
                time.sleep(0.02)

    def release(self) -> None:
        """Drop the lock (closing the last descriptor drops the flock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def unlink(self) -> None:
        """Delete the lock file; only while holding it, and only when nothing is left to protect."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> KeyLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def key_lock(path: Path, timeout: float = -1) -> Lock:
    """The lock on ``path``: a :class:`KeyLock`, or where there is no ``flock`` a ``filelock.FileLock``."""
    if not HAS_FLOCK:  # pragma: no cover - Windows: filelock (which deletes its file on release there)
        return FileLock(path, timeout=timeout, is_singleton=False)
    return KeyLock(path, timeout)
