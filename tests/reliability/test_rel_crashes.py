"""Suite 2 — crashes: ``kill -9`` of the CLI at seeded random moments during ``store`` and during ``restore``.

After each kill: the cache lists only complete entries and ``verify`` passes on all of them; the destination holds
the complete old env or the complete new one; the next run recovers by itself (dead writers' temp dirs and stages
cleaned, their locks not blocking).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from relsupport import CLI, SourceEnv, check_env, run, write_project

from venvcache_core import Cache, relocate
from venvcache_core.cache import MARKER
from venvcache_core.manifest import scan


def clone(source: SourceEnv, dest: Path) -> SourceEnv:
    """A copy of a source venv at ``dest`` with its paths rewritten, as if it had been built there."""
    shutil.copytree(source.path, dest, symlinks=True)
    relocate.rewrite(dest, source.manifest.relocate, relocate.relocation_map(str(source.path), str(dest), None, None))
    return SourceEnv(dest, scan(dest, relocate.path_forms([dest])), source.script, source.output)


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.monotonic()
    run(cmd, env, cwd)
    return time.monotonic() - started


def kill_at(cmd: list[str], env: dict[str, str], cwd: Path, delay: float) -> int:
    """Start the CLI and SIGKILL it after ``delay`` seconds (if it is still running); its exit code."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=60)


def cache_is_sound(cache_path: Path) -> None:
    """Only complete entries, each equal to its manifest, none listed that is not complete."""
    cache = Cache(cache_path)
    for item in cache_path.iterdir():
        if len(item.name) == 64:
            assert (item / MARKER).is_file(), f"partial entry visible: {item.name}"
    listed = cache.keys()
    for key in listed:
        assert cache.get(key) is not None, f"listed entry {key[:8]} has unusable metadata"
        assert cache.verify(key) == [], f"entry {key[:8]} damaged"


def dead_leftovers(cache_path: Path) -> list[str]:
    """Temp dirs of dead writers and trash that a finished run should have removed."""
    found = []
    for item in (cache_path / ".tmp").iterdir():
        pid = item.name.rsplit("-", 2)[-2]
        if not Path(f"/proc/{pid}").exists():
            found.append(f".tmp/{item.name}")
    return found + [f".trash/{p.name}" for p in (cache_path / ".trash").iterdir()]


def test_kill_during_store(tmp_path: Path, sources: dict[str, SourceEnv], cli_env: dict[str, str], soak: bool,
                           record_property: pytest.RecordProperty) -> None:
    trials = 50 if soak else 8
    rng = random.Random(20261121)
    cache_path = tmp_path / "cache"
    project = write_project(tmp_path / "proj", cache_path, "tinytool==1.0\n")
    clone(sources["one"], project / ".venv")
    config = (project / ".virtualenv_cache.toml").read_text().replace("cache_size = 20", "cache_size = 3")
    (project / ".virtualenv_cache.toml").write_text(config)
    store = [*CLI, "store"]
    budget = max(timed(store, cli_env, project) for _ in range(2)) * 1.2
    killed = 0
    for trial in range(trials):
        refresh = trial % 4 == 3  # replace an existing entry: discard + rename under the lock
        if not refresh:
            (project / "requirements.txt").write_text(f"tinytool==1.0\n# trial {trial}\n")
        mode = "hardlink" if trial % 2 else "copy"
        (project / ".virtualenv_cache.toml").write_text(re_mode(config, mode))
        code = kill_at([*store, "--refresh"] if refresh else store, cli_env, project, rng.uniform(0.1, 0.9) * budget)
        killed += code == -signal.SIGKILL
        cache_is_sound(cache_path)
        again = run(store, cli_env, project)  # the next run recovers by itself
        assert again.stdout.startswith((".venv: venv cache stored", ".venv: venv cache not stored")), again.stdout
        cache_is_sound(cache_path)
        assert dead_leftovers(cache_path) == [], f"trial {trial}: not cleaned up"
    locks = list((cache_path / ".locks").iterdir())
    assert len(locks) <= 3 + 2, f"lock files grow: {sorted(p.name for p in locks)}"
    record_property("store_kills", f"{killed} of {trials} stores killed")
    print(f"store: {trials} trials, {killed} killed mid-run")
    assert killed >= trials // 4, "the kills came too late to test anything"


def re_mode(config: str, mode: str) -> str:
    return "\n".join(f'link_mode = "{mode}"' if line.startswith("link_mode") else line
                     for line in config.splitlines()) + "\n"


def test_kill_during_restore(tmp_path: Path, sources: dict[str, SourceEnv], cli_env: dict[str, str], soak: bool,
                             record_property: pytest.RecordProperty) -> None:
    trials = 50 if soak else 8
    rng = random.Random(1121)
    cache_path = tmp_path / "cache"
    origin = write_project(tmp_path / "built", cache_path, "")
    stored: dict[str, SourceEnv] = {}
    for req, name in (("tinytool==1.0\n", "one"), ("tinytool==2.0\n", "two")):
        (origin / "requirements.txt").write_text(req)
        if (origin / ".venv").exists():
            shutil.rmtree(origin / ".venv")
        stored[req] = clone(sources[name], origin / ".venv")
        run([*CLI, "store"], cli_env, origin)
    # restores go to another checkout: relocation rewrites files in every trial
    project = write_project(tmp_path / "checkout", cache_path, "tinytool==1.0\n")
    config = (project / ".virtualenv_cache.toml").read_text()
    dest = project / ".venv"
    restore = [*CLI, "restore"]
    run(restore, cli_env, project)
    budget = max(timed(restore, cli_env, project) for _ in range(2)) * 1.2
    reqs = list(stored)
    killed = 0
    for trial in range(trials):
        old, new = reqs[trial % 2], reqs[(trial + 1) % 2]
        mode = "hardlink" if trial % 3 == 1 else "copy"
        (project / ".virtualenv_cache.toml").write_text(re_mode(config, mode))
        (project / "requirements.txt").write_text(old)
        run(restore, cli_env, project)
        (project / "requirements.txt").write_text(new)
        code = kill_at(restore, cli_env, project, rng.uniform(0.1, 0.9) * budget)
        killed += code == -signal.SIGKILL
        as_old = check_env(dest, stored[old])
        as_new = check_env(dest, stored[new])
        assert not as_old or not as_new, f"trial {trial} ({mode}): dest is neither env: {as_old[:3]} / {as_new[:3]}"
        cache_is_sound(cache_path)
        again = run(restore, cli_env, project)  # the next run recovers by itself
        assert again.returncode == 0 and " venv cache hit " in again.stdout, again.stdout
        assert check_env(dest, stored[new]) == []
        stray = [p.name for p in project.iterdir() if ".venvcache-" in p.name]
        assert stray == [], f"trial {trial}: stages left behind: {stray}"
    cache_is_sound(cache_path)
    assert len(Cache(cache_path).keys()) == 2
    record_property("restore_kills", f"{killed} of {trials} restores killed")
    print(f"restore: {trials} trials, {killed} killed mid-run")
    assert killed >= trials // 4, "the kills came too late to test anything"
