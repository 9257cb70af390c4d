"""The object a test gets for its virtual environment: where it is, its python, and helpers to run its tools."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venvcache_core import venv_python

_BIN = "Scripts" if sys.platform == "win32" else "bin"


class CommandFailed(subprocess.CalledProcessError):
    """A command run in a venv exited non-zero; ``str()`` carries its output so the failing test shows it."""

    def __str__(self) -> str:
        text = super().__str__()
        for name, value in (("stdout", self.stdout), ("stderr", self.stderr)):
            if value:
                text += f"\n--- {name} ---\n{value if isinstance(value, str) else value.decode(errors='replace')}"
        return text


@dataclass(frozen=True)
class Venv:
    """A ready virtual environment at ``path``; ``hit`` says whether it came from the cache."""

    path: Path
    key: str
    hit: bool
    seconds: float

    @property
    def python(self) -> Path:
        """The env's interpreter (``bin/python``)."""
        return venv_python(self.path)

    def bin(self, name: str) -> Path:
        """The path of an executable the env installed (``bin/<name>``, ``Scripts\\<name>.exe`` on Windows)."""
        folder = self.path / _BIN
        if sys.platform == "win32" and not (folder / name).exists():
            return folder / f"{name}.exe"
        return folder / name

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """``os.environ`` as an activated env has it: ``VIRTUAL_ENV`` set, its ``bin`` first on ``PATH``."""
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONHOME", "VIRTUAL_ENV"}}
        env.update(extra or {})
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = os.pathsep.join([str(self.path / _BIN), env.get("PATH", "")])
        return env

    def run(self, *args: str | os.PathLike[str], check: bool = True, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a command in the env; a first argument the env installs (``"tinytool"``, ``"python"``) is its own.

        Output is captured as text; with ``check`` a non-zero exit raises :class:`CommandFailed` with the output.
        """
        if not args:
            raise ValueError("run() needs a command")
        argv: Sequence[str] = [os.fspath(a) for a in args]
        first = argv[0]
        if os.sep not in first and (self.path / _BIN / first).exists():
            argv = [str(self.bin(first)), *argv[1:]]
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        proc: subprocess.CompletedProcess[str] = subprocess.run(
            list(argv), env=self.environ(env), cwd=cwd, check=False, **kwargs)
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, list(argv), proc.stdout, proc.stderr)
        return proc
