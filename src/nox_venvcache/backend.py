"""The ``cached`` backend: a real nox ``VirtualEnv`` (uv or virtualenv inside) whose installs come from venvcache.

Every full install sequence of a session keeps its own entry; the sequences are a prefix tree
(:mod:`nox_venvcache.sequences`) walked call by call, because a session's calls are only known as it makes them.
How one session's env goes (``Phase``):

- ``create()``: with ``-r``/``-R`` and a usable env, nox reuses it and the cache stays out of the way (``OFF``).
  With declared lock files (fast path) the family's entry is restored right here (``VERIFY``) or the env is created
  for real (``BUILD``). Otherwise nothing is created yet (``PENDING``).
- each install call (``session.install``, ``run_install``, or ``session.run`` of an installer such as ``pip install``
  or ``uv pip install``): while a cached sequence continues the calls made so far, nothing runs (``PENDING``, or
  ``VERIFY`` while the restored entry itself continues them). When none does, the env is made to hold exactly the
  calls before this one (the entry for exactly those calls, else the nearest entry plus the rest run on top, else a
  new env and all of them run) and this call runs on top (``BUILD``). When this call is an exact sync into the env
  (uv backend: ``uv sync``, as nox-uv's sessions run it, or ``uv pip sync FILE``; :func:`steps.exact_sync_locks`),
  the start is instead the entry nearest to its lock (the core's ``restore_nearest``: same interpreter, backend,
  session and salt, most locked distributions shared), the calls before it replayed: uv then installs, upgrades and
  removes only the difference, and the log says ``venv cache partial SOURCE (D of T packages differ), synced in T``
  before the store. Calls that cannot remove (``session.install``, ``uv pip install``) only ever start from an entry
  whose calls are a prefix of theirs (a subset of what they install).
- the install phase ends at the first other ``session.run`` (or the session's end): the entry for exactly the calls
  made is restored (``SERVED``; calls that installed the project from a local path run again, their cached copy
  would be stale), or the env is settled as above (``BUILT``). A command before any install creates the env for
  real; nothing is cached (``UNCACHED``). An install after the install phase runs for real and is not keyed; the env
  is snapshotted first so that what is stored is the env as the install phase left it.
- the session's end: a ``BUILT`` env is stored under the key of its whole sequence if, and only if, the session
  succeeded.

Errors of the cache (``VenvCacheError``) are logged as one warning and the session runs as plain nox would.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nox.logger import logger

from venvcache_core import (
    Cache,
    Key,
    MissReason,
    RequireHitError,
    RestoreResult,
    VenvCacheError,
    copy_tree,
    describe_miss,
    describe_not_stored,
    describe_partial,
    describe_restore,
    describe_store,
    distribution_changes,
    explain_miss,
    hash_files,
    installed_distributions,
    interpreter_identity,
    locked_distributions,
    nearest_phrase,
    stage_path,
)

from . import _nox_internals as internals
from . import dists, keying, sequences, settings
from .steps import StepDescriber, exact_sync_locks

_INSTALLER_COMMAND = re.compile(r"\bpip\d*(\.\d+)?\b.*\b(install|uninstall|sync)\b|\buv\b.*\b(sync|add|remove)\b"
                                r"|\b(poetry|pdm)\b.*\b(install|sync|add|remove)\b")


class Phase(enum.Enum):
    OFF = "off"  # plain nox: cache disabled, env reused, or an error
    PENDING = "pending"  # the calls so far are deferred: no env of ours at the location, or one about to be replaced
    VERIFY = "verify"  # the env was restored from ``_current``, whose sequence continues the calls made so far
    BUILD = "build"  # a real env holding exactly the calls made so far: each call runs and is recorded
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
    #: the lock files this call makes the env exactly (``uv sync``, ``uv pip sync``): it may finish a partial restore
    locks: list[Path] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return sequences.digest(self.doc)


#: the key-document inputs a partial restore may differ in (what is installed); everything else must be equal
PARTIAL_REQUIREMENTS = ("steps", "lock_files")


@dataclass
class _Partial:
    """The nearest entry restored for an exact sync to finish: the result, what it held, when the sync began."""

    result: RestoreResult
    before: dict[str, str]
    started: float = field(default_factory=time.perf_counter)


def _ordinal_call(index: int) -> str:
    return f"install call {index + 1}"


def _calls(count: int) -> str:
    return f"{count} install call{'s' if count != 1 else ''}"


def pick_backend(wanted: str) -> str:
    """The inner backend: ``auto`` is uv when nox finds uv (as nox's own ``uv`` backend needs), else virtualenv."""
    has_uv = internals.uv_state()[0]
    if wanted == "auto":
        return "uv" if has_uv else "virtualenv"
    if wanted == "uv" and not has_uv:
        logger.warning("venvcache: uv was asked for but nox cannot find it; using virtualenv")
        return "virtualenv"
    return wanted


def is_installer_command(args: Sequence[Any]) -> bool:
    """Whether a ``session.run`` command installs into the env (``pip install``, ``uv pip install``, ``uv sync``)."""
    return bool(_INSTALLER_COMMAND.search(" ".join(map(str, args))))


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
        self._primary: Key | None = None  # the fast path's key (lock files only)
        self._family = ""
        self._tree_cache: sequences.SequenceTree | None = None
        self._current: sequences.Cached | None = None  # the entry now at the location
        self._exact = False  # the env at the location holds exactly the calls in ``_seen``
        self._identity: dict[str, Any] = {}
        self._environment: dict[str, Any] = {}
        self._seen: list[Step] = []
        self._why = ""
        self._build_seconds = 0.0  # creating the env and running installers for real (what a hit saves)
        self._snapshot_path: Path | None = None
        self._partial: _Partial | None = None  # the nearest entry restored for an exact sync (uv sync) to finish
        self._fresh = False  # the env at the location was just created: no call has run in it

    # -- nox's entry point ---------------------------------------------------------------------------------------
    def create(self) -> bool:
        """Reuse (``-r``), restore (fast path), or postpone creating the env until the install calls are known."""
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
                self._environment = keying.with_lock_files(self._environment, files)
                self._primary = keying.lock_files_key(interpreter=self._identity, environment=self._environment,
                                                      salt=self._settings.salt)
            self._family = keying.family(interpreter=self._identity, environment=self._environment,
                                         salt=self._settings.salt)
            if self._primary is not None:
                self._fast_path(self._primary)
                return True
        except VenvCacheError as exc:
            self._give_up(exc)  # creates the env for real
            return True
        self._phase = Phase.PENDING
        return True

    def _fast_path(self, primary: Key) -> None:
        """Restore the lock files' entry (or the family's latest) before the session function runs."""
        latest = self._tree().entries[0].key if self._tree().entries else None
        for key in dict.fromkeys(k for k in (primary.digest, latest) if k):
            if self._restore(key, None):
                self._phase = Phase.VERIFY
                return
        self._require_hit(primary, "no entry for these lock files")
        self._why = "no entry"
        with self._user_files_kept(None):
            self._real_create()
        self._phase, self._exact, self._fresh = Phase.BUILD, True, True

    # -- called by the Session hooks -----------------------------------------------------------------------------
    def on_step(self, call: str, args: Sequence[Any], kwargs: Mapping[str, Any], run: Callable[[], Any]) -> Any:
        """An install call: served (nothing runs), deferred (a cached sequence continues), or run for real."""
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
            action = self._next(step)
        except (VenvCacheError, OSError) as exc:
            self._give_up(exc)
            return run()
        if action == "run":
            self._fresh = False
            result = self._run_step(step)
            self._seen.append(step)
            self._exact = True
            return result
        self._seen.append(step)
        if action == "served" and step.volatile:  # installed the project from a local path: its copy was removed
            return run()
        logger.debug(f"venvcache: {_ordinal_call(len(self._seen) - 1)} ({call}) served from the cache")
        return None

    def _next(self, step: Step) -> str:
        """What to do with the next install call: ``served`` by the restored env, ``deferred``, or ``run``."""
        if self._phase is Phase.BUILD:
            if self._fresh and not self._seen and step.locks:  # the fast path's new env, and an exact sync comes
                self._start_partial(step, self._sequence_key([step]), recreate=True)
            return "run"
        prefix = [*(s.digest for s in self._seen), step.digest]
        current = self._current if self._phase is Phase.VERIFY else None
        if current is not None and current.continues(prefix):
            step.volatile = list(current.volatile[len(prefix) - 1])
            self._exact = current.steps == tuple(prefix)
            return "served"
        if self._continues(prefix):
            self._phase, self._exact = Phase.PENDING, False
            return "deferred"
        # no cached sequence goes on like this: the env must hold exactly the calls so far, this one runs on top
        key = self._sequence_key([*self._seen, step])
        self._require_hit(key, f"{_ordinal_call(len(self._seen))} is new")
        if step.locks and self._start_partial(step, key, recreate=False):
            self._phase = Phase.BUILD
            return "run"
        served, how = self._settle(self._seen, allow_exact=True)
        if served:
            assert self._current is not None
            how = f"it ran on top of {self._current.key[:8]}, the entry for the calls before it"
        self._why = f"{_ordinal_call(len(self._seen))} is new; {how}" if self._seen else how
        self._phase = Phase.BUILD
        return "run"

    def on_command(self, args: Sequence[Any], kwargs: Mapping[str, Any], run: Callable[[], Any], *,
                   install_only: bool = False) -> Any:
        """``session.run``: an installer (``pip install`` ...) is one more install call; any other command ends the
        install phase (creating or settling the env first if needed). With ``--install-only`` nox skips it."""
        if self._phase in (Phase.PENDING, Phase.VERIFY, Phase.BUILD) and is_installer_command(args) \
                and not install_only:
            return self.on_step("run", args, kwargs, run)
        try:
            if self._phase in (Phase.PENDING, Phase.VERIFY, Phase.BUILD):
                self._end_install_phase()
            if self._phase is Phase.BUILT and is_installer_command(args):
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
                if self._phase in (Phase.BUILD, Phase.BUILT) and self._cache is not None:
                    key = self._store_key()
                    logger.info(describe_miss(key, self._why or "no entry", label=self._session))
                    logger.info(describe_not_stored(key, "the session failed", label=self._session))
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
        if self._phase is Phase.PENDING and not self._seen:
            self._why = "no install call before its first command"
            with self._user_files_kept(None):
                self._real_create()
            self._phase = Phase.UNCACHED
        elif self._phase in (Phase.PENDING, Phase.VERIFY):
            served, how = self._settle(self._seen, allow_exact=True)
            self._phase = Phase.SERVED if served else Phase.BUILT
            self._why = how
        elif self._phase is Phase.BUILD:
            self._phase = Phase.BUILT

    def _step(self, call: str, args: Sequence[Any], kwargs: Mapping[str, Any], run: Callable[[], Any]) -> Step:
        outer: Mapping[str, str | None] = os.environ if kwargs.get("include_outer_env", True) else {}
        env = {**outer, **self.env, **(kwargs.get("env") or {})}
        cwd = os.getcwd()
        locks = exact_sync_locks(call, args, cwd=cwd, env=env, location=self.location) \
            if self.venv_backend == "uv" else []
        return Step(self._describer.describe(call, args, cwd=cwd, env=env), run=run, cwd=cwd, env=dict(self.env),
                    unpinned=self._describer.unpinned(call, args, cwd=cwd, env=env), locks=locks)

    def _run_step(self, step: Step, *, replay: bool = False) -> Any:
        """Run an install call for real and note which local, non-editable projects it (re)installed."""
        assert step.run is not None
        before = dists.local_installs(Path(self.location))
        started = time.perf_counter()
        try:
            if replay:
                with _chdir(step.cwd), self._env_as(step.env):
                    return step.run()
            return step.run()
        finally:
            self._build_seconds += time.perf_counter() - started
            step.volatile = dists.changed(before, dists.local_installs(Path(self.location)))

    def _start_partial(self, step: Step, key: Key, *, recreate: bool) -> bool:
        """Before an exact sync (``step``) that has no entry: restore the nearest entry instead of a new env (same
        interpreter, backend, session and salt; most locked distributions shared: the core's ``restore_nearest``)
        and replay the calls before it; the sync then installs, upgrades and removes only the difference, and the
        env is stored at the session's end if, and only if, the session succeeded. False: no entry is near (or it
        cannot be used), and the env is what it was (``recreate``: a fresh one again)."""
        assert self._cache is not None
        if self._settings.refresh:
            return False
        wanted: dict[str, str] = {}
        for lock in step.locks:
            try:
                wanted.update(locked_distributions(lock))
            except VenvCacheError as exc:
                logger.debug(f"venvcache: no partial restore: {exc}")
                return False
        keep = ("tmp",) if os.path.isfile(os.path.join(self.location, "pyvenv.cfg")) else None
        with self._user_files_kept(keep):
            result = self._cache.restore_nearest(key, self.location, wanted, requirements=PARTIAL_REQUIREMENTS,
                                                 project_root=self._root)
            if not result.partial:
                return False
            try:
                entry = self._cache.get(result.source)
                _, cached = sequences.read_marker(result.source, entry.metadata if entry is not None else {})
                for volatile in cached.volatile:  # local projects it installed: the calls reinstall them
                    for dist_info in volatile:
                        dists.remove(Path(self.location), dist_info)
            except (ValueError, OSError, VenvCacheError) as exc:
                logger.warning(f"venvcache: entry {result.source[:8]} cannot be used ({exc}); building the env")
                self._remove_location()
                if recreate:
                    self._real_create()
                return False
        self._current, self._exact, self._fresh = None, False, False
        self._partial = _Partial(result, installed_distributions(self.location))
        self._why = (f"{_ordinal_call(len(self._seen))} is new, an exact sync; started from the nearest entry "
                     f"{result.source[:8]}")
        for earlier in self._seen:  # the calls before the sync, deferred or served so far: none is in this env
            self._run_step(earlier, replay=True)
        return True

    def _continues(self, prefix: Sequence[str]) -> bool:
        """Whether a cached sequence may go on with these calls (the remote's entries cannot be listed: maybe)."""
        if self._settings.refresh or self._cache is None:
            return False
        return self._tree().continues(prefix) or self._cache.remote is not None

    def _settle(self, steps: Sequence[Step], *, allow_exact: bool) -> tuple[bool, str]:
        """Make the env hold exactly ``steps``: (True, "") when an entry holds them (restored if need be), else
        (False, how it was built): the nearest entry restored and the rest run on top, or a new env."""
        digests = tuple(s.digest for s in steps)
        if self._exact and self._current is not None and self._current.steps == digests:
            return True, ""
        tree = self._tree()
        if allow_exact and steps and not self._settings.refresh:
            exact = tree.exact(digests)
            key = exact.key if exact is not None else None
            if key is None and self._cache is not None and self._cache.remote is not None:
                key = self._sequence_key(steps).digest
            if key is not None and self._restore(key, steps):
                self._exact = True
                return True, ""
        self._require_hit(self._sequence_key(steps), f"no entry for these {_calls(len(steps))}")
        near = tree.nearest(digests) if not self._settings.refresh else None
        if near is not None and self._restore(near.key, steps[:len(near.steps)]):
            for step in steps[len(near.steps):]:
                self._run_step(step, replay=True)
            self._exact = True
            return False, (f"no entry for these {_calls(len(steps))}; restored {near.key[:8]} (the first "
                           f"{len(near.steps)}) and ran the rest on top")
        self._current = None
        keep = ("tmp",) if os.path.isfile(os.path.join(self.location, "pyvenv.cfg")) else None
        with self._user_files_kept(keep):
            self._remove_location()
            self._real_create()
        for step in steps:
            self._run_step(step, replay=True)
        self._exact = True
        if self._settings.refresh:
            return False, f"{settings.ENV_REFRESH} is set"
        return False, "no entry" if not tree.entries else f"no entry for these {_calls(len(steps))}"

    # -- restore, create, store ----------------------------------------------------------------------------------
    def _tree(self) -> sequences.SequenceTree:
        if self._tree_cache is None:
            assert self._cache is not None
            self._tree_cache = sequences.SequenceTree.from_cache(self._cache, self._family)
        return self._tree_cache

    def _sequence_key(self, steps: Sequence[Step]) -> Key:
        return keying.sequence_key(interpreter=self._identity, environment=self._environment,
                                   steps=[s.doc for s in steps], salt=self._settings.salt)

    def _restore(self, key: str, steps: Sequence[Step] | None) -> bool:
        """Put the entry ``key`` at the location; with ``steps`` (the calls it must hold), re-run those of them that
        installed a local project (their stale copy is removed first). False on a miss or an unusable entry."""
        assert self._cache is not None
        if self._settings.refresh:
            return False
        keep = ("tmp",) if os.path.isfile(os.path.join(self.location, "pyvenv.cfg")) else None
        with self._user_files_kept(keep):
            result = self._cache.restore(key, self.location, project_root=self._root)
            if not result.hit:
                return False
            try:
                entry = self._cache.get(key)  # the entry just restored (None if evicted since)
                family, cached = sequences.read_marker(key, entry.metadata if entry is not None else {})
                if family != self._family or (steps is not None
                                              and cached.steps != tuple(s.digest for s in steps)):
                    raise ValueError("its install sequence is not the one asked for")
                for volatile in cached.volatile:
                    for dist_info in volatile:
                        dists.remove(Path(self.location), dist_info)
            except (ValueError, OSError, VenvCacheError) as exc:
                logger.warning(f"venvcache: entry {key[:8]} cannot be used ({exc}); building the env")
                self._remove_location()
                return False
        self._current = cached
        self._exact = steps is not None or not cached.steps  # (the fast path restores before any call is made)
        logger.info(describe_restore(result, label=self._session))
        for step, volatile in zip(steps or (), cached.volatile, strict=False):
            if volatile:
                self._run_step(step, replay=True)
        return True

    def _real_create(self) -> bool:
        internals.set_reused(self, False)
        started = time.perf_counter()
        created = internals.VirtualEnv.create(self)
        self._build_seconds += time.perf_counter() - started
        internals.set_reused(self, False)
        return created

    def _require_hit(self, key: Key, why: str) -> None:
        """``NOX_VENV_CACHE_REQUIRE=1``: a miss stops the session (the key and the nearest entry named) before any
        installer runs."""
        if not self._settings.require or self._settings.refresh:
            return
        result = RestoreResult(False, key.digest, Path(self.location), reason=MissReason.NO_ENTRY, detail=why)
        assert self._cache is not None
        explanation = explain_miss(self._cache, key)
        if explanation is not None:
            result.nearest, result.differs = explanation.nearest, list(explanation.differs)
        error = RequireHitError(result, label=self._session,
                                fix=f"{settings.ENV_REQUIRE} is set: no installer runs; run once without it to fill "
                                    "the cache")
        internals.session_error(str(error))

    def _explained(self, key: Key, why: str) -> str:
        """A miss's reason, with the nearest entry by key document and what differs when there is no entry at all."""
        if not why.startswith("no entry") or self._cache is None:
            return why
        explanation = explain_miss(self._cache, key)
        if explanation is None:
            return why
        return f"{why}; {nearest_phrase(explanation.nearest, list(explanation.differs))}"

    def _store_key(self) -> Key:
        """The key the env built here is stored under: the lock files' own key while it is free, else the key of
        the whole sequence."""
        assert self._cache is not None
        sequence = self._sequence_key(self._seen)
        if self._primary is None:
            return sequence
        exact = self._tree().exact(tuple(s.digest for s in self._seen))
        if exact is not None:
            return self._primary if exact.key == self._primary.digest else sequence
        return sequence if self._cache.is_complete(self._primary.digest) else self._primary

    def _store(self) -> None:
        assert self._cache is not None
        key = self._store_key()
        location = Path(self.location)
        logger.info(describe_miss(key, self._explained(key, self._why or "no entry"), label=self._session))
        record = sequences.marker(session=self._session, family=self._family,
                                  steps=[(s.digest, s.doc, s.volatile) for s in self._seen])
        with self._snapshot_in_place():
            if self._partial is not None:  # what the sync changed: the env as stored against the entry restored
                partial, after = self._partial.result, installed_distributions(location)
                partial.differ = distribution_changes(self._partial.before, after)
                partial.total = len(set(self._partial.before) | set(after))
                logger.info(describe_partial(partial, label=self._session,
                                             synced=time.perf_counter() - self._partial.started))
            result = self._cache.store(key, location, project_root=self._root, replace=self._settings.refresh,
                                       exclude=("tmp",), metadata={sequences.MARKER: record},
                                       build_seconds=self._build_seconds)
        logger.info(describe_store(result, label=self._session))
        unpinned = sorted({name for step in self._seen for name in step.unpinned}, key=str.lower)
        if result.stored and unpinned:
            logger.warning(f"venv cache freezes unpinned requirements ({', '.join(unpinned)}) at the versions "
                           f"installed now; set max_age or run with {settings.ENV_REFRESH}=1 to pick up new releases")

    def _give_up(self, exc: Exception) -> None:
        """A cache error: say so once, make sure a real env exists, and leave the session to plain nox."""
        logger.warning(f"venvcache: {exc}; this session runs without the cache")
        holds_calls = self._exact or (self._phase is Phase.BUILD)
        if not holds_calls or not os.path.isfile(os.path.join(self.location, "pyvenv.cfg")):
            self._phase = Phase.OFF
            keep = ("tmp",) if os.path.isfile(os.path.join(self.location, "pyvenv.cfg")) else None
            with self._user_files_kept(keep):
                self._remove_location()
                self._real_create()
            for step in self._seen:  # the calls so far were served or deferred: this env has none of them
                self._run_step(step, replay=True)
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
