"""Two machines, one bucket: an env built on A is restored on B through the remote; writers race; modes hold.

"Machines" are separate cache dirs and checkout paths, and the CLI runs as separate processes, as on a CI fleet.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from remotesupport import Bucket, run

from venvcache_core import Cache, build_key, interpreter_identity, venv_python
from venvcache_core.remote import Remote

CLI = [sys.executable, "-m", "venvcache_core"]
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def checkout(root: Path, cache: Path, bucket: Bucket, mode: str = "readwrite") -> Path:
    """A project checkout whose config names its own local cache and the shared remote."""
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text("tinytool==1.0\n")
    (root / ".virtualenv_cache.toml").write_text(
        "[virtualenv-cache]\n"
        f'cache_path = "{cache}"\n'
        'requirements_lock_paths = ["requirements.txt"]\n'
        f'python = "{BASE_PYTHON}"\n'
        f'remote = "{bucket.url}"\n'
        f'remote_mode = "{mode}"\n')
    return root


def cli(project: Path, env: dict[str, str], *args: str, check: bool = True) -> dict:  # type: ignore[type-arg]
    proc = run([*CLI, "--format", "json", *args], env, cwd=project, check=check)
    return {"rc": proc.returncode, **json.loads(proc.stdout or "{}"), "stderr": proc.stderr}


# one backend for this long path (a pip-built env, six CLI processes); what differs per backend is covered for
# all three by the tests below (CLI push/pull, a remote hit in a fresh cache, its stats), test_remote_tox (a store
# uploading at exit, a restore through the remote), housekeeping (list --remote) and test_remote_big (bytes down)
@pytest.mark.parametrize("bucket", ["s3"], indirect=True)
def test_machine_a_stores_machine_b_restores_through_the_remote(tmp_path: Path, bucket: Bucket) -> None:
    env = bucket.env
    a = checkout(tmp_path / "runner-a" / "work" / "proj", tmp_path / "cache-a", bucket)
    run([BASE_PYTHON, "-m", "venv", a / ".venv"], env)
    run([a / ".venv" / "bin" / "python", "-m", "pip", "install", "-q", "-r", a / "requirements.txt"], env)
    stored = cli(a, env, "store")
    assert stored["result"] == "stored" and "warning" not in stored["stderr"].lower(), stored
    assert list(bucket.objects()) == [f"fleet/{stored['key']}"]

    b = checkout(tmp_path / "runner-b" / "elsewhere" / "proj2", tmp_path / "cache-b", bucket, mode="read")
    restored = cli(b, env, "restore")

    assert restored["rc"] == 0 and restored["result"] == "hit", restored
    assert run([b / ".venv" / "bin" / "tinytool"], env).stdout.strip() == "tinytool 1.0"
    assert str(a) not in (b / ".venv" / "bin" / "tinytool").read_text()  # relocated into B's checkout
    stats_b = cli(b, env, "stats")
    assert stats_b["remote_hits"] == 1 and stats_b["hits"] == 1 and stats_b["remote_uploads"] == 0
    assert stats_b["remote_bytes_down"] == len(bucket.objects()[f"fleet/{stored['key']}"])
    assert stats_b["remote_seconds_down"] > 0
    assert cli(a, env, "stats")["remote_uploads"] == 1
    listed = cli(b, env, "list", "--remote")
    assert [(p["key"], p["local"]) for p in listed["packs"]] == [(stored["key"], True)]
    assert cli(b, env, "verify")["damaged"] == {}


def key_of(env: Path) -> str:
    return build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"remote-test": 1}).digest


def test_two_writers_of_one_key_make_one_object_and_both_succeed(tmp_path: Path, bucket: Bucket,
                                                                  clone_venv: Callable[[Path], Path]) -> None:
    envs = [clone_venv(tmp_path / f"w{i}" / ".venv") for i in range(2)]
    key = key_of(envs[0])
    caches = [Cache(tmp_path / f"cache{i}") for i in range(2)]
    for cache in caches:
        cache.remote = Remote(bucket.url, "readwrite")
    barrier = threading.Barrier(2)
    original = Remote._push
    results: dict[int, object] = {}

    def racing_push(self: Remote, cache: Cache, key: str):  # type: ignore[no-untyped-def]
        barrier.wait(timeout=30)
        return original(self, cache, key)

    def write(i: int) -> None:
        results[i] = caches[i].store(key, envs[i], project_root=envs[i].parent)

    import obstore

    put, one_at_a_time = obstore.put, threading.Lock()

    def atomic_put(*args, **kwargs):  # type: ignore[no-untyped-def]
        with one_at_a_time:  # moto checks If-None-Match and stores in two steps; Bucket does both atomically
            return put(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        # both writers pass the existence check before either uploads: only the conditional put picks the winner
        patch.setattr(Remote, "head", lambda self, key: None)
        patch.setattr(Remote, "_push", racing_push)
        patch.setattr(obstore, "put", atomic_put)
        threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        for cache in caches:  # the uploads run in the background: wait for them while the patches hold
            assert cache.remote is not None and cache.remote.wait(60)

    assert all(results[i].stored for i in range(2))  # type: ignore[attr-defined]
    assert list(bucket.objects()) == [f"fleet/{key}"]
    outcomes = sorted(k for c in caches for k, v in c.stats().items() if k.startswith("remote_upload") and v)
    assert [c.remote.create_only for c in caches] == [bucket.create_only] * 2  # type: ignore[union-attr]
    if bucket.create_only:
        assert outcomes == ["remote_upload_exists", "remote_uploads"]
    else:  # fake-gcs-server overwrites on a create-only put: the probe saw it, and with the existence check
        # defeated here both writers upload; the second replaced the first's pack with an equivalent one
        assert outcomes == ["remote_uploads", "remote_uploads"]
    reader = Cache(tmp_path / "reader")
    reader.remote = Remote(bucket.url, "read")
    assert reader.restore(key, tmp_path / "r" / ".venv").hit  # the winner's pack is whole and valid
    assert reader.stats()["remote_hits"] == 1 and reader.stats()["hits"] == 1


def test_read_mode_never_writes(tmp_path: Path, bucket: Bucket, clone_venv: Callable[[Path], Path],
                                caplog: pytest.LogCaptureFixture) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    key = key_of(env)
    cache = Cache(tmp_path / "cache")
    cache.remote = Remote(bucket.url, "read")
    assert not cache.restore(key, tmp_path / "other" / ".venv").hit
    assert cache.store(key, env).stored
    with pytest.raises(Exception, match="remote_mode is 'read'"):
        cache.remote.push(cache, key)

    project = checkout(tmp_path / "proj", tmp_path / "cache2", bucket, mode="read")
    shutil.copytree(env, project / ".venv", symlinks=True)
    push = cli(project, bucket.env, "push", check=False)
    assert push["rc"] == 2 and "remote_mode is 'read'" in push["error"]
    assert bucket.objects() == {}
    assert bucket.pending_uploads() == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_write_mode_never_reads_and_env_var_overrides_mode(tmp_path: Path, bucket: Bucket,
                                                           clone_venv: Callable[[Path], Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    key = key_of(env)
    writer = Cache(tmp_path / "a")
    writer.remote = Remote(bucket.url, "write")
    writer.store(key, env)
    assert writer.remote.wait(60) is not None  # the upload ran in the background
    assert list(bucket.objects()) == [f"fleet/{key}"]
    other = Cache(tmp_path / "b")
    other.remote = Remote(bucket.url, "write")
    assert not other.restore(key, tmp_path / "x" / ".venv").hit
    assert other.stats()["remote_hits"] == 0

    from venvcache_core import config as config_mod

    project = checkout(tmp_path / "proj", tmp_path / "c", bucket, mode="write")
    monkeypatch.setenv("VIRTUALENV_CACHE_REMOTE_MODE", "read")
    assert Cache.from_config(config_mod.load(project)).remote.mode == "read"  # type: ignore[union-attr]
    monkeypatch.setenv("VIRTUALENV_CACHE_REMOTE", "")
    assert Cache.from_config(config_mod.load(project)).remote is None


def test_pull_and_push_commands(tmp_path: Path, bucket: Bucket, clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    key = key_of(env)
    local = Cache(tmp_path / "cache-a")
    local.store(key, env)  # no remote yet: as a runner whose cache predates the remote
    a = checkout(tmp_path / "a", tmp_path / "cache-a", bucket)
    pushed = cli(a, bucket.env, "push")
    assert [p["result"] for p in pushed["pushed"]] == ["uploaded"]
    assert [p["result"] for p in cli(a, bucket.env, "push", key[:10])["pushed"]] == ["exists"]

    b = checkout(tmp_path / "b", tmp_path / "cache-b", bucket, mode="read")
    pulled = cli(b, bucket.env, "pull", key[:12])  # a prefix is resolved against the remote's listing
    assert pulled["result"] == "downloaded" and pulled["bytes"] > 0
    assert Cache(tmp_path / "cache-b").verify(key) == []
    assert cli(b, bucket.env, "pull", key)["result"] == "present"
    missing = cli(b, bucket.env, "pull", "f" * 64, check=False)
    assert missing["rc"] == 1 and missing["result"] == "missing"
