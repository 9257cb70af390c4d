"""Issue 16, points 2 and 3: a cloned repository's config named any venv on disk for ``restore`` to replace, ran
``python = "tools/evil.sh"`` on ``key --explain``/``restore``/``store``, and put ``/etc/passwd`` or ``~/.ssh/*``
digests into key documents.

Now paths from a checkout's config stay inside the checkout (the git work tree, else the config's folder) unless
given on the command line or in the environment; interpreters come from PATH or absolute paths outside it. Every
refusal is one line on stderr naming the config file, exit 2, and nothing is run or replaced.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from secsupport import CLI, clean_env, one_line, run

from venvcache_core import VenvCacheError, config, hash_files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree (``.git`` is all the checkout detection needs) with a project one level down."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "shared.lock").write_text("tinytool==1.0\n")  # a monorepo's lock file one level up
    proj = root / "proj"
    proj.mkdir()
    (proj / "requirements.txt").write_text("tinytool==1.0\n")
    return proj


def write_config(proj: Path, cache: Path, **values: object) -> Path:
    lines = [f"cache_path = {json.dumps(str(cache))}", 'requirements_lock_paths = ["requirements.txt"]',
             *(f"{k} = {json.dumps(v)}" for k, v in values.items())]
    path = proj / ".virtualenv_cache.toml"
    path.write_text("[virtualenv-cache]\n" + "\n".join(lines) + "\n")
    return path


def refused(proc: object, source: Path, *words: str) -> str:
    line = one_line(proc.stderr)  # type: ignore[attr-defined]
    assert proc.returncode == 2, proc.stderr  # type: ignore[attr-defined]
    assert str(source) in line and all(w in line for w in words), line
    return line


def test_restore_cannot_replace_a_venv_outside_the_checkout(tmp_path: Path, repo: Path, offline_env: dict[str, str],
                                                           clone_venv: Callable[[Path], Path]) -> None:
    env = clean_env(offline_env)
    cache = tmp_path / "cache"
    write_config(repo, cache)
    clone_venv(repo / ".venv")
    run([*CLI, "store"], env, repo, check=True)  # an entry for this key exists
    victim = clone_venv(tmp_path / "elsewhere" / "venv")
    (victim / "user-notes.txt").write_text("mine")
    source = write_config(repo, cache, virtualenv_path=str(victim))

    proc = run([*CLI, "restore"], env, repo)

    refused(proc, source, "outside the checkout", "--virtualenv-path")
    assert (victim / "user-notes.txt").read_text() == "mine"
    # the user may still restore anywhere, by saying so
    given = run([*CLI, "restore", "--virtualenv-path", tmp_path / "mine" / ".venv"], env, repo)
    assert given.returncode == 0 and " venv cache hit " in given.stdout, given.stderr
    by_env = run([*CLI, "restore"], {**env, config.ENV_VIRTUALENV_PATH: str(tmp_path / "mine2" / ".venv")}, repo)
    assert by_env.returncode == 0, by_env.stderr


def test_a_config_the_user_names_outside_the_checkout_is_theirs(tmp_path: Path, repo: Path) -> None:
    own = tmp_path / "home" / "venvcache.toml"
    own.parent.mkdir()
    own.write_text(f'[virtualenv-cache]\nvirtualenv_path = "{tmp_path / "venvs" / "app"}"\npython = "/usr/bin/x"\n')
    assert config.load(repo, own).virtualenv_path == tmp_path / "venvs" / "app"
    shipped = repo / "ci.toml"  # named explicitly, but shipped by the checkout: still the checkout's
    shipped.write_text(f'[virtualenv-cache]\nvirtualenv_path = "{tmp_path / "venvs" / "app"}"\n')
    with pytest.raises(VenvCacheError, match="outside the checkout"):
        config.load(repo, shipped)


EVIL = "#!/bin/sh\ntouch \"$(dirname \"$0\")/../RAN\"\nexit 1\n"


@pytest.mark.parametrize("command", [["key", "--explain"], ["restore"], ["store"]])
def test_a_checkout_interpreter_is_never_run(tmp_path: Path, repo: Path, offline_env: dict[str, str],
                                            clone_venv: Callable[[Path], Path], command: list[str]) -> None:
    evil = repo / "tools" / "evil.sh"
    evil.parent.mkdir()
    evil.write_text(EVIL)
    evil.chmod(0o755)
    clone_venv(repo / ".venv")
    source = write_config(repo, tmp_path / "cache", python="tools/evil.sh")

    proc = run([*CLI, *command], clean_env(offline_env), repo)

    refused(proc, source, "python", "not run")
    assert not (repo / "RAN").exists()


@pytest.mark.parametrize("spelling", ["./tools/evil.sh", "{repo}/tools/evil.sh", "../proj/tools/evil.sh",
                                      "{repo}/../../repo/proj/tools/evil.sh"])
def test_every_spelling_of_a_checkout_interpreter_is_refused(tmp_path: Path, repo: Path, spelling: str) -> None:
    source = write_config(repo, tmp_path / "cache", python=spelling.format(repo=repo))
    with pytest.raises(VenvCacheError, match="not run") as err:
        config.load(repo)
    assert str(source) in str(err.value) and "\n" not in str(err.value)


def test_interpreters_from_path_still_work_and_relative_path_entries_are_skipped(
        tmp_path: Path, repo: Path, offline_env: dict[str, str]) -> None:
    evil = repo / "bin" / "python3.99"
    evil.parent.mkdir()
    evil.write_text(EVIL)
    evil.chmod(0o755)
    write_config(repo, tmp_path / "cache", python="python3")
    env = clean_env(offline_env)
    assert run([*CLI, "key"], env, repo).returncode == 0
    write_config(repo, tmp_path / "cache", python="python3.99")
    proc = run([*CLI, "key"], {**env, "PATH": "bin" + os.pathsep + env["PATH"]}, repo)  # "bin" is the checkout's
    assert proc.returncode == 2 and "not found" in one_line(proc.stderr) and not (repo / "RAN").exists()


@pytest.fixture
def secrets(tmp_path: Path, repo: Path) -> Path:
    """A home with a private key, a file next to the checkout, and symlinks from the checkout to both."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", repo / "link-to-outside.txt")
    os.symlink(home / ".ssh", repo / "linked-dir")
    return home


def test_lock_paths_outside_the_checkout_fail_the_cli(tmp_path: Path, repo: Path, secrets: Path,
                                                     offline_env: dict[str, str]) -> None:
    source = repo / ".virtualenv_cache.toml"
    source.write_text(f'[virtualenv-cache]\ncache_path = "{tmp_path / "cache"}"\n'
                      'requirements_lock_paths = ["requirements.txt", "~/.ssh/*"]\n')
    proc = run([*CLI, "key", "--explain"], {**clean_env(offline_env), "HOME": str(secrets)}, repo)
    refused(proc, source, "outside the checkout")
    assert "id_ed25519" not in proc.stdout


@pytest.mark.parametrize("pattern", ["/etc/passwd", "~/.ssh/*", "../../outside.txt", "{tmp}/outside.txt",
                                     "link-to-outside.txt", "linked-dir/*", "/usr/**"])
def test_lock_paths_stay_inside_the_checkout(tmp_path: Path, repo: Path, secrets: Path,
                                            monkeypatch: pytest.MonkeyPatch, pattern: str) -> None:
    monkeypatch.setenv("HOME", str(secrets))
    with pytest.raises(VenvCacheError, match="outside the checkout") as err:
        hash_files(["requirements.txt", pattern.format(tmp=tmp_path)], repo, source=repo / "pyproject.toml")
    assert "\n" not in str(err.value)


def test_a_monorepo_lock_one_level_up_still_works(tmp_path: Path, repo: Path) -> None:
    """Inside the git work tree is inside the checkout; without git the config's folder is the boundary."""
    found = hash_files(["../shared.lock", "requirements.txt"], repo)
    assert set(found) == {"../shared.lock", "requirements.txt"}
    os.rmdir(repo.parent / ".git")
    with pytest.raises(VenvCacheError, match="outside the checkout"):
        hash_files(["../shared.lock"], repo)


def test_refusals_leave_the_files_untouched(repo: Path) -> None:
    """The checks only read: the config file and the lock files keep their content and modes."""
    before = {p: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in repo.rglob("*") if p.is_file()}
    with pytest.raises(VenvCacheError):
        hash_files(["/etc/passwd"], repo)
    assert before == {p: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in repo.rglob("*") if p.is_file()}
