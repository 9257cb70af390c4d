"""``VenvFactory``: the env a test asks for, restored from the cache or built, stored, and put in its directory.

One key is built once across processes (xdist workers): a builder holds the core's key lock of the key's build
(a key derived from the env's key, so the entry's own lock stays free for ``restore``/``store``), and whoever
waited on it restores what the builder stored.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from venvcache_core import (
    Cache,
    Key,
    VenvCacheError,
    describe_miss,
    describe_restore,
    describe_store,
    find_python,
    interpreter_identity,
    make_key,
)

from . import installers, keying
from .env import Venv
from .settings import Settings, from_pytest
from .summary import Tally


class VenvCacheWarning(pytest.PytestWarning):
    """Something the cache did that a user should know about, which does not fail the test."""


@dataclass
class CacheRun:
    """The state of one pytest process: its settings (read on first use), the cache and the counters.

    Settings are read lazily: a broken config file fails the tests that ask for envs, not the whole run.
    """

    config: pytest.Config
    started: float  # wall clock of the run's start (the xdist controller's, on a worker)
    tally: Tally = field(default_factory=Tally)
    _settings: Settings | None = None
    _cache: Cache | None = None
    _warned: set[str] = field(default_factory=set)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = from_pytest(self.config, started=self.started)
        return self._settings

    @property
    def enabled(self) -> bool:
        return self._settings is None or self._settings.enabled

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache.from_config(self.settings.config)
        return self._cache

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(VenvCacheWarning(message), stacklevel=4)


def _fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def _say(line: str) -> None:
    """One line per env on stderr: pytest shows it with the test's captured output (and live with ``-s``)."""
    print(line, file=sys.stderr, flush=True)


def _python(spec: str | os.PathLike[str] | None) -> Path:
    """The interpreter asked for: a path, a name (``python3.12``), a version (``3.12``), or the one running pytest."""
    if spec is None:
        return Path(getattr(sys, "_base_executable", None) or sys.executable)
    text = os.fspath(spec)
    if text[:1].isdigit():
        text = f"python{text}"
    return find_python(text)


def _label(args: Sequence[str], root: Path | None) -> str:
    shown = " ".join(os.path.relpath(a, root) if root and os.path.isabs(a) else a for a in args) or "(empty)"
    return f"venv [{shown if len(shown) <= 60 else shown[:57] + '...'}]"


class VenvFactory:
    """Makes envs for one scope: in ``base_dir``, with local paths keyed relative to the first of ``roots``."""

    def __init__(self, run: CacheRun, *, base_dir: Path, roots: Sequence[Path]) -> None:
        self._run = run
        self._base_dir = base_dir
        self._roots = list(roots)
        self._made: dict[tuple[str, str], Venv] = {}

    def __call__(self, requirements: Sequence[str | os.PathLike[str]] = (), *,
                 python: str | os.PathLike[str] | None = None, installer: str | None = None,
                 path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                 find_links: Sequence[str | os.PathLike[str]] = (), root: str | os.PathLike[str] | None = None,
                 cwd: str | os.PathLike[str] | None = None) -> Venv:
        """A ready env with ``requirements`` installed (pip's syntax: names, ``-r file``, ``-e path``, options).

        ``python``: version, name or path (default: the interpreter running pytest); ``installer``: auto, uv or
        pip; ``path``: where the env goes (default: ``<scope dir>/venv-<key>``); ``env``: the installer's
        environment (default ``os.environ``); ``find_links``: wheel folders, keyed by their content;
        ``root``: what local paths are relative to in the key (default: the test's directory).
        """
        try:
            return self._make(requirements, python=python, installer=installer, path=path, env=env,
                              find_links=find_links, root=root, cwd=cwd)
        except VenvCacheError as exc:
            problem = str(exc)
        _fail(f"venvcache: {problem}")  # outside the except block: the failure shows no chained traceback

    def _make(self, requirements: Sequence[str | os.PathLike[str]], *, python: str | os.PathLike[str] | None,
              installer: str | None, path: str | os.PathLike[str] | None, env: Mapping[str, str] | None,
              find_links: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str] | None,
              cwd: str | os.PathLike[str] | None) -> Venv:
        settings = self._run.settings
        workdir = Path(cwd or os.getcwd()).absolute()
        request = keying.parse(requirements, workdir)
        identity = interpreter_identity(_python(python))
        tool = installers.choose(installer or settings.installer)
        environ = dict(os.environ if env is None else env)
        links = [Path(workdir, link).absolute() for link in find_links]
        key_root = (Path(root).absolute() if root is not None
                    else keying.choose_root(request.paths, [*self._roots]))
        key = keying.env_key(interpreter=identity, installer=tool, request=request, root=key_root,
                             environ=environ, find_links=links, salt=settings.config.salt)
        dest = Path(path).absolute() if path is not None else self._base_dir / f"venv-{key.short}"
        made = self._made.get((key.digest, str(dest)))
        if made is not None:
            return made
        _check_dest(dest)
        loose = request.walk.unpinned()
        if loose and settings.enabled:
            self._run.warn_once(key.digest, f"venvcache: {', '.join(loose)} unpinned: the cached env keeps the "
                                "versions installed now; run with --venvcache-refresh to pick up new releases")
        project = key_root if (request.editable or request.local) else None
        build = _Build(tool, Path(identity["base_executable"]), request.args, links, environ, workdir,
                       _label(request.args, key_root))
        venv = self._obtain(key, dest, project, build) if settings.enabled else self._build_only(key, dest, build)
        self._made[(key.digest, str(dest))] = venv
        return venv

    def _build_only(self, key: Key, dest: Path, build: _Build) -> Venv:
        seconds = build.run(dest, self._run.tally)
        _say(f"{build.label}: built without the cache (--no-venvcache) in {seconds:.2f} s")
        return Venv(dest, key.digest, False, seconds)

    def _restore(self, key: Key, dest: Path, project: Path | None, build: _Build) -> Venv | str:
        """The env from the cache, or the core's report line of the miss (also: an entry older than this run
        under --venvcache-refresh, or a restore that failed)."""
        run = self._run
        if run.settings.refresh:
            entry = run.cache.get(key.digest)
            if entry is None or entry.created < run.settings.started:
                return describe_miss(key, "--venvcache-refresh" if entry else "no entry", label=build.label)
        try:
            result = run.cache.restore(key, dest, project_root=project)
        except VenvCacheError as exc:
            run.warn_once(f"restore {key.digest}", f"venvcache: restore failed, building instead: {exc}")
            return describe_miss(key, f"restore failed: {exc}", label=build.label)
        if not result.hit:
            return describe_restore(result, label=build.label)
        entry = run.cache.get(key.digest)
        recorded = entry.metadata.get("build_seconds") if entry is not None else None
        run.tally.hit(result.seconds, recorded if isinstance(recorded, (int, float)) else None)
        _say(describe_restore(result, label=build.label))
        return Venv(dest, key.digest, True, result.seconds)

    def _obtain(self, key: Key, dest: Path, project: Path | None, build: _Build) -> Venv:
        found = self._restore(key, dest, project, build)
        if isinstance(found, Venv):
            return found
        with self._building(key):
            found = self._restore(key, dest, project, build)  # another process built it while we waited
            if isinstance(found, Venv):
                return found
            _say(found)
            seconds = build.run(dest, self._run.tally)
            try:
                result = self._run.cache.store(key, dest, project_root=project, replace=self._run.settings.refresh,
                                               metadata={"build_seconds": round(seconds, 3), "tool": keying.TOOL,
                                                         "installer": build.installer.name,
                                                         "requirements": build.label})
            except VenvCacheError as exc:
                self._run.warn_once(f"store {key.digest}", f"venvcache: env built but not stored: {exc}")
            else:
                _say(describe_store(result, label=build.label))
        return Venv(dest, key.digest, False, seconds)

    @contextlib.contextmanager
    def _building(self, key: Key) -> Iterator[None]:
        """Hold the key lock of this key's build (xdist workers asking for one key build it once)."""
        try:
            lock = self._run.cache.lock(make_key({"building": key.digest}).digest)
        except VenvCacheError as exc:
            self._run.warn_once(f"lock {key.digest}", f"venvcache: building without the key lock: {exc}")
            lock = contextlib.nullcontext()
        with lock:
            yield


@dataclass(frozen=True)
class _Build:
    """How to build one env: installer, base interpreter, installer arguments and environment."""

    installer: installers.Installer
    python: Path
    args: Sequence[str]
    find_links: Sequence[Path]
    environ: Mapping[str, str]
    cwd: Path
    label: str

    def run(self, dest: Path, tally: Tally) -> float:
        """Create the env at ``dest`` and install into it; on failure remove it and fail the test with the output."""
        started = time.perf_counter()
        if os.path.lexists(dest):
            _remove(dest)
        steps = [self.installer.create(self.python, dest)]
        if self.args:
            steps.append(self.installer.install(dest, self.args, self.find_links))
        for cmd in steps:
            code, output = installers.run(cmd, self.environ, self.cwd)
            if code != 0:
                _remove(dest)
                tally.built(time.perf_counter() - started, ok=False)
                _fail(f"venvcache: {self.label}: {' '.join(cmd[:3])} ... failed (exit {code}); nothing was stored\n"
                      f"{output.rstrip()}")
        seconds = time.perf_counter() - started
        tally.built(seconds)
        return seconds


def _remove(path: Path) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        shutil.rmtree(path)


def _check_dest(dest: Path) -> None:
    """Refuse to put an env where something other than an env (or an empty folder) is."""
    if not os.path.lexists(dest) or os.path.islink(dest):
        return
    if dest.is_dir() and ((dest / "pyvenv.cfg").is_file() or not any(dest.iterdir())):
        return
    raise VenvCacheError("exists and is not a virtual environment; refusing to replace it", path=dest,
                         fix="pass another path= or remove it")
