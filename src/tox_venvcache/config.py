"""Where the plugin's settings come from: the ``[virtualenv-cache]`` section, a per-env switch, the command line and
an environment variable.

- ``[virtualenv-cache]`` in tox.ini and tox.toml, ``[tool.tox.virtualenv-cache]`` in pyproject.toml: read through
  tox's own loaders (so tox.ini values get tox substitutions), validated by the core's ``from_mapping``.
- ``virtualenv_cache = false`` in one env opts that env out.
- ``--no-venv-cache`` (or ``TOX_NO_VENV_CACHE=1``, or ``TOX_VENV_CACHE=0``) turns the cache off for one run;
  ``--venv-cache-refresh`` (or ``TOX_VENV_CACHE_REFRESH=1``) ignores existing entries and stores anew;
  ``--venv-cache-require`` (or ``TOX_VENV_CACHE_REQUIRE=1``) makes a miss an error that stops the env.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _tox_internals

if TYPE_CHECKING:
    from tox.config.cli.parser import ToxParser
    from tox.config.sets import EnvConfigSet
    from tox.session.state import State
    from tox.tox_env.api import ToxEnv

    from venvcache_core import Config

ENV_KEY = "virtualenv_cache"
ENV_SWITCH = "TOX_VENV_CACHE"
REQUIRE_SWITCH = "TOX_VENV_CACHE_REQUIRE"
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """The validated section of one tox run, or why the cache is off for the whole run."""

    config: Config | None
    error: str = ""  # a bad section: warned once, then tox runs uncached

    @property
    def enabled(self) -> bool:
        return self.config is not None and self.config.enabled


def add_options(parser: ToxParser) -> None:
    """``--no-venv-cache`` and ``--venv-cache-refresh`` for every tox command that sets up envs."""
    parser.add_argument("--no-venv-cache", dest="no_venv_cache", action="store_true",
                        help="do not restore or store virtual environments with venvcache in this run")
    parser.add_argument("--venv-cache-refresh", dest="venv_cache_refresh", action="store_true",
                        help="ignore cached virtual environments: install as usual and replace the cached copy")
    parser.add_argument("--venv-cache-require", dest="venv_cache_require", action="store_true",
                        help=f"a venv cache miss is an error that stops the env before any installer runs "
                             f"(also {REQUIRE_SWITCH}=1): for offline CI, and to prove a pipeline is fully cached")


def add_env_config(env_conf: EnvConfigSet) -> None:
    """The per-env opt-out ``virtualenv_cache = false``."""
    env_conf.add_config(keys=[ENV_KEY], of_type=bool, default=True,
                        desc="restore this env's deps from venvcache and store them after a fresh install")


_LIST_KEYS = frozenset({"key_files", "requirements_lock_paths"})
_BOOL_KEYS = frozenset({"enabled", "shared"})
_TRUE, _FALSE_WORDS = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _from_ini(key: str, value: str) -> Any:
    """An ini string as the TOML type the core expects: lists one per line (or comma separated), whole numbers and
    booleans converted when they look like one (anything else is left for the core to reject with a clear line)."""
    if key in _LIST_KEYS:
        return [part.strip() for part in re.split(r"[\n,]", value) if part.strip()]
    text = value.strip()
    if key == "cache_size" and text.isdigit():
        return int(text)
    if key in _BOOL_KEYS and text.lower() in _TRUE | _FALSE_WORDS:
        return text.lower() in _TRUE
    return text


def read_section(state: State) -> dict[str, Any]:
    """The raw ``[virtualenv-cache]`` section as tox sees it (tox.ini strings go through tox's substitutions, then
    get the TOML type the core expects)."""
    from venvcache_core import SECTION

    return {key: _from_ini(key, value) if isinstance(value, _tox_internals.IniText) else value
            for key, value in _tox_internals.read_section(state, SECTION).items()}


def load(state: State) -> Settings:
    """Validate the section of this run; a bad section is an error message, never an exception."""
    from venvcache_core import SECTION, VenvCacheError, from_mapping

    try:
        root = Path(state.conf.core["tox_root"])
        source = getattr(state.conf, "src_path", None)
        return Settings(from_mapping(read_section(state), work_dir=root,
                                     source=Path(source) if source else None))
    except VenvCacheError as exc:
        return Settings(None, error=str(exc))
    except Exception as exc:  # a config oddity must not break tox
        return Settings(None, error=f"[{SECTION}] cannot be read: {exc}")


def run_switch_off(tox_env: ToxEnv) -> str:
    """Why the cache is off for this run by command line or environment ('' when it is not)."""
    if getattr(tox_env.options, "no_venv_cache", False):
        return "--no-venv-cache"
    if os.environ.get(ENV_SWITCH, "").strip().lower() in _FALSE:
        return f"{ENV_SWITCH}={os.environ[ENV_SWITCH]}"
    return ""


def require(tox_env: ToxEnv) -> bool:
    """``--venv-cache-require`` / ``TOX_VENV_CACHE_REQUIRE=1``: a miss stops the env instead of installing."""
    if getattr(tox_env.options, "venv_cache_require", False):
        return True
    return os.environ.get(REQUIRE_SWITCH, "").strip().lower() not in _FALSE | {""}


def refresh(tox_env: ToxEnv) -> bool:
    """``--venv-cache-refresh``: do not restore, and replace the entry after the install."""
    return bool(getattr(tox_env.options, "venv_cache_refresh", False))


def env_opted_out(tox_env: ToxEnv) -> bool:
    """``virtualenv_cache = false`` in this env."""
    try:
        return not tox_env.conf[ENV_KEY]
    except KeyError:  # an env type whose config never went through tox_add_env_config
        return False
