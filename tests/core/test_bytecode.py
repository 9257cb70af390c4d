"""Bytecode in every entry (issue 17): an env uv built (no .pyc) is compiled in the staged entry, so the first run
after a restore compiles nothing from site-packages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from coresupport import run

from venvcache_core import Cache, make_key
from venvcache_core.bytecode import missing, pyc_name
from venvcache_core.manifest import walk
from wheels import make_wheel

MODULES = 12


@pytest.fixture
def uv_env(tmp_path: Path, offline_env: dict[str, str]) -> Path:
    """A venv made by ``uv venv`` + ``uv pip install`` (uv compiles no bytecode) of a package of several modules,
    one of which does not compile."""
    wheels = tmp_path / "wheels"
    extra = {f"compiled/m{i}.py": f"VALUE = {i}\n\n\ndef f(x):\n    return x * {i}\n".encode()
             for i in range(MODULES)}
    extra["compiled/broken.py"] = b"def f(:\n"  # a template or py2 file: left uncompiled, as pip leaves it
    init = "\n" + "".join(f"from . import m{i}  # noqa\n" for i in range(MODULES))
    make_wheel(wheels, "compiled", "1.0", body=init, extra_files=extra)
    env = {**offline_env, "UV_FIND_LINKS": str(wheels)}
    venv = tmp_path / "a" / ".venv"
    uv = Path(sys.executable).parent / "uv"
    base = getattr(sys, "_base_executable", sys.executable)
    run([uv, "venv", "-q", "--python", base, venv], env)
    run([uv, "pip", "install", "-q", "--python", venv / "bin" / "python", "compiled==1.0"], env)
    assert not list(venv.glob("lib/python*/site-packages/compiled/__pycache__/*.pyc"))  # uv compiled nothing
    return venv


def site_pycs(env: Path) -> set[str]:
    return {name for name in walk(env).files if name.endswith(".pyc") and "/site-packages/" in name}


@pytest.mark.parametrize("mode", ["copy", "hardlink"])
def test_a_uv_built_env_restores_with_bytecode_and_first_run_compiles_nothing(tmp_path: Path, uv_env: Path,
                                                                              mode: str) -> None:
    cache = Cache(tmp_path / "cache", link_mode=mode)  # type: ignore[arg-type]
    key = make_key({"uv": mode})
    cache.store(key, uv_env)
    assert cache.verify(key.digest) == []  # the compiled files are in the manifest, with their hashes
    dest = tmp_path / "b" / ".venv"
    assert cache.restore(key, dest).hit
    before = site_pycs(dest)
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    assert any(name.endswith(f"compiled/__pycache__/m0.{tag}.pyc") for name in before)
    proc = subprocess.run([dest / "bin" / "python", "-v", "-c", "import compiled; print(compiled.m3.f(2))"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "6"
    compiled_from_source = re.findall(r"code object from '?(\S*site-packages\S*\.py)'?$", proc.stderr, re.M)
    assert compiled_from_source == []  # every site-packages module came from its .pyc
    assert re.search(r"matches .*site-packages/compiled/m3\.py", proc.stderr)
    assert site_pycs(dest) == before  # and nothing was written


def test_broken_module_stays_uncompiled_and_the_store_succeeds(tmp_path: Path, uv_env: Path) -> None:
    cache = Cache(tmp_path / "cache")
    key = make_key({"broken": 1})
    assert cache.store(key, uv_env).stored
    entry = cache.path / key.digest / "env"
    names = set(walk(entry).files)
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    broken = next(n for n in names if n.endswith("compiled/broken.py"))
    assert pyc_name(broken, tag) not in names
    assert missing(names, tag) == [broken]  # everything else has its bytecode now
    assert cache.restore(key, tmp_path / "b" / ".venv").hit


def test_missing_skips_what_restore_rewrites_and_what_is_outside_site_packages() -> None:
    files = ["lib/python3.12/site-packages/a.py", "lib/python3.12/site-packages/__pycache__/a.cpython-312.pyc",
             "lib/python3.12/site-packages/b.py", "lib/python3.12/site-packages/__editable___x_finder.py",
             "bin/activate_this.py", "lib/python3.12/site-packages/c.pyi"]
    assert missing(files, "cpython-312", skip=["lib/python3.12/site-packages/__editable___x_finder.py"]) == [
        "lib/python3.12/site-packages/b.py"]
    assert pyc_name("lib/x/site-packages/b.py", "cpython-312") == "lib/x/site-packages/__pycache__/b.cpython-312.pyc"


def test_a_pip_built_env_is_not_compiled_again(tmp_path: Path, make_venv: object) -> None:
    """pip compiled everything already: the store starts no compiler (nothing is missing)."""
    env = make_venv(tmp_path / "a" / ".venv", "tinytool==1.0")  # type: ignore[operator]
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    assert missing(walk(env).files, tag) == []
    before = {n: os.lstat(env / n).st_mtime_ns for n in walk(env).files if n.endswith(".pyc")}
    cache = Cache(tmp_path / "cache")
    key = make_key({"pip": 1})
    cache.store(key, env)
    entry = cache.path / key.digest / "env"
    assert {n: os.lstat(entry / n).st_mtime_ns for n in walk(entry).files if n.endswith(".pyc")} == before
