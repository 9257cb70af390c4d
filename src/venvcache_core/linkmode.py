"""Copying a whole env tree: ``copy``, ``hardlink``, ``reflink`` or ``auto`` (the default: reflink where the file
system clones, else hardlink where source and destination share a file system, else copy), and the protections
that make sharing files with an entry safe.

A copy of a 15k-file env costs about 6x a hardlink tree on ext4, so ``auto`` links, as uv and pnpm do from their
stores. Sharing is made safe by three rules, applied by the cache: entry files lose their write bits
(:func:`protect`: an in-place write fails where the OS honours them, i.e. for anyone but root), the files tools
rewrite in place (the env's top-level files such as ``.tox-info.json``, ``pyvenv.cfg``, uv's ``.lock``, and the
files that name the env's path) are private copies (:func:`make_private`), and restore compares every entry
file's size and mtime with the manifest, so an entry edited through a shared inode is never served.

A Python loop over 20k files costs several times ``cp -a``, so where GNU ``cp`` exists (Linux) we let it do the
work; elsewhere a portable walker uses ``os.link``, ``clonefile``/``FICLONE`` and ``shutil.copy2``. Symlinks stay
symlinks in every mode.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from .errors import NoSpaceError, VenvCacheError
from .manifest import walk

log = logging.getLogger("venvcache")

LinkMode = Literal["auto", "copy", "hardlink", "reflink"]
LINK_MODES: tuple[LinkMode, ...] = get_args(LinkMode)

FICLONE = 0x40049409  # _IOW(0x94, 9, int), Linux


@lru_cache(maxsize=1)
def gnu_cp() -> str | None:
    """Path of GNU ``cp`` if this machine has it (it knows ``--reflink`` and ``-a``)."""
    cp = shutil.which("cp")
    if not cp or sys.platform == "win32":
        return None
    try:
        out = subprocess.run([cp, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return None
    return cp if "GNU coreutils" in out else None


def _clone_file(src: str, dst: str) -> None:
    """Copy-on-write clone of one file, or OSError when the file system cannot."""
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.clonefile(src.encode(), dst.encode(), 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), dst)
        return
    if not sys.platform.startswith("linux"):
        raise OSError(errno.EOPNOTSUPP, "reflink not supported on this platform", dst)
    import fcntl

    with open(src, "rb") as fsrc, open(dst, "wb") as fdst:
        try:
            fcntl.ioctl(fdst.fileno(), FICLONE, fsrc.fileno())
        except OSError:
            fdst.close()
            os.unlink(dst)
            raise
    shutil.copystat(src, dst)


_REFLINK_BY_DEVICES: dict[tuple[int, int], bool] = {}


def _first_file(root: Path) -> str | None:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                return path
    return None


def reflink_supported(src_dir: Path, dst_dir: Path) -> bool:
    """Whether a copy-on-write clone from ``src_dir``'s file system to ``dst_dir``'s works (probed once per pair).

    The probe clones a file that is already in ``src_dir``: it never writes into the source tree, which may be a
    cache entry being read or the user's env.
    """
    try:
        devices = (os.stat(src_dir).st_dev, os.stat(dst_dir).st_dev)
    except OSError:
        return False
    if devices in _REFLINK_BY_DEVICES:
        return _REFLINK_BY_DEVICES[devices]
    existing = _first_file(src_dir)
    if existing is None:
        return False
    target = os.path.join(dst_dir, f".reflink-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        _clone_file(existing, target)
        supported = True
    except OSError:
        supported = False
    finally:
        if os.path.lexists(target):
            os.unlink(target)
    _REFLINK_BY_DEVICES[devices] = supported
    return supported


def as_link_mode(value: object) -> LinkMode | None:
    """``value`` as a :data:`LinkMode`, or None when it is not one (e.g. read from an old or damaged meta.json)."""
    for mode in LINK_MODES:
        if value == mode:
            return mode
    return None


def same_filesystem(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are on one device (so hardlinks can join them)."""
    return os.stat(a).st_dev == os.stat(b).st_dev


def resolve_mode(mode: LinkMode, src: Path, dst_parent: Path) -> LinkMode:
    """The mode really used: ``auto`` is reflink, else hardlink on one file system, else copy; ``reflink`` falls
    back to ``copy``, and so does ``hardlink`` across devices."""
    if mode == "hardlink" and not same_filesystem(src, dst_parent):
        log.warning("venvcache: hardlink needs one file system; %s and %s differ, copying instead", src, dst_parent)
        return "copy"
    if mode in {"auto", "reflink"}:
        if reflink_supported(src, dst_parent):
            return "reflink"
        if mode == "reflink":
            log.info("venvcache: this file system cannot reflink; copying instead")
            return "copy"
        return "hardlink" if same_filesystem(src, dst_parent) else "copy"
    return mode


WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def protect(root: Path, names: Iterable[str]) -> None:
    """Clear the write bits of the named regular files below ``root`` (an entry's files are never written in place).

    Where they are shared with an env (hardlink mode), an in-place write into the env then fails with EACCES instead
    of silently changing the cache; root ignores the bits, which is why restore also checks sizes and mtimes.
    Changing modes leaves mtimes alone. A no-op on Windows, where a read-only file could not be deleted.
    """
    if os.name == "nt":  # pragma: no cover - Windows
        return
    for name in names:
        path = os.path.join(root, name)
        mode = os.lstat(path).st_mode
        if stat.S_ISREG(mode) and mode & WRITE_BITS:
            os.chmod(path, stat.S_IMODE(mode) & ~WRITE_BITS)


def unprotect(root: Path) -> None:
    """Give the owner back the write bit on every regular file below ``root`` (a private copy of a protected
    entry: ``copy``/``reflink`` restores, where nothing is shared, behave like a plain copy of the env)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and not mode & stat.S_IWUSR:
                os.chmod(path, stat.S_IMODE(mode) | stat.S_IWUSR)


def top_level_files(root: Path) -> list[str]:
    """The regular files directly in ``root``: a venv's tool state (``pyvenv.cfg``, ``.tox-info.json``, ``.lock``),
    which tools rewrite in place."""
    with os.scandir(root) as it:
        return sorted(e.name for e in it if e.is_file(follow_symlinks=False))


def make_private(root: Path, names: Iterable[str]) -> None:
    """Make each named file below ``root`` private and writable by its owner: a linked file is replaced by a copy
    of itself (content, mode and mtime kept, so the manifest still matches); an unlinked one only gets its write
    bit back (relocation already replaced it)."""
    for name in names:
        path = os.path.join(root, name)
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_nlink == 1:
            if not st.st_mode & stat.S_IWUSR:
                os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
            continue
        tmp = f"{path}.venvcache-private"
        shutil.copy2(path, tmp, follow_symlinks=False)
        os.chmod(tmp, stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
        os.replace(tmp, path)


def copy_tree(src: Path, dst: Path, mode: LinkMode = "auto", *, portable: bool = False) -> LinkMode:
    """Copy the tree ``src`` to the new path ``dst``; return the mode really used.

    ``portable`` forces the pure-Python walker (used where GNU cp is missing; tests use it to keep it honest).
    """
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "destination exists", str(dst))
    used = resolve_mode(mode, src, dst.parent)
    cp = None if portable else gnu_cp()
    try:
        if cp:
            flag = {"copy": ["-a", "--reflink=never"], "reflink": ["-a", "--reflink=always"], "hardlink": ["-al"]}[used]
            if used == "copy" and not reflink_supported(src, dst.parent):
                # GNU cp 9.x skips copy_file_range under --reflink=never (40-80 % slower); where no clone is
                # possible its default already makes a full, independent copy.
                flag = ["-a"]
            proc = subprocess.run([cp, *flag, "--", str(src), str(dst)], capture_output=True, text=True,
                                  check=False, env={**os.environ, "LC_ALL": "C"})  # English errors, to map them
            if proc.returncode != 0:
                lines = proc.stderr.strip().splitlines() or ["cp failed"]
                full = [line for line in lines if "No space left" in line or "quota exceeded" in line]
                code = errno.ENOSPC if full else errno.EIO  # cp's first complaint may be another one
                raise OSError(code, (full or lines)[0], str(dst))
        else:
            _walk_copy(src, dst, used)
    except OSError as exc:
        if os.path.lexists(dst):
            shutil.rmtree(dst, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpaceError("no space left on device", path=dst.parent,
                               fix="free some space or lower max_bytes/cache_size") from None
        raise VenvCacheError(f"copy failed: {exc.strerror or exc}", path=dst,
                             fix="check permissions and free space") from None
    return used


def _walk_copy(src: Path, dst: Path, mode: LinkMode) -> None:
    """Portable tree copy: dirs recreated, symlinks recreated as symlinks, files linked/cloned/copied."""
    if mode == "hardlink":
        def place(s: str, d: str) -> None:
            os.link(s, d, follow_symlinks=False)
    elif mode == "reflink":
        def place(s: str, d: str) -> None:
            try:
                _clone_file(s, d)
            except OSError:
                shutil.copy2(s, d, follow_symlinks=False)
    else:
        def place(s: str, d: str) -> None:
            shutil.copy2(s, d, follow_symlinks=False)

    tree = walk(src)  # the one tree walker (manifest.py): folders sorted, so parents come first
    os.mkdir(dst)
    for name in tree.dirs:
        os.mkdir(os.path.join(dst, name))
    for name, target in tree.symlinks.items():  # a symlink (to a file or a folder) stays a symlink
        os.symlink(target, os.path.join(dst, name))
    for name in tree.files:
        place(os.path.join(src, name), os.path.join(dst, name))
    for name in [*reversed(tree.dirs), ""]:  # after the files, so their mtimes stick
        shutil.copystat(os.path.join(src, name), os.path.join(dst, name), follow_symlinks=False)
