"""Every tox / tox-uv detail the plugin relies on that is not a documented plugin API, in one place.

tox 4's hooks tell us *when* (``tox_on_install``, ``tox_before_run_commands`` ...), but not *how* tox remembers that
an env's deps are installed. That is ``<env_dir>/.tox-info.json``: sections named after tox's classes (``ToxEnv``,
``Python``, ``PythonRun``), rewritten as a whole by ``tox.tox_env.info.Info``. tox-uv's lock runner runs ``uv sync``
itself, so covering it means subclassing it and overriding a private method.

When upstream changes one of these, :func:`problems` says which, the plugin turns itself off with one warning (the
tox run goes on uncached), and ``tests/tox/test_tox_internals.py`` fails with the same message.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

    from tox.session.state import State

#: the file tox keeps at the root of every env (``tox.tox_env.info.Info``)
INFO_FILE = ".tox-info.json"
#: ``.tox-info.json`` sections, named by tox after ``ToxEnv.__name__``, ``Python.__name__``, ``PythonRun.__name__``
SECTION_TOX_ENV = "ToxEnv"
SECTION_PYTHON = "Python"
SECTION_RUN = "PythonRun"
#: ``RunToxEnv._setup_pkg`` installs the package as ``RunToxEnv``/``package``; the installer records the package's
#: own dependencies (and extras) as ``RunToxEnv``/``package_deps``, then installs the package itself ``--no-deps``
SECTION_RUN_ENV = "RunToxEnv"
PACKAGE_STEP = "package"
PACKAGE_DEPS_STEP = "package_deps"
#: packaging envs (``.pkg``): ``requires`` (the build backend), ``deps``, then ``requires_for_build_<type>``
SECTION_PACKAGE_ENV = "PythonPackageToxEnv"
REQUIRES_STEP = "requires"
#: the install steps of ``PythonRun._setup_env`` (``tox_on_install`` ``of_type``) whose result an entry holds
#: (``package_deps`` under ``PythonRun`` is ``package = deps-only``)
DEPS_STEP = "deps"
ENV_STEPS = frozenset({"deps", "dependency-groups", "package_deps"})
#: top-level folders of a packaging env that belong to one build, never to an entry (``pkg_dir``, ``meta_dir``)
PACKAGE_ENV_BUILD_FOLDERS = ("dist", ".meta")

#: tox-uv's module constant listing the UV_* variables it records with the deps
UV_RECORDED_VARS = ("tox_uv._installer", "_UV_RESOLUTION_ENV_VARS")

#: the env types whose venv the plugin restores in place of creating it, when the key is known before the venv exists
#: (``Python.ensure_python_env`` calls ``create_python_env`` only for an env without a ``Python`` record)
EARLY_RUN_ENVS = ("virtualenv", "uv-venv-runner")
EARLY_PACKAGE_ENVS = ("virtualenv-pep-517", "uv-venv-pep-517")
#: what tox puts into an env dir before it creates the venv there: ``ToxEnv._setup_env`` writes the ``ToxEnv`` record
#: and empties ``log``/``tmp`` (when inside), a packaging env holds its ``file.lock``
PACKAGING_LOCK_FILE = "file.lock"

#: tox-uv's lock runner: where it lives and the private methods the wrapper overrides (name -> parameters)
LOCK_RUNNER_MODULE = "tox_uv._run_lock"
LOCK_RUNNER_CLASS = "UvVenvLockRunner"
LOCK_RUNNER_ID = "uv-venv-lock-runner"
LOCK_RUNNER_METHODS = {"_build_uv_sync_cmd": ["self", "install_pkg"], "_setup_env": ["self"],
                       "create_python_env": ["self"], "ensure_python_env": ["self"]}


# -- .tox-info.json --------------------------------------------------------------------------------------------------
def read_info(env_dir: Path) -> dict[str, Any]:
    """The content of an env's ``.tox-info.json`` ({} when missing or unreadable, as tox itself treats it)."""
    path = env_dir / INFO_FILE
    try:
        value = {} if path.is_symlink() else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_info(env_dir: Path, content: dict[str, Any]) -> None:
    """Replace ``.tox-info.json`` atomically, in tox's own format (indent 2, mode 0600 like ``tempfile``)."""
    _replace_text(env_dir / INFO_FILE, json.dumps(content, indent=2))


def _replace_text(path: Path, text: str) -> None:
    """Write ``path`` anew atomically (a temporary file next to it, then a rename; mode 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def deps_recorded(info: dict[str, Any]) -> bool:
    """Whether tox has already installed this env's deps (tox's own reuse; the cache has nothing to add)."""
    run = info.get(SECTION_RUN)
    return isinstance(run, dict) and DEPS_STEP in run


def deps_only_added(info: dict[str, Any], arguments: Any) -> bool:
    """Whether tox is about to install only the additions of the deps step into an existing env: what it recorded
    (``Pip._install_requirement_file``: ``options``, ``requirements``) has the same options and a strict subset of
    the requirements ``arguments`` (the step's ``PythonDeps``) unroll to. Removals and changed options make tox
    recreate the env itself."""
    recorded = recorded_step(info, SECTION_RUN, DEPS_STEP)
    if not isinstance(recorded, dict) or not is_python_deps(arguments):
        return False
    old_requirements, old_options = recorded.get("requirements"), recorded.get("options")
    if not isinstance(old_requirements, list) or not isinstance(old_options, list):
        return False
    try:
        options, lines = unroll_deps(arguments)
    except Exception:  # tox reports a broken deps file itself, at its install
        return False
    requirements = {line for line in lines if not line.startswith("-c ")}
    return options == [str(item) for item in old_options] and {str(item) for item in old_requirements} < requirements


def steps_recorded(info: dict[str, Any], steps: Iterable[str], *, section: str = SECTION_RUN) -> bool:
    """Whether every install step in ``steps`` finished: tox writes a step's section only when it succeeded."""
    recorded = info.get(section)
    wanted = list(steps)
    return not wanted or (isinstance(recorded, dict) and all(step in recorded for step in wanted))


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    return value


#: the install records an entry keeps, per section (None: every step of the section)
_KEPT_STEPS: dict[str, frozenset[str] | None] = {SECTION_RUN: ENV_STEPS,
                                                 SECTION_RUN_ENV: frozenset({PACKAGE_DEPS_STEP}),
                                                 SECTION_PACKAGE_ENV: None}


def entry_info(info: dict[str, Any]) -> dict[str, Any]:
    """The part of ``.tox-info.json`` an entry keeps: the env, its deps, the package's dependencies and a packaging
    env's build requirements, never the package under test. tox records installer variables and index options in
    clear (``PIP_INDEX_URL`` with its token): the entry keeps them redacted by the core (:func:`adopt_info` puts this
    run's values back)."""
    from venvcache_core import redact

    kept: dict[str, Any] = {name: info[name] for name in (SECTION_TOX_ENV, SECTION_PYTHON) if name in info}
    for section, wanted in _KEPT_STEPS.items():
        steps = info.get(section)
        if isinstance(steps, dict):
            found = {step: _map_strings(value, redact) for step, value in steps.items()
                     if wanted is None or step in wanted}
            if found:
                kept[section] = found
    return kept


def adopt_info(restored: dict[str, Any], current: dict[str, Any], originals: Iterable[str] = ()) -> dict[str, Any]:
    """The info file of a restored env: this run's ``ToxEnv``/``Python`` (env name, runner, interpreter as tox just
    computed them) with the entry's deps sections, so tox's next comparison finds the deps installed. A redacted
    string of the entry becomes the one of ``originals`` (this run's variables and deps options) it was redacted from
    (the key holds the redacted forms, so they agree)."""
    merged = entry_info(restored)
    for name in (SECTION_TOX_ENV, SECTION_PYTHON):
        if name in current:
            merged[name] = current[name]
        else:
            merged.pop(name, None)
    from venvcache_core import redact

    clear = {redact(text): text for text in originals if redact(text) != text}
    if clear:
        for section in _KEPT_STEPS:
            if section in merged:
                merged[section] = _map_strings(merged[section], lambda text: clear.get(text, text))
    return merged


def recorded_step(info: dict[str, Any], section: str, step: str) -> Any:
    """What tox recorded for one install step (None when the step never succeeded in this env)."""
    steps = info.get(section)
    return steps.get(step) if isinstance(steps, dict) else None


def recorded_requirements(info: dict[str, Any], section: str, step: str) -> list[str] | None:
    """The requirement list of a list-of-deps step (``{"req": [...], ...}``), None when not recorded."""
    value = recorded_step(info, section, step)
    req = value.get("req") if isinstance(value, dict) else None
    return [str(item) for item in req] if isinstance(req, list) else None


# -- the package layer and packaging envs -----------------------------------------------------------------------------
#: ``package`` settings whose dependencies tox installs as their own recorded step before the package itself
#: (``uv``/``uv-editable`` let uv install the package with its dependencies in one step, ``external`` has none)
PACKAGE_TYPES_WITH_DEPS_STEP = frozenset({"wheel", "sdist", "sdist-wheel", "editable", "editable-legacy"})
DEPS_ONLY = "deps-only"


def static_package_deps(root: Path, extras: set[str]) -> list[str] | None:
    """The package's dependencies with these extras, read from ``[project]`` without a build, as tox does it
    (``tox.tox_env.python.extras.resolve_extras_static``); None when pyproject.toml declares them dynamic."""
    from tox.tox_env.python.extras import resolve_extras_static

    found = resolve_extras_static(root, extras)
    return None if found is None else sorted(str(req) for req in found)


def package_requirements(tox_env: Any, packages: Any) -> list[str] | None:
    """The list tox's installer records as ``RunToxEnv``/``package_deps`` for these built packages (sorted, with
    ``--force-dep`` applied as pip's installer does), or None when these packages install their deps some other way
    (uv's own package types, a uv workspace source)."""
    from packaging.requirements import Requirement
    from tox.tox_env.python.package import EditableLegacyPackage, EditablePackage, SdistPackage, WheelPackage

    installer = tox_env.installer
    kinds = (WheelPackage, SdistPackage, EditablePackage, EditableLegacyPackage)
    if not isinstance(packages, (list, tuple)) or not packages or not all(isinstance(p, kinds) for p in packages):
        return None
    deps = [dep for package in packages for dep in package.deps]
    uv = type(installer).__name__ == "UvInstaller"
    if uv:
        sourced = installer._sourced_pkg_names  # a workspace member becomes ``-e .``: not a plain requirement
        if any(isinstance(dep, Requirement) and dep.name in sourced for dep in deps):
            return None
        return sorted(str(dep) for dep in deps)
    return sorted(installer._apply_force_deps(deps))


def install_package_deps(tox_env: Any, requirements: list[str]) -> None:
    """Run tox's own ``install_package_deps`` step now (the installer compares, installs and records it as tox does),
    so the env can be stored with the package's dependencies and without the package; tox's own call that follows
    finds them recorded and installs only the package."""
    from packaging.requirements import Requirement

    tox_env.installer.install([Requirement(line) for line in requirements], SECTION_RUN_ENV, PACKAGE_DEPS_STEP)


def package_env_display(run_env: Any, package_env: Any) -> contextlib.AbstractContextManager[None]:
    """tox's log context of a packaging env inside its run env's setup: its lines carry its own name (as tox's
    ``RunToxEnv._call_pkg_envs`` does it)."""
    suspend = bool(getattr(run_env, "_has_display_suspended", False))
    context: contextlib.AbstractContextManager[None] = package_env.display_context(suspend)
    return context


def wheel_build_env(tox_env: Any) -> str | None:
    """The name of the packaging env that builds a run env's wheel or editable wheel (``wheel_build_env``, e.g.
    ``.pkg-cpython312`` when the run env's interpreter is not the packaging env's), None without one. tox's
    ``package_envs`` leaves it out for ``package = editable``, though it builds the editable wheel there."""
    try:
        name = tox_env.conf["wheel_build_env"]
    except Exception:  # no such key (no PEP 517 packaging env), or tox's Skip for a missing interpreter
        return None
    return name if isinstance(name, str) else None


def is_packaging_env(tox_env: Any) -> bool:
    """Whether the env builds the package (``.pkg``, ``.pkg-cpython312``: ``PythonPackageToxEnv``)."""
    from tox.tox_env.python.package import PythonPackageToxEnv

    return isinstance(tox_env, PythonPackageToxEnv)


def build_hooks(tox_env: Any) -> list[str]:
    """The build types a packaging env installs ``requires_for_build_<type>`` for (``Pep517VenvPackager``)."""
    return sorted(str(hook) for hook in getattr(tox_env, "call_require_hooks", ()) or ())


# -- other private places ---------------------------------------------------------------------------------------------
def resolve_dependency_groups(root: Path, groups: set[str]) -> list[str]:
    """PEP 735 dependency group requirements, as tox resolves them (``tox.tox_env.python.dependency_groups``)."""
    from tox.tox_env.python.dependency_groups import resolve

    return sorted(str(req) for req in resolve(root, groups))


def unmet_requires(requires: Iterable[Any]) -> list[str]:
    """The ``[tox] requires`` entries the host does not meet, by tox's own check (``tox.provision._get_missing``):
    non-empty means tox provisions ``.tox/.tox`` and runs the envs there."""
    from tox.provision import _get_missing

    return [str(requirement) for requirement, _ in _get_missing(list(requires))]


def lock_runner_class() -> type[Any] | None:
    """tox-uv's ``uv-venv-lock-runner`` class, or None when tox-uv is not installed."""
    try:
        module = __import__(LOCK_RUNNER_MODULE, fromlist=[LOCK_RUNNER_CLASS])
    except ImportError:
        return None
    return getattr(module, LOCK_RUNNER_CLASS, None)


def wrap_lock_runner(base: type[Any], *, before_create: Callable[[Any], bool], created: Callable[[Any], None],
                     after_ensure: Callable[[Any], None],
                     before_sync: Callable[[Any, list[str], str | None], None],
                     after_sync: Callable[[Any], None]) -> type[Any]:
    """A subclass of tox-uv's lock runner (or of whatever is registered under its id) that calls back around its
    private steps: ``before_create(env)`` in place of ``create_python_env`` (True: the venv was restored, ``uv venv``
    is not run), ``created(env)`` after it, ``after_ensure(env)`` once tox wrote its ``Python`` record,
    ``before_sync(env, cmd, install_pkg)`` once the ``uv sync`` command is built, ``after_sync(env)`` after
    ``_setup_env``. It keeps the class name (tox records it in ``.tox-info.json``) and the id."""

    class CachedLockRunner(base):  # type: ignore[misc]
        """``uv-venv-lock-runner`` with venvcache: restore in place of ``uv venv`` (or before ``uv sync``), store
        after ``uv sync``."""

        def create_python_env(self) -> None:
            if before_create(self):
                return
            super().create_python_env()
            created(self)

        def ensure_python_env(self) -> None:
            super().ensure_python_env()
            after_ensure(self)

        def _build_uv_sync_cmd(self, install_pkg: str | None) -> list[str]:
            cmd: list[str] = super()._build_uv_sync_cmd(install_pkg)
            before_sync(self, cmd, install_pkg)
            return cmd

        def _setup_env(self) -> None:
            super()._setup_env()
            after_sync(self)

        def venvcache_sync_command(self) -> list[str] | None:
            """The ``uv sync`` command ``_setup_env`` will run, known before the venv exists (tox-uv builds it from
            the config alone); None when there will be none, or it installs an external package (``--installpkg``)."""
            if getattr(self.options, "skip_uv_sync", False) or getattr(self.options, "install_pkg", None) is not None:
                return None
            cmd: list[str] = super()._build_uv_sync_cmd(None)
            return cmd

    return _as_base(CachedLockRunner, base)


def lock_sync_command(tox_env: Any) -> list[str] | None:
    """The ``uv sync`` command a wrapped lock runner env will run (see ``wrap_lock_runner``), None for other envs."""
    build = getattr(tox_env, "venvcache_sync_command", None)
    return build() if build is not None else None


def is_lock_runner(tox_env: Any) -> bool:
    """Whether the env is tox-uv's ``uv-venv-lock-runner`` (wrapped by the plugin)."""
    return hasattr(tox_env, "venvcache_sync_command")


def _as_base(wrapper: type[Any], base: type[Any]) -> type[Any]:
    """``wrapper`` named as ``base`` (tox records the class name in ``.tox-info.json``), marked as the plugin's."""
    wrapper.__name__ = base.__name__
    wrapper.__qualname__ = base.__qualname__
    wrapper.__module__ = __name__
    setattr(wrapper, "venvcache_wrapped", True)  # noqa: B010 (an attribute of our own on tox's class)
    return wrapper


# -- restoring in place of creating the venv --------------------------------------------------------------------------
def wrap_env_class(base: type[Any], *, before_create: Callable[[Any], bool],
                   after_ensure: Callable[[Any], None]) -> type[Any]:
    """A subclass of a run or packaging env type whose ``create_python_env`` first asks ``before_create(env)`` (True:
    the venv was restored, tox's creator is not run) and whose ``ensure_python_env`` calls ``after_ensure(env)`` once
    tox wrote its ``Python`` record. tox offers no hook before it creates a venv. Same class name (tox records it in
    ``.tox-info.json``) and id."""

    class CachedEnv(base):  # type: ignore[misc]
        """A tox env whose venv comes from venvcache when the cache holds it."""

        def create_python_env(self) -> None:
            if not before_create(self):
                super().create_python_env()

        def ensure_python_env(self) -> None:
            super().ensure_python_env()
            after_ensure(self)

    return _as_base(CachedEnv, base)


def python_record(tox_env: Any) -> Any:
    """The ``Python`` record tox writes for this env when it creates it (``Python.python_cache``), as JSON reads it
    back; known before the venv exists."""
    return json.loads(json.dumps(tox_env.python_cache()))


def _uv_venv_class() -> type[Any] | None:
    try:
        from tox_uv._venv import UvVenv
    except ImportError:
        return None
    return UvVenv


def is_uv_env(tox_env: Any) -> bool:
    """Whether tox-uv creates this env (``uv venv``): its ``base_python`` is only the requested version."""
    uv_venv = _uv_venv_class()
    return uv_venv is not None and isinstance(tox_env, uv_venv)


def _uv_find_command(tox_env: Any) -> list[str]:
    """``uv python find`` with the request and preference tox-uv's ``create_python_env`` passes to ``uv venv`` (which
    only considers system interpreters: ``--system``)."""
    cmd = [str(tox_env.uv), "python", "find", "--system"]
    if tox_env.conf["uv_python_preference"] != "none":
        cmd.extend(["--python-preference", str(tox_env.conf["uv_python_preference"])])
    cmd.append(str(tox_env.env_version_spec()))
    return cmd


#: uv's answers in this run, by request and environment (a run env and its ``.pkg`` usually ask the same)
_UV_FOUND: dict[str, UvFind] = {}
#: the variables that name a run's question to uv (the answer is a guess checked against uv's: leaving one out only
#: costs a wrong guess; tox's per-run ones such as PYTHONHASHSEED would make every run a new question)
_UV_QUESTION_VARS = ("PATH", "HOME", "UV_", "PYENV", "ASDF_", "MISE_", "CONDA")
#: uv's last answers on this machine, in the cache folder: ``{request digest: {"python", "seen"}}``, ``seen`` being
#: what its discovery could read when it answered (:func:`discovery_inputs`)
UV_ANSWERS_FILE = ".tox-uv-interpreters.json"
#: files that choose an interpreter for uv or for the version manager whose shim uv runs (pyenv, asdf, mise, uv's
#: own config), looked for in the project folder and each of its parents ...
_CHOOSER_FILES = (".python-version", ".python-versions", ".tool-versions", ".mise.toml", "mise.toml", "uv.toml",
                  "pyproject.toml")
#: ... and under the home folder (with pyenv's ``version`` file and ``versions`` folder under ``$PYENV_ROOT``)
_HOME_CHOOSERS = (".tool-versions", ".config/uv/uv.toml", ".config/mise/config.toml", ".asdf/installs/python",
                  ".local/share/mise/installs/python")


def discovery_inputs(path: str, root: Path, environ: Mapping[str, str]) -> list[list[Any]]:
    """What uv's interpreter discovery reads besides the request and the environment, as ``[place, stat]`` pairs:
    every folder on PATH (an interpreter installed or removed there, pyenv's shims rehashed), uv's managed
    interpreters, the version files of pyenv/asdf/mise/uv from the project up and in the home folder. While none of
    them changed, uv answers the same request as it did (a few dozen ``stat`` calls against a shim run per
    candidate)."""
    home = Path(environ.get("HOME") or os.path.expanduser("~"))
    pyenv_root = Path(environ.get("PYENV_ROOT") or home / ".pyenv")
    data = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    places = [*(part for part in path.split(os.pathsep) if part),
              environ.get("UV_PYTHON_INSTALL_DIR") or str(data / "uv" / "python"),
              str(pyenv_root / "version"), str(pyenv_root / "versions"), *(str(home / name) for name in _HOME_CHOOSERS)]
    folder = root.resolve()
    places.extend(str(parent / name) for parent in (folder, *folder.parents) for name in _CHOOSER_FILES)
    return [[place, _stat(place)] for place in places]


def _stat(place: str) -> list[int] | None:
    try:
        found = os.stat(place)
    except OSError:
        return None
    return [found.st_mtime_ns, found.st_ino, found.st_size]


class UvFind:
    """uv's pick of an interpreter for one env's request. When uv answered the same request before and nothing its
    discovery reads changed since (:func:`discovery_inputs`, the picked interpreter itself), that answer is
    ``current`` and uv is not asked. Else ``uv python find`` runs in the background from :meth:`start` on, and
    ``last`` is uv's previous answer, a guess to go on with while uv answers."""

    def __init__(self, cmd: list[str], environ: dict[str, str], cwd: str, memo: str, answers: Path,
                 seen: list[list[Any]]) -> None:
        self.memo = memo
        self._answers = answers
        self._answer: str | None = None
        self._seen = seen
        record = _read_json(answers).get(memo)
        found = record.get("python") if isinstance(record, dict) else record  # a bare path: a guess to check
        self.last = found if isinstance(found, str) and os.path.isfile(found) else None
        self.current = self.last is not None and isinstance(record, dict) and record.get("seen") == self._seen_with(
            self.last)
        self._proc: subprocess.Popen[str] | None = None
        if self.current:
            self._answer = self.last
            return
        import subprocess

        self._proc = subprocess.Popen(cmd, env=environ, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)

    def _seen_with(self, python: str) -> list[list[Any]]:
        """What the discovery could read, with the picked interpreter's file and the file it resolves to."""
        real = os.path.realpath(python)
        return [*self._seen, [python, _stat(python)], [real, _stat(real)]]

    @property
    def answered(self) -> bool:
        """Whether the answer is known without waiting: current, or uv answered already in this run."""
        return self._proc is None

    @classmethod
    def start(cls, tox_env: Any, cache_path: Path) -> UvFind:
        """uv's answer for this env, asked now unless it is current or an env of this run asked the same already."""
        import hashlib

        cmd = _uv_find_command(tox_env)
        environ: dict[str, str] = dict(tox_env.environment_variables)
        work = str(tox_env.core["work_dir"])
        # PATH entries inside .tox (this run's env bin folders) do not change what uv finds among system interpreters
        path = os.pathsep.join(part for part in environ.get("PATH", "").split(os.pathsep)
                               if not (part == work or part.startswith(work + os.sep)))
        shown = {**environ, "PATH": path}
        question = sorted((k, v) for k, v in shown.items() if k.startswith(_UV_QUESTION_VARS))
        memo = hashlib.sha256(json.dumps([cmd, question]).encode()).hexdigest()
        if memo not in _UV_FOUND:
            root = Path(tox_env.core["tox_root"])
            _UV_FOUND[memo] = cls(cmd, environ, str(root), memo, cache_path / UV_ANSWERS_FILE,
                                  discovery_inputs(path, root, shown))
        return _UV_FOUND[memo]

    def result(self) -> str | None:
        """The interpreter uv picks (waits for uv), None when uv finds none; remembered for the next run with what
        its discovery could read (taken before uv was asked: a change while it answers is seen next time)."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            try:
                out, _ = proc.communicate(timeout=120)
            except Exception:  # a hung uv: no answer, the env is created as usual
                proc.kill()
                proc.communicate()
                return None
            lines = out.strip().splitlines()
            self._answer = lines[-1].strip() if proc.returncode == 0 and lines else None
            if self._answer is not None:
                answers = _read_json(self._answers)
                answers[self.memo] = {"python": self._answer, "seen": self._seen_with(self._answer)}
                with contextlib.suppress(OSError):  # only a guess for the next run
                    _replace_text(self._answers, json.dumps(answers, indent=1, sort_keys=True))
        return self._answer


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def base_interpreter(tox_env: Any, cache_path: Path) -> tuple[str | None, UvFind | None]:
    """The interpreter the env's venv will be made from, before it exists: (a path, uv's answer still to check).

    virtualenv: its own discovery (``base_python.extra["executable"]``), exact: nothing to check. tox-uv: uv
    decides. Its answer to the request ``uv venv`` gets, when nothing its discovery reads changed since it gave it
    (nothing to check); else ``uv python find`` is asked in the background (uv queries every candidate; a pyenv shim
    costs a shell) and the path is uv's last answer, to go on with while uv answers (the caller checks it before the
    env is used), or, the first time, uv's answer itself."""
    if not is_uv_env(tox_env):
        found = tox_env.base_python.extra.get("executable")
        return (str(found) if found else None), None
    answer = UvFind.start(tox_env, cache_path)
    if answer.answered or answer.last is None:
        return answer.result(), None
    return answer.last, answer


def fresh_prompt(tox_env: Any) -> str | None:
    """The prompt tox's creator gives the env (tox-uv: ``--prompt=<root folder>[<env>]``; virtualenv: none, its
    default follows the env folder's name, which a restore keeps)."""
    if not is_uv_env(tox_env):
        return None
    return f"{tox_env.core._root.name}[{tox_env.name}]"


def has_package_step(tox_env: Any) -> bool:
    """Whether the run env's setup goes on to install a package (``RunToxEnv._setup_pkg``'s ``package`` step)."""
    kind = str(tox_env.conf["package"] or "skip")
    return kind in PACKAGE_TYPES_WITH_DEPS_STEP or kind in {"uv", "uv-editable"}


def build_requires(tox_env: Any) -> Any:
    """What a packaging env's first step installs (``PythonPackageToxEnv.requires()``: ``[build-system] requires``)."""
    return tox_env.requires()


def tool_files(tox_env: Any) -> list[str]:
    """The top-level names tox put into the env dir before the venv is created (see :data:`PACKAGING_LOCK_FILE`)."""
    env_dir = Path(tox_env.env_dir)
    names = {INFO_FILE, PACKAGING_LOCK_FILE}
    for name in ("env_log_dir", "env_tmp_dir"):
        folder = Path(tox_env.conf[name])
        if folder.parent == env_dir:
            names.add(folder.name)
    return sorted(names)


def predicted_deps(tox_env: Any) -> Any:
    """What the env's deps step will pass to ``tox_on_install`` (``PythonRun._install_deps``: the ``deps``
    ``PythonDeps``; tox-uv's runner with ``uv_resolution`` and dependency groups: deps and groups in one list), known
    before the venv exists; None when the env installs otherwise (``pylock``, ``--skip-env-install``)."""
    if getattr(tox_env.options, "skip_env_install", False) or tox_env.conf["pylock"]:
        return None
    if is_uv_env(tox_env) and tox_env.id() == "uv-venv-runner":
        groups = tox_env.conf["dependency_groups"]
        if tox_env.conf["uv_resolution"] and groups:
            from packaging.requirements import Requirement
            from tox.tox_env.python.dependency_groups import resolve

            try:
                root = tox_env.core["package_root"]
            except KeyError:
                root = tox_env.core["tox_root"]
            return [*(Requirement(line) for line in tox_env.conf["deps"].lines()), *resolve(root, groups)]
    return tox_env.conf["deps"]


def read_section(state: State, name: str) -> dict[str, Any]:
    """The raw keys of the core section ``[name]`` as tox sees them (``state.conf.get_section_config``): tox.ini
    strings after tox's substitutions (``IniLoader``, read as ``str``), TOML values as typed (``Loader.load_raw``)."""
    from tox.config.loader.ini import IniLoader
    from tox.config.loader.section import Section
    from tox.config.sets import ConfigSet

    class RawSection(ConfigSet):
        """A section whose keys are declared on the fly (the caller validates the values)."""

        def register_config(self) -> None:
            """Nothing up front: the keys found in the file are read as they are."""

    conf_set = state.conf.get_section_config(Section(None, name), base=[], of_type=RawSection, for_env=None)
    raw: dict[str, Any] = {}
    for loader in conf_set.loaders:
        for key in sorted(loader.found_keys()):
            if key in raw:
                continue
            if isinstance(loader, IniLoader):
                conf_set.add_config(keys=[key], of_type=str, default="", desc=f"{name} {key}")
                raw[key] = IniText(conf_set[key])
            else:  # TOML: values are typed already
                raw[key] = loader.load_raw(key, state.conf, None)
    return raw


class IniText(str):
    """A value read from tox.ini (a string to convert), as opposed to a TOML string."""

    __slots__ = ()


def is_python_deps(value: object) -> bool:
    """Whether ``tox_on_install``'s ``arguments`` is tox's ``PythonDeps`` (else tox-uv passes a plain list)."""
    from tox.tox_env.python.pip.req_file import PythonDeps

    return isinstance(value, PythonDeps)


def unroll_deps(deps: Any) -> tuple[list[str], list[str]]:
    """(options, requirement lines) of a ``PythonDeps``/``PythonConstraints``, nested ``-r``/``-c`` files expanded
    (``unroll()``; constraint lines come back as ``-c name==1``)."""
    options, requirements = deps.unroll()
    return [str(option) for option in options], [str(line) for line in requirements]


def command_args(command: Any) -> list[str]:
    """The argument list of a tox ``Command`` (``install_command``, ``extra_setup_commands``; ``Command.args``)."""
    args = getattr(command, "args", None) if command is not None else None
    return [str(arg) for arg in args or []]


def recorded_pip_vars(environment: Mapping[str, str]) -> set[str]:
    """The names tox's ``Pip._install_env_vars`` picks out of ``environment`` to record with the deps."""
    from tox.tox_env.python.pip.pip_install import Pip

    probe = Pip.__new__(Pip)
    probe._env = SimpleNamespace(environment_variables=dict(environment))  # type: ignore[assignment]
    return set(Pip._install_env_vars(probe))


def recorded_uv_vars() -> set[str] | None:
    """The UV_* names tox-uv records with the deps (None when tox-uv is not installed)."""
    module_name, attr = UV_RECORDED_VARS
    try:
        module = __import__(module_name, fromlist=[attr])
    except ImportError:
        return None
    return {str(name) for name in getattr(module, attr)}


@lru_cache(maxsize=1)
def problems() -> tuple[str, ...]:
    """What no longer matches the tox / tox-uv internals listed above (empty when all is as expected)."""
    found: list[str] = []
    try:
        from tox.tox_env.api import ToxEnv
        from tox.tox_env.info import Info
        from tox.tox_env.python.api import Python
        from tox.tox_env.python.runner import PythonRun
    except ImportError as exc:  # pragma: no cover - tox itself is broken
        return (f"cannot import tox's env classes: {exc}",)
    for cls, section in ((ToxEnv, SECTION_TOX_ENV), (Python, SECTION_PYTHON), (PythonRun, SECTION_RUN)):
        if cls.__name__ != section:
            found.append(f"tox's .tox-info.json section {section!r} is now named {cls.__name__!r}")
    with tempfile.TemporaryDirectory() as tmp:
        info = Info(Path(tmp))
        with info.compare({"probe": 1}, SECTION_RUN, DEPS_STEP):
            pass
        if read_info(Path(tmp)) != {SECTION_RUN: {DEPS_STEP: {"probe": 1}}}:
            found.append(f"tox.tox_env.info.Info no longer writes {INFO_FILE} as {{section: {{of_type: value}}}}")
    try:
        from tox.tox_env.python.dependency_groups import resolve
    except ImportError:
        found.append("tox.tox_env.python.dependency_groups.resolve is gone")
    else:
        if list(inspect.signature(resolve).parameters)[:2] != ["root", "groups"]:
            found.append("tox.tox_env.python.dependency_groups.resolve(root, groups) changed its signature")
    found.extend(_config_problems())
    found.extend(_install_problems())
    found.extend(_package_problems())
    try:
        from packaging.requirements import Requirement

        if unmet_requires([Requirement("tox>=1"), Requirement("surely-not-installed-venvcache-probe")]) != [
                "surely-not-installed-venvcache-probe"]:
            found.append("tox.provision._get_missing no longer reports missing requirements as before")
    except Exception as exc:  # any failure is what this check reports
        found.append(f"tox.provision._get_missing cannot be called: {exc!r}")
    found.extend(_early_problems())
    runner = lock_runner_class()
    if runner is None:
        try:
            __import__("tox_uv")
        except ImportError:
            pass  # tox-uv not installed: nothing to wrap
        else:
            found.append(f"tox-uv has no {LOCK_RUNNER_MODULE}.{LOCK_RUNNER_CLASS} any more")
    else:
        found.extend(lock_runner_problems(runner))
    return tuple(found)


def lock_runner_problems(runner: type[Any]) -> list[str]:
    """What no longer matches in tox-uv's lock runner (cheap: checked at every run before wrapping it)."""
    found: list[str] = []
    if runner.id() != LOCK_RUNNER_ID:
        found.append(f"tox-uv's lock runner id is now {runner.id()!r}, not {LOCK_RUNNER_ID!r}")
    for method, params in LOCK_RUNNER_METHODS.items():
        func = getattr(runner, method, None)
        if func is None:
            found.append(f"tox-uv's {LOCK_RUNNER_CLASS}.{method} is gone")
        elif list(inspect.signature(func).parameters) != params:
            found.append(f"tox-uv's {LOCK_RUNNER_CLASS}.{method} now takes "
                         f"{list(inspect.signature(func).parameters)}, expected {params}")
    return found


def _params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def _config_problems() -> list[str]:
    """``read_section``'s private parts: ``Config.get_section_config``, ``ConfigSet.loaders``, ``IniLoader``,
    ``Loader.found_keys``/``load_raw``."""
    found: list[str] = []
    try:
        from tox.config.loader.api import Loader
        from tox.config.loader.ini import IniLoader
        from tox.config.loader.section import Section
        from tox.config.main import Config
        from tox.config.sets import ConfigSet
    except ImportError as exc:
        return [f"tox's config classes moved: {exc}"]
    if _params(Config.get_section_config)[:5] != ["self", "section", "base", "of_type", "for_env"]:
        found.append("tox.config.main.Config.get_section_config(section, base, of_type, for_env) changed")
    if not issubclass(IniLoader, Loader):
        found.append("tox.config.loader.ini.IniLoader is no longer a Loader")
    for name, params in (("found_keys", ["self"]), ("load_raw", ["self", "key", "conf", "env_name"])):
        if not callable(getattr(Loader, name, None)) or _params(getattr(Loader, name)) != params:
            found.append(f"tox.config.loader.api.Loader.{name}({', '.join(params[1:])}) changed")

    class Probe(ConfigSet):
        def register_config(self) -> None:
            """No keys."""

    try:
        loaders: Any = Probe(None, Section(None, "probe"), None).loaders  # type: ignore[arg-type]
    except Exception as exc:  # any failure is what this check reports
        found.append(f"tox.config.sets.ConfigSet cannot be made as before: {exc!r}")
    else:
        if not isinstance(loaders, list):
            found.append("tox.config.sets.ConfigSet has no 'loaders' list any more")
    return found


def _install_problems() -> list[str]:
    """``PythonDeps.unroll``, ``Command.args`` and ``Pip._install_env_vars``, probed on real objects."""
    found: list[str] = []
    try:
        from tox.config.types import Command
        from tox.tox_env.python.pip.req_file import PythonDeps
    except ImportError as exc:
        return [f"tox's PythonDeps or Command moved: {exc}"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "nested.txt").write_text("b==2\n", encoding="utf-8")
        try:
            unrolled = unroll_deps(PythonDeps("a==1\n-r nested.txt\n", root=Path(tmp)))
        except Exception as exc:  # any failure is what this check reports
            found.append(f"tox's PythonDeps(raw, root).unroll() failed: {exc!r}")
        else:
            if unrolled != ([], ["a==1", "b==2"]):
                found.append(f"tox's PythonDeps.unroll() no longer expands nested files: {unrolled!r}")
    if command_args(Command(["pip", "install", "{opts}"])) != ["pip", "install", "{opts}"]:
        found.append("tox.config.types.Command has no args list any more")
    try:
        recorded = recorded_pip_vars({"PIP_INDEX_URL": "x", "HOME": "/"})
    except Exception as exc:  # any failure is what this check reports
        found.append(f"tox's Pip._install_env_vars cannot be probed: {exc!r}")
    else:
        if recorded != {"PIP_INDEX_URL"}:
            found.append(f"tox's Pip._install_env_vars now records {sorted(recorded)} of PIP_INDEX_URL and HOME")
    try:
        uv_vars = recorded_uv_vars()
    except Exception as exc:  # any failure is what this check reports
        found.append(f"tox-uv's {'.'.join(UV_RECORDED_VARS)} cannot be read: {exc!r}")
    else:
        if uv_vars is not None and not all(name.startswith("UV_") for name in uv_vars):
            found.append(f"tox-uv's {'.'.join(UV_RECORDED_VARS)} is no longer a set of UV_* names")
    return found


def _package_problems() -> list[str]:
    """The package layer's private parts: ``resolve_extras_static``, the installers' ``_apply_force_deps`` /
    ``_sourced_pkg_names`` / ``_install_list_of_deps``, ``Pep517VenvPackager.call_require_hooks``."""
    found: list[str] = []
    try:
        from tox.tox_env.python.extras import resolve_extras_static
        from tox.tox_env.python.package import PythonPackageToxEnv
        from tox.tox_env.python.pip.pip_install import Pip
        from tox.tox_env.python.virtual_env.package.pyproject import Pep517VenvPackager
    except ImportError as exc:
        return [f"tox's package classes moved: {exc}"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pyproject.toml").write_text(
            '[project]\nname = "p"\nversion = "1"\ndependencies = ["a>=1"]\n'
            '[project.optional-dependencies]\nt = ["b==2"]\n', encoding="utf-8")
        try:
            static = sorted(str(req) for req in resolve_extras_static(Path(tmp), {"t"}) or [])
        except Exception as exc:  # any failure is what this check reports
            found.append(f"tox's resolve_extras_static(root, extras) failed: {exc!r}")
        else:
            if static != ["a>=1", "b==2"]:
                found.append(f"tox's resolve_extras_static no longer reads [project] with extras: {static!r}")
    from tox.tox_env.api import ToxEnv
    from tox.tox_env.runner import RunToxEnv

    if not isinstance(getattr(RunToxEnv, "_has_display_suspended", None), property):
        found.append("tox's RunToxEnv._has_display_suspended is no longer a property")
    for cls, method, params in ((Pip, "_apply_force_deps", ["self", "deps"]),
                                (Pip, "_install_list_of_deps", ["self", "arguments", "section", "of_type"]),
                                (ToxEnv, "display_context", ["self", "suspend"])):
        func = getattr(cls, method, None)
        if func is None or _params(func) != params:
            found.append(f"tox's {cls.__name__}.{method}({', '.join(params[1:])}) changed")
    try:
        from tox_uv._installer import UvInstaller
    except ImportError:
        pass
    else:
        if not hasattr(UvInstaller, "_sourced_pkg_names"):
            found.append("tox-uv's UvInstaller._sourced_pkg_names is gone")
        if _params(UvInstaller._install_list_of_deps) != ["self", "arguments", "section", "of_type"]:
            found.append("tox-uv's UvInstaller._install_list_of_deps(arguments, section, of_type) changed")
    if PythonPackageToxEnv.__name__ != SECTION_PACKAGE_ENV:
        found.append(f"tox's packaging env section is now named {PythonPackageToxEnv.__name__!r}")
    if "call_require_hooks" not in Pep517VenvPackager.__init__.__code__.co_names:
        found.append("tox's Pep517VenvPackager has no call_require_hooks any more")
    return found


def _early_problems() -> list[str]:
    """Restoring in place of creating: ``Python.ensure_python_env`` creates through ``create_python_env`` after
    comparing ``python_cache()``; the runners' creators take no arguments; tox-uv builds its ``uv venv`` request and
    prompt as :func:`base_interpreter` and :func:`fresh_prompt` read them, and combines deps with groups under
    ``uv_resolution`` as :func:`predicted_deps` does; a packaging env's first step installs ``requires()``."""
    found: list[str] = []
    from tox.tox_env.python.api import Python
    from tox.tox_env.python.package import PythonPackageToxEnv
    from tox.tox_env.python.runner import PythonRun
    from tox.tox_env.python.virtual_env.api import VirtualEnv

    names = Python.ensure_python_env.__code__.co_names
    if not {"python_cache", "compare", "create_python_env"} <= set(names):
        found.append("tox's Python.ensure_python_env no longer creates the venv through create_python_env after "
                     "comparing python_cache()")
    for cls in (VirtualEnv, _uv_venv_class()):
        if cls is not None:
            for method in ("create_python_env", "python_cache", "ensure_python_env"):
                if _params(getattr(cls, method)) != ["self"]:
                    found.append(f"{cls.__name__}.{method} no longer takes only self")
    if "_install_deps" not in PythonRun._setup_env.__code__.co_names or \
            "deps" not in PythonRun._install_deps.__code__.co_consts:
        found.append("tox's PythonRun no longer installs the deps config as its deps step")
    if {"requires", "_install"} - set(PythonPackageToxEnv._setup_env.__code__.co_names):
        found.append("tox's packaging env no longer installs requires() as its first step")
    uv_venv = _uv_venv_class()
    if uv_venv is not None:
        from tox_uv._run import UvVenvRunner

        create = uv_venv.create_python_env.__code__
        if not {"env_version_spec", "uv", "_root"} <= set(create.co_names) or \
                "uv_python_preference" not in create.co_consts:
            found.append("tox-uv's UvVenv.create_python_env no longer runs uv venv with env_version_spec(), "
                         "uv_python_preference and a prompt named after the tox root")
        if not {"uv_resolution", "dependency_groups", "deps"} <= set(UvVenvRunner._install_deps.__code__.co_consts):
            found.append("tox-uv's UvVenvRunner._install_deps no longer combines deps and groups under uv_resolution")
    return found
