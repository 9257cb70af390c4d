"""The plugin's pure parts: how a request is parsed and keyed, and how the summary line reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_venvcache.installers import Installer
from pytest_venvcache.keying import choose_root, env_key, parse
from pytest_venvcache.summary import Tally
from venvcache_core import VenvCacheError

UV = Installer("uv", "0.13.9", "uv")
IDENTITY = {"implementation": "cpython", "version": "3.12.1"}


def _project(folder: Path, body: str = "") -> Path:
    (folder / "demo").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "demo"\nversion = "0.1"\n{body}')
    return folder


def test_local_paths_become_absolute_and_key_relative_to_the_root(tmp_path: Path) -> None:
    keys = []
    for name in ("a", "b"):
        test_dir = tmp_path / name
        _project(test_dir / "project")
        (test_dir / "req.txt").write_text("tinytool==1.0\n-r nested.txt\n")
        (test_dir / "nested.txt").write_text("tinylib==1.0\n")
        request = parse(["-e", "project", "-r", "req.txt", "--pre"], test_dir)
        assert request.args == ["-e", str(test_dir / "project"), "-r", str(test_dir / "req.txt"), "--pre"]
        assert request.editable == [test_dir / "project"]
        root = choose_root(request.paths, [test_dir, tmp_path])
        assert root == test_dir
        key = env_key(interpreter=IDENTITY, installer=UV, request=request, root=root, environ={}, find_links=[],
                      salt="")
        assert sorted(key.document["inputs"]["files"]) == ["{project}/nested.txt", "{project}/req.txt"]
        assert list(key.document["inputs"]["local"]) == ["{project}/project"]
        keys.append(key)
    assert keys[0] == keys[1]  # the same inputs in another test's directory: one entry


def test_contents_not_paths_decide(tmp_path: Path) -> None:
    def key(folder: Path, nested: str, wheel: bytes, env: dict[str, str]) -> str:
        (folder / "wheels").mkdir(parents=True, exist_ok=True)
        (folder / "wheels" / "tinytool-1.0-py3-none-any.whl").write_bytes(wheel)
        (folder / "req.txt").write_text("-r nested.txt\n")
        (folder / "nested.txt").write_text(nested)
        request = parse(["-r", str(folder / "req.txt")], folder)
        return env_key(interpreter=IDENTITY, installer=UV, request=request, root=folder, environ=env,
                       find_links=[folder / "wheels"], salt="").digest

    base = key(tmp_path / "x", "tinylib==1.0\n", b"w1", {})
    assert key(tmp_path / "y", "tinylib==1.0\n", b"w1", {"UV_CACHE_DIR": "/elsewhere"}) == base
    assert key(tmp_path / "z", "tinylib==2.0\n", b"w1", {}) != base  # a nested file's content
    assert key(tmp_path / "v", "tinylib==1.0\n", b"w2", {}) != base  # a wheel's content
    assert key(tmp_path / "w", "tinylib==1.0\n", b"w1", {"UV_PRERELEASE": "allow"}) != base  # an installer variable


def test_an_editable_projects_build_file_is_in_the_key(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")

    def key() -> str:
        request = parse(["-e", str(project)], tmp_path)
        return env_key(interpreter=IDENTITY, installer=UV, request=request, root=tmp_path, environ={},
                       find_links=[], salt="").digest

    first = key()
    (project / "demo" / "__init__.py").write_text("X = 1\n")  # sources of an editable install are not copied
    assert key() == first
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1"\ndependencies = ["x"]\n')
    assert key() != first


@pytest.mark.parametrize(("requirements", "message"), [
    (["tinytool==="], "is not a valid requirement"),
    (["-r"], "-r needs a value"),
    (["./missing-dir"], "local requirement does not exist"),
    (["-r", "nowhere.txt"], "requirements file does not exist"),
    ("tinytool", "must be a list"),
])
def test_bad_requests_are_venvcache_errors(tmp_path: Path, requirements: list[str], message: str) -> None:
    with pytest.raises(VenvCacheError, match=message):
        parse(requirements, tmp_path)


def test_root_is_the_innermost_folder_holding_every_path(tmp_path: Path) -> None:
    inner, outer = tmp_path / "t" / "test0", tmp_path
    assert choose_root([inner / "p"], [inner, outer]) == inner
    assert choose_root([inner / "p", tmp_path / "elsewhere"], [inner, outer]) == outer
    assert choose_root([Path("/opt/other")], [inner, outer]) is None
    assert choose_root([tmp_path / "t" / "test01" / "p"], [inner]) is None  # a sibling's prefix is not inside


def test_summary_line_and_worker_counters() -> None:
    total = Tally()
    worker = Tally()
    worker.built(12.0)
    worker.hit(0.5, 12.0)
    worker.hit(0.5, None)  # an entry without a recorded build time saves nothing we can tell
    total.add(Tally.from_json(worker.to_json()))
    total.add(Tally.from_json({"hits": "many", "requested": True}))  # garbage from a worker is ignored
    assert total.line(enabled=True) == ("venvcache: 3 envs requested, 2 hits, 1 miss; 12.0 s building, "
                                        "1.00 s restoring; saved 11.5 s")
    one = Tally()
    one.built(2.0, ok=False)
    assert one.line(enabled=True).startswith("venvcache: 1 env requested, 0 hits, 1 miss (1 failed); ")
    assert one.line(enabled=False) == "venvcache: off; 1 env built in 2.00 s"
