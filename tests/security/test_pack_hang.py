"""Issue 16, point 4: a pack whose tar header or pax record holds a negative size made ``restore`` spin for ever
while holding the key lock, so every other job restoring that key hung too.

Now numbers are parsed strictly, every read consumes input, and a pull is time-boxed: the crafted pack on the real
(S3 test server) remote is one warning and a miss for both of two jobs restoring the key at once, within seconds.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from remotesupport import Bucket as S3
from secsupport import BLOCK, DIRTYPE, KEY, ZERO_BLOCK, compress, manifest_json, member, meta_json, set_field, snapshot

from venvcache_core.pack import PAXTYPE, PackError, header, read_pack

RESTORE = """
import logging, sys
from venvcache_core import Cache
from venvcache_core.remote import Remote
logging.basicConfig(level=logging.WARNING, format="%(message)s")
cache = Cache(sys.argv[1])
cache.remote = Remote(sys.argv[2], "read")
print("hit" if cache.restore(sys.argv[3], sys.argv[4]).hit else "miss")
"""


def pax(records: bytes) -> bytes:
    return header("././@PaxHeader", PAXTYPE, size=len(records)) + records + bytes(-len(records) % BLOCK)


FILE = member("env/x", b"abc")


def negative(listed: int, how: str) -> bytes:
    """A pack whose env/x has size -1 in its ustar header or its pax record; the manifest lists ``listed``."""
    body = ([set_field(FILE[:BLOCK], 124, 136, b"-0000000001"), FILE[BLOCK:]] if how == "ustar"
            else [pax(b"12 size=-1\n"), FILE])
    files = {"x": (listed, hashlib.sha256(b"abc").hexdigest())}
    return compress([member("meta.json", meta_json()), member("manifest.json", manifest_json(files)),
                     member("env", kind=DIRTYPE, mode=0o755), *body, ZERO_BLOCK * 2])


@pytest.mark.parametrize("how", ["ustar", "pax"])
def test_negative_size_on_the_remote_is_a_quick_miss_for_every_job(tmp_path: Path, s3: S3, how: str) -> None:
    s3.put(KEY, negative(-1, how))  # the manifest agrees with the header: the old reader looped in _extract_file
    before = snapshot(tmp_path)
    jobs = [subprocess.Popen([sys.executable, "-c", RESTORE, tmp_path / "cache", s3.url, KEY, tmp_path / f"p{i}" /
                              ".venv"], env=s3.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
    started = time.monotonic()
    try:
        outputs = [job.communicate(timeout=60) for job in jobs]
    finally:
        for job in jobs:
            job.kill()
    assert time.monotonic() - started < 60
    for out, err in outputs:
        assert out.strip() == "miss", err
        warning = [line for line in err.splitlines() if line.strip()]
        assert len(warning) == 1 and "rejected" in warning[0] and "negative" in warning[0], err
    assert all(p.startswith(str(tmp_path / "cache")) for p in snapshot(tmp_path) - before)
    assert not (tmp_path / "cache" / KEY).exists() and list((tmp_path / "cache" / ".tmp").iterdir()) == []


@pytest.mark.parametrize(("how", "listed"), [("ustar", 3), ("pax", 3)])
def test_negative_header_size_is_refused_even_when_the_manifest_is_sane(tmp_path: Path, how: str,
                                                                       listed: int) -> None:
    with pytest.raises(PackError, match="malformed"):
        read_pack([negative(listed, how)], tmp_path, key=KEY)


def record(length: str, key: str, value: str) -> bytes:
    """A pax record with the given spelling of its length (``{n}`` is replaced by the right length)."""
    body = f" {key}={value}\n"
    n = len(body) + 2
    return length.format(n=n).encode() + body.encode()


@pytest.mark.parametrize("records", [record("{n}", "size", "-1"), record("{n}", "size", "+3"),
                                     record("{n}", "size", "3 "), record("+{n}", "size", "3"),
                                     record("1_1", "size", "3"), record("-5", "size", "3"),
                                     record("2", "size", "3"), record("0", "size", "3"),
                                     record("9" * 30, "size", "3")])
def test_pax_numbers_are_strict(tmp_path: Path, records: bytes) -> None:
    """Signs, spaces and ``_`` in a pax length or size (``int()`` took them all) are refused."""
    files = {"x": (3, hashlib.sha256(b"abc").hexdigest())}
    data = compress([member("meta.json", meta_json()), member("manifest.json", manifest_json(files)),
                     member("env", kind=DIRTYPE, mode=0o755), pax(records), FILE, ZERO_BLOCK * 2])
    with pytest.raises(PackError, match=r"pax|malformed|manifest"):
        read_pack([data], tmp_path, key=KEY)
    assert not (tmp_path / "env" / "x").exists()


def test_a_sane_pax_size_still_works(tmp_path: Path) -> None:
    files = {"x": (3, hashlib.sha256(b"abc").hexdigest())}
    data = compress([member("meta.json", meta_json()), member("manifest.json", manifest_json(files)),
                     member("env", kind=DIRTYPE, mode=0o755), pax(record("{n}", "size", "3")), FILE, ZERO_BLOCK * 2])
    read_pack([data], tmp_path, key=KEY)
    assert (tmp_path / "env" / "x").read_bytes() == b"abc"


@pytest.mark.parametrize("field", [b"\x80\0\0\0\0\0\0\0\0\0\0\x03", b"0o00000003\0", b"00000000_3\0", b"-3\0"])
def test_tar_number_fields_are_strict(tmp_path: Path, field: bytes) -> None:
    """base-256 (GNU), ``0o`` prefixes, underscores and signs: none is a tar number this reader accepts."""
    data = compress([member("meta.json", meta_json()),
                     set_field(member("manifest.json", b"{}")[:BLOCK], 124, 136, field), ZERO_BLOCK * 2])
    with pytest.raises(PackError, match="malformed"):
        read_pack([data], tmp_path, key=KEY)


def test_a_stalled_pack_is_cut_off_by_the_deadline(tmp_path: Path) -> None:
    """A remote that drips bytes forever (never idle long enough for a read timeout) is cut off by the time box."""
    data = compress([member("meta.json", meta_json())])

    def drip() -> object:
        yield data[:20]
        while True:
            time.sleep(0.05)
            yield b""

    started = time.monotonic()
    with pytest.raises(PackError, match="longer than the time allowed"):
        read_pack(drip(), tmp_path, key=KEY, timeout=1.0)
    assert time.monotonic() - started < 10


def test_remote_timeout_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from venvcache_core import VenvCacheError
    from venvcache_core.remote import ENV_REMOTE_TIMEOUT, FETCH_TIMEOUT, fetch_timeout

    monkeypatch.delenv(ENV_REMOTE_TIMEOUT, raising=False)
    assert fetch_timeout() == FETCH_TIMEOUT
    monkeypatch.setenv(ENV_REMOTE_TIMEOUT, "2.5")
    assert fetch_timeout() == 2.5
    for bad in ("-1", "0", "soon", "nan", "inf"):
        monkeypatch.setenv(ENV_REMOTE_TIMEOUT, bad)
        with pytest.raises(VenvCacheError, match=ENV_REMOTE_TIMEOUT):
            fetch_timeout()
