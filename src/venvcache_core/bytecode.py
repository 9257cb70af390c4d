"""Bytecode in every entry: compile the site-packages modules an installer left uncompiled, before publishing.

pip compiles ``.pyc`` files at install; uv does not (unless ``--compile-bytecode``), so an env it built compiles on
first import, and so would every env restored from its entry, on every run. The store compiles what is missing in
the staged entry instead, once, with the env's own interpreter, in one ``compileall`` process per core. The
``.pyc`` files record the source's size and mtime, which every link mode keeps, so a restored env imports without
compiling; their ``co_filename`` names the staging folder, which the import system replaces on load.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("venvcache")

MAX_WORKERS = 8
TIMEOUT = 900  # seconds for one compileall process (a huge env on a slow machine); then the rest stays uncompiled


def pyc_name(name: str, cache_tag: str) -> str:
    """Where the interpreter with ``cache_tag`` (``cpython-312``) keeps the bytecode of the module ``name``."""
    folder, _, base = name.rpartition("/")
    pyc = f"__pycache__/{base[:-3]}.{cache_tag}.pyc"
    return f"{folder}/{pyc}" if folder else pyc


def missing(files: Iterable[str], cache_tag: str, *, skip: Iterable[str] = ()) -> list[str]:
    """The ``.py`` files in a ``site-packages`` folder of ``files`` (relative names) that have no ``.pyc`` for
    ``cache_tag``; ``skip``: files that restore rewrites (their bytecode would be stale at once)."""
    names = set(files)
    left_out = set(skip)
    found = []
    for name in sorted(names):
        if (name.endswith(".py") and "/site-packages/" in f"/{name}" and name not in left_out and "\n" not in name
                and pyc_name(name, cache_tag) not in names):
            found.append(name)
    return found


def compile_into(env: Path, names: Sequence[str], python: Path, cache_tag: str, *,
                 workers: int | None = None) -> list[str]:
    """Compile ``names`` (relative to ``env``) with ``python`` in parallel; return the ``.pyc`` files made.

    A module that does not compile (a template, Python 2 syntax) is left as it is, as pip leaves it; an interpreter
    that cannot run compiles nothing. Neither fails the store: bytecode only saves time.
    """
    if not names:
        return []
    count = max(1, min(workers or os.cpu_count() or 1, MAX_WORKERS, len(names) // 32 + 1))
    chunks = [names[i::count] for i in range(count)]

    def run(chunk: Sequence[str]) -> None:
        listing = "".join(f"{env / name}\n" for name in chunk).encode()
        try:
            subprocess.run([str(python), "-I", "-m", "compileall", "-q", "-q", "-i", "-"], input=listing,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("venvcache: bytecode not compiled: %s", exc)

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(run, chunks))
    made = [pyc for pyc in (pyc_name(name, cache_tag) for name in names) if os.path.isfile(env / pyc)]
    log.debug("venvcache: compiled %d of %d modules missing bytecode", len(made), len(names))
    return made
