"""The pytest hooks, options and fixtures of venvcache (entry point ``pytest11``; off with ``-p no:venvcache``).

Each hook only routes: envs are made by :mod:`.factory`, settings read by :mod:`.settings`, counters added up and
shown by :mod:`.summary`. Under xdist the controller hands its start time to the workers (for
``--venvcache-refresh``) and adds up their counters for the one summary line.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from . import settings
from .env import Venv
from .factory import CacheRun, VenvFactory
from .summary import Tally

RUN = pytest.StashKey[CacheRun]()
MARKER_HELP = ("venv(requirements, *, python=None, installer=None, **options): the `venv` fixture's requirements; "
               "options as venv_factory takes them")


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    workerinput = getattr(config, "workerinput", None)
    started = workerinput.get("venvcache_started") if isinstance(workerinput, dict) else None
    config.stash[RUN] = CacheRun(config, started if isinstance(started, float) else time.time())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: workers take the run's start time from here (refresh replaces entries once per run)."""
    node.workerinput["venvcache_started"] = node.config.stash[RUN].started


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: add a finished worker's counters to the run's."""
    output = getattr(node, "workeroutput", None) or {}
    node.config.stash[RUN].tally.add(Tally.from_json(output.get("venvcache")))


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if isinstance(workeroutput, dict):
        workeroutput["venvcache"] = session.config.stash[RUN].tally.to_json()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash[RUN]
    if run.tally.requested:
        terminalreporter.write_line(run.tally.line(enabled=run.enabled))


@pytest.fixture
def venv_factory(request: pytest.FixtureRequest, tmp_path: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> VenvFactory:
    """Make a venv for this test: ``venv_factory(["pkg==1.0", "-r", "req.txt", "-e", path], python="3.12")``.

    The env goes into the test's ``tmp_path`` (restored from the cache, or built and stored), so the test may change it.
    """
    return VenvFactory(request.config.stash[RUN], base_dir=tmp_path,
                       roots=[tmp_path, tmp_path_factory.getbasetemp(), request.config.rootpath])


@pytest.fixture(scope="session")
def session_venv_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> VenvFactory:
    """Like ``venv_factory``, for envs many tests share read-only: one env per key and session (per xdist worker)."""
    return VenvFactory(request.config.stash[RUN], base_dir=tmp_path_factory.mktemp("venvcache"),
                       roots=[tmp_path_factory.getbasetemp(), request.config.rootpath])


@pytest.fixture
def venv(request: pytest.FixtureRequest, venv_factory: VenvFactory) -> Venv:
    """The env of the test's ``@pytest.mark.venv([...])`` marker (the closest one: function, class, module)."""
    marker = request.node.get_closest_marker("venv")
    if marker is None:
        pytest.fail("venvcache: the venv fixture needs @pytest.mark.venv([requirements]) on the test",
                    pytrace=False)
    return venv_factory(*marker.args, **marker.kwargs)
