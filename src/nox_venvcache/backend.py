"""The ``cached`` backend: a real nox ``VirtualEnv`` (uv or virtualenv inside) whose installs come from venvcache.

How one session's env goes (``Phase``):

- ``create()``: with ``-r``/``-R`` and a usable env, nox reuses it and the cache stays out of the way (``OFF``).
  With declared lock files (fast path) the env is restored right here (``VERIFY``) or created for real (``BUILD``).
  Otherwise nothing is created yet (``PENDING``): the key needs the session's first install call.
- first install call (``PENDING``): key = environment + that call; restore (``VERIFY``) or create and run it for real
  (``BUILD``). A command before any install creates the env for real; nothing is cached (``UNCACHED``).
- ``VERIFY``: each install call is compared with the sequence recorded in the entry; equal calls are skipped, calls
  that installed the project from a local path are re-run (their copy was removed at restore: it would be stale).
  A different call, or fewer calls, means the restored env is not what this session would build: it is rebuilt for
  real (recreated, earlier calls replayed). More calls than recorded just run on top of it.
- the install phase ends at the first ``session.run`` (or the session's end): ``SERVED`` (from the cache) or
  ``BUILT``. An install after that runs for real and is not keyed; the env is snapshotted first so that what is
  stored is the env as the install phase left it.
- the session's end: a ``BUILT`` env is stored if, and only if, the session succeeded.

Errors of the cache (``VenvCacheError``) are logged as one warning and the session runs as plain nox would.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nox.logger import logger

from venvcache_core import Cache, Key, VenvCacheError, copy_tree, hash_files, interpreter_identity, stage_path

from . import _nox_internals as internals
from . import dists, keying, settings
from .steps import StepDescriber

MARKER = ".venvcache-nox.json"
MARKER_SCHEMA = 1
_INSTALLER_COMMAND = re.compile(r"\bpip\d*(\.\d+)?\b.*\b(install|uninstall|sync)\b|\buv\b.*\b(sync|add|remove)\b"
                                r"|\b(poetry|pdm)\b.*\b(install|sync|add|remove)\b")


class Phase(enum.Enum):
    OFF = "off"  # plain nox: cache disabled, env reused, or an error
    PENDING = "pending"  # zero-config: env not created yet, waiting for the first install call
    VERIFY = "verify"  # restored: install calls are checked against the recorded sequence
    BUILD = "build"  # a real env: install calls run and are recorded
    SERVED = "served"  # install phase over, env from the cache
    BUILT = "built"  # install phase over, env built here: stored at the end if the session succeeds
    UNCACHED = "uncached"  # env created for real, nothing to key it by


@dataclass
class Step:
    """One install call of this session: its document, what it installed from local paths, how to replay it."""

    doc: dict[str, Any]
    volatile: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)
    run: Callable[[], Any] | None = None
    cwd: str = ""
    env: dict[str, str | None] = field(default_factory=dict)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 10**6 else f"{size / 1e3:.0f} kB"


def _ordinal_call(index: int) -> str:
    return f"install call {index + 1}"


def write_marker(env: Path, session: str, steps: Sequence[Step]) -> None:
    """Record the install sequence inside the env, so that whoever restores it can check their calls against it."""
    data = {"schema": MARKER_SCHEMA, "session": session,
            "steps": [{"doc": step.doc, "volatile": step.volatile} for step in steps]}
    tmp = env / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(data, sort_keys=True, indent=1), encoding="utf-8")
    os.replace(tmp, env / MARKER)


def read_marker(env: Path) -> list[Step]:
    """The install sequence a restored env was built with (``ValueError`` when missing or malformed)."""
    try:
        data = json.loads((env / MARKER).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"no {MARKER} in the entry ({exc.strerror})") from None
    if not isinstance(data, dict) or data.get("schema") != MARKER_SCHEMA or not isinstance(data.get("steps"), list):
        raise ValueError(f"{MARKER} has an unknown format")
    steps = []
    for item in data["steps"]:
        if not isinstance(item, dict) or not isinstance(item.get("doc"), dict):
            raise ValueError(f"{MARKER} has an unknown format")
        steps.append(Step(doc=item["doc"], volatile=[str(v) for v in item.get("volatile", [])]))
    return steps


def pick_backend(wanted: str) -> str:
    """The inner backend: ``auto`` is uv when nox finds uv (as nox's own ``uv`` backend needs), else virtualenv."""
    has_uv = internals.uv_state()[0]
    if wanted == "auto":
        return "uv" if has_uv else "virtualenv"
    if wanted == "uv" and not has_uv:
        logger.warning("venvcache: uv was asked for but nox cannot find it; using virtualenv")
        return "virtualenv"
    return wanted


class CachedVirtualEnv(internals.VirtualEnv):
    """A nox ``VirtualEnv`` restored from and stored to venvcache; ``venv_backend`` reports the real inner backend."""

    def __init__(self, location: str, interpreter: str | None = None, *, reuse_existing: bool = False,
                 venv_params: Sequence[str] = (), venv_backend: str | None = None, **kwargs: Any) -> None:
        self._root = Path.cwd()  # nox runs the factory in the noxfile's folder
        params = list(venv_params or ())
        try:
            self._settings = settings.for_session(self._root, params)
        except VenvCacheError as exc:
            logger.warning(f"venvcache: {exc}; running without the cache")
            self._settings = settings.SessionSettings(None, off=str(exc),
                                                      venv_params=tuple(settings.split_params(params)[0]))
        inner = venv_backend or pick_backend(self._settings.backend)
        accepted = internals.virtualenv_kwargs()
        passed = {name: value for name, value in kwargs.items() if name in accepted}
        super().__init__(location, interpreter, reuse_existing=reuse_existing, venv_backend=inner,
                         venv_params=list(self._settings.venv_params), **passed)
        self._phase = Phase.OFF
        runner = internals.current_runner.get()
        # the session's name, the same in every checkout (the env folder's name may be hashed when the path is long)
        self._session = internals.session_name(runner) if runner is not None else os.path.basename(self.location)
        self._describer = StepDescriber(self._root)
        self._cache: Cache | None = None
        self._key: Key | None = None
        self._identity: dict[str, Any] = {}
        self._environment: dict[str, Any] = {}
        self._expected: list[Step] = []
        self._seen: list[Step] = []
        self._replace = False
        self._why = ""
        self._snapshot_path: Path | None = None

    # -- nox's entry point ---------------------------------------------------------------------------------------
    def create(self) -> bool:
        """Reuse (``-r``), restore (fast path), or postpone creating the env until its first install call."""
        cfg = self._settings.config
        if cfg is None:
            return super().create()
        internals.ensure_envdir_markers(Path(self.location).parent)
        if not internals.clean_location(self):
            internals.set_reused(self, True)
            logger.debug(f"Reusing existing virtual environment at {self.location_name}.")  # nox's words
            return False
        internals.set_reused(self, False)
        try:
            self._remove_location()  # nox leaves it for `uv venv --clear`; we restore or create it ourselves
            self._cache = Cache.from_config(cfg)
            self._identity = interpreter_identity(internals.resolved_interpreter(self))
            uv_version = internals.uv_state()[2]
            self._environment = keying.environment_inputs(
                backend=self.venv_backend,
                backend_version=keying.inner_backend_version(self.venv_backend, uv_version, self._identity),
                venv_params=self.venv_params, session=self._session)
            if self._settings.lock_files:
                files = hash_files(self._settings.lock_files, self._root, source=cfg.source)
                self._key = keying.lock_files_key(interpreter=self._identity, environment=self._environment,
                                                  lock_files=files, salt=self._settings.salt)
                self._materialize(restore=True)
                return True
        except VenvCacheError as exc:
            self._give_up(exc)  # creates the env for real
            return True
        self._phase = Phase.PENDING
        return True

    # -- called by the Session hooks -----------------------------------------------------------------------------
    def on_step(self, call: str, args: Sequence[Any], kwargs: Mapping[str, Any], run: Callable[[], Any]) -> Any:
        """``session.install``/``run_install``: skip it (served from the cache), or run it for real and record it."""
        if self._phase in (Phase.OFF, Phase.SERVED, Phase.UNCACHED):
            return run()
        if self._phase is Phase.BUILT:
            try:
                self._snapshot()
            except (VenvCacheError, OSError) as exc:
                self._give_up(exc)
            return run()
        try:
            step = self._step(call, args, kwargs, run)
            if self._phase is Phase.PENDING:
                self._key = keying.first_step_key(interpreter=self._identity, environment=self._environment,
                                                  step=step.doc, salt=self._settings.salt)
                self._materialize(restore=True)
            served = self._phase is Phase.VERIFY and self._check(step, call, args)
        except (VenvCacheError, OSError) as exc:
            self._give_up(exc)
            return run()
        if served:
            return run() if step.volatile else None
        return self._run_recorded(step)

    def _check(self, step: Step, call: str, args: Sequence[Any]) -> bool:
        """In ``VERIFY``: True when this call is the next recorded one (it is served); else leave ``VERIFY``."""
        index = len(self._seen)
        expected = self._expected[index] if index < len(self._expected) else None
        if expected is not None and expected.doc == step.doc:
            # a call that installed a project from a local path runs again: its cached copy was removed at restore
            step.volatile = expected.volatile
            self._seen.append(step)
            if not step.volatile:
                logger.debug(f"venvcache: {call} {' '.join(map(str, args))}: served from the cache")
            return True
        if expected is None:
            self._why = f"{_ordinal_call(index)} is new, it ran on top of the cached env"
            self._replace = True
            self._phase = Phase.BUILD
        else:
            self._rebuild(f"{_ordinal_call(index)} differs from the cached env's")
        return False

    def on_command(self, args: Sequence[Any], run: Callable[[], Any]) -> Any:
        """``session.run``: the install phase is over (creating or fixing the env first if needed)."""
        try:
            if self._phase in (Phase.PENDING, Phase.VERIFY, Phase.BUILD):
                self._end_install_phase()
            if self._phase is Phase.BUILT and _INSTALLER_COMMAND.search(" ".join(map(str, args))):
                self._snapshot()
        except (VenvCacheError, OSError) as exc:
            self._give_up(exc)
        return run()

    def finish(self, succeeded: bool) -> None:
        """After the session: store the env it built if it succeeded; one log line says what happened."""
        try:
            if self._phase is Phase.OFF:
                return
            if not succeeded:
                if self._phase in (Phase.BUILD, Phase.BUILT) and self._key is not None:
                    logger.info(f"venvcache: miss {self._key.short} for {self._session}, not stored: "
                                "the session failed")
                return
            if self._phase in (Phase.PENDING, Phase.VERIFY, Phase.BUILD):
                self._end_install_phase()
            if self._phase is Phase.BUILT:
                self._store()
            elif self._phase is Phase.UNCACHED:
                logger.info(f"venvcache: nothing cached for {self._session}: {self._why}")
        except (VenvCacheError, OSError) as exc:
            self._give_up(exc)
        finally:
            self._drop_snapshot()

    # -- the install phase ---------------------------------------------------------------------------------------
    def _end_install_phase(self) -> None:
        if self._phase is Phase.PENDING:
            self._why = "no install call before its first command"
            self._materialize(restore=False)
        elif self._phase is Phase.VERIFY:
            if len(self._seen) < len(self._expected):
                self._rebuild(f"the session made {len(self._seen)} of the {len(self._expected)} install calls "
                              "the cached env was built with")
                self._phase = Phase.BUILT
            else:
                self._phase = Phase.SERVED
        elif self._phase is Phase.BUILD:
            self._phase = Phase.BUILT

    def _step(self, call: str, args: Sequence[Any], kwargs: Mapping[str, Any], run: Callable[[], Any]) -> Step:
        outer: Mapping[str, str | None] = os.environ if kwargs.get("include_outer_env", True) else {}
        env = {**outer, **self.env, **(kwargs.get("env") or {})}
        cwd = os.getcwd()
        return Step(self._describer.describe(call, args, cwd=cwd, env=env), run=run, cwd=cwd, env=dict(self.env),
                    unpinned=self._describer.unpinned(call, args, cwd=cwd, env=env))

    def _run_recorded(self, step: Step, *, replay: bool = False) -> Any:
        """Run an install call for real and note which local, non-editable projects it (re)installed."""
        assert step.run is not None
        before = dists.local_installs(Path(self.location))
        if replay:
            with _chdir(step.cwd), self._env_as(step.env):
                result = step.run()
        else:
            result = step.run()
        step.volatile = dists.changed(before, dists.local_installs(Path(self.location)))
        self._seen.append(step)
        return result

    def _rebuild(self, why: str) -> None:
        """The restored env is not what this session builds: recreate it and replay the calls seen so far."""
        self._why = f"{why}; rebuilt"
        self._replace = True
        with self._user_files_kept(("tmp",)):
            self._remove_location()
            self._real_create()
        seen, self._seen = self._seen, []
        for step in seen:
            self._run_recorded(step, replay=True)
        self._phase = Phase.BUILD

    # -- restore, create, store ----------------------------------------------------------------------------------
    def _materialize(self, *, restore: bool) -> None:
        """Put an env at the location: from the cache when possible, else created for real."""
        with self._user_files_kept(None):
            if restore and self._restore():
                return
            self._real_create()
        self._phase = Phase.BUILD if restore else Phase.UNCACHED

    def _restore(self) -> bool:
        assert self._cache is not None and self._key is not None
        if self._settings.refresh:
            self._why, self._replace = f"{settings.ENV_REFRESH} is set", True
            return False
        result = self._cache.restore(self._key, self.location, project_root=self._root)
        if not result.hit:
            self._why = result.detail
            return False
        try:
            self._expected = read_marker(Path(self.location))
            for step in self._expected:
                for dist_info in step.volatile:
                    dists.remove(Path(self.location), dist_info)
        except (ValueError, OSError, VenvCacheError) as exc:
            logger.warning(f"venvcache: entry {self._key.short} cannot be used ({exc}); building the env")
            self._remove_location()
            self._why = "unusable entry"
            return False
        self._phase = Phase.VERIFY
        logger.info(f"venvcache: hit {self._key.short} for {self._session}: {_mb(result.bytes)} restored "
                    f"in {result.seconds:.2f} s")
        return True

    def _real_create(self) -> bool:
        internals.set_reused(self, False)
        created = internals.VirtualEnv.create(self)
        internals.set_reused(self, False)
        return created

    def _store(self) -> None:
        assert self._cache is not None and self._key is not None
        started = time.perf_counter()
        location = Path(self.location)
        with self._snapshot_in_place(), self._user_files_aside(("tmp",)):
            write_marker(location, self._session, self._seen)
            result = self._cache.store(self._key, location, project_root=self._root, replace=self._replace)
        why = f" ({self._why})" if self._why else ""
        unpinned = sorted({name for step in self._seen for name in step.unpinned})
        if result.stored:
            note = (f"; unpinned, so frozen by the cache: {', '.join(unpinned)} (see max_age, "
                    f"{settings.ENV_REFRESH}=1)" if unpinned else "")
            logger.info(f"venvcache: miss {self._key.short} for {self._session}{why}; stored {_mb(result.bytes)} "
                        f"in {time.perf_counter() - started:.2f} s{note}")
        else:
            logger.info(f"venvcache: miss {self._key.short} for {self._session}{why}; another run stored it first")

    def _give_up(self, exc: Exception) -> None:
        """A cache error: say so once, make sure a real env exists, and leave the session to plain nox."""
        logger.warning(f"venvcache: {exc}; this session runs without the cache")
        if self._phase is Phase.PENDING or not os.path.isfile(os.path.join(self.location, "pyvenv.cfg")):
            self._phase = Phase.OFF
            with self._user_files_kept(None):
                self._remove_location()
                self._real_create()
        self._phase = Phase.OFF

    # -- snapshots (installs after the install phase) --------------------------------------------------------------
    def _snapshot(self) -> None:
        """Keep a copy of the env as the install phase left it: later installs must not end up in the cache."""
        if self._snapshot_path is not None or self._settings.config is None:
            return
        location = Path(self.location)
        snap = stage_path(location)
        if os.path.lexists(snap):
            shutil.rmtree(snap)
        mode = self._settings.config.link_mode
        copy_tree(location, snap, "copy" if mode == "hardlink" else mode)  # the live env keeps changing
        if (snap / "tmp").is_dir():
            shutil.rmtree(snap / "tmp")
        self._snapshot_path = snap

    @contextlib.contextmanager
    def _snapshot_in_place(self) -> Iterator[None]:
        """Swap the snapshot in at the env's own path while storing (the files name that path), then back."""
        snap = self._snapshot_path
        if snap is None:
            yield
            return
        location = Path(self.location)
        aside = stage_path(location, holds_old=True)  # the core puts it back on a crash
        os.rename(location, aside)
        os.rename(snap, location)
        try:
            yield
        finally:
            os.rename(location, snap)
            os.rename(aside, location)

    def _drop_snapshot(self) -> None:
        if self._snapshot_path is not None:
            shutil.rmtree(self._snapshot_path, ignore_errors=True)
            self._snapshot_path = None

    # -- files of the session inside the env folder (session.create_tmp() makes <env>/tmp) --------------------------
    @contextlib.contextmanager
    def _user_files_kept(self, names: Sequence[str] | None) -> Iterator[None]:
        """Move ``names`` (None: everything) out of the env folder and back in once the env has been replaced."""
        location = Path(self.location)
        keep = stage_path(location)
        moved = False
        if location.is_dir() and not location.is_symlink():
            children = [c for c in location.iterdir() if names is None or c.name in names]
            if children:
                keep.mkdir(exist_ok=True)
                for child in children:
                    os.rename(child, keep / child.name)
                moved = True
        try:
            yield
        finally:
            if moved:
                location.mkdir(parents=True, exist_ok=True)
                for child in keep.iterdir():
                    if not os.path.lexists(location / child.name):
                        os.rename(child, location / child.name)
                shutil.rmtree(keep, ignore_errors=True)

    @contextlib.contextmanager
    def _user_files_aside(self, names: Sequence[str]) -> Iterator[None]:
        """Keep ``names`` out of the env while it is stored (they are the session's, not the env's)."""
        with self._user_files_kept(names):
            yield

    @contextlib.contextmanager
    def _env_as(self, env: dict[str, str | None]) -> Iterator[None]:
        saved = self.env
        self.env = dict(env)
        try:
            yield
        finally:
            self.env = saved

    def _remove_location(self) -> None:
        if os.path.islink(self.location):
            os.unlink(self.location)
        elif os.path.isdir(self.location):
            shutil.rmtree(self.location)


@contextlib.contextmanager
def _chdir(path: str) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)
