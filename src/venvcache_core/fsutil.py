"""File system helpers the cache is built on: atomic JSON files, safe deletion, atomic swaps and temp names.

Every temp file or folder the core makes is named by :func:`temp_name` and read back by :func:`temp_owner`, so
the clean-up of dead writers parses one convention in one place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

OLD_LABEL = "old-"  # after a stage label: the old env moved aside by a two-rename swap


def write_json(path: Path, data: Any, *, durable: bool = True) -> None:
    """Write a small JSON file atomically (temp file + rename).

    ``durable=False`` skips the fsync, for best-effort bookkeeping (hit counts, stats) whose loss in a power cut
    costs nothing: on a slow disk two fsyncs were half of a restore's fixed cost. The rename stays atomic.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk must not leave half-written temp files behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ValueError when it is not one (or nests too deeply to parse)."""
    with open(path, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except RecursionError:
            raise ValueError(f"{path.name} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def rmtree(path: Path) -> None:
    """Remove a tree without ever following a symlink out of it."""
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return

    def onerror(func: Callable[[str], object], p: str, exc: object) -> None:  # make read-only dirs deletable
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)

    shutil.rmtree(path, onerror=onerror)  # rmtree never follows symlinks (it unlinks them)


def rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def no_space(exc: OSError) -> bool:
    """Whether an OSError means the disk (or the quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def temp_name(label: str = "") -> str:
    """A fresh temp name ``<label><host>-<pid>-<random>``: :func:`temp_owner` tells whose it is."""
    return f"{label}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def temp_owner(name: str, label: str = "") -> tuple[str, int] | None:
    """The host and pid that made ``name`` with :func:`temp_name` and ``label``, or None when it is not one."""
    if not name.startswith(label):
        return None
    host, _, rest = name[len(label):].rpartition("-")[0].rpartition("-")
    if not host or not (rest.isascii() and rest.isdigit()):
        return None
    return host, int(rest)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (0 and negative numbers name process groups: no writer)."""
    if pid <= 0:
        return pid == 0
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # a number too big for a pid names no process
        return False
    except PermissionError:
        return True
    return True


def written_by_dead_process(name: str, label: str = "") -> bool:
    """Whether the temp ``name`` was made on this host by a process that is gone."""
    owner = temp_owner(name, label)
    return owner is not None and owner[0] == socket.gethostname() and not pid_alive(owner[1])


def stage_label(target: Path) -> str:
    """The label of the temp names next to ``target`` (restore stages): ``.<name>.venvcache-``."""
    return f".{target.name}.venvcache-"


def stage_path(target: Path, *, holds_old: bool = False) -> Path:
    """A fresh temp path next to ``target``, cleaned up by the next restore into ``target`` once its maker died.

    With ``holds_old`` it is where ``target``'s old env was moved aside: then that restore moves it back when
    ``target`` is missing, instead of deleting it.
    """
    return target.with_name(temp_name(stage_label(target) + (OLD_LABEL if holds_old else "")))


def swap_in(stage: Path, target: Path) -> None:
    """Put ``stage`` at ``target``; the old env (if any) ends up at ``stage`` and is deleted by the caller."""
    if not os.path.lexists(target):
        os.rename(stage, target)
        return
    if rename_exchange(stage, target):
        return
    old = stage_path(target, holds_old=True)
    os.rename(target, old)
    try:
        os.rename(stage, target)
    except OSError:
        os.rename(old, target)
        raise
    os.rename(old, stage)


def clean_stale_stages(target: Path) -> None:
    """Clean up after restores into ``target`` that died: drop their stages, put back a moved-away old env."""
    label = stage_label(target)
    with contextlib.suppress(OSError):
        for item in sorted(target.parent.iterdir()):
            if item.name.startswith(label + OLD_LABEL):  # the two-rename swap died between its renames
                if not os.path.lexists(target):
                    os.rename(item, target)
                else:
                    rmtree(item)
            elif written_by_dead_process(item.name, label):
                rmtree(item)


def discard(path: Path, trash: Path) -> None:
    """Make ``path`` disappear at once (rename into the folder ``trash``), then delete it."""
    moved = trash / temp_name(f"{path.name}-")
    os.rename(path, moved)
    rmtree(moved)
