"""Install sequences: branches keep their own entries, installers run through ``session.run`` are install calls,
the one-run switch and require-hit mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from noxsupport import NoxProject, entry_problems, uv_commands

pytestmark = pytest.mark.slow

BRANCHY = """
@nox.session(venv_backend="cached")
def branchy(session):
    session.install("tinylib")
    if os.environ.get("BRANCH") == "b":
        session.install("tinytool==2.0")
    else:
        session.install("tinytool==1.0", "tinydep")
    session.run("tinytool")
    session.run("python", "-c", "import importlib.util as u; print('HAS', sorted(n for n in "
                "('tinytool', 'tinylib', 'tinydep') if u.find_spec(n)))")
"""


def installs(log: Path) -> list[str]:
    return [line for line in uv_commands(log) if "pip install" in line or line.startswith("venv")]


def test_two_branches_alternated_keep_their_entries(project: NoxProject, uv_log: tuple[dict[str, str], Path]) -> None:
    """a, b, a, b, a, b: every run after the first of each branch is one plain hit and runs no installer."""
    env, log = uv_log
    project.noxfile(BRANCHY)
    expected = {"a": ("tinytool 1.0", "HAS ['tinydep', 'tinylib', 'tinytool']"),
                "b": ("tinytool 2.0", "HAS ['tinylib', 'tinytool']")}
    for round_no in range(3):
        for branch in ("a", "b"):
            log.unlink(missing_ok=True)
            run = project.nox(env={**env, "BRANCH": branch})
            for text in expected[branch]:
                assert text in run.output, run.output
            if round_no == 0:
                assert run.miss and "venv cache stored" in run.output, run.output
                assert installs(log), "the first run of a branch installs"
            else:
                assert len(run.lines("venv cache hit")) == 1, run.output
                assert not run.miss and "stored" not in run.output, run.output
                assert installs(log) == [], f"round {round_no + 1}, branch {branch} ran {installs(log)}"
    assert len(project.cache.keys()) == 2, "one entry per install sequence"
    assert entry_problems(project.cache) == []


def test_a_new_call_runs_on_top_of_the_entry_for_the_calls_before_it(project: NoxProject) -> None:
    """One more call than a cached sequence: that entry is restored and only the new call runs; both entries stay."""
    project.noxfile("""
        @nox.session(venv_backend="cached")
        def tests(session):
            for call in os.environ["CALLS"].split(";"):
                session.install(*call.split())
            session.run("tinytool")
    """)
    assert project.nox(env={"CALLS": "tinylib;tinytool==1.0"}).miss
    longer = project.nox(env={"CALLS": "tinylib;tinytool==1.0;tinydep"})
    assert longer.hit and "install call 3 is new" in longer.output, longer.output
    assert len(longer.lines("pip install")) == 1 and "tinydep" in longer.lines("pip install")[0], longer.output
    for calls in ("tinylib;tinytool==1.0", "tinylib;tinytool==1.0;tinydep"):
        again = project.nox(env={"CALLS": calls})
        assert again.hit and not again.miss and not again.lines("pip install"), again.output
    assert len(project.cache.keys()) == 2


@pytest.mark.parametrize(("backend", "command"), [
    ("cached-virtualenv", '"python", "-m", "pip", "install", "tinytool==2.0"'),
    ("cached-uv", '"uv", "pip", "install", "tinytool==2.0"'),
])
def test_an_installer_run_through_session_run_is_served_from_the_cache(project: NoxProject, backend: str,
                                                                       command: str) -> None:
    project.noxfile(f"""
        @nox.session(venv_backend="{backend}")
        def tests(session):
            session.install("tinylib")
            session.run({command})
            session.run("tinytool")
    """)
    first = project.nox()
    assert first.miss and "tinytool 2.0" in first.output, first.output
    second = project.nox()
    assert second.hit and not second.miss and "tinytool 2.0" in second.output, second.output
    assert not second.lines("pip install"), "neither session.install nor the session.run installer ran"


def test_the_switch_turns_the_cache_on_for_a_noxfile_naming_no_cached_backend(project: NoxProject) -> None:
    """``NOX_VENV_CACHE=1`` wraps nox's own backends (the noxfile imports nox_venvcache); ``python -m
    nox_venvcache`` does it for a noxfile that does not."""
    project.noxfile("""
        @nox.session(venv_backend="virtualenv")
        def tests(session):
            session.install("tinytool==1.0")
            session.run("tinytool")
    """)
    plain = project.nox()
    assert "venv cache" not in plain.output and plain.lines("pip install"), plain.output
    assert project.nox(env={"NOX_VENV_CACHE": "1"}).miss
    switched = project.nox(env={"NOX_VENV_CACHE": "1"})
    assert switched.hit and not switched.lines("pip install") and "tinytool 1.0" in switched.output

    project.write("noxfile.py", """\
        import nox

        @nox.session
        def other(session):
            session.install("tinytool==2.0")
            session.run("tinytool")
        """)
    assert project.nox(module="nox_venvcache").miss
    hit = project.nox(module="nox_venvcache")
    assert hit.hit and not hit.lines("pip install") and "tinytool 2.0" in hit.output, hit.output


def test_require_hit_stops_a_session_that_would_install(project: NoxProject) -> None:
    project.noxfile("""
        @nox.session(venv_backend="cached")
        def tests(session):
            session.install("tinytool==1.0")
            session.run("tinytool")
    """)
    required = {"NOX_VENV_CACHE_REQUIRE": "1"}
    refused = project.nox(env=required, expect=1)
    assert "venv cache hit required" in refused.output and "NOX_VENV_CACHE_REQUIRE is set" in refused.output, \
        refused.output
    assert not refused.lines("pip install") and "tinytool 1.0" not in refused.output
    assert project.nox().miss
    served = project.nox(env=required)
    assert served.hit and "tinytool 1.0" in served.output
    assert "saved ~" in served.lines("venv cache hit")[0], "the entry recorded its build time"
    project.write("noxfile.py", (project.root / "noxfile.py").read_text().replace("tinytool==1.0", "tinytool==2.0"))
    changed = project.nox(env=required, expect=1)
    assert "nearest" in changed.output and not changed.lines("pip install"), changed.output
