"""venvcache's own nox sessions. ``tests`` dogfoods the ``cached`` backend: ``nox -s tests [-- pytest args]``."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

try:
    import nox_venvcache  # registers the "cached" backends
except ImportError:  # nox runs from an env without venvcache: use this checkout's (nox brings its dependencies)
    sys.path.insert(0, str(Path(__file__).parent / "src"))
    import nox_venvcache  # noqa: F401

nox.options.sessions = ["tests"]


@nox.session(venv_backend="cached")
def tests(session: nox.Session) -> None:
    """The test suite, in an env restored from venvcache when this project's test dependencies are unchanged."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", *(session.posargs or ["-n", "2"]))
