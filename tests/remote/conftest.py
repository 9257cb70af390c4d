"""Fixtures for the remote cache: a real S3-compatible server (moto's server mode) on 127.0.0.1, started and
stopped by the test session, a fresh bucket per test, and real venvs built offline from the session wheelhouse.

The server is a real HTTP server speaking the S3 protocol; obstore reaches it through its standard variables
(``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``, static ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), as it would a
MinIO or a real bucket. Nothing leaves loopback.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from moto import server as moto_server  # the test extra brings moto[server] (and obstore, backports.zstd)
from remotesupport import S3, aws_env


@pytest.fixture(scope="session")
def s3_server() -> Iterator[tuple[str, int]]:
    """A moto S3 server on an ephemeral loopback port for the whole session (one per xdist worker)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch, offline_env: dict[str, str]) -> S3:
    """A fresh bucket; this process and ``s3.env`` (for subprocesses) point obstore at the test server."""
    import boto3

    host, port = s3_server
    endpoint = f"http://{host}:{port}"
    aws = aws_env(endpoint)
    for name in [n for n in os.environ if n.startswith(("AWS_", "VIRTUALENV_CACHE_"))]:
        monkeypatch.delenv(name)
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    bucket = f"vc-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    env = {k: v for k, v in offline_env.items() if not k.startswith(("AWS_", "VIRTUALENV_CACHE_"))}
    return S3(host, port, bucket, {**env, **aws}, client)


