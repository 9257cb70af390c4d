"""Misses and correctness: what changes the key, what a deviating session gets, what is (not) stored."""

from __future__ import annotations

import pytest
from noxsupport import NoxProject, entry_problems

from helpers import have_python
from venvcache_core import Cache

pytestmark = pytest.mark.slow

ONE_FILE = """
@nox.session(venv_backend="cached", python=os.environ.get("SESSION_PYTHON"))
def tests(session):
    session.install(*os.environ.get("INSTALL_ARGS", "-r requirements.txt").split())
    session.run("tinytool")
    session.run("python", "-c", "import sys; print('PYTHON %d.%d' % sys.version_info[:2])")
"""


@pytest.mark.parametrize("change", ["requirements content", "install args", "interpreter"])
def test_a_change_of_input_is_a_miss(project: NoxProject, change: str) -> None:
    project.noxfile(ONE_FILE)
    project.write("requirements.txt", "tinytool==1.0\n")
    before: dict[str, str] = {"SESSION_PYTHON": "3.11"}
    after = dict(before)
    if change == "requirements content":
        expected = "tinytool 2.0"
    elif change == "install args":
        after["INSTALL_ARGS"] = "-r requirements.txt tinylib"
        expected = "tinytool 1.0"
    else:
        if not have_python("3.12"):
            pytest.skip("python3.12 is not available")
        after["SESSION_PYTHON"] = "3.12"
        expected = "PYTHON 3.12"

    assert project.nox(env=before).miss
    assert project.nox(env=before).hit, "unchanged inputs hit"
    if change == "requirements content":
        project.write("requirements.txt", "tinytool==2.0\n")
    changed = project.nox(env=after)
    assert changed.miss and not changed.hit, changed.output
    assert expected in changed.output
    assert len(project.cache.keys()) == 2, "the new env is a new entry; the old one stays for the old inputs"
    assert project.nox(env=after).hit


MULTI = """
@nox.session(venv_backend="cached")
def tests(session):
    with open(os.path.join(session.create_tmp(), "mine"), "w") as fh:  # <env>/tmp, made before the env exists
        fh.write("kept")
    for call in os.environ["CALLS"].split(";"):
        session.install(*call.split())
    session.run("python", "-c", "import importlib.util as u; print('HAS', sorted(n for n in "
                "('tinytool', 'tinylib', 'tinydep') if u.find_spec(n)))")
    with open(os.path.join(session.create_tmp(), "mine")) as fh:
        session.log("TMP " + fh.read())
"""


@pytest.mark.parametrize(("second_calls", "expected", "on_top"), [
    ("tinylib;tinydep;--no-deps tinydep", "HAS ['tinydep', 'tinylib']", False),  # third call differs
    ("tinylib;tinydep", "HAS ['tinydep', 'tinylib']", False),  # fewer calls
    ("tinylib;tinydep;tinytool;tinytool==2.0", "HAS ['tinydep', 'tinylib', 'tinytool']", True),  # one more call
])
def test_a_session_that_deviates_gets_its_own_env(project: NoxProject, second_calls: str, expected: str,
                                                  on_top: bool) -> None:
    """An entry is only served for the install sequence that built it: no stale package survives a deviation, and
    each sequence keeps its own entry."""
    project.noxfile(MULTI)
    first_calls = "tinylib;tinydep;tinytool"
    first = project.nox(env={"CALLS": first_calls})
    assert "HAS ['tinydep', 'tinylib', 'tinytool']" in first.output
    assert "TMP kept" in first.output, "files the session put in <env>/tmp survive the env being created later"

    second = project.nox(env={"CALLS": second_calls})
    assert expected in second.output, second.output
    assert "TMP kept" in second.output, "... and the env being restored or built"
    assert second.hit == on_top, "only a sequence that goes on from a cached one starts from its entry"
    assert "venv cache miss" in second.output and "stored" in second.output
    assert len(project.cache.keys()) == 2

    for calls, has in ((second_calls, expected), (first_calls, "HAS ['tinydep', 'tinylib', 'tinytool']")):
        again = project.nox(env={"CALLS": calls})
        assert again.hit and "venv cache miss" not in again.output, again.output
        assert has in again.output
        assert not again.lines("pip install"), "each sequence is served by its own entry"
    assert entry_problems(project.cache) == []
    assert not [e for e in project.cache.entries() if (e.path / "env" / "tmp").exists()], "<env>/tmp is not cached"


def test_installs_after_the_first_command_are_not_cached(project: NoxProject) -> None:
    """The entry holds the env as the install phase left it; later installs run for real every time."""
    project.noxfile("""
        @nox.session(venv_backend="cached")
        def tests(session):
            session.install("tinylib")
            session.run("python", "-c", "import importlib.util as u; assert not u.find_spec('tinytool'), 'stale'")
            session.install("tinytool==2.0")
            session.run("tinytool")
    """)
    assert project.nox().miss
    second = project.nox()
    assert second.hit and "tinytool 2.0" in second.output, second.output
    assert len(second.lines("pip install")) == 1 and "tinytool==2.0" in second.lines("pip install")[0]
    assert entry_problems(project.cache) == []


def test_a_failed_session_stores_nothing(project: NoxProject) -> None:
    project.noxfile("""
        @nox.session(venv_backend="cached")
        def tests(session):
            session.install("tinytool")
            session.run("python", "-c", "raise SystemExit(3)")
    """)
    failed = project.nox(expect=1)
    assert "venv cache not stored" in failed.output and "(the session failed)" in failed.output
    assert project.cache.keys() == []
    assert project.nox(expect=1).miss, "still nothing to hit"


def test_two_parallel_sessions_share_one_cache(project: NoxProject) -> None:
    """``nox --parallel 2`` runs each session in its own process; both store, entries verify clean."""
    project.noxfile("""
        @nox.session(allow_parallel=True)
        def one(session):
            session.install("tinytool==1.0")
            session.run("tinytool")

        @nox.session(allow_parallel=True)
        def two(session):
            session.install("tinytool==2.0", "tinydep")
            session.run("tinytool")
    """)
    env = {"NOX_DEFAULT_VENV_BACKEND": "cached"}
    first = project.nox("--parallel", "2", env=env)
    assert first.output.count("venv cache stored") == 2, first.output
    cache: Cache = project.cache
    assert len(cache.keys()) == 2
    assert entry_problems(cache) == []

    second = project.nox("--parallel", "2", env=env)
    assert second.output.count("venv cache hit") == 2, second.output
    assert "tinytool 1.0" in second.output and "tinytool 2.0" in second.output
    assert entry_problems(cache) == []
