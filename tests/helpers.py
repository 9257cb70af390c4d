"""Small helpers the test modules import (conftest modules are not meant to be imported)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

PYENV_VERSION = "3.11.7:3.12.1:3.13.0:3.10.13"


def have_python(version: str) -> bool:
    """Whether ``python<version>`` runs here (pyenv shims fail unless PYENV_VERSION selects them)."""
    exe = shutil.which(f"python{version}")
    if not exe:
        return False
    env = {**os.environ, "PYENV_VERSION": os.environ.get("PYENV_VERSION", PYENV_VERSION)}
    return subprocess.run([exe, "-c", "pass"], env=env, capture_output=True, check=False).returncode == 0


def installer_environ(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the wheelhouse paths: the pytest plugin's ``find_links`` keys the wheelhouse by content."""
    return {k: v for k, v in env.items() if k not in {"PIP_FIND_LINKS", "UV_FIND_LINKS"}}
