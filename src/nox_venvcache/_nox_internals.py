"""Every nox detail nox_venvcache relies on that is not nox's documented API, in one place.

nox has no plugin hooks: a backend can be added to ``nox.virtualenv.ALL_VENVS`` (public since 2024.03), but knowing
what a session installs, and whether it succeeded, needs a few private attributes. They are read and patched only
here. :func:`problems` names each one that is missing or changed shape; ``tests/nox/test_nox_internals.py`` fails with
that list when nox changes, and at run time the backend falls back to plain nox behaviour (with one warning).

Read in nox 2026.10.20 (``virtualenv.py``, ``sessions.py``).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nox.sessions
import nox.virtualenv
from packaging.version import Version

VirtualEnv = nox.virtualenv.VirtualEnv
Session = nox.sessions.Session
SessionRunner = nox.sessions.SessionRunner

TESTED_WITH = "2026.10.20"

#: Session methods we wrap (public methods; wrapping them is the private part).
SESSION_METHODS = ("install", "run_install", "run")
#: keyword arguments ``VirtualEnv.__init__`` must accept (more are passed when nox knows them).
VIRTUALENV_KWARGS = ("reuse_existing", "venv_backend", "venv_params")


def all_venvs() -> dict[str, Callable[..., Any]]:
    """nox's registry of backend factories (``-db``/``-fb`` choices are frozen from it at import)."""
    return nox.virtualenv.ALL_VENVS


def uv_state() -> tuple[bool, str, str]:
    """(nox found uv, the uv command nox runs, uv's version) — module attributes nox computes lazily."""
    return bool(nox.virtualenv.HAS_UV), str(nox.virtualenv.UV), str(nox.virtualenv.UV_VERSION)


def has_uv() -> bool:
    """``nox.virtualenv.HAS_UV``, False when this nox has no such attribute."""
    try:
        return bool(nox.virtualenv.HAS_UV)
    except AttributeError:
        return False


def fallback_factory(inner: str | None) -> Callable[..., Any]:
    """What ``cached`` means when this nox no longer matches: nox's own ``VirtualEnv``, uncached."""

    def factory(*args: Any, venv_backend: str | None = None, **kwargs: Any) -> Any:
        backend = inner or ("uv" if has_uv() else "virtualenv")
        try:
            accepted = virtualenv_kwargs()
        except (TypeError, ValueError):
            accepted = frozenset(VIRTUALENV_KWARGS)
        return VirtualEnv(*args, venv_backend=backend, **{k: v for k, v in kwargs.items() if k in accepted})

    return factory


def virtualenv_kwargs() -> frozenset[str]:
    """Keyword arguments this nox's ``VirtualEnv.__init__`` accepts (they grow across versions)."""
    return frozenset(inspect.signature(VirtualEnv.__init__).parameters) - {"self", "location", "interpreter"}


# -- the env -----------------------------------------------------------------------------------------------------
def clean_location(env: VirtualEnv) -> bool:
    """nox's reuse decision: False when the existing env is reused (``-r``), else True (non-uv envs are deleted)."""
    return bool(env._clean_location())


def resolved_interpreter(env: VirtualEnv) -> str:
    """The interpreter nox creates the env from (raises ``InterpreterNotFound`` like nox does)."""
    return str(env._resolved_interpreter)


def is_reused(env: Any) -> bool:
    """Whether nox reused the env as it was (then ``--no-install`` skips installs)."""
    return bool(getattr(env, "_reused", False))


def set_reused(env: Any, value: bool) -> None:
    env._reused = value


def ensure_envdir_markers(envdir: Path) -> None:
    """The ``.gitignore`` and ``CACHEDIR.TAG`` nox writes in its env folder (best effort: cosmetic)."""
    for name in ("_ensure_gitignore", "_ensure_cachedir_tag"):
        func = getattr(nox.virtualenv, name, None)
        if callable(func):
            func(envdir)


# -- the session ---------------------------------------------------------------------------------------------------
def runner_of(session: Any) -> Any:
    """The ``SessionRunner`` behind a ``Session`` (the object that holds the env, the config and the result)."""
    return session._runner


def env_of_runner(runner: Any) -> Any:
    return getattr(runner, "venv", None)


def succeeded(runner: Any) -> bool:
    """Whether the session that just ran succeeded (``Result.__bool__``: success, or skipped)."""
    result = getattr(runner, "result", None)
    return result is not None and result.status == nox.sessions.Status.SUCCESS


def install_only(session: Any) -> bool:
    """Whether nox runs with ``--install-only`` (then ``session.run`` skips its command)."""
    return bool(getattr(runner_of(session).global_config, "install_only", False))


def session_error(message: str) -> None:
    """Stop the running session with ``message``, as ``session.error()`` does (nox reports it aborted)."""
    raise nox.sessions._SessionQuit(message)


def session_name(runner: Any) -> str:
    return str(runner.friendly_name)


def patch_session_methods(make_wrapper: Callable[[str, Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``Session.install``/``run_install``/``run`` by ``make_wrapper(name, original)`` (once)."""
    for name in SESSION_METHODS:
        original = getattr(Session, name)
        if getattr(original, "__venvcache_original__", None) is not None:
            continue
        wrapper = functools.wraps(original)(make_wrapper(name, original))
        wrapper.__venvcache_original__ = original  # type: ignore[attr-defined]
        setattr(Session, name, wrapper)


#: the runner whose ``execute`` is running (nox creates the env inside it; the backend factory reads the name here)
current_runner: contextvars.ContextVar[Any] = contextvars.ContextVar("nox_venvcache_runner", default=None)


def patch_execute(after: Callable[[Any], None]) -> None:
    """Make the running session known to the env factory, and call ``after(runner)`` once ``SessionRunner.execute``
    has set the session's result (patched once)."""
    original = SessionRunner.execute
    if getattr(original, "__venvcache_original__", None) is not None:
        return

    @functools.wraps(original)
    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = current_runner.set(self)
        try:
            return original(self, *args, **kwargs)
        finally:
            current_runner.reset(token)
            after(self)

    execute.__venvcache_original__ = original  # type: ignore[attr-defined]
    SessionRunner.execute = execute  # type: ignore[method-assign]


# -- the pin -------------------------------------------------------------------------------------------------------
def problems() -> list[str]:
    """What no longer matches the nox this module was written for (empty when all is well)."""
    found: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            found.append(what)

    need(isinstance(getattr(nox.virtualenv, "ALL_VENVS", None), dict), "nox.virtualenv.ALL_VENVS is not a dict")
    for name in ("HAS_UV", "UV", "UV_VERSION"):
        try:
            getattr(nox.virtualenv, name)
        except Exception:  # AttributeError, or whatever nox's lazy module __getattr__ raises
            found.append(f"nox.virtualenv.{name} is gone")
    need(callable(getattr(VirtualEnv, "_clean_location", None)), "VirtualEnv._clean_location() is gone")
    need(isinstance(inspect.getattr_static(VirtualEnv, "_resolved_interpreter", None), property),
         "VirtualEnv._resolved_interpreter is no longer a property")
    need(isinstance(inspect.getattr_static(VirtualEnv, "venv_backend", None), property),
         "VirtualEnv.venv_backend is no longer a property")
    try:
        accepted = virtualenv_kwargs()
        for kw in VIRTUALENV_KWARGS:
            need(kw in accepted, f"VirtualEnv.__init__ no longer accepts {kw}=")
        probe = VirtualEnv("/nonexistent/venvcache-probe", venv_backend="virtualenv")
        need(hasattr(probe, "_reused"), "VirtualEnv instances have no _reused attribute")
    except Exception as exc:  # any failure here is exactly what the pin reports
        found.append(f"VirtualEnv cannot be constructed as before: {exc!r}")
    need("_runner" in getattr(Session, "__slots__", ()), "Session no longer keeps its runner in _runner")
    for name in SESSION_METHODS:
        need(callable(getattr(Session, name, None)), f"Session.{name}() is gone")
    params = inspect.signature(Session.install).parameters
    need("env" in params, "Session.install() no longer takes env=")
    need(callable(getattr(SessionRunner, "execute", None)), "SessionRunner.execute() is gone")
    try:  # a runner as nox makes one: it must start with no env and no result
        make: Any = SessionRunner  # stand-ins for the function, config and manifest: only attributes are read
        runner = make("probe", ["probe(x=1)"], lambda session: None, SimpleNamespace(posargs=[]), None)
    except Exception as exc:  # any failure here is exactly what the pin reports
        found.append(f"SessionRunner cannot be constructed as before: {exc!r}")
    else:
        for attr in ("venv", "result"):
            need(hasattr(runner, attr) and getattr(runner, attr) is None, f"SessionRunner no longer sets self.{attr}")
        need(getattr(runner, "friendly_name", None) == "probe(x=1)",
             "SessionRunner.friendly_name is no longer the first signature")
    need(isinstance(inspect.getattr_static(SessionRunner, "friendly_name", None), property),
         "SessionRunner.friendly_name is no longer a property")
    need(hasattr(nox.sessions, "Status") and hasattr(nox.sessions.Status, "SUCCESS"), "nox.sessions.Status changed")
    need(isinstance(getattr(nox.sessions, "_SessionQuit", None), type)
         and issubclass(nox.sessions._SessionQuit, Exception), "nox.sessions._SessionQuit is gone")
    try:
        import attrs
        from nox._options import NoxConfig

        need("install_only" in attrs.fields_dict(NoxConfig), "nox's config has no install_only")
    except Exception as exc:  # any failure here is exactly what the pin reports
        found.append(f"nox's config cannot be read as before: {exc!r}")
    return found


def nox_version() -> str:
    from importlib import metadata

    return metadata.version("nox")


def newer_than_tested() -> bool:
    return Version(nox_version()) > Version(TESTED_WITH)
