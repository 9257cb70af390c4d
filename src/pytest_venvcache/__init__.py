"""pytest plugin of venvcache: test suites get ready virtual environments, built once and then restored.

``venv_factory`` (per test), ``session_venv_factory`` (shared, read-only) and the ``venv`` fixture of
``@pytest.mark.venv([...])``. Keys, storing and restoring are the core's (:mod:`venvcache_core`).
"""

from __future__ import annotations

from .env import CommandFailed, Venv
from .factory import VenvFactory

__all__ = ["CommandFailed", "Venv", "VenvFactory"]
