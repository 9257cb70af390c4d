"""The plugin's hits: a later run restores without an installer, xdist builds a key once, envs stay private."""

from __future__ import annotations

import shutil
from pathlib import Path

from plugsupport import Inner

from projects import pyproject

TOOL_TEST = """
def test_tool(venv_factory):
    venv = venv_factory(["tinytool==1.0"])
    assert venv.run("tinytool").stdout.strip() == "tinytool 1.0"
    print("HIT" if venv.hit else "BUILT", venv.path)
"""


def test_second_run_hits_and_runs_no_installer(inner: Inner, own_wheelhouse: Path) -> None:
    inner.tests(TOOL_TEST)
    first = inner.run()
    first.assert_outcomes(passed=1)
    assert "BUILT" in inner.output(first)
    (miss,) = inner.events(first, "miss")
    assert miss.endswith("(no entry)")
    assert len(inner.events(first, "stored")) == 1, inner.output(first)
    assert "1 env requested, 0 hits, 1 miss" in inner.summary(first)
    (key,) = inner.cache.keys()

    shutil.rmtree(own_wheelhouse)  # an installer run now would find nothing to install and fail
    second = inner.run()
    second.assert_outcomes(passed=1)
    assert "HIT" in inner.output(second)
    (hit,) = inner.events(second, "hit")
    assert hit.startswith(f"venv [tinytool==1.0]: venv cache hit {key[:8]} (")
    assert inner.events(second, "miss") == []
    assert "1 env requested, 1 hit, 0 misses" in inner.summary(second)
    assert "saved" in inner.summary(second)
    assert inner.cache.keys() == [key]


def test_xdist_workers_build_one_key_once(inner: Inner) -> None:
    inner.tests("\n".join(f"""
def test_{n}(venv_factory):
    venv = venv_factory(["tinytool==1.0"])
    assert venv.run("tinytool").stdout.strip() == "tinytool 1.0"
""" for n in range(4)))
    result = inner.run("-n", "2")
    result.assert_outcomes(passed=4)
    assert "4 envs requested, 3 hits, 1 miss" in inner.summary(result)
    stats = inner.cache.stats()
    assert stats["entries"] == 1 and stats["stores"] == 1 and stats["hits"] == 3, stats


def test_an_edited_env_changes_neither_the_entry_nor_another_test(inner: Inner) -> None:
    inner.tests("""
import pathlib

def _module(venv):
    out = venv.run("python", "-c", "import tinytool; print(tinytool.__file__)").stdout.strip()
    return pathlib.Path(out)

def test_a_edits(venv_factory):
    venv = venv_factory(["tinytool==1.0"])
    module = _module(venv)
    with module.open("a") as fh:  # in place: the same inode, as a careless test would do it
        fh.write("EDITED = True\\n")
    venv.run("python", "-m", "pip", "--version", check=False)
    (venv.path / "bin" / "tinytool").unlink()

def test_b_sees_the_original(venv_factory):
    venv = venv_factory(["tinytool==1.0"])
    assert venv.hit
    assert "EDITED" not in _module(venv).read_text()
    assert venv.run("tinytool").stdout.strip() == "tinytool 1.0"
""")
    result = inner.run("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    (key,) = inner.cache.keys()
    assert inner.cache.verify(key) == []


def test_editable_project_follows_each_test(inner: Inner) -> None:
    inner.tests('''
import pytest

PYPROJECT = ''' + repr(pyproject("demo", dependencies=["tinylib"], packages=["demo"])) + '''

@pytest.mark.parametrize("n", [1, 2])
def test_editable(venv_factory, tmp_path, n):
    project = tmp_path / "project"
    (project / "demo").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "demo" / "__init__.py").write_text(f"WHO = {n}\\n")
    venv = venv_factory(["-e", str(project)])
    out = venv.run("python", "-I", "-c", "import demo, tinylib; print(demo.WHO, demo.__file__)").stdout.split()
    assert out == [str(n), str(project / "demo" / "__init__.py")]
    assert venv.hit == (n == 2)
''')
    result = inner.run()
    result.assert_outcomes(passed=2)
    assert "2 envs requested, 1 hit, 1 miss" in inner.summary(result)


def test_session_env_and_marker_form(inner: Inner) -> None:
    inner.tests("""
import pytest

@pytest.fixture(scope="session")
def shared(session_venv_factory):
    return session_venv_factory(["tinydep==1.0"])

def test_one(shared):
    assert shared.run("tinydep").stdout.strip() == "tinydep 1.0"

def test_two(shared, session_venv_factory):
    assert session_venv_factory(["tinydep==1.0"]) is shared

@pytest.mark.venv(["tinytool==2.0"])
def test_marker(venv):
    assert venv.run("tinytool").stdout.strip() == "tinytool 2.0"
    assert venv.run("python", "-c", "import sys; print(sys.prefix)").stdout.strip() == str(venv.path)

def test_marker_missing(venv):
    pass
""")
    result = inner.run()
    result.assert_outcomes(passed=3, errors=1)
    assert "the venv fixture needs @pytest.mark.venv" in inner.output(result)
    assert "2 envs requested, 0 hits, 2 misses" in inner.summary(result)
