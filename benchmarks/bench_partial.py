#!/usr/bin/env python3
"""One package bumped: cold install vs partial restore (nearest entry + exact sync) vs exact hit (issue 14).

    python benchmarks/bench_partial.py [--runs N] [--packages N] [--files N] [--json PATH]

A lock of ``--packages`` local wheels (``--files`` modules each) where one pin moves from 1.0 to 2.0. Two front ends:

- **tox**, tox-uv's ``uv-venv-lock-runner`` (``uv.lock``, ``uv sync``), a fresh ``.tox`` each time:
  *cold* (venvcache empty: uv sync installs everything, then the plugin stores), *partial* (the cache holds the entry
  of the old lock only: the plugin restores it, uv sync changes one package, the plugin stores), *hit* (the cache
  holds the new lock's entry).
- **CLI**, ``virtualenv-cache`` with the README's uv recipe (``restore --nearest``, ``uv pip sync``, ``store``), no
  ``.venv``: *cold* (``uv venv`` + ``uv pip sync`` + ``store``), *partial* (exit 3, sync, store), *hit* (exit 0).

uv's own cache is warm in every scenario (as on a developer machine or a CI job that keeps it); ``--cold-uv`` empties
it before each run instead (a CI job that keeps only venvcache's directory). Each round runs every scenario once in
a fixed order (interleaved, so all see the same load); the first round is a warm-up; figures are medians. A run whose
log shows the wrong thing (no partial line, more than one package changed, a miss where a hit is expected) fails the
benchmark. Standard library and the project only; everything is offline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from wheels import make_wheel  # the tests' wheel writer: one way to write a wheel in this repo

BUMPED = "benchpkg00"
PYPROJECT = """
[project]
name = "partialbench"
version = "0.1"
requires-python = ">=3.10"
dependencies = [{deps}]

[tool.uv]
package = false
"""
TOX_INI = """
[tox]
env_list = py
skipsdist = true

[testenv]
runner = uv-venv-lock-runner
pass_env = PYENV_VERSION
commands = python -c "import {bumped}; print({bumped}.VERSION)"

[virtualenv-cache]
cache_path = {cache}
link_mode = {link_mode}
"""


def sh(cmd: Sequence[str | os.PathLike[str]], *, env: dict[str, str], cwd: Path | None = None,
       codes: tuple[int, ...] = (0,)) -> str:
    """Run a command; its output (stdout and stderr), or SystemExit with it when its exit code is unexpected."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=900)
    if proc.returncode not in codes:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return proc.stdout


def expect(condition: bool, what: str, out: str) -> None:
    if not condition:
        raise SystemExit(f"benchmark run went wrong: {what}\n{out[-3000:]}")


def wheelhouse(folder: Path, packages: int, files: int) -> None:
    """``benchpkg00`` 1.0 and 2.0, ``benchpkg01``.. 1.0, each with ``files`` modules of ~2 kB."""
    body = {f"{{mod}}/m{i:03d}.py": ("X = " + repr("x" * 2000) + "\n").encode() for i in range(files)}
    for index in range(packages):
        name = f"benchpkg{index:02d}"
        extra = {path.format(mod=name): data for path, data in body.items()}
        for version in ("1.0", "2.0") if name == BUMPED else ("1.0",):
            make_wheel(folder, name, version, extra_files=extra)


def pins(packages: int, bumped: str) -> list[str]:
    return [f"{BUMPED}=={bumped}", *(f"benchpkg{i:02d}==1.0" for i in range(1, packages))]


class Bench:
    def __init__(self, root: Path, env: dict[str, str], packages: int, cold_uv: bool, link_mode: str) -> None:
        self.root, self.env, self.packages, self.cold_uv, self.link_mode = root, env, packages, cold_uv, link_mode
        self.seeds: dict[str, Path] = {}  # scenario -> a cache dir to start from (copied per run)

    def uv_cache(self) -> None:
        if self.cold_uv:
            shutil.rmtree(self.env["UV_CACHE_DIR"], ignore_errors=True)

    def cache_for(self, seed: str | None, where: Path) -> None:
        shutil.rmtree(where, ignore_errors=True)
        if seed is not None:
            shutil.copytree(self.seeds[seed], where, symlinks=True)

    # -- tox ----------------------------------------------------------------------------------------------------
    def tox_project(self, name: str, bumped: str) -> Path:
        proj = self.root / name
        proj.mkdir(exist_ok=True)
        deps = ", ".join(f'"{p}"' for p in pins(self.packages, bumped))
        (proj / "pyproject.toml").write_text(PYPROJECT.format(deps=deps))
        (proj / "tox.ini").write_text(TOX_INI.format(cache=self.root / f"{name}-cache", bumped=BUMPED,
                                                         link_mode=self.link_mode))
        sh(["uv", "lock", "-q"], env=self.env, cwd=proj)
        return proj

    def tox(self, proj: Path) -> tuple[float, str]:
        shutil.rmtree(proj / ".tox", ignore_errors=True)
        self.uv_cache()
        started = time.perf_counter()
        out = sh([sys.executable, "-m", "tox", "-e", "py"], env=self.env, cwd=proj)
        return time.perf_counter() - started, out

    def tox_seeds(self) -> None:
        old = self.tox_project("tox-old", "1.0")
        new = self.tox_project("tox-new", "2.0")
        self.tox(old)
        self.seeds["tox-old"] = self.root / "tox-old-cache"
        shutil.copytree(self.seeds["tox-old"], self.root / "tox-new-cache", symlinks=True)
        _, out = self.tox(new)
        self.seeds["tox-both"] = self.root / "tox-new-cache"
        expect("venv cache partial" in out, "the seed run of the new lock did not start from the old entry", out)

    def tox_run(self, scenario: str) -> float:
        proj = self.root / "tox-new"
        self.cache_for({"cold": None, "partial": "tox-old", "hit": "tox-both"}[scenario], self.root / "tox-run-cache")
        (proj / "tox.ini").write_text(TOX_INI.format(cache=self.root / "tox-run-cache", bumped=BUMPED,
                                                         link_mode=self.link_mode))
        seconds, out = self.tox(proj)
        expect("2.0" in out, "the env does not have the bumped version", out)
        if scenario == "partial":
            [log] = (proj / ".tox" / "py" / "log").glob("*-uv-sync.log")
            changed = re.findall(r"^ [-+] (\S+)", log.read_text(), re.MULTILINE)
            expect(sorted(changed) == [f"{BUMPED}==1.0", f"{BUMPED}==2.0"], f"uv sync changed {changed}", out)
            expect(re.search(r"venv cache partial [0-9a-f]{8} \(1 of \d+ packages differ\)", out) is not None,
                   "no partial line", out)
        expect(("venv cache hit" in out) == (scenario == "hit"), f"{scenario}: wrong restore result", out)
        return seconds

    # -- CLI ----------------------------------------------------------------------------------------------------
    def cli_project(self) -> Path:
        proj = self.root / "cli"
        proj.mkdir(exist_ok=True)
        (proj / ".virtualenv_cache.toml").write_text(
            f'[virtualenv-cache]\ncache_path = "{self.root / "cli-cache"}"\n'
            f'requirements_lock_paths = ["requirements.txt"]\npython = "{self.env["UV_PYTHON"]}"\n'
            f'link_mode = "{self.link_mode}"\n')
        return proj

    def cli(self, proj: Path, bumped: str) -> tuple[float, str]:
        (proj / "requirements.txt").write_text("\n".join(pins(self.packages, bumped)) + "\n")
        shutil.rmtree(proj / ".venv", ignore_errors=True)
        self.uv_cache()
        cli = [sys.executable, "-m", "venvcache_core"]
        started = time.perf_counter()
        out = sh([*cli, "restore", "--nearest"], env=self.env, cwd=proj, codes=(0, 1, 3))
        if " hit " not in out:
            if " partial " not in out:
                out += sh(["uv", "venv", "-q", ".venv"], env=self.env, cwd=proj)
            out += sh(["uv", "pip", "sync", "--python", ".venv/bin/python", "requirements.txt"], env=self.env,
                      cwd=proj)
            out += sh([*cli, "store"], env=self.env, cwd=proj)
        return time.perf_counter() - started, out

    def cli_seeds(self) -> None:
        proj = self.cli_project()
        self.cli(proj, "1.0")
        self.seeds["cli-old"] = self.root / "cli-seed-old"
        shutil.copytree(self.root / "cli-cache", self.seeds["cli-old"], symlinks=True)
        _, out = self.cli(proj, "2.0")
        expect(" partial " in out, "the seed run of the new lock did not start from the old entry", out)
        self.seeds["cli-both"] = self.root / "cli-seed-both"
        shutil.copytree(self.root / "cli-cache", self.seeds["cli-both"], symlinks=True)

    def cli_run(self, scenario: str) -> float:
        proj = self.root / "cli"
        self.cache_for({"cold": None, "partial": "cli-old", "hit": "cli-both"}[scenario], self.root / "cli-cache")
        seconds, out = self.cli(proj, "2.0")
        if scenario == "partial":
            changed = re.findall(r"^ [-+] (\S+)", out, re.MULTILINE)
            expect(sorted(changed) == [f"{BUMPED}==1.0", f"{BUMPED}==2.0"], f"uv pip sync changed {changed}", out)
        expect(("venv cache hit" in out) == (scenario == "hit"), f"{scenario}: wrong restore result", out)
        return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="measured rounds after one warm-up (default 3)")
    parser.add_argument("--packages", type=int, default=40, help="packages in the lock (default 40)")
    parser.add_argument("--files", type=int, default=100, help="modules per package (default 100)")
    parser.add_argument("--cold-uv", action="store_true", help="empty uv's cache before every run")
    parser.add_argument("--link-mode", default="auto", help="venvcache's link_mode (default auto)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    base = getattr(sys, "_base_executable", sys.executable)
    with tempfile.TemporaryDirectory(prefix="bench-partial-") as tmp:
        root = Path(tmp)
        wheelhouse(root / "wheels", args.packages, args.files)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TOX_", "VIRTUAL_ENV"))}
        env.update({"UV_NO_INDEX": "1", "UV_FIND_LINKS": str(root / "wheels"), "UV_NO_CONFIG": "1",
                    "UV_OFFLINE": "1", "UV_CACHE_DIR": str(root / "uv-cache"), "UV_PYTHON": base,
                    "PYENV_VERSION": env.get("PYENV_VERSION", "3.11.7:3.12.1:3.13.0:3.10.13"),
                    "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])})
        bench = Bench(root, env, args.packages, args.cold_uv, args.link_mode)
        bench.tox_seeds()
        bench.cli_seeds()
        runs: dict[str, Callable[[], float]] = {
            f"{front} {scenario}": (lambda f=front, s=scenario: getattr(bench, f"{f}_run")(s))
            for front in ("tox", "cli") for scenario in ("cold", "partial", "hit")}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_no in range(args.runs + 1):
            for name, run in runs.items():
                seconds = run()
                if round_no:
                    times[name].append(seconds)
        load = os.getloadavg()
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.packages} packages x {args.files} modules, one bumped; uv cache {'cold' if args.cold_uv else 'warm'};"
          f" link_mode {args.link_mode}; median of {args.runs}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name, value in medians.items():
        print(f"  {name:<14} {value:7.2f} s   (runs: {', '.join(f'{v:.2f}' for v in times[name])})")
    if args.json:
        args.json.write_text(json.dumps({"medians": medians, "runs": times, "load": load, "packages": args.packages,
                                         "files": args.files, "cold_uv": args.cold_uv,
                                         "link_mode": args.link_mode}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
