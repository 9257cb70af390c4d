"""What the plugin does when it builds: failures, bad input, --no-venvcache, --venvcache-refresh, switches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from plugsupport import Inner

from helpers import have_python

TOOL_TEST = """
def test_tool(venv_factory):
    venv = venv_factory(["tinytool==1.0"])
    assert venv.run("tinytool").stdout.strip() == "tinytool 1.0"
    print("HIT" if venv.hit else "BUILT")
"""


def _leftovers(folder: Path) -> list[str]:
    """Everything below ``folder`` whose name says a temp dir or a stage of the cache was left behind."""
    return sorted(str(p) for p in folder.rglob("*")
                  if (".venvcache-" in p.name and p.name != ".venvcache-root")  # the root marker is no leftover
                  or p.parent.name in {".tmp", ".trash"})


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_failing_install_fails_the_test_with_the_installers_output(inner: Inner, installer: str) -> None:
    inner.tests(f"""
def test_missing(venv_factory, tmp_path):
    try:
        venv_factory(["tinytool==9.9"], installer={installer!r})
    finally:
        assert list(tmp_path.iterdir()) == []  # the half-built env is gone

def test_fine(venv_factory):
    if {installer!r} == "uv":  # one good env next to the failing one (pip's side: test_ini_link_mode_and_installer)
        venv_factory(["tinytool==1.0"], installer={installer!r})
""")
    result = inner.run()
    result.assert_outcomes(passed=1, failed=1)
    output = inner.output(result)
    assert "tinytool==9.9" in output
    expected = "No solution found" if installer == "uv" else "No matching distribution found for tinytool==9.9"
    assert expected in output  # the installer's own words
    assert "nothing was stored" in output
    assert "Traceback" not in output
    good = installer == "uv"
    counts = "2 envs requested, 0 hits, 2 misses" if good else "1 env requested, 0 hits, 1 miss"
    assert f"{counts} (1 failed)" in inner.summary(result)
    assert len(inner.cache.keys()) == good  # only the good env
    assert _leftovers(inner.cache_dir) == []
    assert _leftovers(inner.path) == []


BAD_CALLS = [
    ('["tinytool==="]', "'tinytool===' is not a valid requirement"),
    ('["-r", "missing.txt"]', "missing.txt"),
    ('["-e", "no-project"]', "no-project"),
    ('["tinytool==1.0"], python="9.9"', "interpreter 'python9.9' not found"),
    ('["tinytool==1.0"], python="/nonexistent/python"', "interpreter '/nonexistent/python' not found"),
    ('["tinytool==1.0"], installer="conda"', "installer 'conda' is not known"),
    ('"tinytool==1.0"', "requirements must be a list"),
]


def test_bad_input_is_one_line_in_that_test(inner: Inner) -> None:
    inner.tests("\n".join(f"def test_bad_{n}(venv_factory):\n    venv_factory({call})\n"
                          for n, (call, _) in enumerate(BAD_CALLS)) + "\ndef test_good():\n    pass\n")
    (inner.path / "no-project").mkdir()
    result = inner.run()
    result.assert_outcomes(passed=1, failed=len(BAD_CALLS))
    output = inner.output(result)
    assert "Traceback" not in output and "venvcache_core" not in output
    for n, (_, message) in enumerate(BAD_CALLS):
        section = output.split(f" test_bad_{n} ", 1)[1].split("\n_____", 1)[0]
        (line,) = [line for line in section.splitlines() if line.startswith("venvcache: ")]
        assert message in line, section
    assert inner.cache.keys() == []


def test_no_venvcache_builds_every_time_and_stores_nothing(inner: Inner) -> None:
    inner.tests(TOOL_TEST)
    for _ in range(2):
        result = inner.run("--no-venvcache")
        result.assert_outcomes(passed=1)
        assert "BUILT" in inner.output(result)
        assert inner.summary(result).startswith("venvcache: off; 1 env built in ")
    assert not os.path.exists(inner.cache_dir)


def test_refresh_rebuilds_once_per_run_then_hits(inner: Inner) -> None:
    inner.tests(TOOL_TEST.replace("test_tool", "test_tool_1") + TOOL_TEST.replace("test_tool", "test_tool_2"))
    first = inner.run()
    assert "2 envs requested, 1 hit, 1 miss" in inner.summary(first)
    (key,) = inner.cache.keys()
    created = inner.cache.get(key).created

    refreshed = inner.run("--venvcache-refresh")
    refreshed.assert_outcomes(passed=2)
    (miss,) = inner.events(refreshed, "miss")
    assert miss.endswith("(--venvcache-refresh)")
    assert "2 envs requested, 1 hit, 1 miss" in inner.summary(refreshed)
    assert inner.cache.keys() == [key]
    assert inner.cache.get(key).created > created  # replaced, not kept

    again = inner.run()
    assert "2 envs requested, 2 hits, 0 misses" in inner.summary(again)


def test_off_with_p_no_venvcache(inner: Inner) -> None:
    inner.tests(TOOL_TEST)
    result = inner.pytester.runpytest("-p", "no:venvcache")
    result.assert_outcomes(errors=1)
    assert "fixture 'venv_factory' not found" in inner.output(result)
    assert inner.pytester.runpytest("-p", "no:venvcache", "--venvcache-dir=x").ret == pytest.ExitCode.USAGE_ERROR


def test_ini_link_mode_and_installer(inner: Inner) -> None:
    inner.pytester.makeini("[pytest]\nvenvcache_link_mode = hardlink\nvenvcache_installer = pip\n")
    inner.tests(TOOL_TEST + """
def test_pip_inside(venv_factory):
    venv = venv_factory(["tinytool==1.0"])
    assert venv.run("python", "-m", "pip", "--version").returncode == 0
""")
    result = inner.run()
    result.assert_outcomes(passed=2)
    (hit,) = inner.events(result, "hit")
    assert "hardlink" in hit


def test_bad_ini_value_fails_only_the_tests_that_ask_for_envs(inner: Inner) -> None:
    inner.pytester.makeini("[pytest]\nvenvcache_link_mode = telepathy\n")
    inner.tests(TOOL_TEST + "\ndef test_plain():\n    pass\n")
    result = inner.run()
    result.assert_outcomes(passed=1, failed=1)
    assert "venvcache_link_mode = 'telepathy' is not valid" in inner.output(result)


def test_config_file_gives_the_default_cache_dir(inner: Inner, tmp_path: Path) -> None:
    cache = tmp_path / "from-config"
    inner.pytester.makefile(".toml", **{".virtualenv_cache": f'[virtualenv-cache]\ncache_path = "{cache}"\n'})
    inner.tests(TOOL_TEST)
    inner.pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert len(type(inner.cache)(cache).keys()) == 1


@pytest.mark.skipif(not have_python("3.12") or sys.version_info[:2] == (3, 12), reason="needs another python3.12")
def test_python_by_version(inner: Inner) -> None:
    inner.tests("""
def test_312(venv_factory):
    venv = venv_factory(["tinytool==1.0"], python="3.12")
    assert venv.run("python", "-c", "import sys; print(sys.version_info[:2])").stdout.strip() == "(3, 12)"
""")
    inner.run().assert_outcomes(passed=1)
