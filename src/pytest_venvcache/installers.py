"""The two installers a venv can be built with: uv (``uv venv`` + ``uv pip install``) and pip (``venv`` + pip).

``auto`` picks uv when it can be found (the ``uv`` package's binary, else ``uv`` on PATH), else pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from venvcache_core import VenvCacheError, venv_python

CHOICES = ("auto", "uv", "pip")


@dataclass(frozen=True)
class Installer:
    """How envs are created and installed into; ``name`` and ``version`` go into the key."""

    name: str
    version: str
    executable: str | None = None  # the uv binary

    def create(self, python: Path, dest: Path) -> list[str]:
        """The command that creates an empty env at ``dest`` for ``python``."""
        if self.name == "uv":
            return [str(self.executable), "venv", "--quiet", "--python", str(python), str(dest)]
        return [str(python), "-m", "venv", str(dest)]

    def install(self, dest: Path, args: Sequence[str], find_links: Sequence[Path]) -> list[str]:
        """The command that installs ``args`` (requirements and pip options) into the env at ``dest``."""
        links = [part for folder in find_links for part in ("--find-links", str(folder))]
        if self.name == "uv":
            return [str(self.executable), "pip", "install", "--python", str(venv_python(dest)), *links, *args]
        return [str(venv_python(dest)), "-m", "pip", "install", *links, *args]


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin  # the uv distribution on PyPI ships its binary with this helper
    except ImportError:
        return shutil.which("uv")
    try:
        return os.fspath(find_uv_bin())
    except (FileNotFoundError, OSError):
        return shutil.which("uv")


@lru_cache(maxsize=8)
def _uv_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise VenvCacheError(f"uv cannot run: {exc.strerror}", path=binary,
                             fix="reinstall uv or use installer='pip'") from None
    if out.returncode != 0:
        raise VenvCacheError("uv --version failed", path=binary, fix="reinstall uv or use installer='pip'")
    return out.stdout.strip().removeprefix("uv ").split()[0]


def choose(name: str | None) -> Installer:
    """The installer for ``name`` (``auto``, ``uv`` or ``pip``); uv asked for but missing is an error."""
    wanted = name or "auto"
    if wanted not in CHOICES:
        raise VenvCacheError(f"installer {wanted!r} is not known", fix="use one of " + ", ".join(CHOICES))
    if wanted in {"auto", "uv"}:
        binary = _uv_binary()
        if binary:
            return Installer("uv", _uv_version(binary), binary)
        if wanted == "uv":
            raise VenvCacheError("installer 'uv' asked for, but uv is not installed",
                                 fix="pip install uv, or use installer='pip'")
    # pip inside a venv is the one ensurepip bundles with the interpreter, which the key identifies in full
    return Installer("pip", "ensurepip")


def run(cmd: Sequence[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    """Run an installer step; return its exit code and combined output (what a failing test shows)."""
    try:
        proc = subprocess.run(list(cmd), env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
    except OSError as exc:
        return 127, f"{cmd[0]}: {exc.strerror}"
    return proc.returncode, proc.stdout
