"""Suite 4 — tampering and integrity: ``verify`` finds changed, missing and extra files; a restore of a damaged
entry is refused, the entry quarantined and the old env kept; in hardlink mode an in-place edit of a restored
env is found by ``verify`` (the cache shares the file) and by ``verify --env``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from relsupport import CLI, SourceEnv, check_env, digest, run, write_project

from venvcache_core import Cache, MissReason, VenvCacheError


def site(env: Path) -> Path:
    (lib,) = (env / "lib").glob("python3.*")
    return lib / "site-packages"


def first_module(env: Path) -> Path:
    return site(env) / "tinytool" / "__init__.py"


def same_size_edit(env: Path) -> str:
    path = first_module(env)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"print", b"PRINT"))  # same length, other content
    return f"changed file {path.relative_to(env)}"


def grow(env: Path) -> str:
    path = first_module(env)
    path.write_bytes(path.read_bytes() + b"\nimport os; os.system('echo pwned')\n")
    return f"changed file {path.relative_to(env)}"


def delete_file(env: Path) -> str:
    path = first_module(env)
    path.unlink()
    return f"missing file {path.relative_to(env)}"


def add_file(env: Path) -> str:
    path = site(env) / "evil.pth"
    path.write_text("import os\n")
    return f"extra file {path.relative_to(env)}"


def add_symlink(env: Path) -> str:
    (site(env) / "escape").symlink_to("/etc")
    return f"extra symlink {(site(env) / 'escape').relative_to(env)}"


def retarget_symlink(env: Path) -> str:
    link = env / "bin" / "python"
    link.unlink()
    link.symlink_to("/bin/sh")
    return "changed or missing symlink bin/python"


def delete_half(env: Path) -> str:
    files = sorted(p for p in env.rglob("*") if p.is_file() and not p.is_symlink())
    for path in files[::2]:
        path.unlink()
    return "missing file"


TAMPERS: dict[str, Callable[[Path], str]] = {
    "same size": same_size_edit, "grown": grow, "deleted": delete_file, "extra file": add_file,
    "extra symlink": add_symlink, "retargeted symlink": retarget_symlink, "half deleted": delete_half,
}


@pytest.fixture
def stored(tmp_path: Path, sources: dict[str, SourceEnv]) -> tuple[Cache, str]:
    cache = Cache(tmp_path / "cache", link_mode="copy")
    key = digest("tampered")
    assert cache.store(key, sources["one"].path).stored
    return cache, key


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_verify_finds_it(stored: tuple[Cache, str], tamper: str) -> None:
    cache, key = stored
    expected = TAMPERS[tamper](cache.path / key / "env")
    problems = cache.verify(key)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("tamper", TAMPERS)
def test_restore_refuses_and_quarantines(stored: tuple[Cache, str], tamper: str, tmp_path: Path,
                                         sources: dict[str, SourceEnv]) -> None:
    cache, key = stored
    dest = tmp_path / "proj" / ".venv"
    old = digest("old")
    assert cache.store(old, sources["two"].path).stored
    assert cache.restore(old, dest).hit
    TAMPERS[tamper](cache.path / key / "env")
    result = cache.restore(key, dest)
    assert not result.hit and result.reason is MissReason.QUARANTINED, result
    assert not (cache.path / key).exists() and cache.get(key) is None
    assert check_env(dest, sources["two"]) == [], "the old env was touched"
    assert cache.stats()["quarantined"] == 1
    assert [p for p in dest.parent.iterdir() if p.name != ".venv"] == []


def test_same_size_edit_with_its_mtime_put_back(stored: tuple[Cache, str], tmp_path: Path) -> None:
    """Restore compares sizes and mtimes (hashing would double its cost): a deliberate edit that also restores the
    mtime is served; ``verify`` hashes and finds it. The documented limit (and anyone who can write the cache can
    rewrite the manifest too)."""
    cache, key = stored
    module = first_module(cache.path / key / "env")
    before = module.stat()
    expected = same_size_edit(cache.path / key / "env")
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert cache.restore(key, tmp_path / "proj" / ".venv").hit
    assert any(expected in p for p in cache.verify(key))


@pytest.mark.parametrize("damage", ["no manifest", "no meta", "manifest garbage", "meta wrong types",
                                    "relocate escapes", "env is a symlink", "env missing", "deep json"])
def test_restore_of_broken_metadata_is_a_miss(stored: tuple[Cache, str], damage: str, tmp_path: Path) -> None:
    cache, key = stored
    entry = cache.path / key
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text(f"{cache.get(key).origin}\n")  # type: ignore[union-attr]
    meta = json.loads((entry / "meta.json").read_text())
    if damage == "no manifest":
        (entry / "manifest.json").unlink()
    elif damage == "no meta":
        (entry / "meta.json").unlink()
    elif damage == "manifest garbage":
        (entry / "manifest.json").write_text('{"files": [1, 2], "symlinks": {}, "relocate": []}')
    elif damage == "meta wrong types":
        (entry / "meta.json").write_text(json.dumps({**meta, "relocate": 7, "bytes": "many", "origin": ["x"]}))
    elif damage == "relocate escapes":
        escape = os.path.relpath(outside / "victim.txt", tmp_path / "proj" / ".x")
        (entry / "meta.json").write_text(json.dumps({**meta, "relocate": [escape, "../" * 12 + "etc/passwd"]}))
    elif damage == "env is a symlink":
        shutil.copytree(entry / "env", outside / "env", symlinks=True)
        shutil.rmtree(entry / "env")
        (entry / "env").symlink_to(outside / "env")
    elif damage == "env missing":
        shutil.rmtree(entry / "env")
    elif damage == "deep json":
        (entry / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    result = cache.restore(key, tmp_path / "proj" / ".venv")
    assert not result.hit and result.reason is MissReason.QUARANTINED, result
    assert not entry.exists() and not (tmp_path / "proj" / ".venv").exists()
    assert (outside / "victim.txt").read_text() == f"{meta['origin']}\n", "a file outside the env was rewritten"
    if damage == "env is a symlink":
        assert (outside / "env" / "pyvenv.cfg").is_file(), "deleted through the symlink"


def test_verify_cli_lists_problems_with_exit_1(tmp_path: Path, sources: dict[str, SourceEnv],
                                               cli_env: dict[str, str]) -> None:
    project = write_project(tmp_path / "proj", tmp_path / "cache", "tinytool==1.0\n")
    shutil.copytree(sources["one"].path, project / ".venv", symlinks=True)
    run([*CLI, "store"], cli_env, project)
    assert run([*CLI, "verify"], cli_env, project).returncode == 0
    (key,) = Cache(tmp_path / "cache").keys()
    env = tmp_path / "cache" / key / "env"
    expected = [grow(env), add_file(env)]
    (env / "pyvenv.cfg").unlink()
    proc = run([*CLI, "verify", "--format", "json"], cli_env, project, check=False)
    assert proc.returncode == 1
    problems = json.loads(proc.stdout)["damaged"][key]
    assert all(any(e in p for p in problems) for e in [*expected, "missing file pyvenv.cfg"]), problems


def test_hardlink_in_place_edit_is_reported(tmp_path: Path, sources: dict[str, SourceEnv],
                                            cli_env: dict[str, str]) -> None:
    built = write_project(tmp_path / "built", tmp_path / "cache", "tinytool==1.0\n", link_mode="hardlink")
    shutil.copytree(sources["one"].path, built / ".venv", symlinks=True)
    run([*CLI, "store"], cli_env, built)
    project = write_project(tmp_path / "checkout", tmp_path / "cache", "tinytool==1.0\n", link_mode="hardlink")
    hit = run([*CLI, "restore", "--format", "json"], cli_env, project)
    assert json.loads(hit.stdout)["link_mode"] == "hardlink"
    assert run([*CLI, "verify", "--env"], cli_env, project).returncode == 0
    module = first_module(project / ".venv")
    with open(module, "r+b") as fh:  # an in-place edit, as an editor saving over the file does
        fh.seek(0)
        fh.write(b"#")
    out = run([*CLI, "verify", "--env"], cli_env, project, check=False)
    rel = module.relative_to(project / ".venv")
    assert out.returncode == 1 and f"changed file {rel}" in out.stdout, out.stdout + out.stderr
    # the cache shares the inode: the entry is damaged too, and plain verify says so
    entry = run([*CLI, "verify"], cli_env, project, check=False)
    assert entry.returncode == 1 and f"changed file {rel}" in entry.stdout
    cache = Cache(tmp_path / "cache")
    (key,) = cache.keys()
    assert cache.verify_env(key, project / ".venv") == [f"changed file {rel}"]
    # and the next restore does not hand the edited file to another checkout
    again = cache.restore(key, tmp_path / "third" / ".venv")
    assert not again.hit and "modified in place" in again.detail, again
    with pytest.raises(VenvCacheError, match="no complete cache entry"):
        cache.verify_env(digest("absent"), project / ".venv")
