"""Distributions installed into an env from local, non-editable sources: found, and removed by their RECORD.

``session.install(".")`` copies the project's code into the env. A cached copy of that code would be stale in the next
checkout, so the step that installed it is re-run after every restore — after its distribution has been removed
here, so that pip (which skips an equal local wheel) and uv (which skips an installed local project) really
reinstall it. Editable installs are left alone: they point into the checkout and are relocated instead.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from venvcache_core import VenvCacheError


def site_packages(env: Path) -> list[Path]:
    """The env's site-packages folders (``lib/pythonX.Y/site-packages``, ``Lib/site-packages``)."""
    found: list[Path] = []
    seen: set[str] = set()
    for pattern in ("lib/python*/site-packages", "lib64/python*/site-packages", "Lib/site-packages"):
        for folder in sorted(env.glob(pattern)):
            real = os.path.realpath(folder)
            if folder.is_dir() and real not in seen:
                seen.add(real)
                found.append(folder)
    return found


def local_installs(env: Path) -> dict[str, tuple[int, int]]:
    """``{dist-info path relative to env: (inode, mtime_ns) of its direct_url.json}`` for local non-editable installs.

    Comparing two snapshots tells which of them a step (re)installed.
    """
    found: dict[str, tuple[int, int]] = {}
    for folder in site_packages(env):
        with os.scandir(folder) as it:
            for entry in it:
                if not entry.name.endswith(".dist-info"):
                    continue
                direct = os.path.join(entry.path, "direct_url.json")
                try:
                    st = os.stat(direct)
                    with open(direct, encoding="utf-8") as fh:
                        data = json.load(fh)
                except (OSError, ValueError):
                    continue
                if not isinstance(data, dict) or urlparse(str(data.get("url", ""))).scheme != "file":
                    continue
                dir_info = data.get("dir_info")
                if isinstance(dir_info, dict) and dir_info.get("editable"):
                    continue
                found[Path(entry.path).relative_to(env).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return found


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Local installs that are new or were reinstalled between two snapshots."""
    return sorted(name for name, stamp in after.items() if before.get(name) != stamp)


def remove(env: Path, dist_info: str) -> None:
    """Uninstall one distribution from ``env`` by its RECORD (files, its dist-info, folders left empty).

    Only paths inside ``env`` are touched. A dist-info that is already gone is fine; one without RECORD is an error.
    """
    root = Path(os.path.abspath(env))
    info = root / dist_info
    if not info.is_dir():
        return
    record = info / "RECORD"
    try:
        with open(record, encoding="utf-8", newline="") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except OSError:
        raise VenvCacheError("cannot uninstall a cached local install: no RECORD", path=info,
                             fix="the env is rebuilt instead") from None
    site = info.parent
    folders: set[Path] = set()
    for row in rows:
        target = Path(os.path.normpath(site / row[0]))
        if not _inside(target, root) or _inside(target, info):
            continue
        if target.suffix == ".py":
            _remove_bytecode(target)
        if os.path.lexists(target) and not target.is_dir():
            os.unlink(target)
        folders.add(target.parent)
    shutil.rmtree(info)
    keep = {root, site, root / "bin", root / "Scripts"}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        _prune_empty(folder, keep, root)


def _inside(path: Path, root: Path) -> bool:
    return path == root or str(path).startswith(str(root).rstrip(os.sep) + os.sep)


def _remove_bytecode(source: Path) -> None:
    cache = source.parent / "__pycache__"
    if cache.is_dir():
        for pyc in cache.glob(f"{source.stem}.*.pyc"):
            pyc.unlink(missing_ok=True)


def _prune_empty(folder: Path, keep: set[Path], root: Path) -> None:
    """Remove ``folder`` and its parents while they hold nothing but (empty) ``__pycache__`` folders."""
    while folder not in keep and _inside(folder, root) and folder.is_dir():
        cache = folder / "__pycache__"
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
        if any(folder.iterdir()):
            return
        folder.rmdir()
        folder = folder.parent
