#!/usr/bin/env python3
"""A real-shape tox project: cold / warm venvcache / tox's own reuse, on each of tox's runners (issue 18).

    python benchmarks/bench_tox_shapes.py [--runs N] [--json PATH]

The project: hatchling + hatch-vcs (a dynamic version, in a git repo), ``package = editable``, ``extras = test``, its
own dependencies, so a run has a ``.pkg`` env, the package's deps + extras and the package itself (the lock runner: the
same project with a ``uv.lock``, and ``uv sync`` installs all of it). Scenarios, per runner (``virtualenv``,
``uv-venv-runner``, ``uv-venv-lock-runner``): **cold** (fresh ``.tox``, ``--no-venv-cache``; uv's cache is warm for the
uv runners, as on a developer machine), **warm** (fresh ``.tox``, the entries in venvcache), **reuse** (tox reusing its
own ``.tox``), and ``cp -a`` / ``cp -al`` of the envs a warm run restores (the link floor). Each round runs every
scenario once in a fixed order (interleaved: all see the same load); the first round is a warm-up; figures are medians.
A run whose log shows the wrong thing (a miss where a hit is expected, an installer on a warm run other than the
package's) fails the benchmark. Trees a scenario removes go to a trash folder, deleted at the end (``rmtree`` of
``bench.py``: on this machine kind's journal-less ext4, creating files right after deleting many is slower, which a
fresh checkout never pays). Standard library and the project only; the tox runs are offline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench import TRASH, rmtree  # the main benchmark's way to remove a tree during a run

from projects import EDITABLE_TOX_INI, hatch_vcs_pyproject  # the tests' real-shape project: one template
from wheels import make_wheel  # the tests' wheel writer: one way to write a wheel in this repo

RUNNERS = ("virtualenv", "uv-venv-runner", "uv-venv-lock-runner")
LOCK_RUNNER = "uv-venv-lock-runner"
BACKENDS = ("hatchling", "hatch-vcs", "editables")
PYPROJECT = hatch_vcs_pyproject("benchshape", "benchdep", "benchtool==1.0")
TOX_INI = EDITABLE_TOX_INI.replace("{commands}", 'python -c "import benchshape, benchdep, benchlib, benchtool"')


def sh(cmd: Sequence[str | os.PathLike[str]], *, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run a command; its output (stdout and stderr), or SystemExit with it when it fails."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=900)
    if proc.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}")
    return proc.stdout


def setup(work: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """The wheelhouse (tiny wheels + the build backends, downloaded once by pip), one project per runner, the env."""
    wheelhouse = work / "wheelhouse"
    for name, requires in (("benchlib", []), ("benchdep", ["benchlib"]), ("benchtool", [])):
        make_wheel(wheelhouse, name, "1.0", requires=requires, body="".join(f"X{i} = {i}\n" for i in range(200)))
    sh([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", wheelhouse, *BACKENDS],
       env=dict(os.environ))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUALENV_", "TOX_"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(wheelhouse),
                "UV_NO_CONFIG": "1", "UV_OFFLINE": "1", "UV_CACHE_DIR": str(work / "uv-cache"),
                "PIP_CACHE_DIR": str(work / "pip-cache"),
                "VIRTUALENV_OVERRIDE_APP_DATA": str(work / "app-data"), "XDG_CACHE_HOME": str(work / "xdg"),
                "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.11.7:3.12.1:3.13.0:3.10.13"),
                "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    projects: dict[str, Path] = {}
    for runner in RUNNERS:
        root = work / runner
        (root / "src" / "benchshape").mkdir(parents=True)
        (root / "src" / "benchshape" / "__init__.py").write_text("")
        (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT).lstrip())
        (root / "tox.ini").write_text(textwrap.dedent(TOX_INI).lstrip().format(runner=runner,
                                                                               cache=work / f"cache-{runner}"))
        git = [["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "i"], ["git", "tag", "v1"]]
        if runner == LOCK_RUNNER:  # uv locks a dynamic version by building the metadata: in the tagged repo
            git += [["uv", "lock"], ["git", "add", "uv.lock"], ["git", "commit", "-qm", "lock"],
                    ["git", "tag", "-f", "v1"]]
        for cmd in git:
            sh(cmd, env=env, cwd=root)
        projects[runner] = root
    return env, projects


def installers(out: str) -> set[str]:
    return {line.split("> ")[0] for line in out.splitlines() if ": install_" in line and "> " in line}


def synced(root: Path) -> list[str]:
    """What the lock runner's last ``uv sync`` installed, changed or removed (its log in the env)."""
    logs = sorted((root / ".tox" / "py312" / "log").glob("*-uv-sync.log"))
    text = logs[-1].read_text() if logs else ""
    return [line.strip() for line in text.splitlines() if line.strip().startswith(("+ ", "- ", "~ "))]


def scenarios(env: dict[str, str], projects: dict[str, Path]) -> dict[str, Callable[[], float]]:
    """name -> a function that prepares (untimed), runs (timed) and checks one scenario."""
    tox = [sys.executable, "-m", "tox", "-e", "py312"]
    found: dict[str, Callable[[], float]] = {}

    def timed(cmd: Sequence[str | os.PathLike[str]], cwd: Path | None, check: Callable[[str], str]) -> float:
        subprocess.run(["sync"], check=False)
        start = time.perf_counter()
        out = sh(cmd, env=env, cwd=cwd)
        seconds = time.perf_counter() - start
        problem = check(out)
        if problem:
            raise SystemExit(f"{' '.join(map(str, cmd))}: {problem}\n{out[-3000:]}")
        return seconds

    for runner, root in projects.items():
        lock = runner == LOCK_RUNNER

        def cold(root: Path = root, lock: bool = lock) -> float:
            rmtree(root / ".tox")

            def check(out: str) -> str:
                if lock:
                    return "" if any("benchdep" in line for line in synced(root)) else "cold uv sync installed no deps"
                return "" if "install_package_deps" in out else "cold run installed no package deps"
            return timed([*tox, "--no-venv-cache"], root, check)

        def warm(root: Path = root, lock: bool = lock) -> float:
            rmtree(root / ".tox")

            def check(out: str) -> str:
                expected = 1 if lock else 2
                if out.count("venv cache hit") != expected:
                    return f"expected {expected} hits (the run env{'' if lock else ' and the .pkg env'})"
                extra = installers(out) - {"py312: install_package"}
                if lock:
                    extra = {line for line in synced(root) if "benchshape" not in line}
                return f"warm run installed {sorted(extra)}" if extra else ""
            return timed(tox, root, check)

        def reuse(root: Path = root, lock: bool = lock) -> float:
            def check(out: str) -> str:
                extra = installers(out) - {"py312: install_package"}
                if lock:
                    extra = set(synced(root))
                return f"reuse installed {sorted(extra)}" if extra else ""
            return timed(tox, root, check)

        def copy(root: Path = root, link: bool = False) -> float:
            target = root.parent / f"copy-{root.name}"
            rmtree(target)
            target.mkdir()
            sources = [p for p in (root / ".tox").iterdir() if (p / "pyvenv.cfg").exists()]
            return timed(["cp", "-al" if link else "-a", *sources, target], None, lambda out: "")

        found[f"{runner}_cold"] = cold
        found[f"{runner}_warm"] = warm
        found[f"{runner}_reuse"] = reuse
        found[f"{runner}_cp_a"] = copy
        found[f"{runner}_cp_al"] = lambda root=root: copy(root, link=True)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds after the warm-up (default 3)")
    parser.add_argument("--json", type=Path, help="write {seconds, excess} here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-tox-shapes-") as tmp:
        TRASH[:] = [Path(tmp) / "trash"]  # deleted with the temporary folder, after the runs
        env, projects = setup(Path(tmp))
        for root in projects.values():  # the entries warm runs restore, and uv's cache
            sh([sys.executable, "-m", "tox", "-e", "py312"], env=env, cwd=root)
        todo = scenarios(env, projects)
        times: dict[str, list[float]] = {name: [] for name in todo}
        for round_no in range(args.runs + 1):
            for name, scenario in todo.items():
                seconds = scenario()
                if round_no:
                    times[name].append(seconds)
            print(f"round {round_no} done (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
    seconds = {name: statistics.median(values) for name, values in times.items()}
    excess = {runner: {"warm_minus_reuse": seconds[f"{runner}_warm"] - seconds[f"{runner}_reuse"],
                       "cp_a": seconds[f"{runner}_cp_a"], "cp_al": seconds[f"{runner}_cp_al"]}
              for runner in RUNNERS}
    print(f"{'scenario':<32} {'median s':>9}   (runs {args.runs}, load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")
    for name, value in seconds.items():
        print(f"{name:<32} {value:>9.2f}")
    for runner, parts in excess.items():
        print(f"{runner}: warm - reuse = {parts['warm_minus_reuse']:.2f} s; cp -a {parts['cp_a']:.2f} s, "
              f"cp -al {parts['cp_al']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"seconds": seconds, "excess": excess}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
