"""Housekeeping of the remote prefix: ``list --remote`` shows each pack's size and age, ``prune --remote`` deletes
packs older than ``max_age`` (by upload time: the stores keep no read time) and then the oldest beyond a count or
size budget; read-only jobs cannot prune."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from remotesupport import Bucket, run

from venvcache_core import Cache, build_key, interpreter_identity, venv_python
from venvcache_core.remote import Remote

CLI = [sys.executable, "-m", "venvcache_core", "--format", "json"]


def project(root: Path, bucket: Bucket, extra: str = "") -> Path:
    root.mkdir(parents=True)
    (root / ".virtualenv_cache.toml").write_text(
        f'[virtualenv-cache]\ncache_path = "{root / "cache"}"\nremote = "{bucket.url}"\n{extra}')
    return root


def test_list_and_prune_remote(tmp_path: Path, bucket: Bucket, clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    writer = Cache(tmp_path / "writer")
    writer.remote = Remote(bucket.url, "readwrite", background=False)
    keys = []
    for n in range(3):
        if n:
            time.sleep(1.1)  # distinct upload times (the stores keep seconds)
        key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"prune": n}).digest
        assert writer.store(key, env).stored
        keys.append(key)
    newest_stored = time.monotonic()
    sizes = {k: len(bucket.read(f"fleet/{k}")) for k in keys}

    proj = project(tmp_path / "proj", bucket)
    listed = json.loads(run([*CLI, "list", "--remote"], bucket.env, cwd=proj).stdout)
    assert [p["key"] for p in listed["packs"]] == keys[::-1]  # newest first
    assert [p["size"] for p in listed["packs"]] == [sizes[k] for k in keys[::-1]]
    ages = [p["age"] for p in listed["packs"]]
    assert ages == sorted(ages) and ages[-1] >= 2 and listed["bytes"] == sum(sizes.values())
    table = run([*CLI[:-2], "list", "--remote"], bucket.env, cwd=proj).stdout
    assert "AGE" in table and "3 packs" in table

    read_only = run([*CLI, "prune", "--remote", "--keep", "0"], {**bucket.env, "VIRTUALENV_CACHE_REMOTE_MODE":
                                                                 "read"}, cwd=proj, check=False)
    assert read_only.returncode == 2 and "remote_mode is 'read'" in read_only.stdout
    assert len(bucket.names()) == 3

    pruned = json.loads(run([*CLI, "prune", "--remote", "--keep", "2"], bucket.env, cwd=proj).stdout)
    assert [p["key"] for p in pruned["deleted"]] == [keys[0]]  # the oldest beyond the count
    budget = sizes[keys[2]] + sizes[keys[1]] - 1  # room for the newest pack only
    pruned = json.loads(run([*CLI, "prune", "--remote", "--max-bytes", str(budget)], bucket.env, cwd=proj).stdout)
    assert [p["key"] for p in pruned["deleted"]] == [keys[1]]
    assert bucket.names() == [f"fleet/{keys[2]}"]

    aged = project(tmp_path / "aged", bucket, 'max_age = "1s"\n')
    time.sleep(max(0.0, newest_stored + 2.1 - time.monotonic()))  # the newest pack is past max_age (whole seconds)
    pruned = json.loads(run([*CLI, "prune", "--remote"], bucket.env, cwd=aged).stdout)
    assert [p["key"] for p in pruned["deleted"]] == [keys[2]] and bucket.names() == []
    bad = run([*CLI, "prune", "--remote", "--max-bytes", "lots"], bucket.env, cwd=proj, check=False)
    assert bad.returncode == 2 and "not a size" in bad.stdout
