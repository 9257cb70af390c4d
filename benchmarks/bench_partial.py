#!/usr/bin/env python3
"""One package bumped: cold install vs partial restore (nearest entry + exact sync) vs exact hit (issue 14).

    python benchmarks/bench_partial.py [--quick] [--runs N] [--bump NAME==OLD] [--link-mode M] [--json PATH]

Env (default, "full"): the DESIGN §7 env (pytest hypothesis requests numpy pandas sqlalchemy pydantic boto3 django
and their dependencies, Python 3.12, about 29 wheels) from ``benchmarks/bench.py``'s wheelhouse, downloaded once
from PyPI into the user cache dir; the bumped package's older wheel (``--bump``, default ``django==6.1.2``: one of
the biggest pure-Python packages of the env, so not the flattering case) is downloaded once next to it. The old
lock pins the older version, the new lock the wheelhouse's. ``--quick``: 40 local wheels of 100 modules each
instead, ``benchpkg00`` 1.0 → 2.0 (offline, seconds).

Two front ends, each in four scenarios, for the new lock:

- **tox**, tox-uv's ``uv-venv-lock-runner`` (``uv.lock``, ``uv sync``), a fresh ``.tox`` each run: *cold* (empty
  venvcache: uv sync installs everything, the plugin stores), *partial* (the cache holds the old lock's entry only:
  the plugin restores it, uv sync changes one package, the plugin stores), *hit* (the cache holds the new lock's
  entry), and *uv alone* (``--no-venv-cache``: tox-uv as it is without venvcache).
- **CLI**, the README's uv recipe (``restore --nearest``; ``uv venv`` on a miss; ``uv pip sync``; ``store``) with no
  ``.venv``: the same four, *uv alone* being ``uv venv`` + ``uv pip sync``.

Each scenario's command ends by importing the env's top-level packages (what a test run does first), so the bytecode
uv does not write (entries carry it; uv compiles none) is paid where it is paid in real life. Two machines: a
*fresh CI runner* (uv's cache emptied before the run) and a *developer machine* (uv's cache warm with every wheel).
Each round runs all 16 scenarios once in a fixed order (interleaved: all see the same load; state is prepared
untimed, dirty pages flushed before each run); the first round is a warm-up; figures are medians. A run whose output
shows the wrong thing (no partial line, uv changing more than the bumped package, a miss where a hit is expected)
stops the benchmark. Everything after the one-time download is offline. Standard library and the project only.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as full_bench  # the wheelhouse of the like-for-like benchmark: one download for both

from wheels import make_wheel  # the tests' wheel writer: one way to write a wheel in this repo

QUICK_BUMPED = "benchpkg00"
IMPORTED = "bench-imported"
FRONTS = ("tox", "cli")
KINDS = ("cold", "partial", "hit", "uv")
MACHINES = ("ci", "dev")  # uv cache emptied before each run / warm
MACHINE_TITLES = {"ci": "fresh CI runner (uv cache empty)", "dev": "developer machine (uv cache warm)"}
KIND_TITLES = {"cold": "cold: venvcache miss, install, store", "partial": "partial: nearest entry, sync, store",
               "hit": "hit: exact entry restored", "uv": "uv alone (no venvcache)"}
PYPROJECT = """
[project]
name = "partialbench"
version = "0.1"
requires-python = "=={major_minor}.*"
dependencies = [{deps}]

[tool.uv]
package = false
environments = ["sys_platform == '{platform}'"]  # the wheelhouse has this platform's wheels only
"""
TOX_INI = """
[tox]
env_list = py
skipsdist = true

[testenv]
runner = uv-venv-lock-runner
base_python = {python}
pass_env = PYENV_VERSION
commands = python -c "{code}"

[virtualenv-cache]
cache_path = {cache}
link_mode = {link_mode}
"""


def dist_name(filename: str) -> tuple[str, str]:
    """``(normalised name, version)`` of a wheel's file name."""
    name, version = filename.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def log(message: str) -> None:
    print(f"[bench-partial {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


class Lock:
    """What the two locks hold: the pins (``name==version``, the whole closure), the bumped package, imports."""

    def __init__(self, wheels: Path, bumped: str, old: str, new: str, top: Sequence[str], imports: Sequence[str],
                 python: str) -> None:
        self.wheels, self.bumped, self.old, self.new = wheels, bumped, old, new
        self.top, self.imports, self.python = list(top), list(imports), python

    def pins(self, version: str) -> list[str]:
        """Every wheel of the wheelhouse pinned (the bumped one at ``version``): a complete requirements lock."""
        found: dict[str, str] = {}
        for wheel in sorted(self.wheels.glob("*.whl")):
            name, ver = dist_name(wheel.name)
            if name != self.bumped:
                found[name] = ver
        return [f"{name}=={ver}" for name, ver in sorted({**found, self.bumped: version}.items())]

    def direct(self, version: str) -> list[str]:
        """The project's own dependencies (what ``uv lock`` resolves): the top-level names, pinned."""
        pinned = dict(pin.split("==") for pin in self.pins(version))
        return [f"{name}=={pinned[re.sub(r'[-_.]+', '-', name).lower()]}" for name in self.top]

    @property
    def code(self) -> str:
        return f"import {', '.join(self.imports)}; print('{IMPORTED}')"


def quick_lock(root: Path, python: str) -> Lock:
    """40 local wheels of 100 modules of ~2 kB; ``benchpkg00`` in 1.0 and 2.0."""
    folder = root / "wheels"
    body = {f"{{mod}}/m{i:03d}.py": ("X = " + repr("x" * 2000) + "\n").encode() for i in range(100)}
    names = [f"benchpkg{index:02d}" for index in range(40)]
    for name in names:
        extra = {path.format(mod=name): data for path, data in body.items()}
        for version in ("1.0", "2.0") if name == QUICK_BUMPED else ("1.0",):
            make_wheel(folder, name, version, extra_files=extra)
    return Lock(folder, QUICK_BUMPED, "1.0", "2.0", names, names, python)


def full_lock(root: Path, python: str, bump: str) -> Lock:
    """The DESIGN §7 wheelhouse (downloaded once) with the bumped package's older wheel (downloaded once)."""
    from platformdirs import user_cache_dir

    version = ".".join(python_version(python).split(".")[:2])
    house = full_bench.full_wheelhouse(version)
    name, _, old = bump.partition("==")
    name = re.sub(r"[-_.]+", "-", name).lower()
    extra = Path(user_cache_dir("venvcache-bench")) / f"bump-cp{version.replace('.', '')}"
    if not any(dist_name(w.name) == (name, old) for w in extra.glob("*.whl")):
        log(f"downloading {bump} into {extra} (once)")
        sh([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
            "--no-deps", "--python-version", version, "--dest", extra, bump], env=dict(os.environ))
    [new] = [v for n, v in map(dist_name, (w.name for w in house.glob("*.whl"))) if n == name]
    folder = root / "wheels"  # one find-links folder with both versions (symlinks: no copy)
    folder.mkdir()
    for wheel in [*house.glob("*.whl"), *extra.glob("*.whl")]:
        wheel_name, wheel_version = dist_name(wheel.name)
        if wheel_name != name or wheel_version in (old, new):
            (folder / wheel.name).symlink_to(wheel)
    return Lock(folder, name, old, new, full_bench.FULL_REQUIREMENTS, full_bench.FULL_REQUIREMENTS, python)


def python_version(python: str) -> str:
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"], check=True,
                          capture_output=True, text=True).stdout.strip()


def copy_cache(seed: Path | None, where: Path) -> None:
    """The cache a run starts from: a hardlinked copy of a seed (entry files are read-only; nothing edits them)."""
    if where.exists():
        shutil.rmtree(where)
    if seed is not None:
        subprocess.run(["cp", "-al", str(seed), str(where)], check=True)


class Bench:
    def __init__(self, root: Path, env: dict[str, str], lock: Lock, link_mode: str) -> None:
        self.root, self.env, self.lock, self.link_mode = root, env, lock, link_mode
        self.seeds: dict[str, Path] = {}  # "tox-old" ... -> a cache dir a run starts from (hardlinked per run)

    def env_for(self, machine: str) -> dict[str, str]:
        """The environment of a run: a fresh CI runner's uv cache is emptied first, a developer's stays warm."""
        uv_cache = self.root / f"uv-cache-{machine}"
        if machine == "ci" and uv_cache.exists():
            shutil.rmtree(uv_cache)
        return {**self.env, "UV_CACHE_DIR": str(uv_cache)}

    # -- tox ----------------------------------------------------------------------------------------------------
    def tox_project(self, name: str, version: str) -> Path:
        proj = self.root / name
        proj.mkdir(exist_ok=True)
        deps = ", ".join(f'"{p}"' for p in self.lock.direct(version))
        major_minor = ".".join(python_version(self.lock.python).split(".")[:2])
        (proj / "pyproject.toml").write_text(PYPROJECT.format(deps=deps, major_minor=major_minor,
                                                              platform=sys.platform))
        self.tox_ini(proj, self.root / f"{name}-cache")
        sh(["uv", "lock", "-q"], env=self.env_for("dev"), cwd=proj)
        return proj

    def tox_ini(self, proj: Path, cache: Path) -> None:
        (proj / "tox.ini").write_text(TOX_INI.format(cache=cache, code=self.lock.code, link_mode=self.link_mode,
                                                     python=self.lock.python))

    def tox(self, proj: Path, machine: str, *args: str) -> tuple[float, str]:
        shutil.rmtree(proj / ".tox", ignore_errors=True)
        env = self.env_for(machine)
        os.sync()
        started = time.perf_counter()
        out = sh([sys.executable, "-m", "tox", "-e", "py", *args], env=env, cwd=proj)
        return time.perf_counter() - started, out

    def tox_seeds(self) -> None:
        old = self.tox_project("tox-old", self.lock.old)
        new = self.tox_project("tox-new", self.lock.new)
        self.tox(old, "dev")
        self.seeds["tox-old"] = self.root / "tox-old-cache"
        copy_cache(self.seeds["tox-old"], self.root / "tox-new-cache")
        _, out = self.tox(new, "dev")
        expect("venv cache partial" in out, "the seed run of the new lock did not start from the old entry", out)
        self.seeds["tox-both"] = self.root / "tox-new-cache"

    def tox_run(self, kind: str, machine: str) -> float:
        proj = self.root / "tox-new"
        cache = self.root / "tox-run-cache"
        copy_cache({"cold": None, "partial": self.seeds["tox-old"], "hit": self.seeds["tox-both"], "uv": None}[kind],
                   cache)
        self.tox_ini(proj, cache)
        seconds, out = self.tox(proj, machine, *(["--no-venv-cache"] if kind == "uv" else []))
        expect(IMPORTED in out, "the env was not imported", out)
        if kind == "partial":
            [log_file] = (proj / ".tox" / "py" / "log").glob("*-uv-sync.log")
            changed = sorted(re.findall(r"^ [-+~] (\S+)", log_file.read_text(), re.MULTILINE))
            want = [f"{self.lock.bumped}=={self.lock.old}", f"{self.lock.bumped}=={self.lock.new}"]
            expect(changed == want, f"uv sync changed {changed}", out)
            expect(re.search(r"venv cache partial [0-9a-f]{8} \(1 of \d+ packages differ\)", out) is not None,
                   "no partial line", out)
        expect(("venv cache hit" in out) == (kind == "hit"), f"{kind}: wrong restore result", out)
        expect(("venv cache" in out) == (kind != "uv"), f"{kind}: venvcache on or off unexpectedly", out)
        return seconds

    # -- CLI ----------------------------------------------------------------------------------------------------
    def cli_project(self) -> Path:
        proj = self.root / "cli"
        proj.mkdir(exist_ok=True)
        (proj / ".virtualenv_cache.toml").write_text(
            f'[virtualenv-cache]\ncache_path = "{self.root / "cli-cache"}"\n'
            f'requirements_lock_paths = ["requirements.txt"]\npython = "{self.lock.python}"\n'
            f'link_mode = "{self.link_mode}"\n')
        return proj

    def cli(self, proj: Path, version: str, machine: str, *, cached: bool = True) -> tuple[float, str]:
        """The README's uv recipe, then the import; ``cached=False``: uv alone (uv venv + uv pip sync)."""
        (proj / "requirements.txt").write_text("\n".join(self.lock.pins(version)) + "\n")
        shutil.rmtree(proj / ".venv", ignore_errors=True)
        env = self.env_for(machine)
        cli = [sys.executable, "-m", "venvcache_core"]
        sync = ["uv", "pip", "sync", "--python", ".venv/bin/python", "requirements.txt"]
        os.sync()
        started = time.perf_counter()
        out = sh([*cli, "restore", "--nearest"], env=env, cwd=proj, codes=(0, 1, 3)) if cached else ""
        if " hit " not in out:
            if " partial " not in out:
                out += sh(["uv", "venv", "-q", "--python", self.lock.python, ".venv"], env=env, cwd=proj)
            out += sh(sync, env=env, cwd=proj)
            if cached:
                out += sh([*cli, "store"], env=env, cwd=proj)
        out += sh([".venv/bin/python", "-c", self.lock.code], env=env, cwd=proj)
        return time.perf_counter() - started, out

    def cli_seeds(self) -> None:
        proj = self.cli_project()
        self.cli(proj, self.lock.old, "dev")
        self.seeds["cli-old"] = self.root / "cli-seed-old"
        copy_cache(self.root / "cli-cache", self.seeds["cli-old"])
        _, out = self.cli(proj, self.lock.new, "dev")
        expect(" partial " in out, "the seed run of the new lock did not start from the old entry", out)
        self.seeds["cli-both"] = self.root / "cli-seed-both"
        copy_cache(self.root / "cli-cache", self.seeds["cli-both"])

    def cli_run(self, kind: str, machine: str) -> float:
        proj = self.root / "cli"
        copy_cache({"cold": None, "partial": self.seeds["cli-old"], "hit": self.seeds["cli-both"], "uv": None}[kind],
                   self.root / "cli-cache")
        seconds, out = self.cli(proj, self.lock.new, machine, cached=kind != "uv")
        expect(IMPORTED in out, "the env was not imported", out)
        if kind == "partial":
            changed = sorted(re.findall(r"^ [-+~] (\S+)", out, re.MULTILINE))
            want = [f"{self.lock.bumped}=={self.lock.old}", f"{self.lock.bumped}=={self.lock.new}"]
            expect(changed == want, f"uv pip sync changed {changed}", out)
        expect(("venv cache hit" in out) == (kind == "hit"), f"{kind}: wrong restore result", out)
        return seconds


def table(medians: dict[str, float], runs: dict[str, list[float]]) -> str:
    """One markdown table per machine: seconds per front end and scenario, then the ratios that decide."""
    lines = []
    for machine in MACHINES:
        lines += [f"\n{MACHINE_TITLES[machine]}, seconds (median; runs)", "",
                  "| scenario | tox lock runner | CLI (uv recipe) |", "|---|---|---|"]
        for kind in KINDS:
            cells = [f"{medians[f'{front} {kind} {machine}']:.2f} "
                     f"({', '.join(f'{v:.1f}' for v in runs[f'{front} {kind} {machine}'])})" for front in FRONTS]
            lines.append(f"| {KIND_TITLES[kind]} | {' | '.join(cells)} |")
        for label, num, den in (("partial / cold", "partial", "cold"), ("partial / hit", "partial", "hit"),
                                ("partial / uv alone", "partial", "uv"), ("hit / uv alone", "hit", "uv")):
            cells = [f"{medians[f'{front} {num} {machine}'] / medians[f'{front} {den} {machine}']:.2f}"
                     for front in FRONTS]
            lines.append(f"| ratio {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="40 local wheels instead of the real env")
    parser.add_argument("--runs", type=int, default=3, help="measured rounds after one warm-up (default 3)")
    parser.add_argument("--bump", default="django==6.1.2", help="full mode: NAME==OLD, the older version of the "
                        "package the new lock bumps (default django==6.1.2)")
    parser.add_argument("--python", help="the interpreter (default: python3.12 for the full env, else this one's)")
    parser.add_argument("--link-mode", default="auto", help="venvcache's link_mode (default auto)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    base = getattr(sys, "_base_executable", sys.executable)
    python = args.python or (base if args.quick else shutil.which("python3.12") or "")
    if not python:
        parser.error("the full env needs python3.12 (or --python)")
    python = subprocess.run([python, "-c", "import os, sys; print(os.path.realpath(sys.executable))"], check=True,
                            capture_output=True, text=True).stdout.strip()  # not a pyenv shim: the interpreter
    with tempfile.TemporaryDirectory(prefix="bench-partial-") as tmp:
        root = Path(tmp)
        lock = quick_lock(root, python) if args.quick else full_lock(root, python, args.bump)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TOX_", "VIRTUAL_ENV"))}
        env.update({"UV_NO_INDEX": "1", "UV_FIND_LINKS": str(lock.wheels), "UV_NO_CONFIG": "1",
                    "UV_OFFLINE": "1", "UV_PYTHON": python,
                    "PYENV_VERSION": env.get("PYENV_VERSION", "3.11.7:3.12.1:3.13.0:3.10.13"),
                    "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])})
        bench = Bench(root, env, lock, args.link_mode)
        log("seed runs (old lock, then new lock from it)")
        bench.tox_seeds()
        bench.cli_seeds()
        runs: dict[str, Callable[[], float]] = {
            f"{front} {kind} {machine}": (lambda f=front, k=kind, m=machine: getattr(bench, f"{f}_run")(k, m))
            for machine in MACHINES for front in FRONTS for kind in KINDS}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_no in range(args.runs + 1):
            log(f"round {round_no} of {args.runs}{' (warm-up)' if not round_no else ''}")
            for name, run in runs.items():
                seconds = run()
                if round_no:
                    times[name].append(seconds)
        load = os.getloadavg()
        what = (f"{len(lock.pins(lock.new))} distributions, {lock.bumped} {lock.old} -> {lock.new}; python "
                f"{python_version(python)}; link_mode {args.link_mode}; median of {args.runs} interleaved rounds "
                f"after a warm-up; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(what)
    print(table(medians, times))
    if args.json:
        args.json.write_text(json.dumps({"mode": "quick" if args.quick else "full", "what": what,
                                         "medians": medians, "runs": times, "load": load,
                                         "bumped": [lock.bumped, lock.old, lock.new],
                                         "link_mode": args.link_mode}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
