"""Issue 16, point 6: a pack whose ``env/bin/python3.X`` was a script (not the link to the base interpreter) was run
by the restore's health check before the user ran anything; and a 3.11 env under a 3.12 key was served because the
check compared the env with the pack's own meta, not with the key.

Now the entry's interpreters must be links to (or byte-identical copies of) the key's base interpreter and
``pyvenv.cfg``'s ``home`` its folder; nothing of the entry runs; the identity comes from the key document.
Crafted packs go through the real S3 test server, crafted entries through the local cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from remotesupport import Bucket as S3
from secsupport import meta_json, pack

from venvcache_core import Cache, MissReason, build_key, interpreter_identity, venv_python
from venvcache_core.remote import Remote

BASE = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
OTHER = next((p for p in (f"/root/.pyenv/versions/{v}/bin/python{v[:4].rstrip('.')}" for v in
                          ("3.12.1", "3.13.0", "3.10.13")) if os.path.exists(p) and os.path.realpath(p) != BASE), None)


def script(marker: Path) -> bytes:
    return f"#!/bin/sh\ntouch {marker}\necho 'not python'\nexit 1\n".encode()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_script_posing_as_the_interpreter_is_never_run(tmp_path: Path, s3: S3,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    identity = interpreter_identity(BASE)
    key = build_key(interpreter=identity, inputs={"crafted": 1})
    marker = tmp_path / "RAN"
    name = os.path.basename(BASE)
    cfg = f"home = {os.path.dirname(BASE)}\nversion = {identity['version']}\n".encode()
    s3.put(key.digest, pack({"pyvenv.cfg": cfg, f"bin/{name}": script(marker)}, key=key.digest,
                            modes={f"bin/{name}": 0o755}, links={"bin/python": name, "bin/python3": name},
                            meta=meta_json(key.digest, document=key.document, interpreter=identity)))
    cache = Cache(tmp_path / "cache")
    cache.remote = Remote(s3.url, "read")

    result = cache.restore(key, tmp_path / "proj" / ".venv")

    assert not marker.exists(), "a file of the entry was executed"
    assert not result.hit and result.reason is MissReason.QUARANTINED
    assert "not the key's base interpreter" in result.detail or "neither a link to" in result.detail
    assert not (tmp_path / "proj" / ".venv").exists() and cache.keys() == []
    assert len(warnings(caplog)) == 1


@pytest.mark.skipif(OTHER is None, reason="needs a second interpreter (pyenv)")
@pytest.mark.parametrize("with_document", [False, True])
def test_an_env_of_another_interpreter_is_not_served(tmp_path: Path, s3: S3, with_document: bool) -> None:
    """The key pins this interpreter; the pack holds an env of another one and says so in its own meta."""
    assert OTHER is not None
    key = build_key(interpreter=interpreter_identity(BASE), inputs={"crafted": 2})
    theirs = interpreter_identity(OTHER)
    cfg = f"home = {os.path.dirname(OTHER)}\nversion = {theirs['version']}\n".encode()
    extra = {"document": key.document} if with_document else {}
    s3.put(key.digest, pack({"pyvenv.cfg": cfg}, key=key.digest, links={"bin/python": os.path.realpath(OTHER)},
                            meta=meta_json(key.digest, interpreter=theirs, python=theirs["version"], **extra)))
    cache = Cache(tmp_path / "cache")
    cache.remote = Remote(s3.url, "read")

    result = cache.restore(key, tmp_path / "proj" / ".venv")

    assert not result.hit and not (tmp_path / "proj" / ".venv").exists() and cache.keys() == []
    if with_document:  # the document is the key's: the unpacker refuses the link at once
        assert result.reason is MissReason.NO_ENTRY
    else:  # no document: the unpack trusts the meta, the health check compares with the caller's key
        assert result.reason is MissReason.QUARANTINED and "not the key's base interpreter" in result.detail


def _replace_with_script(entry: Path, marker: Path) -> None:
    """Turn the entry's interpreter link into a script, and fix manifest.json so only the health check is left."""
    env = entry / "env"
    link = env / "bin" / os.readlink(env / "bin" / "python") if not os.path.isabs(os.readlink(env / "bin" / "python")) \
        else env / "bin" / "python"
    rel = str(link.relative_to(env))
    os.unlink(link)
    link.write_bytes(script(marker))
    link.chmod(0o755)
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["symlinks"].pop(rel, None)
    manifest["files"][rel] = [link.stat().st_size, hashlib.sha256(link.read_bytes()).hexdigest()]
    manifest.setdefault("mtimes", {})[rel] = link.stat().st_mtime_ns
    (entry / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("by", ["key", "digest"])
def test_a_crafted_local_entry_runs_nothing(tmp_path: Path, clone_venv: Callable[[Path], Path], by: str) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"local": 1})
    cache = Cache(tmp_path / "cache")
    assert cache.store(key, env).stored
    marker = tmp_path / "RAN"
    _replace_with_script(cache.entry_path(key.digest), marker)

    result = cache.restore(key if by == "key" else key.digest, tmp_path / "q" / ".venv")

    assert not marker.exists() and not result.hit and result.reason is MissReason.QUARANTINED


def test_an_honest_entry_still_hits(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"local": 2})
    cache = Cache(tmp_path / "cache")
    cache.store(key, env)
    for which in (key, key.digest):
        assert cache.restore(which, tmp_path / "q" / ".venv").hit
