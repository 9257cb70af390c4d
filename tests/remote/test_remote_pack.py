"""The pack format: a round trip keeps the entry; crafted packs that try to leave the entry are rejected.

The crafted packs are well formed (valid zstd, correct sha256 trailer, the members listed in their manifest), so
what rejects them is the unpacker's own rules, not the checksum.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from remotesupport import Bucket

from venvcache_core import Cache, VenvCacheError, build_key, config, interpreter_identity, venv_python
from venvcache_core.pack import FORMAT, SKIPPABLE_MAGIC, PackError, read_pack, require_zstd, write_pack
from venvcache_core.remote import Remote, remote_from_config

KEY = "ab" * 32


def member(name: str, *, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
           link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def craft(*members: tuple[tarfile.TarInfo, bytes], key: str = KEY) -> bytes:
    """A pack that is valid on the wire, whose manifest lists exactly the given env/ members."""
    files = {i.name[4:]: [i.size, hashlib.sha256(d).hexdigest()] for i, d in members
             if i.isreg() and i.name.startswith("env/")}
    links = {i.name[4:]: i.linkname for i, _ in members if i.issym() and i.name.startswith("env/")}
    meta = json.dumps({"key": key, "interpreter": {"base_executable": "/usr/bin/python3"}}).encode()
    manifest = json.dumps({"files": files, "symlinks": links, "relocate": []}).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in [member("meta.json", data=meta), member("manifest.json", data=manifest),
                           member("env", kind=tarfile.DIRTYPE), *members]:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    body = require_zstd().compress(raw.getvalue())
    digest = hashlib.sha256(body).hexdigest()
    return body + struct.pack("<II", SKIPPABLE_MAGIC, len(FORMAT) + 64) + FORMAT + digest.encode()


def snapshot(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


EVIL = {
    "dotdot": [member("../evil.txt", data=b"x")],
    "dotdot-inside-env": [member("env/../../evil.txt", data=b"x")],
    "absolute": [member("/tmp/venvcache-evil-absolute.txt", data=b"x")],
    "outside-layout": [member("evil.txt", data=b"x")],
    "link-outside": [member("env/lib", kind=tarfile.SYMTYPE, link="../../..")],
    "link-absolute": [member("env/etc", kind=tarfile.SYMTYPE, link="/etc")],
    "write-through-link": [member("env/bin", kind=tarfile.DIRTYPE),
                           member("env/bin/python3", kind=tarfile.SYMTYPE, link="/tmp"),
                           member("env/bin/python3/evil.txt", data=b"x")],
    "interpreter-link-elsewhere": [member("env/bin", kind=tarfile.DIRTYPE),
                                   member("env/bin/python", kind=tarfile.SYMTYPE, link="/bin/sh")],
    "link-chain-escape": [member("env/a", kind=tarfile.DIRTYPE), member("env/a/b", kind=tarfile.DIRTYPE),
                          member("env/a/b/up", kind=tarfile.SYMTYPE, link="../.."),
                          member("env/esc", kind=tarfile.SYMTYPE, link="a/b/up/../..")],
    "hard-link": [member("env/passwd", kind=tarfile.LNKTYPE, link="/etc/passwd")],
    "device": [member("env/null", kind=tarfile.CHRTYPE)],
    "fifo": [member("env/pipe", kind=tarfile.FIFOTYPE)],
    "not-in-manifest": [],  # replaced below: a file the manifest does not list
}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_crafted_pack_is_rejected_and_nothing_is_written_outside(tmp_path: Path, case: str) -> None:
    dest = tmp_path / "cache" / ".tmp" / "unpack"
    dest.mkdir(parents=True)
    before = snapshot(tmp_path)
    data = _with_unlisted_member(member("env/extra.txt", data=b"x")[0]) if case == "not-in-manifest" \
        else craft(*EVIL[case])

    with pytest.raises(PackError):
        read_pack([data[i:i + 4096] for i in range(0, len(data), 4096)], dest, key=KEY)

    outside = {p for p in snapshot(tmp_path) - before if not p.startswith(str(dest))}
    assert outside == set()
    assert not os.path.lexists("/tmp/venvcache-evil-absolute.txt")


def _with_unlisted_member(extra: tarfile.TarInfo) -> bytes:
    """A pack whose tar holds one file more than its manifest lists."""
    manifest = json.dumps({"files": {}, "symlinks": {}, "relocate": []}).encode()
    meta = json.dumps({"key": KEY}).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in [member("meta.json", data=meta), member("manifest.json", data=manifest),
                           member("env", kind=tarfile.DIRTYPE), (extra, b"x")]:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    body = require_zstd().compress(raw.getvalue())
    return body + struct.pack("<II", SKIPPABLE_MAGIC, len(FORMAT) + 64) + FORMAT + \
        hashlib.sha256(body).hexdigest().encode()


def test_crafted_pack_on_the_server_is_a_miss(tmp_path: Path, bucket: Bucket, caplog: pytest.LogCaptureFixture) -> None:
    """End to end: ``../`` and absolute members on the bucket → rejected, miss, one warning, nothing written."""
    bucket.put(KEY, craft(member("env/ok.txt", data=b"fine"), member("env/../../../escaped.txt", data=b"x"),
                      member("/tmp/venvcache-evil-absolute.txt", data=b"x")))
    cache = Cache(tmp_path / "cache")
    cache.remote = Remote(bucket.url, "read")
    before = snapshot(tmp_path)

    result = cache.restore(KEY, tmp_path / "proj" / ".venv")

    assert not result.hit and cache.keys() == [] and not (cache.path / KEY).exists()
    assert all(p.startswith(str(cache.path)) for p in snapshot(tmp_path) - before)  # only the cache's bookkeeping
    assert list((cache.path / ".tmp").iterdir()) == [] and not (tmp_path.parent / "escaped.txt").exists()
    assert not os.path.lexists("/tmp/venvcache-evil-absolute.txt")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "unsafe member name" in warnings[0]


def test_round_trip_keeps_files_modes_mtimes_and_links(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    deep = env / "lib" / ("a-rather-long-folder-name-" * 4) / "sub"
    deep.mkdir(parents=True)
    (deep / "ünïcode-名前.txt").write_text("long and non-ASCII names go through pax headers")
    os.symlink("../../" + "x" * 120, deep / "long-link")  # dangling but inside the env
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"pack": 1}).digest
    cache = Cache(tmp_path / "cache")
    cache.store(key, env)
    entry = cache.path / key
    out = io.BytesIO()
    info = write_pack(entry, out)
    data = out.getvalue()
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data[:-80]).hexdigest()
    # the pack is an ordinary zstd-compressed tar: the standard library reads it the same way
    with tarfile.open(fileobj=io.BytesIO(require_zstd().decompress(data[:-80]))) as tar:
        names = tar.getnames()
    assert names[:3] == ["meta.json", "manifest.json", "env"]
    assert str((deep / "ünïcode-名前.txt").relative_to(env.parent).as_posix()).replace(".venv", "env") in names
    dest = tmp_path / "unpacked"
    dest.mkdir()

    meta, sha, received = read_pack([data[i:i + 65536] for i in range(0, len(data), 65536)], dest, key=key)

    assert meta["key"] == key and sha == info.sha256 and received == len(data)
    for path in (entry / "env").rglob("*"):
        twin = dest / "env" / path.relative_to(entry / "env")
        a, b = os.lstat(path), os.lstat(twin)
        assert (a.st_mode, a.st_size) == (b.st_mode, b.st_size), path
        if path.is_symlink():
            assert os.readlink(path) == os.readlink(twin)
        elif path.is_file():
            assert a.st_mtime_ns == b.st_mtime_ns and path.read_bytes() == twin.read_bytes()
    assert json.loads((dest / "manifest.json").read_text()) == json.loads((entry / "manifest.json").read_text())


def test_damaged_local_entry_is_not_packed(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    env = clone_venv(tmp_path / "p" / ".venv")
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"pack": 2}).digest
    cache = Cache(tmp_path / "cache")
    cache.store(key, env)
    (cache.path / key / "env" / "stray.txt").write_text("not in the manifest")
    with pytest.raises(PackError, match="does not match its manifest"):
        write_pack(cache.path / key, io.BytesIO())


def test_file_remote_round_trip(tmp_path: Path, clone_venv: Callable[[Path], Path]) -> None:
    """obstore's local-files store: a shared folder (NFS, a mounted volume) works as a remote too."""
    env = clone_venv(tmp_path / "p" / ".venv")
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"file": 1}).digest
    url = f"file://{tmp_path / 'shared'}"
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    a.remote, b.remote = Remote(url, "readwrite"), Remote(url, "readwrite")
    a.store(key, env)
    assert a.remote.wait(60) is not None
    assert (tmp_path / "shared" / key).is_file()
    assert b.restore(key, tmp_path / "q" / ".venv").hit
    assert b.remote.push(b, key).action == "exists"
    assert [e["key"] for e in b.remote.entries()] == [key]


def test_config_keys_and_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("VIRTUALENV_CACHE_")]:
        monkeypatch.delenv(name)
    ok = config.from_mapping({"remote": "s3://bucket/prefix", "remote_mode": "read"}, work_dir=tmp_path, source=None)
    remote = remote_from_config(ok)
    assert remote is not None and (remote.url, remote.mode, remote.can_read, remote.can_write) == (
        "s3://bucket/prefix", "read", True, False)
    assert remote_from_config(config.from_mapping({}, work_dir=tmp_path, source=None)) is None
    for bad in ({"remote": "ftp://host/x"}, {"remote": "bucket/prefix"}, {"remote_mode": "sometimes"},
                {"remote": 3}):
        with pytest.raises(VenvCacheError):
            config.from_mapping(bad, work_dir=tmp_path, source=None)
    monkeypatch.setenv("VIRTUALENV_CACHE_REMOTE", "gs://other")
    monkeypatch.setenv("VIRTUALENV_CACHE_REMOTE_MODE", "write")
    remote = remote_from_config(ok)
    assert remote is not None and (remote.url, remote.mode) == ("gs://other", "write")
    monkeypatch.setenv("VIRTUALENV_CACHE_REMOTE_MODE", "never")
    with pytest.raises(VenvCacheError, match="remote_mode"):
        remote_from_config(ok)
