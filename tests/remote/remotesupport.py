"""Helpers the remote tests import (conftest modules are not meant to be imported): a subprocess runner and
the handle on one bucket of the test S3 server."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def run(cmd: list[Any], env: dict[str, str], cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class S3:
    """One bucket on the test server; ``url`` is what ``remote`` is set to, ``env`` the variables for subprocesses."""

    host: str
    port: int
    bucket: str
    env: dict[str, str]
    client: Any

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/fleet"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def objects(self) -> dict[str, bytes]:
        found = self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {o["Key"]: self.client.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read() for o in found}

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"fleet/{key}", Body=data)


def aws_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_READ_TIMEOUT": "2s"}
