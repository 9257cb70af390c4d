"""Store → delete → restore with real venvs; restore into another checkout; editable installs follow."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from coresupport import MakeVenv, run

from venvcache_core import Cache, MissReason, VenvCacheError, build_key, interpreter_identity, venv_python


def key_for(env: Path, salt: str = "") -> object:
    return build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"test": 1}, salt=salt)


def test_round_trip_console_script_runs(tmp_path: Path, make_venv: MakeVenv, cache: Cache,
                                        offline_env: dict[str, str]) -> None:
    env = make_venv(tmp_path / "proj" / ".venv", "tinytool==1.0")
    key = key_for(env)
    stored = cache.store(key, env, project_root=tmp_path / "proj")
    assert stored.stored and stored.files > 100 and stored.bytes > 0
    shutil.rmtree(env)

    result = cache.restore(key, env, project_root=tmp_path / "proj")

    assert result.hit, result.detail
    assert run([env / "bin" / "tinytool"], offline_env).stdout.strip() == "tinytool 1.0"
    assert cache.verify(str(key)) == []
    assert cache.get(str(key)).hits == 1  # type: ignore[union-attr]


def test_restore_into_another_checkout(tmp_path: Path, make_venv: MakeVenv, cache: Cache,
                                       offline_env: dict[str, str], wheelhouse: Path) -> None:
    """After the original checkout is gone, scripts, activate and an editable install point at the new place."""
    old = tmp_path / "checkout-a"
    project = old / "pkg"
    (project / "src" / "mypkg").mkdir(parents=True)
    (project / "src" / "mypkg" / "__init__.py").write_text("WHERE = __file__\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "mypkg"\nversion = "0.1"\n[project.scripts]\nmypkg-where = "mypkg:WHERE"\n')
    env = make_venv(old / ".venv", "tinytool==1.0", editable=project)
    key = key_for(env)
    cache.store(key, env, project_root=old)

    new = tmp_path / "checkout-b with space"
    shutil.copytree(project, new / "pkg")  # the new checkout has the sources, not the env
    shutil.rmtree(old)
    result = cache.restore(key, new / ".venv", project_root=new)

    assert result.hit, result.detail
    venv = new / ".venv"
    assert run([venv / "bin" / "tinytool"], offline_env).stdout.strip() == "tinytool 1.0"
    first = (venv / "bin" / "tinytool").read_text().splitlines()[0]
    assert str(venv) in (venv / "bin" / "tinytool").read_text()
    assert first == "#!/bin/sh"  # a path with a space cannot be a plain shebang: pip's trampoline form
    activate = (venv / "bin" / "activate").read_text()
    assert str(venv) in activate and str(old) not in activate
    shown = run(["bash", "-c", f'source "{venv}/bin/activate" && echo "$VIRTUAL_ENV"'], offline_env).stdout
    assert shown.strip() == str(venv)
    where = run([venv / "bin" / "python", "-c", "import mypkg; print(mypkg.WHERE)"], offline_env).stdout.strip()
    assert where == str(new / "pkg" / "src" / "mypkg" / "__init__.py")
    leftovers = subprocess.run(["grep", "-rIl", str(old), str(venv)], capture_output=True, text=True).stdout
    assert leftovers == ""


def test_symlinks_stay_symlinks(tmp_path: Path, make_venv: MakeVenv, cache: Cache) -> None:
    env = make_venv(tmp_path / "a" / ".venv")
    key = key_for(env)
    cache.store(key, env)
    entry_python = cache.path / str(key) / "env" / "bin" / "python"
    assert entry_python.is_symlink()
    cache.restore(key, tmp_path / "b" / ".venv")
    assert (tmp_path / "b" / ".venv" / "bin" / "python").is_symlink()
    assert os.readlink(tmp_path / "b" / ".venv" / "bin" / "python") == os.readlink(env / "bin" / "python")


def test_restore_replaces_an_existing_env(tmp_path: Path, make_venv: MakeVenv, cache: Cache,
                                          offline_env: dict[str, str]) -> None:
    env = make_venv(tmp_path / ".venv", "tinytool==2.0")
    key = key_for(env)
    cache.store(key, env)
    run([env / "bin" / "python", "-m", "pip", "install", "-q", "tinytool==1.0"], offline_env)

    assert cache.restore(key, env).hit
    assert run([env / "bin" / "tinytool"], offline_env).stdout.strip() == "tinytool 2.0"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".venv"] == []


def test_restore_in_place_of_a_tools_bookkeeping(tmp_path: Path, make_venv: MakeVenv, cache: Cache) -> None:
    """A tool writes its own files into the env dir before it would create the venv (tox: ``.tox-info.json``,
    ``log/``, ``tmp/``): a restore that names them replaces them as an empty folder; anything else is refused."""
    env = make_venv(tmp_path / ".venv")
    key = key_for(env)
    cache.store(key, env)
    dest = tmp_path / ".tox" / "py"
    (dest / "log").mkdir(parents=True)
    (dest / ".tox-info.json").write_text("{}")
    with pytest.raises(VenvCacheError, match="not a virtual environment"):
        cache.restore(key, dest)
    assert cache.restore(key, dest, tool_files=["log", "tmp", ".tox-info.json"]).hit
    assert (dest / "pyvenv.cfg").is_file() and not (dest / "log").exists()
    (dest / "pyvenv.cfg").unlink()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(VenvCacheError, match="not a virtual environment"):
        cache.restore(key, dest, tool_files=["log", "tmp", ".tox-info.json"])
    assert (dest / "notes.txt").read_text() == "mine"


def test_miss_leaves_destination_alone(tmp_path: Path, make_venv: MakeVenv, cache: Cache) -> None:
    env = make_venv(tmp_path / ".venv")
    result = cache.restore("0" * 64, env)
    assert not result.hit and result.reason is MissReason.NO_ENTRY
    assert (env / "pyvenv.cfg").is_file()


def test_second_writer_of_a_key_discards_its_copy(tmp_path: Path, make_venv: MakeVenv, cache: Cache) -> None:
    env = make_venv(tmp_path / ".venv")
    key = key_for(env)
    assert cache.store(key, env).stored
    again = cache.store(key, env)
    assert not again.stored
    assert list((cache.path / ".tmp").iterdir()) == []
    assert len(cache.entries()) == 1


def test_interpreter_identity_is_remembered_for_interpreters_not_shims(tmp_path: Path, cache: Cache,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A base interpreter's identity is probed once and then read from the cache's memo (while its file is
    unchanged); a shim (a script that starts some interpreter, as pyenv's do) is probed every time."""
    import sys

    from venvcache_core import key as key_mod

    cache.path.mkdir(parents=True, exist_ok=True)
    python = os.path.realpath(sys.executable)
    first = cache.interpreter_identity(python)
    assert first == interpreter_identity(python)
    shim = tmp_path / "python-shim"
    shim.write_text(f"#!/bin/sh\nexec {python} \"$@\"\n")
    shim.chmod(0o755)
    assert cache.interpreter_identity(shim) == first

    def no_probe(*args: object) -> str:
        raise AssertionError("probed again")

    monkeypatch.setattr(key_mod, "_probe", no_probe)
    assert cache.interpreter_identity(python) == first  # from the memo
    with pytest.raises(AssertionError, match="probed again"):
        cache.interpreter_identity(shim)
