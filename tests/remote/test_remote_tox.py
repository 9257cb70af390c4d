"""The tox plugin gets the remote with no change of its own: runner A builds and uploads, runner B (another
checkout path, an empty local cache, read-only) restores through the remote and tox skips the deps install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from remotesupport import Bucket

from venvcache_core import Cache

TOX_INI = """\
[tox]
env_list = py
skipsdist = true

[testenv]
pass_env = PYENV_VERSION, AWS_*, AZURE_*, AZURITE_*, GOOGLE_*
deps = tinytool==1.0
commands = tinytool

[virtualenv-cache]
cache_path = {cache}
remote = {remote}
"""


pytestmark = pytest.mark.slow


def tox(root: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "tox", "-e", "py"], cwd=root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def test_tox_runner_b_restores_what_runner_a_uploaded(tmp_path: Path, bucket: Bucket) -> None:
    env = {**bucket.env, "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "app-data")}
    runners = []
    for name in ("runner-a/proj", "runner-b/other/place"):
        root = tmp_path / name
        root.mkdir(parents=True)
        cache = root.parent / "venvcache"
        (root / "tox.ini").write_text(textwrap.dedent(TOX_INI.format(cache=cache, remote=bucket.url)))
        runners.append((root, cache))

    cold = tox(runners[0][0], env)
    assert "venv cache miss" in cold and "tinytool 1.0" in cold
    [key] = Cache(runners[0][1]).keys()
    assert list(bucket.objects()) == [f"fleet/{key}"]

    warm = tox(runners[1][0], {**env, "VIRTUALENV_CACHE_REMOTE_MODE": "read"})

    assert "venv cache hit" in warm and "tinytool 1.0" in warm, warm
    assert "install_deps>" not in warm  # pip did not run for the deps
    stats = Cache(runners[1][1]).stats()
    assert Cache(runners[1][1]).keys() == [key] and stats["hits"] == 1
    assert list(bucket.objects()) == [f"fleet/{key}"]
