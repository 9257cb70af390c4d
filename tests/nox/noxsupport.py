"""Helpers the nox tests import (a module named ``conftest`` exists in several test folders)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from projects import pyproject
from venvcache_core import Cache


@dataclass
class NoxRun:
    """One ``nox`` run: exit code and everything it printed."""

    returncode: int
    output: str

    @property
    def hit(self) -> bool:
        return "venv cache hit " in self.output

    @property
    def miss(self) -> bool:
        return "venv cache miss " in self.output

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.output.splitlines() if needle in line]


class NoxProject:
    """A project folder with a noxfile, a setuptools package ``demo`` and a cache path of its own."""

    def __init__(self, root: Path, env: dict[str, str], cache: Path, envdirs: Path, *, files: bool = True) -> None:
        self.root = root
        self.env = env
        self.cache_path = cache
        self._envdirs = envdirs
        root.mkdir(parents=True, exist_ok=True)
        if files:
            self.write("pyproject.toml", pyproject("demo", packages=["demo"], cache=cache))
            self.write("demo/__init__.py", 'VALUE = "one"\n')

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def noxfile(self, body: str) -> None:
        self.write("noxfile.py", "import os\n\nimport nox\nimport nox_venvcache\n\n" + textwrap.dedent(body))

    def fresh_envdir(self) -> Path:
        """A new, empty ``--envdir`` (a fresh ``.nox``)."""
        self._envdirs.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="e", dir=self._envdirs))

    def nox(self, *args: str, envdir: Path | None = None, env: dict[str, str] | None = None,
            expect: int = 0, module: str = "nox") -> NoxRun:
        """Run ``python -m nox`` (or ``module``) here (fresh ``--envdir`` unless one is given); check the exit code."""
        envdir = envdir or self.fresh_envdir()
        proc = subprocess.run([sys.executable, "-m", module, "--envdir", str(envdir), *args], cwd=self.root,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, check=False,
                              timeout=300)
        run = NoxRun(proc.returncode, proc.stdout + proc.stderr)
        assert proc.returncode == expect, f"nox exited {proc.returncode}, expected {expect}:\n{run.output}"
        return run

    def copy_to(self, root: Path) -> NoxProject:
        """Another checkout of this project (same files, same cache), at ``root``."""
        shutil.copytree(self.root, root, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
        return NoxProject(root, self.env, self.cache_path, self._envdirs, files=False)

    @property
    def cache(self) -> Cache:
        return Cache(self.cache_path)


def uv_commands(log: Path) -> list[str]:
    """The uv command lines logged so far, except version probes (nox asks uv's version at start-up)."""
    if not log.exists():
        return []
    return [line for line in log.read_text(encoding="utf-8").splitlines() if not line.startswith(("self ", "version"))]


def entry_problems(cache: Cache) -> list[str]:
    """Problems ``verify`` finds in every entry of a cache."""
    keys = cache.keys()
    return [problem for key in keys for problem in cache.verify(key)]
