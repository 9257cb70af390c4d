"""Helpers the core tests import (a module named ``conftest`` exists in several test folders)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

MakeVenv = Callable[..., Path]


def run(cmd: list[str | os.PathLike[str]], env: dict[str, str], cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
