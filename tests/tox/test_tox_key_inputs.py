"""The key inputs of a tox env (redaction, pins, placeholders), read from tox's real config objects without running
tox: ``tox.run.setup_state`` loads the project's tox.ini and builds its envs, nothing is created or installed."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tox_venvcache import config as settings
from tox_venvcache.key import KeyResult, deps_key
from venvcache_core import canonical_json

TOX_INI = """\
[tox]
env_list = py
skipsdist = true

[testenv]
runner = virtualenv
deps =
    -r requirements.txt
    foo==1.*
    --index-url https://user:p@ss@host/simple
set_env =
    PIP_INDEX_URL = https://__token__:SECRET1@pypi.example/simple
    PIP_EXTRA_INDEX_URL = https://extra.example/simple?token=SECRET2
    UV_INDEX_URL = https://user:pa/SECRET3@uv.example/simple
    UV_NO_SOURCES = 1
install_command = python -m pip install --find-links {toxinidir}/wheels {opts} {packages}
dependency_groups = test

[virtualenv-cache]
cache_path = {cache}
"""

PYPROJECT = """\
[project]
name = "demo"
version = "1"

[dependency-groups]
test = ["pytest", "tinylib==1.0"]
"""


def _project(root: Path, cache: Path) -> Path:
    root.mkdir()
    (root / "tox.ini").write_text(TOX_INI.replace("{cache}", str(cache)), encoding="utf-8")
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "requirements.txt").write_text("bar>=1\nbaz\n-c constraints.txt\n", encoding="utf-8")
    (root / "constraints.txt").write_text("baz==2\n", encoding="utf-8")
    return root


def _key(root: Path, monkeypatch: pytest.MonkeyPatch) -> KeyResult:
    """The deps key of env ``py`` as the plugin computes it in ``tox_on_install``, tox's own objects throughout."""
    from tox.run import setup_state

    monkeypatch.chdir(root)
    for name in [name for name in os.environ if name.startswith(("PIP_", "UV_"))]:
        monkeypatch.delenv(name)  # tox passes the caller's PIP_*/UV_* on: only tox.ini's may count here
    state = setup_state(["run", "-e", "py", "--root", str(root)])
    tox_env: Any = state.envs["py"]
    python = Path(tox_env.env_dir) / "bin" / "python"  # the env is never created: its python is this one
    python.parent.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        python.symlink_to(sys.executable)
    loaded = settings.load(state)
    assert loaded.config is not None, loaded.error
    return deps_key(tox_env, tox_env.conf["deps"], loaded.config)


def test_credentials_never_reach_the_key_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tox's PIP_/UV_ variables and a deps ``--index-url``: passwords (with ``@`` or ``/``), tokens and ``?token=``
    queries are ``***`` in the document that is stored in meta.json and printed with ``-v``."""
    result = _key(_project(tmp_path / "proj", tmp_path / "cache"), monkeypatch)
    text = canonical_json(result.key.document)
    for secret in ("SECRET1", "SECRET2", "SECRET3", "p@ss", "ss@host"):
        assert secret not in text, (secret, text)
    inputs = result.key.document["inputs"]
    assert inputs["env"] == {
        "PIP_EXTRA_INDEX_URL": "https://extra.example/simple?token=***",
        "PIP_INDEX_URL": "https://__token__:***@pypi.example/simple",
        "UV_INDEX_URL": "https://user:***@uv.example/simple",
        "UV_NO_SOURCES": "1",  # keyed by tox only before the lists were merged
    }
    assert any("https://user:***@host/simple" in option for option in inputs["deps"]["options"]), inputs["deps"]


def test_unpinned_deps_and_dependency_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wildcard ``==1.*`` is not a pin; a constraint's ``==`` is; dependency groups are checked like deps."""
    result = _key(_project(tmp_path / "proj", tmp_path / "cache"), monkeypatch)
    assert result.unpinned == ["bar", "foo", "pytest"]
    assert result.key.document["inputs"]["dependency_groups"] == {"names": ["test"],
                                                                  "requirements": ["pytest", "tinylib==1.0"]}


def test_paths_are_placeholders_so_checkouts_share_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _project(tmp_path / "proj", tmp_path / "cache")
    one = _key(first, monkeypatch)
    assert one.key.document["inputs"]["install_command"] == [
        "python", "-m", "pip", "install", "--find-links", "{project}/wheels", "{packages}"]
    assert str(first) not in canonical_json(one.key.document["inputs"])
    second = tmp_path / "elsewhere" / "proj"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns(".tox"))
    assert _key(second, monkeypatch).key == one.key, "another checkout computes the same key"
    (second / "constraints.txt").write_text(textwrap.dedent("baz==3\n"), encoding="utf-8")
    assert _key(second, monkeypatch).key != one.key, "a nested -c file's content is part of the key"


def test_tox_and_nox_name_the_same_inputs_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same installer variables read the same in both adapters' key documents (names, values, redaction), and
    both write the project as ``{project}``."""
    from nox_venvcache.steps import StepDescriber

    root = _project(tmp_path / "proj", tmp_path / "cache")
    tox_inputs = _key(root, monkeypatch).key.document["inputs"]
    environ = {"PIP_INDEX_URL": "https://__token__:SECRET1@pypi.example/simple",
               "PIP_EXTRA_INDEX_URL": "https://extra.example/simple?token=SECRET2",
               "UV_INDEX_URL": "https://user:pa/SECRET3@uv.example/simple", "UV_NO_SOURCES": "1"}
    step = StepDescriber(root).describe("install", ["--find-links", str(root / "wheels"), "tinytool"], cwd=root,
                                        env=environ)
    assert step["env"] == tox_inputs["env"]
    assert step["args"][1] == "{project}/wheels" == tox_inputs["install_command"][5]
