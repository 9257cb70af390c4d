"""Where the nox backend's settings come from, lowest priority first.

1. ``[tool.virtualenv-cache]`` in pyproject.toml / ``.virtualenv_cache.toml`` / ``[virtualenv-cache]`` in tox.ini of
   the noxfile's folder (the core's :func:`venvcache_core.load`).
2. ``nox_venvcache.configure(...)`` in the noxfile (same names as the config file, plus ``lock_files`` and
   ``backend``).
3. Per session: ``venv_params=nox_venvcache.params(lock_files=[...], salt=...)``.
4. The environment: ``NOX_VENV_CACHE=0`` turns the cache off for a run and ``NOX_VENV_CACHE=1`` on for every
   virtualenv/venv/uv session (see :func:`nox_venvcache.register`); ``NOX_VENV_CACHE_REFRESH=1`` ignores existing
   entries and replaces them after the installs; ``NOX_VENV_CACHE_REQUIRE=1`` makes a miss an error that stops the
   session before any installer runs (air-gapped CI, proving a pipeline is fully cached).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venvcache_core import Config, VenvCacheError, from_mapping, load

ENV_SWITCH = "NOX_VENV_CACHE"
ENV_REFRESH = "NOX_VENV_CACHE_REFRESH"
ENV_REQUIRE = "NOX_VENV_CACHE_REQUIRE"
PARAM_PREFIX = "--venvcache-"
_FALSE = {"0", "false", "no", "off"}
_TRUE = {"1", "true", "yes", "on"}
INNER_BACKENDS = ("auto", "uv", "virtualenv", "venv")

_overrides: dict[str, Any] = {}


def configure(*, cache_path: str | os.PathLike[str] | None = None, cache_size: int | None = None,
              max_bytes: int | str | None = None, max_age: float | str | None = None, link_mode: str | None = None,
              salt: str | None = None, lock_files: Sequence[str] | None = None, enabled: bool | None = None,
              backend: str | None = None, config_path: str | os.PathLike[str] | None = None) -> None:
    """Settings for every ``cached`` session of this noxfile; they win over the config file.

    ``lock_files`` (default: the config's ``requirements_lock_paths``) turns on the fast path: the env is keyed by
    those files' contents and restored while nox creates it. ``backend`` picks the inner backend (``auto``: uv when
    nox finds it, else virtualenv). Values are checked like the config file's; a bad one raises ``VenvCacheError``.
    """
    given = {"cache_path": cache_path, "cache_size": cache_size, "max_bytes": max_bytes, "max_age": max_age,
             "link_mode": link_mode, "salt": salt, "enabled": enabled,
             "requirements_lock_paths": list(lock_files) if lock_files is not None else None}
    raw = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in given.items() if v is not None}
    from_mapping(raw, work_dir=Path.cwd(), source=None)  # validate now, where the mistake is
    if backend is not None and backend not in INNER_BACKENDS:
        raise VenvCacheError(f"backend={backend!r} is not known", fix="use one of " + ", ".join(INNER_BACKENDS))
    _overrides.update(raw)
    if backend is not None:
        _overrides["backend"] = backend
    if config_path is not None:
        _overrides["config_path"] = os.fspath(config_path)


def reset() -> None:
    """Forget ``configure()`` (tests)."""
    _overrides.clear()


def params(*, lock_files: Iterable[str] = (), salt: str | None = None) -> list[str]:
    """``venv_params`` entries for one session: key its env by ``lock_files`` (fast path) and/or add a ``salt``.

    They are removed before nox creates the env; combine freely with real params:
    ``venv_params=["--system-site-packages", *nox_venvcache.params(lock_files=["requirements.txt"])]``.
    """
    out = [f"{PARAM_PREFIX}lock-file={path}" for path in lock_files]
    if salt is not None:
        out.append(f"{PARAM_PREFIX}salt={salt}")
    return out


@dataclass(frozen=True)
class SessionSettings:
    """Everything one cached env needs to know; ``config`` is None when the cache is off (``off`` says why)."""

    config: Config | None
    backend: str = "auto"
    lock_files: tuple[str, ...] = ()
    salt: str = ""
    refresh: bool = False
    require: bool = False
    off: str = ""
    venv_params: tuple[str, ...] = field(default=())


def split_params(venv_params: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Separate our ``--venvcache-NAME=VALUE`` entries from the params meant for virtualenv/uv."""
    rest: list[str] = []
    ours: dict[str, list[str]] = {}
    for param in venv_params:
        if isinstance(param, str) and param.startswith(PARAM_PREFIX):
            name, _, value = param[len(PARAM_PREFIX):].partition("=")
            ours.setdefault(name, []).append(value)
        else:
            rest.append(param)
    return rest, ours


def for_session(work_dir: Path, venv_params: Sequence[str]) -> SessionSettings:
    """Resolve the settings of one session (raises ``VenvCacheError`` on a bad config file or param)."""
    rest, ours = split_params(venv_params)
    unknown = sorted(set(ours) - {"lock-file", "salt"})
    if unknown:
        raise VenvCacheError(f"unknown venv_params entry {PARAM_PREFIX}{unknown[0]}",
                             fix="build them with nox_venvcache.params(lock_files=..., salt=...)")
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in _FALSE:
        return SessionSettings(None, off=f"{ENV_SWITCH}={os.environ[ENV_SWITCH]}", venv_params=tuple(rest))
    overrides = dict(_overrides)
    backend = overrides.pop("backend", "auto")
    config_path = overrides.pop("config_path", None)
    cfg = load(work_dir, config_path)
    if overrides:
        merged = from_mapping(overrides, work_dir=work_dir, source=cfg.source)
        cfg = cfg.with_overrides(**{name: getattr(merged, name) for name in overrides})
    if not cfg.enabled and switch not in _TRUE:  # NOX_VENV_CACHE=1 turns it on for this run
        return SessionSettings(None, off="enabled = false", venv_params=tuple(rest))
    lock_files = tuple(ours.get("lock-file", ())) or cfg.requirements_lock_paths
    salt = cfg.salt + "".join(f"\0{s}" for s in ours.get("salt", ()))
    return SessionSettings(cfg, backend=backend, lock_files=tuple(lock_files), salt=salt, refresh=flag(ENV_REFRESH),
                           require=flag(ENV_REQUIRE), venv_params=tuple(rest))


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get(name, "").strip().lower() in _TRUE
