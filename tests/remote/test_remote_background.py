"""Uploads do not slow the job: a store's upload runs in a background thread while the tool goes on, the process
waits for it only at exit (bounded by VIRTUALENV_CACHE_REMOTE_UPLOAD_WAIT) and prints one line saying what it did,
and a job that is killed, or gives up, in the middle of an upload leaves nothing visible in the bucket.

The jobs are real processes; a loopback proxy with a slow uplink keeps their uploads in flight long enough to
stop them there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from remotesupport import Bucket, add_ballast

from venvcache_core import build_key, interpreter_identity, venv_python
from venvcache_core.remote import MIN_PART_SIZE

JOB = textwrap.dedent("""\
    import sys, time
    from venvcache_core import Cache
    from venvcache_core.remote import Remote
    cache = Cache(sys.argv[1])
    cache.remote = Remote(sys.argv[2], "readwrite")
    assert cache.store(sys.argv[3], sys.argv[4]).stored
    print("in flight:", [not u.done.is_set() for u in cache.remote.uploads], flush=True)
    time.sleep(float(sys.argv[5]))  # the rest of the job (the tests it runs) while the upload goes on
    print("job done", flush=True)
""")


@pytest.fixture
def job(tmp_path: Path, bucket: Bucket, clone_venv: Callable[[Path], Path]) -> Callable[..., subprocess.Popen[str]]:
    """Start a job that stores an env of ~12 MiB of ballast (a multipart upload at 5 MiB parts), then works on."""
    env = clone_venv(tmp_path / "p" / ".venv")
    add_ballast(env, 12 << 20)
    key = build_key(interpreter=interpreter_identity(venv_python(env)), inputs={"bg": 1}).digest
    script = tmp_path / "job.py"
    script.write_text(JOB)

    def start(endpoint: str | None = None, work: float = 0.0, **extra: str) -> subprocess.Popen[str]:
        # the read timeout also bounds a slow request: the slow uplink needs more than the tests' 2 s
        variables = {**bucket.env, "VIRTUALENV_CACHE_REMOTE_PART_SIZE": str(MIN_PART_SIZE),
                     f"{bucket.prefix}READ_TIMEOUT": "60s", **extra}
        if endpoint:
            variables.update(bucket.endpoint_env(endpoint))
        return subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), bucket.url, key, str(env),
                                 str(work)], env=variables, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    start.key = key  # type: ignore[attr-defined]
    return start


def venvcache_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("venvcache:")]


def test_upload_runs_while_the_job_goes_on_and_exit_reports_it(bucket: Bucket, job: Callable[..., Any]) -> None:
    proxy = FaultProxy((bucket.host, bucket.port))
    proxy.slow_uploads(2 << 20)  # ~6 s for the pack
    try:
        proc = job(proxy.url, work=0.5)
        out, err = proc.communicate(timeout=120)
    finally:
        proxy.close()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["in flight: [True]", "job done"]  # store returned, the upload went on
    [line] = venvcache_lines(err)  # one line, at exit
    assert f"{job.key[:8]} uploaded" in line and bucket.url in line and "waited" in line, line
    assert bucket.names() == [f"fleet/{job.key}"] and bucket.pending_uploads() == []


def test_bounded_wait_abandons_the_upload_and_leaves_nothing_visible(bucket: Bucket, job: Callable[..., Any]) -> None:
    proxy = FaultProxy((bucket.host, bucket.port))
    proxy.slow_uploads(256 << 10)  # ~50 s for the pack: far beyond the wait
    try:
        started = time.monotonic()
        proc = job(proxy.url, VIRTUALENV_CACHE_REMOTE_UPLOAD_WAIT="1")
        _, err = proc.communicate(timeout=120)
        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert proc.returncode == 0, err
    [line] = venvcache_lines(err)
    assert f"{job.key[:8]} unfinished, abandoned" in line and "never visible" in line, line
    assert elapsed < 40  # the 1 s bound, not the ~50 s upload
    assert bucket.names() == []  # an unfinished upload is not an object


def test_job_killed_mid_upload_leaves_nothing_visible(bucket: Bucket, job: Callable[..., Any]) -> None:
    proxy = FaultProxy((bucket.host, bucket.port))
    proxy.slow_uploads(512 << 10)
    try:
        proc = job(proxy.url, work=60)
        deadline = time.monotonic() + 60
        while proxy.received < 2 * MIN_PART_SIZE // 3 and time.monotonic() < deadline:  # well into the upload
            time.sleep(0.1)
        assert proxy.received > 0 and proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proxy.close()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)  # the server finishes handling the cut connections
    assert bucket.names() == []  # neither a pack nor part of one is visible
