"""Helpers shared by the reliability suites and their worker processes (no pytest fixtures here)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venvcache_core.manifest import Manifest, scan

BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
CLI = [sys.executable, "-m", "venvcache_core"]


def is_soak(config: Any) -> bool:
    """Whether the long run was asked for (``--soak`` or ``VENVCACHE_SOAK=1``)."""
    if os.environ.get("VENVCACHE_SOAK", "") not in ("", "0"):
        return True
    try:
        return bool(config.getoption("--soak"))
    except ValueError:  # the option is not registered: the short run
        return False


def digest(name: str) -> str:
    """A valid cache key for a test name."""
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass(frozen=True)
class SourceEnv:
    """A venv the suites store: where it is, what it must contain, and what its console script prints."""

    path: Path
    manifest: Manifest
    script: str
    output: str

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "manifest": self.manifest.to_json(), "script": self.script,
                "output": self.output}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceEnv:
        return cls(Path(data["path"]), Manifest.from_json(data["manifest"]), data["script"], data["output"])


def run(cmd: list[str | os.PathLike[str]], env: dict[str, str] | None = None, cwd: Path | None = None,
        check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def build_venv(path: Path, wheelhouse: Path, *requirements: str) -> Path:
    """A small real venv: ``python -m venv --without-pip`` plus the requirements installed offline by uv (or pip)."""
    run([BASE_PYTHON, "-m", "venv", "--without-pip", path])
    if requirements:
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        env = {**os.environ, "UV_NO_CONFIG": "1", "UV_OFFLINE": "1", "UV_NO_INDEX": "1",
               "UV_CACHE_DIR": str(path.parent / ".uv-cache"), "PIP_NO_INDEX": "1",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": os.devnull}
        if uv:
            run([uv, "pip", "install", "-q", "--python", path / "bin" / "python", "--no-index", "--find-links",
                 wheelhouse, *requirements], env)
        else:
            run([sys.executable, "-m", "pip", "install", "-q", "--python", path / "bin" / "python", "--no-index",
                 "--find-links", wheelhouse, *requirements], env)
    return path


SOURCES = {  # name -> (requirements, console script, what it prints)
    "one": (("tinytool==1.0",), "tinytool", "tinytool 1.0"),
    "two": (("tinytool==2.0",), "tinytool", "tinytool 2.0"),
    "dep": (("tinytool==1.0", "tinydep==1.0"), "tinydep", "tinydep 1.0"),
}


def compiled_from(name: str, files: Mapping[str, object]) -> bool:
    """Is ``name`` the bytecode of a module in ``files``? The cache compiles what an env lacks (uv builds none)."""
    folder, _, leaf = name.rpartition("/__pycache__/")
    stem = leaf.split(".", 1)[0]
    return bool(folder) and leaf.endswith(".pyc") and f"{folder}/{stem}.py" in files


def check_env(env: Path, source: SourceEnv, *, run_script: bool = True) -> list[str]:
    """Differences between a restored env and the venv it was stored from (relocated files: no old path left)."""
    problems: list[str] = []
    try:
        actual = scan(env)
    except OSError as exc:
        return [f"cannot scan {env}: {exc}"]
    expected = source.manifest
    for name, (size, sha) in expected.files.items():
        got = actual.files.get(name)
        if got is None:
            problems.append(f"missing {name}")
        elif name not in expected.relocate and got != (size, sha):
            problems.append(f"changed {name}")
    problems += [f"extra {name}" for name in sorted(actual.files.keys() - expected.files.keys())
                 if not compiled_from(name, expected.files)]
    if actual.symlinks != expected.symlinks:
        problems.append(f"symlinks differ: {sorted(set(actual.symlinks.items()) ^ set(expected.symlinks.items()))}")
    old = str(source.path).encode()
    for name in expected.relocate:
        with contextlib.suppress(OSError):
            if old in (env / name).read_bytes():
                problems.append(f"{name} still names {source.path}")
    script = env / "bin" / source.script
    with contextlib.suppress(OSError):
        first = script.read_text().splitlines()[0]
        if first != f"#!{env}/bin/python" and f'"{env}/bin/python"' not in script.read_text():
            problems.append(f"shebang of bin/{source.script} is {first!r}")
    if run_script and not problems:
        proc = subprocess.run([str(script)], capture_output=True, text=True, check=False, timeout=60)
        if proc.returncode != 0 or proc.stdout.strip() != source.output:
            problems.append(f"bin/{source.script} printed {proc.stdout!r} {proc.stderr[-300:]!r}")
    return problems


def write_project(root: Path, cache: Path, requirements: str, *, link_mode: str = "copy", extra: str = "") -> Path:
    """A project folder with a ``.virtualenv_cache.toml`` for the CLI; the interpreter is pinned to the tests'."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(requirements)
    (root / ".virtualenv_cache.toml").write_text(
        "[virtualenv-cache]\n"
        f"cache_path = {json.dumps(str(cache))}\n"
        'requirements_lock_paths = ["requirements.txt"]\n'
        f"python = {json.dumps(BASE_PYTHON)}\n"
        f'link_mode = "{link_mode}"\n'
        "cache_size = 20\n" + extra)
    return root
