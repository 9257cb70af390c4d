"""The plugin's settings: the project's venvcache config (as the CLI reads it) with pytest's options on top."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from venvcache_core import LINK_MODES, Config, VenvCacheError, load

from .installers import CHOICES


@dataclass(frozen=True)
class Settings:
    """What one pytest run does: ``enabled`` False builds every env and stores nothing (``--no-venvcache``)."""

    config: Config
    enabled: bool
    refresh: bool
    installer: str
    started: float  # wall clock of the run's start: with --venvcache-refresh, entries made since then are fresh


def add_options(parser: pytest.Parser) -> None:
    """``--venvcache-dir``, ``--venvcache-refresh``, ``--no-venvcache`` and the ``venvcache_*`` ini keys."""
    group = parser.getgroup("venvcache", "cached virtual environments (venvcache)")
    group.addoption("--venvcache-dir", dest="venvcache_dir", metavar="DIR", default=None,
                    help="cache directory (default: venvcache's cache_path, as the virtualenv-cache CLI uses)")
    group.addoption("--venvcache-refresh", dest="venvcache_refresh", action="store_true", default=False,
                    help="rebuild each requested env once in this run and replace its cache entry")
    group.addoption("--no-venvcache", dest="venvcache_disabled", action="store_true", default=False,
                    help="build every requested env, restore and store nothing")
    parser.addini("venvcache_dir", "cache directory, relative to the ini file (default: the core's cache_path)",
                  default=None)
    parser.addini("venvcache_link_mode", "how entries are put in place: " + ", ".join(LINK_MODES)
                  + " (default: the core's link_mode)", default=None)
    parser.addini("venvcache_installer", "installer for new envs: " + ", ".join(CHOICES) + " (default: auto)",
                  default="auto")


def _ini_base(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath else config.rootpath


def from_pytest(config: pytest.Config, *, started: float) -> Settings:
    """Read the core config for the rootdir and apply the command line and ini (a bad value: VenvCacheError)."""
    core = load(config.rootpath)
    changes: dict[str, object] = {}
    folder = config.getoption("venvcache_dir") or config.getini("venvcache_dir")
    if folder:
        base = Path.cwd() if config.getoption("venvcache_dir") else _ini_base(config)
        changes["cache_path"] = Path(base, os.path.expanduser(str(folder))).absolute()
    mode = config.getini("venvcache_link_mode")
    if mode:
        if mode not in LINK_MODES:
            raise VenvCacheError(f"venvcache_link_mode = {mode!r} is not valid", path=config.inipath,
                                 fix="use one of " + ", ".join(LINK_MODES))
        changes["link_mode"] = mode
    installer = str(config.getini("venvcache_installer") or "auto")
    if installer not in CHOICES:
        raise VenvCacheError(f"venvcache_installer = {installer!r} is not valid", path=config.inipath,
                             fix="use one of " + ", ".join(CHOICES))
    return Settings(config=core.with_overrides(**changes) if changes else core,
                    enabled=core.enabled and not config.getoption("venvcache_disabled"),
                    refresh=bool(config.getoption("venvcache_refresh")), installer=installer,
                    started=started)
