"""The key changes with what decides the env's content, and only with that."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from helpers import PYENV_VERSION, have_python
from venvcache_core import VenvCacheError, build_key, hash_files, interpreter_identity
from venvcache_core.key import find_python, relative_name


def cli_key(root: Path, patterns: list[str], python: str = sys.executable, salt: str = "") -> str:
    return build_key(interpreter=interpreter_identity(python), inputs={"lock_files": hash_files(patterns, root)},
                     salt=salt).digest


def test_lock_content_changes_key_and_spelling_does_not(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("tinytool==1.0\n")
    base = cli_key(tmp_path, ["req.txt"])
    assert cli_key(tmp_path, ["./req.txt"]) == base
    assert cli_key(tmp_path, ["sub/../req.txt"]) == base
    assert cli_key(tmp_path, [str(tmp_path / "req.txt")]) == base  # absolute spelling, same file
    (tmp_path / "req.txt").write_text("tinytool==2.0\n")
    assert cli_key(tmp_path, ["req.txt"]) != base


def test_salt_changes_key(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("x\n")
    assert cli_key(tmp_path, ["req.txt"], salt="a") != cli_key(tmp_path, ["req.txt"], salt="b")


def test_same_content_other_checkout_same_key(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "req.txt").write_text("tinytool==1.0\n")
    assert cli_key(tmp_path / "a", ["req.txt"]) == cli_key(tmp_path / "b", ["req.txt"])


@pytest.mark.skipif(not (have_python("3.11") and have_python("3.12")), reason="needs python3.11 and python3.12")
def test_interpreter_changes_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "req.txt").write_text("x\n")
    monkeypatch.setenv("PYENV_VERSION", os.environ.get("PYENV_VERSION", PYENV_VERSION))
    py311, py312 = shutil.which("python3.11"), shutil.which("python3.12")
    assert py311 and py312
    ident = interpreter_identity(py312)
    assert ident["version"].startswith("3.12.") and ident["cache_tag"] == "cpython-312"
    assert cli_key(tmp_path, ["req.txt"], python=py311) != cli_key(tmp_path, ["req.txt"], python=py312)


def test_venv_and_its_base_interpreter_have_the_same_identity(tmp_path: Path, make_venv) -> None:  # type: ignore[no-untyped-def]
    env = make_venv(tmp_path / ".venv")
    base = getattr(sys, "_base_executable", sys.executable)
    assert interpreter_identity(env / "bin" / "python") == interpreter_identity(base)
    assert interpreter_identity(base)["base_executable"] == os.path.realpath(base)


def test_globs_are_expanded_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    for name in ("b.txt", "a.txt"):
        (tmp_path / "requirements" / name).write_text(name)
    assert list(hash_files(["requirements/*.txt"], tmp_path)) == ["requirements/a.txt", "requirements/b.txt"]


def test_missing_lock_file_is_an_error_not_an_empty_hash(tmp_path: Path) -> None:
    with pytest.raises(VenvCacheError, match="does not exist"):
        hash_files(["requirements.txt"], tmp_path)
    with pytest.raises(VenvCacheError, match="matches no file"):
        hash_files(["req/*.lock"], tmp_path)


def test_unknown_interpreter_is_a_clear_error() -> None:
    with pytest.raises(VenvCacheError, match="not found"):
        find_python("python9.99-nonexistent")


def test_relative_name_is_posix_and_normalised(tmp_path: Path) -> None:
    assert relative_name(tmp_path / "x" / ".." / "req.txt", tmp_path) == "req.txt"
    assert relative_name(tmp_path / "a" / "b.txt", tmp_path) == "a/b.txt"
