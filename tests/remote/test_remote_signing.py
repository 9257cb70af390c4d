"""Signed packs: with VIRTUALENV_CACHE_REMOTE_SIGNING_KEY, writers sign and readers refuse what is unsigned, signed
with another key, or signed and then altered; each refusal is one warning, a local miss, and the object left alone.

The forgeries are what a bucket writer without the key can make: a valid pack of its own (its sha256 trailer
correct), a valid pack with a signature frame copied from a genuine one, a genuine pack under the wrong signer.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import obstore
import pytest
from remotesupport import Bucket, run

from venvcache_core import Cache, VenvCacheError, build_key, config, interpreter_identity, venv_python
from venvcache_core.remote import Remote
from venvcache_core.signing import ENV_SIGNING_KEY, SIG_SIZE, Signer, parse_frame, signer_from_env

MAIN_KEY = "main-branch-secret-0123456789abcdef"
OTHER_KEY = "some-other-secret-0123456789abcdef"


def key_of(env: Path, n: int) -> str:
    return build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"signed": n}).digest


def upload(tmp_path: Path, bucket: Bucket, env: Path, key: str, signer: Signer | None, name: str) -> bytes:
    writer = Cache(tmp_path / f"cache-{name}")
    writer.remote = Remote(bucket.url, "readwrite", signer=signer, background=False)
    assert writer.store(key, env).stored
    return bucket.read(f"fleet/{key}")


def refused(tmp_path: Path, bucket: Bucket, key: str, caplog: pytest.LogCaptureFixture, *words: str,
            downloaded: bool = False) -> None:
    """A verifying reader misses with one warning naming the reason; ``downloaded``: whether the refusal needed
    the whole pack (a forged HMAC) or came from its last bytes alone (unsigned, another key)."""
    before = bucket.objects()
    reader = Cache(tmp_path / "reader")
    reader.remote = Remote(bucket.url, "read", signer=Signer(MAIN_KEY))
    caplog.clear()
    gets: list[dict[str, Any]] = []
    real = obstore.get

    def get(store: Any, path: str, *, options: dict[str, Any] | None = None) -> Any:
        gets.append(dict(options or {}))
        return real(store, path, options=options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(obstore, "get", get)
        result = reader.restore(key, tmp_path / "pr" / ".venv")

    assert not result.hit and reader.keys() == [] and not (tmp_path / "pr" / ".venv").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "rejected" in warnings[0], warnings
    for word in words:
        assert word in warnings[0], warnings[0]
    assert bucket.objects() == before  # the object is left alone
    assert reader.stats()["remote_rejected"] == 1
    whole = [o for o in gets if "range" not in o]
    assert len(whole) == (1 if downloaded else 0), gets


def test_signed_pack_round_trip_and_keyless_readers(tmp_path: Path, bucket: Bucket,
                                                    clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "a" / ".venv")
    key = key_of(env, 1)
    data = upload(tmp_path, bucket, env, key, Signer(MAIN_KEY), "main")
    frame = parse_frame(data[-SIG_SIZE:])
    assert frame is not None and frame[0] == Signer(MAIN_KEY).key_id

    for n, signer in enumerate((Signer(MAIN_KEY), None)):  # a verifying reader, and one without a key
        reader = Cache(tmp_path / f"reader-{n}")
        reader.remote = Remote(bucket.url, "read", signer=signer)
        assert reader.restore(key, tmp_path / f"pr-{n}" / ".venv").hit
        assert reader.stats()["remote_bytes_down"] == len(data)


def test_unsigned_pack_is_refused_before_download(tmp_path: Path, bucket: Bucket,
                                                  clone_venv: Callable[[Path], Path],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    env = clone_venv(tmp_path / "a" / ".venv")
    key = key_of(env, 2)
    upload(tmp_path, bucket, env, key, None, "planted")  # a bucket writer without the key
    refused(tmp_path, bucket, key, caplog, "not signed", ENV_SIGNING_KEY)


def test_pack_signed_with_another_key_is_refused(tmp_path: Path, bucket: Bucket,
                                                 clone_venv: Callable[[Path], Path],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    env = clone_venv(tmp_path / "a" / ".venv")
    key = key_of(env, 3)
    upload(tmp_path, bucket, env, key, Signer(OTHER_KEY), "other")
    refused(tmp_path, bucket, key, caplog, "another key", Signer(OTHER_KEY).key_id)


def test_genuine_signature_on_other_content_is_refused(tmp_path: Path, bucket: Bucket,
                                                       clone_venv: Callable[[Path], Path],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A forger's own valid pack (correct sha256 trailer) with the signature frame of a genuine pack of the key."""
    genuine_env = clone_venv(tmp_path / "a" / ".venv")
    key = key_of(genuine_env, 4)
    genuine = upload(tmp_path, bucket, genuine_env, key, Signer(MAIN_KEY), "main")
    evil_env = clone_venv(tmp_path / "evil" / ".venv")
    (evil_env / "bin" / "evil.sh").write_text("#!/bin/sh\necho owned\n")
    other = Cache(tmp_path / "cache-evil")
    other.store(key, evil_env)
    from venvcache_core.pack import write_pack

    forged = tmp_path / "forged.pack"
    with open(forged, "wb") as fh:
        write_pack(other.entry_path(key), fh)
    bucket.put(key, forged.read_bytes() + genuine[-SIG_SIZE:])
    refused(tmp_path, bucket, key, caplog, "signature does not match", downloaded=True)


def test_key_comes_from_the_environment_only(tmp_path: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch,
                                             clone_venv: Callable[[Path], Path]) -> None:
    monkeypatch.setenv(ENV_SIGNING_KEY, MAIN_KEY)
    remote = Remote(bucket.url, "read")
    assert remote.signer is not None and remote.signer.key_id == Signer(MAIN_KEY).key_id
    monkeypatch.setenv(ENV_SIGNING_KEY, "short")
    with pytest.raises(VenvCacheError, match="shorter than"):
        signer_from_env()
    monkeypatch.setenv(ENV_SIGNING_KEY, "")
    assert Remote(bucket.url, "read").signer is None
    for name in ("signing_key", "remote_signing_key"):
        with pytest.raises(VenvCacheError, match=ENV_SIGNING_KEY):
            config.from_mapping({name: MAIN_KEY}, work_dir=tmp_path, source=None)

    # the fleet: main's job signs and writes through the CLI; a PR job with the key only reads and verifies
    main = project(tmp_path / "main", tmp_path / "main-cache", bucket)
    clone_venv(main / ".venv")
    signed_env = {**bucket.env, ENV_SIGNING_KEY: MAIN_KEY}
    run([*CLI, "store"], signed_env, cwd=main)
    [name] = bucket.names()
    assert parse_frame(bucket.read(name)[-SIG_SIZE:]) is not None
    pr = project(tmp_path / "pr", tmp_path / "pr-cache", bucket)
    pulled = run([*CLI, "--format", "json", "pull", name.rsplit("/", 1)[1]],
                 {**signed_env, "VIRTUALENV_CACHE_REMOTE_MODE": "read"}, cwd=pr)
    assert '"downloaded"' in pulled.stdout
    fork = project(tmp_path / "fork", tmp_path / "fork-cache", bucket)
    proc = run([*CLI, "pull", name.rsplit("/", 1)[1]], {**bucket.env, ENV_SIGNING_KEY: OTHER_KEY}, cwd=fork,
               check=False)
    assert proc.returncode == 2 and "another key" in proc.stderr


CLI = [sys.executable, "-m", "venvcache_core"]


def project(root: Path, cache: Path, bucket: Bucket) -> Path:
    root.mkdir(parents=True)
    (root / "requirements.txt").write_text("tinytool==1.0\n")
    (root / ".virtualenv_cache.toml").write_text(
        f'[virtualenv-cache]\ncache_path = "{cache}"\nrequirements_lock_paths = ["requirements.txt"]\n'
        f'python = "{getattr(sys, "_base_executable", sys.executable)}"\nremote = "{bucket.url}"\n')
    return root
