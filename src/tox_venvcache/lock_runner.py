"""tox-uv's ``uv-venv-lock-runner``, with the cache around its ``uv sync``.

The lock runner installs with ``uv sync`` itself, so ``tox_on_install`` never fires for its deps. The plugin
registers (``trylast``, after tox-uv) a subclass under the same id and the same class name (tox records the class name
in ``.tox-info.json``; keeping it means envs made with or without the plugin stay interchangeable). It restores right
before ``uv sync`` of a venv created in this run (``uv sync`` then finds everything installed and only installs the
project) and stores after a successful sync. The key is ``uv.lock``'s content and the sync flags.
"""

from __future__ import annotations

from typing import Any

from . import lifecycle


def wrap(base: type[Any]) -> type[Any]:
    """A subclass of tox-uv's lock runner (or of whatever is registered under its id) that calls the cache."""

    class CachedLockRunner(base):  # type: ignore[misc, valid-type]
        """``uv-venv-lock-runner`` with venvcache: restore before ``uv sync``, store after it."""

        def create_python_env(self) -> None:
            super().create_python_env()
            lifecycle.on_lock_created(self)

        def _build_uv_sync_cmd(self, install_pkg: str | None) -> list[str]:
            cmd: list[str] = super()._build_uv_sync_cmd(install_pkg)
            lifecycle.before_uv_sync(self, cmd, install_pkg)
            return cmd

        def _setup_env(self) -> None:
            super()._setup_env()
            lifecycle.after_uv_sync(self)

    CachedLockRunner.__name__ = base.__name__
    CachedLockRunner.__qualname__ = base.__qualname__
    CachedLockRunner.__module__ = __name__
    CachedLockRunner.venvcache_wrapped = True  # type: ignore[attr-defined]
    return CachedLockRunner
