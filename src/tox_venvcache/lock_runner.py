"""tox-uv's ``uv-venv-lock-runner``, with the cache around its ``uv sync``.

The lock runner installs with ``uv sync`` itself, so ``tox_on_install`` never fires for its deps. The plugin
registers (``trylast``, after tox-uv) a subclass under the same id and the same class name (tox records the class name
in ``.tox-info.json``; keeping it means envs made with or without the plugin stay interchangeable). It restores in
place of ``uv venv`` (tox-uv builds the ``uv sync`` command from the config alone, so the key is known before the venv
exists; see ``early``), or, where that could not be tried, right before ``uv sync`` of a venv created in this run;
``uv sync`` then finds everything installed and only installs the project. It stores after a successful sync. The
key is ``uv.lock``'s content and the sync flags. The subclass overrides private tox-uv methods, so it is built in
``_tox_internals``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _tox_internals as internals
from .state import RUN


def _created(tox_env: Any) -> None:
    """The lock runner created its venv in this run (only then is there something to restore into)."""
    RUN.state(tox_env).created = True


def _before_sync(tox_env: Any, sync_cmd: Sequence[str], install_pkg: str | None) -> None:
    state = RUN.state(tox_env)
    if state.created or state.uv_check is not None:  # a reused venv never imports the core
        from . import lifecycle

        lifecycle.before_uv_sync(tox_env, sync_cmd, install_pkg)


def _after_sync(tox_env: Any) -> None:
    found = RUN.envs.get(tox_env)
    if found is not None and found.pending:
        from . import lifecycle

        lifecycle.after_uv_sync(tox_env)


def wrap(base: type[Any]) -> type[Any]:
    """A subclass of tox-uv's lock runner (or of whatever is registered under its id) that calls the cache."""
    from .early import after_ensure, before_create

    return internals.wrap_lock_runner(base, before_create=before_create, created=_created, after_ensure=after_ensure,
                                      before_sync=_before_sync, after_sync=_after_sync)
