#!/usr/bin/env python3
"""Like-for-like speed of venvcache against pip, uv, tox-uv, tox's and nox's own reuse, and ``cp`` (issue 17).

    python benchmarks/bench.py [--quick] [--runs N] [--json PATH] [--markdown PATH] [--plot PATH.svg]

Every scenario is one whole process (``tox``, ``nox``, ``cp``, ``python -c 'Cache(...).restore(...)'``, a shell
line of a fresh CI runner), timed from start to exit. Each round runs every scenario once, in a fixed order
(A B C ... A B C ...), so all of them see the same machine load; the first round is a warm-up, and each
scenario's figure is the median of the ``--runs`` rounds after it. The state a scenario needs (a fresh ``.tox``, an
empty or a warm cache, a warm uv cache, an existing env, a uv cache tarball) is set up before each run and is not
timed; dirty pages are flushed (``sync``) before every timed run. A run whose output shows the wrong thing (a miss
where a hit was expected, pip running where tox should have reused its env) fails the scenario: it is reported as
failed with the reason, never as a number.

Like for like: the command every tox/nox/CI scenario runs imports the env's top-level packages (what a test run
does first), so bytecode that an installer defers (uv compiles none) is paid where it is paid in real life.

Scenario groups (``--only``): ``tox`` and ``nox`` (cold with pip; warm venvcache with the defaults and in each link
mode; the tool reusing its own env; tox-uv / nox's uv backend on a warm uv cache and reusing its env), ``core``
(``Cache.store``/``restore`` against ``cp -a``/``cp -al``), ``ci`` (a fresh CI runner: empty local cache, restore
through a ``file://`` remote and an S3 server (moto, in its own process on loopback); uv with its cache dir restored
from a zstd tarball the way ``actions/cache`` does; pip with a warm wheel cache) and ``scale`` (``list``/``prune``).

Env: full mode installs pytest hypothesis requests numpy pandas sqlalchemy pydantic boto3 django for Python 3.12
from a wheelhouse that is downloaded once (``pip download``) into the user cache dir and then used with no index,
so runs are repeatable. ``--quick`` builds a handful of wheels locally (a few thousand files) instead.

Everything runs in a temporary work dir outside the repository, with its own caches (venvcache, uv, pip,
virtualenv app data) and an environment that never reaches an index. Standard library and the project only; no
timing assertions. ``--json`` writes ``{"mode", "seconds", "in_process", "ratios", "bytes", "machine"}`` (a failed
or skipped scenario is ``null``); ``--plot`` an SVG bar chart of the warm-run scenarios, side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import html
import json
import math
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from wheels import make_wheel  # the tests' wheel writer: one way to write a wheel in this repo

FULL_REQUIREMENTS = ("pytest", "hypothesis", "requests", "numpy", "pandas", "sqlalchemy", "pydantic", "boto3",
                     "django")
QUICK_PACKAGES = ("benchq-alpha", "benchq-beta", "benchq-gamma", "benchq-delta", "benchq-epsilon")
QUICK_MODULES = 200  # per package: 5 x 200 modules, x2 with bytecode, plus pip: about 3,000 files
SCALE_ENTRIES = 200
WARMUP_ROUNDS = 1  # untimed rounds before the timed ones (the test suite sets 0: it checks the runs, not the times)
DEFAULT_PYTHON = "3.12"
GROUPS = ("tox", "nox", "core", "ci", "scale")
LINK_MODES = ("copy", "hardlink", "reflink")  # each one measured besides the defaults
TIMEOUT = 900
IMPORTED = "bench-imported"  # what the importing command prints last: the positive check that it ran

# (top-level name in --json "seconds", group, table label)
SCENARIOS = (
    ("tox_cold", "tox", "tox -e {env}: fresh .tox, empty cache (cold, pip)"),
    ("tox_warm", "tox", "tox -e {env}: fresh .tox, warm cache, defaults (ours: link_mode={default})"),
    ("tox_warm_copy", "tox", "tox -e {env}: fresh .tox, warm cache, link_mode=copy (ours)"),
    ("tox_warm_hardlink", "tox", "tox -e {env}: fresh .tox, warm cache, link_mode=hardlink (ours)"),
    ("tox_warm_reflink", "tox", "tox -e {env}: fresh .tox, warm cache, link_mode=reflink (ours)"),
    ("tox_reuse", "tox", "tox -e {env}: tox reusing its own .tox (floor)"),
    ("toxuv_warm_uv_cache", "tox", "tox-uv: fresh .tox, warm uv cache (peer)"),
    ("toxuv_reuse", "tox", "tox-uv: reusing its own .tox (peer's floor)"),
    ("toxuv_warm_ours", "tox", "tox-uv: fresh .tox, warm cache, defaults (ours on tox-uv)"),
    ("nox_cold", "nox", "nox -s tests: fresh .nox, empty cache (cold, pip)"),
    ("nox_warm", "nox", "nox -s tests: fresh .nox, warm cache, defaults (ours: link_mode={default})"),
    ("nox_warm_copy", "nox", "nox -s tests: fresh .nox, warm cache, link_mode=copy (ours)"),
    ("nox_warm_hardlink", "nox", "nox -s tests: fresh .nox, warm cache, link_mode=hardlink (ours)"),
    ("nox_warm_reflink", "nox", "nox -s tests: fresh .nox, warm cache, link_mode=reflink (ours)"),
    ("nox_reuse", "nox", "nox -R -s tests: reusing its own .nox (floor)"),
    ("nox_uv_warm_uv_cache", "nox", "nox, uv backend: fresh .nox, warm uv cache (peer)"),
    ("nox_uv_reuse", "nox", "nox -R, uv backend: reusing its own .nox (peer's floor)"),
    ("store", "core", "Cache.store on a miss, defaults"),
    ("cp_a", "core", "cp -a of the env"),
    ("restore_copy", "core", "Cache.restore, link_mode=copy"),
    ("cp_al", "core", "cp -al of the env"),
    ("restore_hardlink", "core", "Cache.restore, link_mode=hardlink"),
    ("ci_remote_file", "ci", "fresh CI runner: empty cache, restore from a file:// remote (ours)"),
    ("ci_remote_s3", "ci", "fresh CI runner: empty cache, restore from S3, moto on loopback (ours)"),
    ("ci_uv_cache_tarball", "ci", "fresh CI runner: untar uv's cache (zstd), uv venv + uv pip install (peer)"),
    ("ci_pip_wheel_cache", "ci", "fresh CI runner: venv + pip install, warm wheel cache (cold install)"),
    ("list_200", "scale", "virtualenv-cache list, {entries} entries"),
    ("prune_200", "scale", "virtualenv-cache prune, {entries} entries"),
)
NOT_RUN = "not run"  # an error starting with this is a skip: no row in the tables, null in the JSON

# ratio name -> (target text, met?) ; the formulas are in compute_ratios()
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "tox_warm_default_excess_over_toxuv_excess": ("<= 0.5", lambda v: v <= 0.5),
    "nox_warm_default_excess_over_nox_uv_excess": ("<= 0.5", lambda v: v <= 0.5),
    "tox_warm_hardlink_excess_over_cp_al": ("<= 1.2", lambda v: v <= 1.2),
    "restore_fixed_overhead_seconds": ("<= 0.05", lambda v: v <= 0.05),
    "store_overhead_fraction": ("<= 0.10", lambda v: v <= 0.10),
    "ci_fresh_runner_remote_over_uv_restored_cache": ("<= 0.7", lambda v: v <= 0.7),
    "ci_fresh_runner_s3_over_uv_restored_cache": ("<= 0.7", lambda v: v <= 0.7),
    "tox_warm_excess_over_cp_a": ("<= 1.2", lambda v: v <= 1.2),
    "nox_warm_excess_over_cp_a": ("<= 1.2", lambda v: v <= 1.2),
    "restore_copy_over_cp_a": ("<= 1.2", lambda v: v <= 1.2),
    "restore_hardlink_over_cp_al": ("<= 1.2", lambda v: v <= 1.2),
    "tox_cold_over_tox_warm": (">= 12", lambda v: v >= 12),
    "toxuv_warm_over_tox_warm": (">= 3", lambda v: v >= 3),
    "list_200_seconds": ("< 0.2", lambda v: v < 0.2),
    "prune_200_seconds": ("< 0.2", lambda v: v < 0.2),
}

# --plot: (section title, scenario names in drawing order)
PLOT_SECTIONS = (
    ("tox -e {env}, fresh .tox", ("tox_warm", "tox_warm_hardlink", "tox_warm_copy", "tox_warm_reflink",
                                  "toxuv_warm_ours", "toxuv_warm_uv_cache", "tox_reuse", "toxuv_reuse", "tox_cold")),
    ("nox -s tests, fresh .nox", ("nox_warm", "nox_warm_hardlink", "nox_warm_copy", "nox_warm_reflink",
                                  "nox_uv_warm_uv_cache", "nox_reuse", "nox_uv_reuse", "nox_cold")),
    ("fresh CI runner (empty local cache)", ("ci_remote_file", "ci_remote_s3", "ci_uv_cache_tarball",
                                             "ci_pip_wheel_cache")),
)
PLOT_KINDS = {  # kind -> (legend, colour)
    "ours": ("venvcache", "#1f77b4"),
    "uv": ("uv / tox-uv (warm uv cache)", "#ff7f0e"),
    "pip": ("pip (cold install)", "#8c8c8c"),
    "floor": ("the tool reusing its own env", "#2ca02c"),
}

def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class SetupError(Exception):
    """Something a group of scenarios needs could not be prepared; its scenarios are reported as failed."""


#: where :func:`rmtree` moves trees during the run (emptied at the end); empty: delete at once
TRASH_MIN_FREE = 40 << 30  # a full run moves about 17 GB aside: below this much free space, delete at once
TRASH: list[Path] = []


def rmtree(path: Path) -> None:
    """Remove a tree a scenario made. During the run it is moved into the trash, not deleted: on an ext4 without a
    journal (this machine kind) the kernel skips inodes freed in the last minutes when it allocates new ones
    (``recently_deleted`` in ``find_inode_bit``), so creating files right after deleting thousands rescans them all;
    measured: ``zstd -d | tar -x`` of the benchmark env 1.2 s on a quiet disk, 12-13 s right after a few such
    deletions. A fresh CI runner or checkout has deleted nothing, and no scenario should pay for the one before it."""
    if os.path.islink(path) or os.path.isfile(path):
        path.unlink()
    elif path.exists():
        if TRASH:
            TRASH[0].mkdir(exist_ok=True)
            with contextlib.suppress(OSError):  # another file system: deleted below
                path.rename(tempfile.mkdtemp(dir=TRASH[0]) + "/t")
                return
        shutil.rmtree(path)


def run(cmd: Sequence[str | os.PathLike[str]], *, env: dict[str, str], cwd: Path | None = None,
        what: str = "") -> str:
    """Run an untimed set-up step; raise SetupError with the tail of its output when it fails."""
    proc = subprocess.run([os.fspath(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
        raise SetupError(f"{what or shlex.join(map(str, cmd))} exited {proc.returncode}:\n{tail}")
    return proc.stdout


# -- wheelhouses --------------------------------------------------------------------------------------------------
def _dist_name(filename: str) -> tuple[str, str]:
    name, version = filename.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def _version_key(version: str) -> tuple[object, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version))


def pins(wheelhouse: Path, names: Sequence[str]) -> list[str]:
    """``name==version`` for each of ``names`` (the highest version the wheelhouse holds), or SetupError."""
    found: dict[str, list[str]] = {}
    for wheel in wheelhouse.glob("*.whl"):
        name, version = _dist_name(wheel.name)
        found.setdefault(name, []).append(version)
    missing = [n for n in names if re.sub(r"[-_.]+", "-", n).lower() not in found]
    if missing:
        raise SetupError(f"{wheelhouse} has no wheel for {', '.join(missing)}")
    return [f"{n}=={max(found[re.sub(r'[-_.]+', '-', n).lower()], key=_version_key)}" for n in names]


def full_wheelhouse(python_version: str) -> Path:
    """The wheelhouse of the DESIGN §7 env under the user cache dir; ``pip download`` it once when missing."""
    from platformdirs import user_cache_dir

    folder = Path(user_cache_dir("venvcache-bench")) / f"wheels-cp{python_version.replace('.', '')}"
    try:
        pins(folder, FULL_REQUIREMENTS)
        return folder
    except SetupError:
        pass
    log(f"downloading the wheelhouse into {folder} (once)")
    folder.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
         "--python-version", python_version, "--dest", folder, *FULL_REQUIREMENTS], env=dict(os.environ),
        what="pip download of the wheelhouse")
    pins(folder, FULL_REQUIREMENTS)
    return folder


def build_wheel(folder: Path, name: str, version: str, *, modules: int, requires: Sequence[str] = ()) -> Path:
    """A pure-Python wheel with ``modules`` modules of some real code and one console script."""
    mod = name.replace("-", "_")
    extra: dict[str, bytes] = {}
    for i in range(modules):
        body = "".join(f"def f{j}(x, y={j}):\n    total = 0\n    for k in range(x):\n        total += k * y\n"
                       f"    return {{'name': '{mod}.m{i:04d}.f{j}', 'total': total}}\n\n\n" for j in range(12))
        extra[f"{mod}/m{i:04d}.py"] = f'"""Module {i} of {name}."""\n\n\n{body}'.encode()
    # importing the package imports every module, as a test run would: uncompiled bytecode is paid for
    init = "\n\nfrom . import " + ", ".join(f"m{i:04d}" for i in range(modules)) + "  # noqa\n" if modules else ""
    return make_wheel(folder, name, version, scripts={name: f"{mod}:main"}, requires=list(requires),
                      extra_files=extra, body=init)


def quick_wheelhouse(folder: Path) -> Path:
    for i, name in enumerate(QUICK_PACKAGES):
        requires = [f"{QUICK_PACKAGES[i + 1]}==1.0"] if i + 1 < len(QUICK_PACKAGES) else []
        build_wheel(folder, name, "1.0", modules=QUICK_MODULES, requires=requires)
    return folder


# -- the scenarios --------------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    group: str
    label: str
    cmd: list[str] = field(default_factory=list)
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    prime: Callable[[], None] | None = None  # once, before the warm-up round: build the state it starts from
    prepare: Callable[[], None] | None = None  # before every run, untimed
    cleanup: Callable[[], None] | None = None  # after every run, untimed: what the next run recreates anyway
    check: Callable[[str], str] | None = None  # output -> what is wrong ('' when the run did what it should)
    samples: list[float] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)  # store/restore: the seconds the core itself reports
    error: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None

    @property
    def skipped(self) -> bool:
        return self.error.startswith(NOT_RUN)

    def fail(self, why: str) -> None:
        if not self.error:
            self.error = why.strip() or "failed"
            log(f"{self.name}: {'' if self.skipped else 'FAILED: '}{self.error}")


def expect(*needles: str, absent: Sequence[str] = ()) -> Callable[[str], str]:
    """A check: every regex of ``needles`` is in the output and none of ``absent`` is."""

    def check(out: str) -> str:
        for needle in needles:
            if not re.search(needle, out, re.MULTILINE):
                return f"expected /{needle}/ in the output"
        for needle in absent:
            if re.search(needle, out, re.MULTILINE):
                return f"did not expect /{needle}/ in the output"
        return ""

    return check


def tree_size(root: Path) -> tuple[int, int]:
    """Bytes and files under ``root`` (symlinks counted as files, not followed)."""
    files = size = 0
    for folder, _dirs, names in os.walk(root):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(folder, n)).st_size
    return size, files


def default_link_mode() -> str:
    """The link mode a user gets without configuring one (the core's ``Config`` default)."""
    from venvcache_core import Config

    return str(Config.__dataclass_fields__["link_mode"].default)


def can_reflink(folder: Path) -> bool:
    """Whether ``folder``'s file system clones files (``cp --reflink=always`` on a probe file)."""
    probe, clone = folder / ".reflink-probe", folder / ".reflink-probe-clone"
    probe.write_bytes(b"probe")
    try:
        return subprocess.run(["cp", "--reflink=always", str(probe), str(clone)], capture_output=True,
                              check=False).returncode == 0
    except OSError:
        return False
    finally:
        for path in (probe, clone):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class Bench:
    def __init__(self, *, mode: str, runs: int, work: Path, python_version: str, groups: Sequence[str]) -> None:
        self.mode = mode
        self.runs = runs
        self.work = work
        self.python_version = python_version
        self.groups = groups
        self.envname = "py" + python_version.replace(".", "")
        try:
            self.default_mode = default_link_mode()
        except ImportError:
            self.default_mode = "?"
        self.scenarios = {name: Scenario(name, group, label.format(env=self.envname, entries=SCALE_ENTRIES,
                                                                   default=self.default_mode))
                          for name, group, label in SCENARIOS}
        self.env_size: tuple[int, int] | None = None  # bytes, files of the benchmarked env
        self.sizes: dict[str, int | None] = {"env_bytes": None, "env_files": None, "pack_bytes": None,
                                             "uv_cache_tarball_bytes": None, "uv_cache_dir_bytes": None}
        self.python = ""
        self.wheelhouse = Path()
        self.requirements: list[str] = []
        self.imports: list[str] = []
        self.base_env: dict[str, str] = {}
        self.last_inner: float | None = None
        self.load: dict[str, list[float]] = {}
        self._closers: list[Callable[[], None]] = []

    # -- environment ---------------------------------------------------------------------------------------------
    def setup_common(self) -> None:
        if f"{sys.version_info[0]}.{sys.version_info[1]}" == self.python_version:
            found: str | None = sys.executable
        else:
            found = shutil.which(f"python{self.python_version}")
        if found is None:
            raise SetupError(f"no python{self.python_version} on PATH (with pyenv: export PYENV_VERSION=...)")
        self.python = found
        if not set(self.groups) & {"tox", "nox", "core", "ci"}:
            pass  # scale alone installs nothing
        elif self.mode == "full":
            self.wheelhouse = full_wheelhouse(self.python_version)
            self.requirements = pins(self.wheelhouse, FULL_REQUIREMENTS)
            self.imports = list(FULL_REQUIREMENTS)  # each distribution's top-level package has its name
        else:
            self.wheelhouse = quick_wheelhouse(self.work / "wheels")
            self.requirements = pins(self.wheelhouse, QUICK_PACKAGES)
            self.imports = [n.replace("-", "_") for n in QUICK_PACKAGES]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIP_", "UV_", "VIRTUALENV_", "TOX_", "NOX_", "VIRTUAL_ENV", "PYTHON", "CONDA",
                                    "AWS_"))}
        env.update({
            "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(self.wheelhouse),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
            "UV_NO_INDEX": "1", "UV_FIND_LINKS": str(self.wheelhouse), "UV_NO_CONFIG": "1", "UV_OFFLINE": "1",
            "UV_CACHE_DIR": str(self.work / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never",
            "VIRTUALENV_OVERRIDE_APP_DATA": str(self.work / "virtualenv-app-data"),
            "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
            "XDG_CACHE_HOME": str(self.work / "xdg-cache"),
            "NO_COLOR": "1",
        })
        # the tools of the interpreter running the benchmark come first, whatever PATH says
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.base_env = env

    @property
    def import_code(self) -> str:
        """The timed command's Python: import the env's top-level packages, then say so."""
        return f"import {', '.join(self.imports)}; print('{IMPORTED}')"

    def project(self, kind: str, name: str) -> Path:
        root = self.work / kind / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "requirements.txt").write_text("\n".join(self.requirements) + "\n", encoding="utf-8")
        return root

    def install_cmd(self, env_dir: Path, requirements: Path) -> list[str]:
        """What a CI job does without a tool: venv, pip install (the env every core/ci entry is built from)."""
        return ["/bin/sh", "-c", '"$0" -m venv "$1" && "$1"/bin/python -m pip install -q -r "$2"',
                self.python, str(env_dir), str(requirements)]

    def skip_unsupported_modes(self) -> None:
        """A link mode this file system lacks is not measured (it would only time the fallback twice)."""
        if not can_reflink(self.work):
            for name in ("tox_warm_reflink", "nox_warm_reflink"):
                self.scenarios[name].fail(f"{NOT_RUN}: this file system cannot reflink")

    # -- tox -------------------------------------------------------------------------------------------------------
    TOX_INI = textwrap.dedent("""\
        [tox]
        env_list = {env}
        skipsdist = true

        [testenv]
        runner = {runner}
        deps = -r requirements.txt
        commands = python -c "{code}"
        pass_env = PYENV_VERSION

        [virtualenv-cache]
        cache_path = {cache}
        """)

    def setup_tox(self) -> None:
        import tox  # noqa: F401 - a clear failure when the benchmark runs without tox

        env = self.envname
        hit = r"venv ?cache:? hit\b"
        miss = r"venv ?cache:? miss\b"
        pip_ran = rf"^{env}: install_deps> "
        uv_ran = rf"^{env}: install_deps> .*\buv pip install\b"
        warm = "tox-warm"  # one cache for the warm runs of every link mode: the entry is the same
        spec: dict[str, tuple[str, list[str], str | None, bool, str, Callable[[str], str]]] = {
            # name: (runner, extra tox args, link mode, fresh .tox each run, cache, check)
            "tox_cold": ("virtualenv", [], None, True, "tox-cold", expect(miss, pip_ran, "stored", IMPORTED)),
            "tox_warm": ("virtualenv", [], None, True, warm, expect(hit, IMPORTED, absent=[pip_ran])),
            **{f"tox_warm_{m}": ("virtualenv", [], m, True, warm, expect(hit, IMPORTED, absent=[pip_ran]))
               for m in LINK_MODES},
            "tox_reuse": ("virtualenv", [], None, False, "tox-reuse", expect(IMPORTED, absent=[pip_ran, hit, miss])),
            "toxuv_warm_uv_cache": ("uv-venv-runner", ["--no-venv-cache"], None, True, "toxuv-off",
                                    expect(uv_ran, IMPORTED, absent=[hit, miss])),
            "toxuv_reuse": ("uv-venv-runner", ["--no-venv-cache"], None, False, "toxuv-off",
                            expect(IMPORTED, absent=[uv_ran, hit, miss])),
            "toxuv_warm_ours": ("uv-venv-runner", [], None, True, "toxuv-warm",
                                expect(hit, IMPORTED, absent=[pip_ran])),
        }
        for name, (runner, args, link, fresh, cache_name, check) in spec.items():
            scenario = self.scenarios[name]
            if scenario.error:
                continue
            root = self.project("tox", name)
            cache = self.work / "caches" / cache_name
            ini = self.TOX_INI.format(env=env, runner=runner, cache=cache, code=self.import_code)
            (root / "tox.ini").write_text(ini + (f"link_mode = {link}\n" if link else ""), encoding="utf-8")
            scenario.cmd = [sys.executable, "-m", "tox", "-e", env, *args]
            scenario.cwd = root
            scenario.env = self.base_env
            scenario.check = check
            empty = name == "tox_cold"
            scenario.prepare = scenario.cleanup = self._resetter(root / ".tox" if fresh else None,
                                                                 cache if empty else None)
            if not empty:  # warm cache / warm uv cache / existing .tox: one real run builds the state
                scenario.prime = self._primer(scenario, root / ".tox" if fresh else None,
                                              cache if name == "tox_reuse" else None)

    def _resetter(self, *paths: Path | None) -> Callable[[], None]:
        def reset() -> None:
            for path in paths:
                if path is not None:
                    rmtree(path)

        return reset

    def _primer(self, scenario: Scenario, env_dir: Path | None, unused: Path | None = None) -> Callable[[], None]:
        """One real run before the warm-up; ``unused``: the entry it stored is never read again (tox reuse)."""

        def prime() -> None:
            if env_dir is not None:
                rmtree(env_dir)
            run(scenario.cmd, env=scenario.env, cwd=scenario.cwd, what=f"priming {scenario.name}")
            if unused is not None:
                rmtree(unused)

        return prime

    # -- nox -------------------------------------------------------------------------------------------------------
    NOXFILE = textwrap.dedent("""\
        import os

        import nox
        import nox_venvcache

        nox_venvcache.configure(cache_path=os.environ["BENCH_VENVCACHE_PATH"],
                                link_mode=os.environ.get("BENCH_LINK_MODE") or None)


        @nox.session(python="{python}", venv_backend=os.environ["BENCH_NOX_BACKEND"])
        def tests(session):
            session.install("-r", "requirements.txt")
            session.run("python", "-c", {code!r})
        """)

    def setup_nox(self) -> None:
        import nox  # noqa: F401

        hit, miss = r"venv ?cache:? hit\b", r"venv ?cache:? miss\b"
        pip_ran, uv_ran = r"^nox > .*\bpip install -r requirements.txt", r"^nox > .*\buv pip install -r requirements"
        ours = "cached-virtualenv"
        spec: dict[str, tuple[str, list[str], str | None, bool, str, Callable[[str], str]]] = {
            # name: (backend, extra nox args, link mode, fresh .nox each run, cache, check)
            "nox_cold": (ours, [], None, True, "nox-cold", expect(miss, pip_ran, "stored", IMPORTED)),
            "nox_warm": (ours, [], None, True, "nox-warm", expect(hit, IMPORTED, absent=[pip_ran])),
            **{f"nox_warm_{m}": (ours, [], m, True, "nox-warm", expect(hit, IMPORTED, absent=[pip_ran]))
               for m in LINK_MODES},
            "nox_reuse": (ours, ["-R"], None, False, "nox-reuse", expect(IMPORTED, absent=[hit, miss, pip_ran])),
            "nox_uv_warm_uv_cache": ("uv", [], None, True, "nox-uv", expect(uv_ran, IMPORTED, absent=[hit, miss])),
            "nox_uv_reuse": ("uv", ["-R"], None, False, "nox-uv", expect(IMPORTED, absent=[hit, miss, uv_ran])),
        }
        for name, (backend, args, link, fresh, cache_name, check) in spec.items():
            scenario = self.scenarios[name]
            if scenario.error:
                continue
            root = self.project("nox", name)
            cache = self.work / "caches" / cache_name
            (root / "noxfile.py").write_text(self.NOXFILE.format(python=self.python_version, code=self.import_code),
                                             encoding="utf-8")
            scenario.cmd = [sys.executable, "-m", "nox", "--no-color", "-s", "tests", *args]
            scenario.cwd = root
            scenario.env = {**self.base_env, "BENCH_NOX_BACKEND": backend, "BENCH_VENVCACHE_PATH": str(cache),
                            "BENCH_LINK_MODE": link or ""}
            scenario.check = check
            empty = name == "nox_cold"
            scenario.prepare = scenario.cleanup = self._resetter(root / ".nox" if fresh else None,
                                                                 cache if empty else None)
            if "-R" in args:  # -R on nothing would only skip the installs: build the env first
                scenario.prime = self._nox_reuse_primer(scenario, forget_cache=backend == ours)
            elif not empty:
                scenario.prime = self._primer(scenario, root / ".nox")

    def _nox_reuse_primer(self, scenario: Scenario, *, forget_cache: bool) -> Callable[[], None]:
        def prime() -> None:
            assert scenario.cwd is not None
            rmtree(scenario.cwd / ".nox")
            run([c for c in scenario.cmd if c != "-R"], env=scenario.env, cwd=scenario.cwd,
                what=f"priming {scenario.name}")
            if forget_cache:  # -R on an existing env never reads the cache
                rmtree(Path(scenario.env["BENCH_VENVCACHE_PATH"]))

        return prime

    # -- core ------------------------------------------------------------------------------------------------------
    CORE_CODE = ("import sys\nfrom venvcache_core import Cache\n"
                 "mode = {} if sys.argv[2] == 'default' else {'link_mode': sys.argv[2]}\n"
                 "cache = Cache(sys.argv[1], max_entries=1000, **mode)\n"
                 "if sys.argv[3] == 'store':\n"
                 "    r = cache.store(sys.argv[4], sys.argv[5]); ok = r.stored\n"
                 "else:\n"
                 "    r = cache.restore(sys.argv[4], sys.argv[5]); ok = r.hit\n"
                 "print('OK' if ok else 'NOT OK', r)\n"
                 "sys.exit(0 if ok else 1)\n")

    def setup_core(self) -> None:
        from venvcache_core import build_key, interpreter_identity, venv_python

        core = self.work / "core"
        core.mkdir(parents=True, exist_ok=True)
        req = self.project("core", "project") / "requirements.txt"
        source = core / "project" / ".venv"  # the env every core scenario copies
        rmtree(source)
        log(f"building the benchmark env at {source}")
        run(self.install_cmd(source, req), env=self.base_env, what="building the benchmark env")
        self.env_size = tree_size(source)
        self.sizes.update(env_bytes=self.env_size[0], env_files=self.env_size[1])

        key = build_key(interpreter=interpreter_identity(venv_python(source)),
                        inputs={"benchmark": self.mode, "requirements": self.requirements}).digest
        code = self.CORE_CODE
        caches = {"copy": core / "cache-copy", "hardlink": core / "cache-hardlink"}
        for mode, cache in caches.items():  # the entries the restores read (untimed)
            rmtree(cache)
            run([sys.executable, "-c", code, cache, mode, "store", key, source], env=self.base_env,
                what=f"storing the benchmark env ({mode})")
        store_cache = core / "cache-store"
        dest = core / "restored"
        store = self.scenarios["store"]
        store.cmd = [sys.executable, "-c", code, str(store_cache), "default", "store", key, str(source)]
        store.prepare = store.cleanup = self._resetter(store_cache)
        for name, cmd in {
            "cp_a": ["cp", "-a", str(caches["copy"] / key / "env"), str(dest)],
            "restore_copy": [sys.executable, "-c", code, str(caches["copy"]), "copy", "restore", key, str(dest)],
            "cp_al": ["cp", "-al", str(caches["hardlink"] / key / "env"), str(dest)],
            "restore_hardlink": [sys.executable, "-c", code, str(caches["hardlink"]), "hardlink", "restore", key,
                                 str(dest)],
        }.items():
            scenario = self.scenarios[name]
            scenario.cmd = cmd
            scenario.prepare = scenario.cleanup = self._resetter(dest)
        for name in ("store", "cp_a", "restore_copy", "cp_al", "restore_hardlink"):
            self.scenarios[name].env = self.base_env
            self.scenarios[name].cwd = core

    # -- ci: a fresh runner ----------------------------------------------------------------------------------------
    def _cli_config(self, path: Path, *, cache: Path, remote: str, mode: str) -> Path:
        path.write_text(textwrap.dedent(f"""\
            [virtualenv-cache]
            cache_path = "{cache.as_posix()}"
            virtualenv_path = ".venv"
            requirements_lock_paths = ["requirements.txt"]
            python = "{self.python}"
            remote = "{remote}"
            remote_mode = "{mode}"
            """), encoding="utf-8")
        return path

    def setup_ci(self) -> None:
        """Upload one entry (untimed); each run restores it on an empty local cache, the peers from their caches."""
        ci = self.work / "ci"
        writer = self.project("ci", "writer")
        log("building the CI writer's env and uploading it to the file:// remote")
        run(self.install_cmd(writer / ".venv", writer / "requirements.txt"), env=self.base_env,
            what="building the CI writer's env")
        if self.env_size is None:
            self.env_size = tree_size(writer / ".venv")
            self.sizes.update(env_bytes=self.env_size[0], env_files=self.env_size[1])
        remote_file = ci / "remote-file"
        remote_file.mkdir(parents=True, exist_ok=True)
        writer_cache = ci / "writer-cache"
        self._cli_config(writer / ".virtualenv_cache.toml", cache=writer_cache, remote=remote_file.as_uri(),
                         mode="readwrite")
        run(["virtualenv-cache", "--work-dir", writer, "store"], env=self.base_env, cwd=writer,
            what="storing and uploading the CI entry")
        self.sizes["pack_bytes"] = tree_size(remote_file)[0] or None
        if not self.sizes["pack_bytes"]:
            raise SetupError(f"the store uploaded nothing to {remote_file}")
        remotes: dict[str, tuple[str, dict[str, str]]] = {"ci_remote_file": (remote_file.as_uri(), {})}
        try:
            aws = self._start_s3()
            s3_config = self._cli_config(writer / "s3.toml", cache=writer_cache, remote="s3://bench/envs",
                                         mode="readwrite")
            run(["virtualenv-cache", "--work-dir", writer, "--config-path", s3_config, "push"],
                env={**self.base_env, **aws}, cwd=writer, what="uploading the CI entry to S3")
            remotes["ci_remote_s3"] = ("s3://bench/envs", aws)
        except (SetupError, ImportError, OSError, subprocess.SubprocessError) as exc:
            self.scenarios["ci_remote_s3"].fail(f"set-up: {exc}")
        for name, (url, extra_env) in remotes.items():
            root = self.project("ci", name)
            cache = ci / f"{name}-cache"
            self._cli_config(root / ".virtualenv_cache.toml", cache=cache, remote=url, mode="read")
            scenario = self.scenarios[name]
            restore = 'virtualenv-cache --work-dir "$0" restore && "$0"/.venv/bin/python -c "$1"'
            scenario.cmd = ["/bin/sh", "-c", restore, str(root), self.import_code]
            scenario.cwd = root
            scenario.env = {**self.base_env, **extra_env}
            scenario.check = expect(r" venv cache hit ", IMPORTED)
            scenario.prepare = scenario.cleanup = self._resetter(root / ".venv", cache)
        self._setup_ci_uv(ci)
        self._setup_ci_pip(ci)

    def _start_s3(self) -> dict[str, str]:
        """moto's S3 server in its own process on a free loopback port, with the bucket; the variables obstore reads."""
        import boto3

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log_file = open(self.work / "moto.log", "wb")  # noqa: SIM115 - closed by the closer below
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=log_file, stderr=subprocess.STDOUT)

        def stop() -> None:
            server.terminate()
            server.wait(timeout=30)
            log_file.close()

        self._closers.append(stop)
        endpoint = f"http://127.0.0.1:{port}"
        aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true"}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                              aws_secret_access_key="bench")
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket="bench")
                return aws
            except Exception as exc:  # the server is still starting (connection refused)
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SetupError(f"moto's S3 server did not start: {exc}") from None
                time.sleep(0.2)

    def _setup_ci_uv(self, ci: Path) -> None:
        """uv's cache dir in a zstd tarball, as ``actions/cache`` saves it; each run untars it and installs."""
        scenario = self.scenarios["ci_uv_cache_tarball"]
        root = self.project("ci", "ci_uv_cache_tarball")
        uv_cache, tarball = ci / "uv-cache", ci / "uv-cache.tar.zst"
        env = {**self.base_env, "UV_CACHE_DIR": str(uv_cache)}
        install = ('uv venv -q --python "$2" .venv && uv pip install --python .venv/bin/python -r requirements.txt'
                   ' && .venv/bin/python -c "$3"')
        scenario.cmd = ["/bin/sh", "-c", f'zstd -d -q --long=30 -c "$0" | tar -xf - -C "$1" && {install}',
                        str(tarball), str(ci), self.python, self.import_code]
        scenario.cwd = root
        scenario.env = env
        scenario.check = expect(r"Installed \d+ packages", IMPORTED)
        scenario.prepare = scenario.cleanup = self._resetter(root / ".venv", uv_cache)

        def prime() -> None:
            rmtree(uv_cache)
            run(["/bin/sh", "-c", install, "-", "-", self.python, self.import_code], env=env, cwd=root,
                what="filling uv's cache")
            rmtree(root / ".venv")
            self.sizes["uv_cache_dir_bytes"] = tree_size(uv_cache)[0]
            run(["/bin/sh", "-c", 'tar -C "$0" -cf - uv-cache | zstd -q -T0 --long=30 -f -o "$1"', str(ci),
                 str(tarball)], env=env, what="packing uv's cache")
            self.sizes["uv_cache_tarball_bytes"] = tarball.stat().st_size
            rmtree(uv_cache)

        scenario.prime = prime

    def _setup_ci_pip(self, ci: Path) -> None:
        scenario = self.scenarios["ci_pip_wheel_cache"]
        root = self.project("ci", "ci_pip_wheel_cache")
        scenario.cmd = ["/bin/sh", "-c", '"$0" -m venv .venv && .venv/bin/python -m pip install -q -r requirements.txt'
                        ' && .venv/bin/python -c "$1"', self.python, self.import_code]
        scenario.cwd = root
        scenario.env = {**self.base_env, "PIP_CACHE_DIR": str(ci / "pip-cache")}
        scenario.check = expect(IMPORTED)
        scenario.prepare = scenario.cleanup = self._resetter(root / ".venv")
        scenario.prime = self._primer(scenario, root / ".venv")  # warms pip's cache

    # -- scale -----------------------------------------------------------------------------------------------------
    def setup_scale(self) -> None:
        from venvcache_core import Cache, build_key, interpreter_identity, venv_python

        scale = self.work / "scale"
        cache_path = scale / "cache"
        rmtree(scale)
        scale.mkdir(parents=True)
        tiny = scale / "tiny-env"
        run([self.python, "-m", "venv", "--without-pip", tiny], env=self.base_env, what="creating a tiny env")
        identity = interpreter_identity(venv_python(tiny))
        cache = Cache(cache_path, max_entries=SCALE_ENTRIES, link_mode="copy")
        log(f"storing {SCALE_ENTRIES} entries for the scale scenarios")
        with ThreadPoolExecutor(max_workers=4) as pool:  # stores of distinct keys may run side by side
            list(pool.map(lambda i: cache.store(build_key(interpreter=identity, inputs={"entry": i}), tiny),
                          range(SCALE_ENTRIES)))
        if len(cache.keys()) != SCALE_ENTRIES:
            raise SetupError(f"the scale cache holds {len(cache.keys())} entries, not {SCALE_ENTRIES}")
        config = scale / ".virtualenv_cache.toml"
        config.write_text(f'[virtualenv-cache]\ncache_path = "{cache_path.as_posix()}"\n'
                          f"cache_size = {SCALE_ENTRIES}\nrequirements_lock_paths = []\n", encoding="utf-8")
        cli = Path(sys.executable).parent / "virtualenv-cache"
        base = [str(cli)] if cli.exists() else [sys.executable, "-m", "venvcache_core"]
        for name, command in (("list_200", "list"), ("prune_200", "prune")):
            scenario = self.scenarios[name]
            scenario.cmd = [*base, "--config-path", str(config), "--work-dir", str(scale), command]
            scenario.cwd = scale
            scenario.env = self.base_env
        self.scenarios["list_200"].check = lambda out: "" if out.count("\n") >= SCALE_ENTRIES else \
            "list did not show every entry"

        def still_all() -> None:
            if len(Cache(cache_path).keys()) != SCALE_ENTRIES:
                raise SetupError("prune evicted entries: the scale cache no longer holds "
                                 f"{SCALE_ENTRIES} entries")

        self.scenarios["prune_200"].prepare = still_all

    # -- running ---------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        self.load["before"] = [round(x, 2) for x in os.getloadavg()]
        try:
            self.setup_common()
        except SetupError as exc:
            for scenario in self.scenarios.values():
                scenario.fail(f"set-up: {exc}")
            return
        self.skip_unsupported_modes()
        steps = {"tox": self.setup_tox, "nox": self.setup_nox, "core": self.setup_core, "ci": self.setup_ci,
                 "scale": self.setup_scale}
        for group in GROUPS:
            members = [s for s in self.scenarios.values() if s.group == group]
            if group not in self.groups:
                for scenario in members:
                    scenario.error = f"{NOT_RUN} (--only)"
                continue
            log(f"setting up {group}")
            try:
                steps[group]()
            except (SetupError, ImportError, OSError, subprocess.SubprocessError) as exc:
                for scenario in members:
                    scenario.fail(f"set-up: {exc}")
        for scenario in self.active():
            if scenario.prime is not None:
                log(f"priming {scenario.name}")
                try:
                    scenario.prime()
                except (SetupError, OSError, subprocess.SubprocessError) as exc:
                    scenario.fail(str(exc))

    def close(self) -> None:
        """Stop what the set-up started (the S3 server)."""
        self.load.setdefault("after", [round(x, 2) for x in os.getloadavg()])
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()

    def active(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if not s.error]

    def time_one(self, scenario: Scenario) -> float | None:
        try:
            if scenario.prepare is not None:
                scenario.prepare()
            os.sync()  # the previous scenario's writes are not this one's cost
            started = time.perf_counter()
            proc = subprocess.run(scenario.cmd, cwd=scenario.cwd, env=scenario.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT, check=False)
            elapsed = time.perf_counter() - started
            if scenario.cleanup is not None:
                scenario.cleanup()
        except (SetupError, OSError, subprocess.SubprocessError) as exc:
            scenario.fail(str(exc))
            return None
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
            scenario.fail(f"exited {proc.returncode}:\n{tail}")
            return None
        problem = scenario.check(proc.stdout) if scenario.check else ""
        if problem:
            tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
            scenario.fail(f"{problem}:\n{tail}")
            return None
        inner = re.search(r"\bseconds=([0-9.]+)", proc.stdout)
        self.last_inner = float(inner.group(1)) if inner else None
        return elapsed

    def measure(self) -> None:
        for round_no in range(1 - WARMUP_ROUNDS, self.runs + 1):
            what = "warm-up" if round_no <= 0 else f"run {round_no}/{self.runs}"
            for scenario in self.active():
                elapsed = self.time_one(scenario)
                if elapsed is None:
                    continue
                log(f"{what}: {scenario.name} {elapsed:.3f} s")
                if round_no > 0:
                    scenario.samples.append(elapsed)
                    if self.last_inner is not None:
                        scenario.inner.append(self.last_inner)
        self.load["after"] = [round(x, 2) for x in os.getloadavg()]

    # -- results ---------------------------------------------------------------------------------------------------
    def seconds(self) -> dict[str, float | None]:
        return {name: (round(s.median, 4) if s.median is not None else None) for name, s in self.scenarios.items()}

    def in_process(self) -> dict[str, float]:
        """The core's own figure (``RestoreResult.seconds``/``StoreResult.seconds``), median, where it printed one."""
        return {name: round(statistics.median(s.inner), 4) for name, s in self.scenarios.items()
                if s.inner and not s.error}

    def ratios(self) -> dict[str, float | None]:
        return compute_ratios(self.seconds(), self.in_process())

    def machine(self) -> dict[str, object]:
        return {"cpus": os.cpu_count(), "system": f"{platform.system()} {platform.release()} {platform.machine()}",
                "python": self.python_version, "versions": _versions(), "load_average": self.load,
                "default_link_mode": self.default_mode}

    def result(self) -> dict[str, object]:
        return {"mode": self.mode, "seconds": self.seconds(), "in_process": self.in_process(),
                "ratios": self.ratios(), "bytes": self.sizes, "machine": self.machine()}


def compute_ratios(s: dict[str, float | None], inner: dict[str, float] | None = None) -> dict[str, float | None]:
    """The issue's ratios from the scenarios' medians (None where a scenario failed or did not run).

    ``inner``: the core's in-process seconds per scenario; the restore's fixed overhead is the in-process hardlink
    restore minus a whole ``cp -al`` process (the interpreter a tool already runs is not the restore's cost).
    """
    inner = inner or {}

    def div(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    def sub(a: float | None, b: float | None) -> float | None:
        return a - b if a is not None and b is not None else None

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "tox_warm_default_excess_over_toxuv_excess": div(sub(s["tox_warm"], s["tox_reuse"]),
                                                         sub(s["toxuv_warm_uv_cache"], s["toxuv_reuse"])),
        "nox_warm_default_excess_over_nox_uv_excess": div(sub(s["nox_warm"], s["nox_reuse"]),
                                                          sub(s["nox_uv_warm_uv_cache"], s["nox_uv_reuse"])),
        "tox_warm_hardlink_excess_over_cp_al": div(sub(s["tox_warm_hardlink"], s["tox_reuse"]), s["cp_al"]),
        "restore_fixed_overhead_seconds": r(sub(inner.get("restore_hardlink"), s["cp_al"])),
        "store_overhead_fraction": div(s["store"], s["ci_pip_wheel_cache"]),
        "ci_fresh_runner_remote_over_uv_restored_cache": div(s["ci_remote_file"], s["ci_uv_cache_tarball"]),
        "ci_fresh_runner_s3_over_uv_restored_cache": div(s["ci_remote_s3"], s["ci_uv_cache_tarball"]),
        "tox_warm_excess_over_cp_a": div(sub(s["tox_warm"], s["tox_reuse"]), s["cp_a"]),
        "nox_warm_excess_over_cp_a": div(sub(s["nox_warm"], s["nox_reuse"]), s["cp_a"]),
        "restore_copy_over_cp_a": div(s["restore_copy"], s["cp_a"]),
        "restore_hardlink_over_cp_al": div(s["restore_hardlink"], s["cp_al"]),
        "tox_cold_over_tox_warm": div(s["tox_cold"], s["tox_warm"]),
        "toxuv_warm_over_tox_warm": div(s["toxuv_warm_uv_cache"], s["tox_warm"]),
        "list_200_seconds": s["list_200"],
        "prune_200_seconds": s["prune_200"],
    }


# -- output -------------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 3, missing: str = "failed") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def _target_status(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return "met" if TARGETS[name][1](value) else "MISSED"


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.1f} MB"


def size_lines(bench: Bench) -> list[str]:
    s = bench.sizes
    files = f", {s['env_files']:,} files" if s["env_files"] is not None else ""
    return [f"env {_mb(s['env_bytes'])}{files}; moved to a fresh runner: venvcache pack {_mb(s['pack_bytes'])}, "
            f"uv cache tarball (zstd) {_mb(s['uv_cache_tarball_bytes'])} of a {_mb(s['uv_cache_dir_bytes'])} "
            "uv cache dir"]


def table(bench: Bench) -> str:
    lines = [f"{'scenario':<76} {'median s':>9} {'min':>8} {'max':>8}  in-process (the core's own figure)"]
    for scenario in bench.scenarios.values():
        if scenario.skipped:
            continue
        ok = scenario.samples and not scenario.error
        lo, hi = (min(scenario.samples), max(scenario.samples)) if ok else (None, None)
        inner = f"  {statistics.median(scenario.inner):.3f}" if ok and scenario.inner else ""
        lines.append(f"{scenario.label:<76} {_fmt(scenario.median):>9} {_fmt(lo):>8} {_fmt(hi):>8}{inner}")
    lines += ["", *size_lines(bench), "", f"{'ratio':<46} {'value':>8}  {'target':<8} status"]
    for name, value in bench.ratios().items():
        lines.append(f"{name:<46} {_fmt(value, missing='n/a'):>8}  {TARGETS[name][0]:<8} "
                     f"{_target_status(name, value)}")
    failed = [s for s in bench.scenarios.values() if s.error and not s.skipped]
    skipped = [s for s in bench.scenarios.values() if s.skipped and s.error != f"{NOT_RUN} (--only)"]
    if failed:
        lines += ["", "failed scenarios:"]
        lines += [f"  {s.name}: {s.error.splitlines()[0]}" for s in failed]
    if skipped:
        lines += ["", "skipped:"] + [f"  {s.name}: {s.error}" for s in skipped]
    return "\n".join(lines)


def _versions() -> str:
    from importlib.metadata import version

    found = []
    for dist in ("venvcache", "tox", "tox-uv", "nox", "uv", "virtualenv", "pip"):
        with contextlib.suppress(Exception):
            found.append(f"{dist} {version(dist)}")
    return ", ".join(found)


def markdown(bench: Bench, command: str) -> str:
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    size = (f"{bench.env_size[0] / 1e6:.0f} MB / {bench.env_size[1]:,} files" if bench.env_size else "size unknown")
    what = ("pytest hypothesis requests numpy pandas sqlalchemy pydantic boto3 django" if bench.mode == "full"
            else f"{len(QUICK_PACKAGES)} locally built wheels (--quick)")
    load = bench.load
    out = [
        f"Measured {today} on {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {bench.python_version} envs ({what}, {size}), from a local wheelhouse with no index; "
        f"{_versions()}; load average (1, 5, 15 min) {load.get('before')} before, {load.get('after')} after.",
        f"Median of {bench.runs} interleaved runs after a warm-up, each a whole process whose command imports the "
        f"env's top-level packages: `{command}`",
        "",
        "| scenario | median s | range |",
        "|---|---:|---|",
    ]
    for scenario in bench.scenarios.values():
        if scenario.skipped:
            continue
        spread = (f"{min(scenario.samples):.2f}–{max(scenario.samples):.2f}" if scenario.samples and not scenario.error
                  else "")
        out.append(f"| {scenario.label} | {_fmt(scenario.median, 2)} | {spread} |")
    out += ["", f"Sizes: {size_lines(bench)[0]}.", "", "| ratio | value | target | |", "|---|---:|---|---|"]
    for name, value in bench.ratios().items():
        digits = 3 if name.endswith("seconds") else 2
        out.append(f"| `{name}` | {_fmt(value, digits, 'n/a')} | {TARGETS[name][0]} | "
                   f"{_target_status(name, value)} |")
    skipped = [s for s in bench.scenarios.values() if s.skipped and s.error != f"{NOT_RUN} (--only)"]
    if skipped:
        out += ["", "Not measured: " + "; ".join(f"{s.name} ({s.error[len(NOT_RUN):].strip(' :')})" for s in skipped)
                + "."]
    return "\n".join(out) + "\n"


def _kind(name: str) -> str:
    if name.endswith("_reuse"):
        return "floor"
    if "uv_cache" in name:
        return "uv"
    if name.endswith("_cold") or "pip" in name:
        return "pip"
    return "ours"


def plot_svg(bench: Bench) -> str:
    """A horizontal bar chart of the warm-run scenarios, grouped by tool; stdlib only, one self-contained SVG.

    Bars longer than the axis (cold pip installs, several times the warm runs) are cut at its end, marked with a
    break, and labelled with their full value, so the warm runs stay readable.
    """
    seconds = bench.seconds()
    sections = [(title.format(env=bench.envname), [n for n in names if seconds.get(n) is not None])
                for title, names in PLOT_SECTIONS]
    sections = [(t, names) for t, names in sections if names]
    values = [seconds[n] for _, names in sections for n in names]
    warm = [seconds[n] for _, names in sections for n in names if _kind(n) != "pip"] or values or [1.0]
    top = max(warm) * 1.15 or 1.0
    step = 10 ** math.floor(math.log10(top / 5)) if top > 0 else 1
    step = next(m * step for m in (1, 2, 2.5, 5, 10) if top / (m * step) <= 6)
    top = math.ceil(top / step) * step
    label_w, bar_x, bar_w, row_h, pad = 470, 480, 420, 22, 14
    rows = sum(len(names) + 1 for _, names in sections)
    height = 70 + rows * row_h + 40
    width = bar_x + bar_w + 90
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{pad}" y="22" font-size="15" font-weight="bold">venvcache benchmark ({bench.mode} mode): '
           f'seconds per whole run, median of {bench.runs}, lower is better</text>']
    x = pad
    for legend, colour in PLOT_KINDS.values():
        out.append(f'<rect x="{x}" y="34" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{x + 17}" y="45">{html.escape(legend)}</text>')
        x += 30 + 7 * len(legend)
    y = 70
    plot_top = y
    for title, names in sections:
        out.append(f'<text x="{pad}" y="{y + 15}" font-weight="bold">{html.escape(title)}</text>')
        y += row_h
        for name in names:
            value = seconds[name]
            assert value is not None
            label = bench.scenarios[name].label
            for prefix in (f"tox -e {bench.envname}: ", "nox -s tests: ", "fresh CI runner: "):
                label = label.removeprefix(prefix)  # the section title says it
            colour = PLOT_KINDS[_kind(name)][1]
            length = min(value, top) / top * bar_w
            out.append(f'<text x="{label_w}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>')
            out.append(f'<rect x="{bar_x}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" fill="{colour}">'
                       f'<title>{html.escape(name)}: {value:.3f} s</title></rect>')
            if value > top:  # cut bar: a white zigzag near its end
                zx = bar_x + bar_w - 24
                out.append(f'<path d="M{zx} {y + 3} l6 {row_h / 2 - 3:.0f} l-6 {row_h / 2 - 3:.0f}" stroke="#fff" '
                           'stroke-width="3" fill="none"/>')
            out.append(f'<text x="{bar_x + length + 5:.1f}" y="{y + 15}">{value:.2f}</text>')
            y += row_h
    n = round(top / step)
    for i in range(n + 1):
        gx = bar_x + i * step / top * bar_w
        out.append(f'<line x1="{gx:.1f}" y1="{plot_top}" x2="{gx:.1f}" y2="{y}" stroke="#000" '
                   f'stroke-opacity="{0.5 if i == 0 else 0.12}"/>')
        out.append(f'<text x="{gx:.1f}" y="{y + 16}" text-anchor="middle">{i * step:g}</text>')
    out.append(f'<text x="{bar_x + bar_w / 2}" y="{y + 32}" text-anchor="middle">seconds</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small env of locally built wheels (a few minutes)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per scenario after the warm-up "
                        "(default 5, --quick 1)")
    parser.add_argument("--json", type=Path, help="write {mode, seconds, in_process, ratios, bytes, machine} here")
    parser.add_argument("--markdown", type=Path, help="write the README's performance table here")
    parser.add_argument("--plot", type=Path, help="write an SVG bar chart of the warm-run scenarios here")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated groups to run (default all: {','.join(GROUPS)})")
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="Python version of the envs (default 3.12)")
    parser.add_argument("--work-dir", type=Path, help="where to build everything (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(args.only) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    work = args.work_dir.resolve() if args.work_dir else Path(tempfile.mkdtemp(prefix="venvcache-bench-"))
    if work == repo or repo in work.parents:
        raise SystemExit("bench: --work-dir must be outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bench = Bench(mode="quick" if args.quick else "full", runs=args.runs, work=work, python_version=args.python,
                  groups=args.only)
    if shutil.disk_usage(work).free >= TRASH_MIN_FREE:
        TRASH[:] = [work / "trash"]
    else:
        log("less than 40 GB free: trees are deleted between runs, so file creation is slower after a deletion")
    try:
        try:
            bench.setup()
            bench.measure()
        finally:
            bench.close()
        command = "python benchmarks/bench.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        print(table(bench))
        log(f"done in {time.monotonic() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(bench.result(), indent=2) + "\n", encoding="utf-8")
        if args.markdown:
            args.markdown.write_text(markdown(bench, command.strip()), encoding="utf-8")
        if args.plot:
            args.plot.write_text(plot_svg(bench), encoding="utf-8")
    finally:  # after the results: deleting the trees of a full run takes minutes on this disk (discard)
        if TRASH:
            log("removing the trees the runs made")
            shutil.rmtree(TRASH.pop(), ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
