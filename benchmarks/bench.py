#!/usr/bin/env python3
"""Side-by-side speed of venvcache against pip, tox-uv, tox's and nox's own reuse, and ``cp`` (issue 5).

    python benchmarks/bench.py [--quick] [--runs N] [--json PATH] [--markdown PATH]

Every scenario is one whole process (``tox``, ``nox``, ``cp``, ``python -c 'Cache(...).restore(...)'``, the
``virtualenv-cache`` CLI), timed from start to exit. Each round runs every scenario once, in a fixed order
(A B C ... A B C ...), so all of them see the same machine load; the first round is a warm-up, and each
scenario's figure is the median of the ``--runs`` rounds after it. The state a scenario needs (a fresh ``.tox``, an
empty or a warm cache, a warm uv cache, an existing env) is set up before each run and is not timed; dirty pages
are flushed (``sync``) before every timed run. A run whose output shows the wrong thing (a miss where a hit was
expected, pip running where tox should have reused its env) fails the scenario: it is reported as failed with the
reason, never as a number.

Env: full mode installs pytest hypothesis requests numpy pandas sqlalchemy pydantic boto3 django for Python 3.12
from a wheelhouse that is downloaded once (``pip download``) into the user cache dir and then used with no index,
so runs are repeatable. ``--quick`` builds a handful of wheels locally (a few thousand files) instead.

Everything runs in a temporary work dir outside the repository, with its own caches (venvcache, uv, pip,
virtualenv app data) and an environment that never reaches an index. Standard library and the project only; no
timing assertions. ``--json`` writes exactly ``{"mode", "seconds", "ratios"}`` (a failed scenario is ``null``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shlex
import shutil
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
DEFAULT_PYTHON = "3.12"
GROUPS = ("tox", "nox", "core", "scale")
TIMEOUT = 900

# (top-level name in --json "seconds", group, table label)
SCENARIOS = (
    ("tox_cold", "tox", "tox -e {env}: fresh .tox, empty cache (cold, pip)"),
    ("tox_warm", "tox", "tox -e {env}: fresh .tox, warm cache (ours)"),
    ("tox_reuse", "tox", "tox -e {env}: tox reusing its own .tox (floor)"),
    ("toxuv_warm_uv_cache", "tox", "tox-uv: fresh .tox, warm uv cache (peer)"),
    ("toxuv_warm_ours", "tox", "tox-uv: fresh .tox, warm cache (ours on tox-uv)"),
    ("nox_cold", "nox", "nox -s tests: fresh .nox, empty cache (cold, pip)"),
    ("nox_warm", "nox", "nox -s tests: fresh .nox, warm cache (ours)"),
    ("nox_reuse", "nox", "nox -R -s tests: reusing its own .nox (floor)"),
    ("nox_uv_warm_uv_cache", "nox", "nox, uv backend: fresh .nox, warm uv cache (peer)"),
    ("install_cold", "core", "venv + pip install, no tool (cold install)"),
    ("store", "core", "Cache.store on a miss"),
    ("cp_a", "core", "cp -a of the env"),
    ("restore_copy", "core", "Cache.restore, link_mode=copy"),
    ("cp_al", "core", "cp -al of the env"),
    ("restore_hardlink", "core", "Cache.restore, link_mode=hardlink"),
    ("list_200", "scale", "virtualenv-cache list, {entries} entries"),
    ("prune_200", "scale", "virtualenv-cache prune, {entries} entries"),
)

# ratio name -> (target text, met?) ; the formulas are in ratios()
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "tox_warm_excess_over_cp_a": ("<= 1.2", lambda v: v <= 1.2),
    "nox_warm_excess_over_cp_a": ("<= 1.2", lambda v: v <= 1.2),
    "restore_copy_over_cp_a": ("<= 1.2", lambda v: v <= 1.2),
    "restore_hardlink_over_cp_al": ("<= 1.2", lambda v: v <= 1.2),
    "tox_cold_over_tox_warm": (">= 12", lambda v: v >= 12),
    "toxuv_warm_over_tox_warm": (">= 3", lambda v: v >= 3),
    "store_overhead_fraction": ("<= 0.10", lambda v: v <= 0.10),
    "list_200_seconds": ("< 0.2", lambda v: v < 0.2),
    "prune_200_seconds": ("< 0.2", lambda v: v < 0.2),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class SetupError(Exception):
    """Something a group of scenarios needs could not be prepared; its scenarios are reported as failed."""


def rmtree(path: Path) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        path.unlink()
    elif path.exists():
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
    return make_wheel(folder, name, version, scripts={name: f"{mod}:main"}, requires=list(requires),
                      extra_files=extra)


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

    def fail(self, why: str) -> None:
        if not self.error:
            self.error = why.strip() or "failed"
            log(f"{self.name}: FAILED: {self.error}")


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


class Bench:
    def __init__(self, *, mode: str, runs: int, work: Path, python_version: str, groups: Sequence[str]) -> None:
        self.mode = mode
        self.runs = runs
        self.work = work
        self.python_version = python_version
        self.groups = groups
        self.envname = "py" + python_version.replace(".", "")
        self.scenarios = {name: Scenario(name, group, label.format(env=self.envname, entries=SCALE_ENTRIES))
                          for name, group, label in SCENARIOS}
        self.env_size: tuple[int, int] | None = None  # bytes, files of the benchmarked env
        self.python = ""
        self.wheelhouse = Path()
        self.requirements: list[str] = []
        self.base_env: dict[str, str] = {}
        self.last_inner: float | None = None

    # -- environment ---------------------------------------------------------------------------------------------
    def setup_common(self) -> None:
        if f"{sys.version_info[0]}.{sys.version_info[1]}" == self.python_version:
            found: str | None = sys.executable
        else:
            found = shutil.which(f"python{self.python_version}")
        if found is None:
            raise SetupError(f"no python{self.python_version} on PATH (with pyenv: export PYENV_VERSION=...)")
        self.python = found
        if not set(self.groups) & {"tox", "nox", "core"}:
            pass  # scale alone installs nothing
        elif self.mode == "full":
            self.wheelhouse = full_wheelhouse(self.python_version)
            self.requirements = pins(self.wheelhouse, FULL_REQUIREMENTS)
        else:
            self.wheelhouse = quick_wheelhouse(self.work / "wheels")
            self.requirements = pins(self.wheelhouse, QUICK_PACKAGES)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIP_", "UV_", "VIRTUALENV_", "TOX_", "NOX_", "VIRTUAL_ENV", "PYTHON", "CONDA"))}
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

    def project(self, kind: str, name: str) -> Path:
        root = self.work / kind / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "requirements.txt").write_text("\n".join(self.requirements) + "\n", encoding="utf-8")
        return root

    # -- tox -------------------------------------------------------------------------------------------------------
    TOX_INI = textwrap.dedent("""\
        [tox]
        env_list = {env}
        skipsdist = true

        [testenv]
        runner = {runner}
        deps = -r requirements.txt
        commands = python -c pass
        pass_env = PYENV_VERSION

        [virtualenv-cache]
        cache_path = {cache}
        """)

    def setup_tox(self) -> None:
        import tox  # noqa: F401 - a clear failure when the benchmark runs without tox

        env = self.envname
        hit = rf"^{env}: venv cache hit\b"
        miss = rf"^{env}: venv cache miss\b"
        pip_ran = rf"^{env}: install_deps> "
        uv_ran = rf"^{env}: install_deps> .*\buv pip install\b"
        spec = {  # name: (runner, extra tox args, fresh .tox each run, empty cache each run, check)
            "tox_cold": ("virtualenv", [], True, True, expect(miss, pip_ran, "stored")),
            "tox_warm": ("virtualenv", [], True, False, expect(hit, absent=[pip_ran])),
            "tox_reuse": ("virtualenv", [], False, False, expect(absent=[pip_ran, hit, miss])),
            "toxuv_warm_uv_cache": ("uv-venv-runner", ["--no-venv-cache"], True, False,
                                    expect(uv_ran, absent=[hit, miss])),
            "toxuv_warm_ours": ("uv-venv-runner", [], True, False, expect(hit, absent=[pip_ran])),
        }
        for name, (runner, args, fresh, empty, check) in spec.items():
            root = self.project("tox", name)
            cache = self.work / "caches" / name
            (root / "tox.ini").write_text(self.TOX_INI.format(env=env, runner=runner, cache=cache), encoding="utf-8")
            scenario = self.scenarios[name]
            scenario.cmd = [sys.executable, "-m", "tox", "-e", env, *args]
            scenario.cwd = root
            scenario.env = self.base_env
            scenario.check = check
            scenario.prepare = scenario.cleanup = self._resetter(root / ".tox" if fresh else None,
                                                                 cache if empty else None)
            if not empty:  # warm cache / warm uv cache / existing .tox: one real run builds the state
                scenario.prime = self._primer(scenario, root / ".tox" if fresh else None,
                                              None if fresh else cache)

    def _resetter(self, env_dir: Path | None, cache: Path | None) -> Callable[[], None]:
        def reset() -> None:
            for path in (env_dir, cache):
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

        nox_venvcache.configure(cache_path=os.environ["BENCH_VENVCACHE_PATH"])


        @nox.session(python="{python}", venv_backend=os.environ["BENCH_NOX_BACKEND"])
        def tests(session):
            session.install("-r", "requirements.txt")
            session.run("python", "-c", "pass")
        """)

    def setup_nox(self) -> None:
        import nox  # noqa: F401

        hit, miss = r"venvcache: hit\b", r"venvcache: miss\b"
        pip_ran, uv_ran = r"^nox > .*\bpip install -r requirements.txt", r"^nox > .*\buv pip install -r requirements"
        spec = {  # name: (backend, extra nox args, fresh .nox each run, empty cache each run, check)
            "nox_cold": ("cached-virtualenv", [], True, True, expect(miss, pip_ran, "stored")),
            "nox_warm": ("cached-virtualenv", [], True, False, expect(hit, absent=[pip_ran])),
            "nox_reuse": ("cached-virtualenv", ["-R"], False, False, expect(absent=[hit, miss, pip_ran])),
            "nox_uv_warm_uv_cache": ("uv", [], True, False, expect(uv_ran, absent=[hit, miss])),
        }
        for name, (backend, args, fresh, empty, check) in spec.items():
            root = self.project("nox", name)
            cache = self.work / "caches" / name
            (root / "noxfile.py").write_text(self.NOXFILE.format(python=self.python_version), encoding="utf-8")
            scenario = self.scenarios[name]
            scenario.cmd = [sys.executable, "-m", "nox", "--no-color", "-s", "tests", *args]
            scenario.cwd = root
            scenario.env = {**self.base_env, "BENCH_NOX_BACKEND": backend, "BENCH_VENVCACHE_PATH": str(cache)}
            scenario.check = check
            scenario.prepare = scenario.cleanup = self._resetter(root / ".nox" if fresh else None,
                                                                 cache if empty else None)
            if not empty:
                prime_env = root / ".nox" if fresh else None
                if name == "nox_reuse":  # -R on nothing would only skip the installs: build the env first
                    scenario.prime = self._nox_reuse_primer(scenario)
                else:
                    scenario.prime = self._primer(scenario, prime_env)

    def _nox_reuse_primer(self, scenario: Scenario) -> Callable[[], None]:
        def prime() -> None:
            assert scenario.cwd is not None
            rmtree(scenario.cwd / ".nox")
            run([c for c in scenario.cmd if c != "-R"], env=scenario.env, cwd=scenario.cwd, what="priming nox_reuse")
            rmtree(Path(scenario.env["BENCH_VENVCACHE_PATH"]))  # -R on an existing env never reads the cache

        return prime

    # -- core ------------------------------------------------------------------------------------------------------
    def setup_core(self) -> None:
        from venvcache_core import build_key, interpreter_identity, venv_python

        core = self.work / "core"
        core.mkdir(parents=True, exist_ok=True)
        req = self.project("core", "project") / "requirements.txt"

        def install_cmd(env_dir: Path) -> list[str]:  # what a CI job does without a tool: venv, pip install
            return ["/bin/sh", "-c", '"$0" -m venv "$1" && "$1"/bin/python -m pip install -q -r "$2"',
                    self.python, str(env_dir), str(req)]

        install = self.scenarios["install_cold"]
        install.cmd = install_cmd(core / "cold-env")
        install.prepare = install.cleanup = self._resetter(core / "cold-env", None)

        source = core / "project" / ".venv"  # the env every core scenario copies: built once like install_cold
        rmtree(source)
        log(f"building the benchmark env at {source}")
        run(install_cmd(source), env=self.base_env, what="building the benchmark env")
        files = size = 0
        for root, _dirs, names in os.walk(source):
            for n in names:
                files += 1
                size += os.lstat(os.path.join(root, n)).st_size
        self.env_size = (size, files)

        key = build_key(interpreter=interpreter_identity(venv_python(source)),
                        inputs={"benchmark": self.mode, "requirements": self.requirements}).digest
        code = ("import sys\nfrom venvcache_core import Cache\n"
                "cache = Cache(sys.argv[1], link_mode=sys.argv[2], max_entries=1000)\n"
                "if sys.argv[3] == 'store':\n"
                "    r = cache.store(sys.argv[4], sys.argv[5]); ok = r.stored\n"
                "else:\n"
                "    r = cache.restore(sys.argv[4], sys.argv[5]); ok = r.hit\n"
                "print('OK' if ok else 'NOT OK', r)\n"
                "sys.exit(0 if ok else 1)\n")
        caches = {"copy": core / "cache-copy", "hardlink": core / "cache-hardlink"}
        for mode, cache in caches.items():  # the entries the restores read (untimed)
            rmtree(cache)
            run([sys.executable, "-c", code, cache, mode, "store", key, source], env=self.base_env,
                what=f"storing the benchmark env ({mode})")
        store_cache = core / "cache-store"
        dest = core / "restored"
        store = self.scenarios["store"]
        store.cmd = [sys.executable, "-c", code, str(store_cache), "auto", "store", key, str(source)]
        store.prepare = store.cleanup = self._resetter(store_cache, None)
        for name, cmd in {
            "cp_a": ["cp", "-a", str(caches["copy"] / key / "env"), str(dest)],
            "restore_copy": [sys.executable, "-c", code, str(caches["copy"]), "copy", "restore", key, str(dest)],
            "cp_al": ["cp", "-al", str(caches["hardlink"] / key / "env"), str(dest)],
            "restore_hardlink": [sys.executable, "-c", code, str(caches["hardlink"]), "hardlink", "restore", key,
                                 str(dest)],
        }.items():
            scenario = self.scenarios[name]
            scenario.cmd = cmd
            scenario.prepare = scenario.cleanup = self._resetter(dest, None)
        for name in ("install_cold", "store", "cp_a", "restore_copy", "cp_al", "restore_hardlink"):
            self.scenarios[name].env = self.base_env
            self.scenarios[name].cwd = core

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
        try:
            self.setup_common()
        except SetupError as exc:
            for scenario in self.scenarios.values():
                scenario.fail(f"set-up: {exc}")
            return
        steps = {"tox": self.setup_tox, "nox": self.setup_nox, "core": self.setup_core, "scale": self.setup_scale}
        for group in GROUPS:
            members = [s for s in self.scenarios.values() if s.group == group]
            if group not in self.groups:
                for scenario in members:
                    scenario.error = "not run (--only)"
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
        for round_no in range(self.runs + 1):
            what = "warm-up" if round_no == 0 else f"run {round_no}/{self.runs}"
            for scenario in self.active():
                elapsed = self.time_one(scenario)
                if elapsed is None:
                    continue
                log(f"{what}: {scenario.name} {elapsed:.3f} s")
                if round_no > 0:
                    scenario.samples.append(elapsed)
                    if self.last_inner is not None:
                        scenario.inner.append(self.last_inner)

    # -- results ---------------------------------------------------------------------------------------------------
    def seconds(self) -> dict[str, float | None]:
        return {name: (round(s.median, 4) if s.median is not None else None) for name, s in self.scenarios.items()}

    def ratios(self) -> dict[str, float | None]:
        return compute_ratios(self.seconds())

    def result(self) -> dict[str, object]:
        return {"mode": self.mode, "seconds": self.seconds(), "ratios": self.ratios()}


def compute_ratios(s: dict[str, float | None]) -> dict[str, float | None]:
    """The issue's ratios from the scenarios' medians (None where a scenario failed or did not run)."""

    def div(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    def sub(a: float | None, b: float | None) -> float | None:
        return a - b if a is not None and b is not None else None

    return {
        "tox_warm_excess_over_cp_a": div(sub(s["tox_warm"], s["tox_reuse"]), s["cp_a"]),
        "nox_warm_excess_over_cp_a": div(sub(s["nox_warm"], s["nox_reuse"]), s["cp_a"]),
        "restore_copy_over_cp_a": div(s["restore_copy"], s["cp_a"]),
        "restore_hardlink_over_cp_al": div(s["restore_hardlink"], s["cp_al"]),
        "tox_cold_over_tox_warm": div(s["tox_cold"], s["tox_warm"]),
        "toxuv_warm_over_tox_warm": div(s["toxuv_warm_uv_cache"], s["tox_warm"]),
        "store_overhead_fraction": div(s["store"], s["install_cold"]),
        "list_200_seconds": s["list_200"],
        "prune_200_seconds": s["prune_200"],
    }


# -- output -------------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 3) -> str:
    return "failed" if value is None else f"{value:.{digits}f}"


def _target_status(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return "met" if TARGETS[name][1](value) else "MISSED"


def table(bench: Bench) -> str:
    lines = [f"{'scenario':<58} {'median s':>9} {'min':>8} {'max':>8}  in-process (the core's own figure)"]
    for scenario in bench.scenarios.values():
        if scenario.error == "not run (--only)":
            continue
        ok = scenario.samples and not scenario.error
        lo, hi = (min(scenario.samples), max(scenario.samples)) if ok else (None, None)
        inner = f"  {statistics.median(scenario.inner):.3f}" if ok and scenario.inner else ""
        lines.append(f"{scenario.label:<58} {_fmt(scenario.median):>9} {_fmt(lo):>8} {_fmt(hi):>8}{inner}")
    lines += ["", f"{'ratio':<32} {'value':>8}  {'target':<8} status"]
    for name, value in bench.ratios().items():
        lines.append(f"{name:<32} {_fmt(value):>8}  {TARGETS[name][0]:<8} {_target_status(name, value)}")
    failed = [s for s in bench.scenarios.values() if s.error and s.error != "not run (--only)"]
    if failed:
        lines += ["", "failed scenarios:"]
        lines += [f"  {s.name}: {s.error.splitlines()[0]}" for s in failed]
    return "\n".join(lines)


def _versions() -> str:
    found = []
    for dist in ("tox", "tox-uv", "nox", "uv", "virtualenv", "pip"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            found.append(f"{dist} {version(dist)}")
    return ", ".join(found)


def markdown(bench: Bench, command: str) -> str:
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    size = (f"{bench.env_size[0] / 1e6:.0f} MB / {bench.env_size[1]:,} files" if bench.env_size else "size unknown")
    what = ("pytest hypothesis requests numpy pandas sqlalchemy pydantic boto3 django" if bench.mode == "full"
            else f"{len(QUICK_PACKAGES)} locally built wheels (--quick)")
    out = [
        f"Measured {today} on {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {bench.python_version} envs ({what}, {size}), from a local wheelhouse with no index; "
        f"{_versions()}.",
        f"Median of {bench.runs} interleaved runs after a warm-up, each a whole process: `{command}`",
        "",
        "| scenario | median s | range |",
        "|---|---:|---|",
    ]
    for scenario in bench.scenarios.values():
        if scenario.error == "not run (--only)":
            continue
        spread = (f"{min(scenario.samples):.2f}–{max(scenario.samples):.2f}" if scenario.samples and not scenario.error
                  else "")
        out.append(f"| {scenario.label} | {_fmt(scenario.median, 2)} | {spread} |")
    out += ["", "| ratio | value | target | |", "|---|---:|---|---|"]
    for name, value in bench.ratios().items():
        out.append(f"| `{name}` | {_fmt(value, 2)} | {TARGETS[name][0]} | {_target_status(name, value)} |")
    return "\n".join(out) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small env of locally built wheels (< 2 minutes)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per scenario after the warm-up "
                        "(default 5, --quick 1)")
    parser.add_argument("--json", type=Path, help="write {mode, seconds, ratios} here")
    parser.add_argument("--markdown", type=Path, help="write the README's performance table here")
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
    try:
        bench.setup()
        bench.measure()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    command = "python benchmarks/bench.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    print(table(bench))
    log(f"done in {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(bench.result(), indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(markdown(bench, command.strip()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
