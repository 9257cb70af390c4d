"""The key of a tox env: everything that decides what its deps install puts into it, read from tox itself.

Two envs (or two checkouts, or two machines) share an entry exactly when these agree: the interpreter (identity of
the env's own ``bin/python``), the deps as tox unrolls them (nested ``-r``/``-c`` files expanded, so their content
counts), constraints, extras, dependency groups, pip_pre, the install command, the ``PIP_*``/``UV_*`` variables that
change resolution, the runner, tox's own ``Python`` record (creator and its version), tox/tox-uv/virtualenv/uv
versions, the user's salt and ``key_files``. The core's shared inputs decide how: installer variables
(``installer_env``), pins (``unpinned``: deps and dependency groups), and paths under the env dir or the project root
written as ``{env}``/``{project}`` with credentials redacted (``Placeholders``), so another checkout computes the same
key and no secret reaches meta.json; the core relocates the env on restore.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from packaging.requirements import InvalidRequirement, Requirement

from venvcache_core import (
    Config,
    Key,
    Placeholders,
    build_key,
    canonical_json,
    file_digest,
    hash_files,
    installer_env,
    interpreter_identity,
    tool_versions,
    unpinned,
)

from . import _tox_internals as internals

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from tox.tox_env.api import ToxEnv
    from tox.tox_env.python.api import Python

KEY_TOOL = "tox"
TOOLS = ("tox", "tox-uv", "virtualenv", "uv")
# flags that change what is printed, never what is installed
_QUIET_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "-qq", "--quiet"})


@dataclass
class KeyResult:
    """A key, and what the plugin should warn about: requirements a cache freezes at today's versions."""

    key: Key
    unpinned: list[str] = field(default_factory=list)
    #: this run's strings in clear that the key (and the entry's ``.tox-info.json``) holds redacted
    originals: list[str] = field(default_factory=list)
    #: the entry holds the package's own dependencies (``RunToxEnv``/``package_deps``): store after that step
    package_layer: bool = False
    #: every layer the entry records follows from the key alone (no dynamic package metadata): restoring it can never
    #: make tox recreate the env, so it is safe even in the setup tox repeats after its own recreate
    exact: bool = True


def placeholders(tox_env: ToxEnv) -> Placeholders:
    """The core's path placeholders for this env: ``{env}`` (the env dir) and ``{project}`` (the tox root)."""
    return Placeholders({"{env}": tox_env.env_dir, "{project}": tox_env.core["tox_root"]})


def _conf(tox_env: ToxEnv, name: str, default: Any = None) -> Any:
    """A config value the env type may not have (``uv_resolution`` exists only with tox-uv, and so on)."""
    try:
        return tox_env.conf[name]
    except KeyError:
        return default


def _env_vars(tox_env: ToxEnv) -> dict[str, str]:
    """The core's installer variables as the installer will see them (pass_env and set_env applied), redacted."""
    environ: Mapping[str, str] = tox_env.environment_variables
    return installer_env(environ)


def _command(args: Iterable[str]) -> list[str]:
    """An install/sync command as it matters for the key: the program by name, without verbosity flags."""
    cmd = [str(arg) for arg in args]
    if cmd and os.path.isabs(cmd[0]):
        cmd[0] = os.path.basename(cmd[0])
    return [arg for arg in cmd if arg not in _QUIET_FLAGS]


def _common(tox_env: ToxEnv, config: Config) -> dict[str, Any]:
    """Inputs every env type has: the runner, tox's record of its interpreter and creator, tool versions."""
    inputs: dict[str, Any] = {
        "runner": tox_env.id(),
        "runner_class": type(tox_env).__name__,
        "tox_python": internals.python_record(tox_env),  # what tox records (or has recorded) for the venv
        "tools": tool_versions(*TOOLS),
        "env": _env_vars(tox_env),
        "system_site_packages": bool(_conf(tox_env, "system_site_packages", False)),
    }
    if config.key_files:
        inputs["key_files"] = hash_files(config.key_files, Path(tox_env.core["tox_root"]), source=config.source)
    return inputs


def _requirements(arguments: Any) -> tuple[list[str], list[str]]:
    """(options, requirement lines) of what tox passes to the deps install: a ``PythonDeps`` (unrolled: nested
    ``-r`` and ``-c`` files are expanded into their lines) or, for tox-uv's combined resolution, a plain list."""
    if internals.is_python_deps(arguments):
        options, requirements = internals.unroll_deps(arguments)
        return list(options), list(requirements)
    return [], sorted(str(item) for item in arguments or [])


def _package_root(tox_env: ToxEnv) -> Path:
    """Where pyproject.toml lives (``package_root``, else the tox root)."""
    try:
        return Path(tox_env.core["package_root"])
    except KeyError:
        return Path(tox_env.core["tox_root"])


def _local_requirement(line: str, root: Path) -> Path | None:
    """The local file or folder a deps line names (``./dist/x.whl``, ``-e ./lib``), or None for a requirement."""
    target = line.removeprefix("-e ").strip()
    path = Path(target) if os.path.isabs(target) else root / target
    try:
        Requirement(target)
    except InvalidRequirement:
        return path
    return path if os.path.exists(path) else None


def deps_key(tox_env: ToxEnv, arguments: Any, config: Config, *,
             interpreter: Mapping[str, Any] | None = None) -> KeyResult:
    """The key of a ``PythonRun`` env (virtualenv or tox-uv ``uv-venv-runner``) for the deps ``arguments`` of its
    deps step; ``interpreter``: the identity of the base interpreter when the venv does not exist yet."""
    root = Path(tox_env.core["tox_root"])
    options, requirements = _requirements(arguments)
    constraints_conf = _conf(tox_env, "constraints")
    constraints = list(internals.unroll_deps(constraints_conf)[1]) if constraints_conf is not None else []
    pins = [line.removeprefix("-c ").strip() for line in requirements if line.startswith("-c ")] + constraints
    wanted: list[str] = []
    local: list[str] = []
    files: dict[str, str] = {}
    for line in requirements:
        if line.startswith("-c "):
            continue
        path = _local_requirement(line, root)
        if path is None:
            wanted.append(line.removeprefix("-e ").strip())
        elif path.is_file():  # a local wheel or sdist: its content is what gets installed
            files[line] = file_digest(path)
        else:  # a local directory (or something pip resolves itself): its content is not in the key
            local.append(line.removeprefix("-e ").strip())
    groups = sorted(_conf(tox_env, "dependency_groups", set()) or ())
    group_requirements = internals.resolve_dependency_groups(_package_root(tox_env), set(groups)) if groups else []
    package, exact = package_inputs(tox_env)
    inputs: dict[str, Any] = {
        **_common(tox_env, config),
        "package": package,
        "deps": {"options": options, "requirements": requirements, "files": files},
        "constraints": constraints,
        "constraint_options": {name: bool(_conf(tox_env, name, False))
                               for name in ("constrain_package_deps", "use_frozen_constraints")},
        "extras": sorted(_conf(tox_env, "extras", set()) or ()),
        "dependency_groups": {"names": groups, "requirements": group_requirements},
        "pip_pre": bool(_conf(tox_env, "pip_pre", False)),
        "install_command": _command(internals.command_args(_conf(tox_env, "install_command"))),
        "uv_resolution": _conf(tox_env, "uv_resolution", "") or "",
        # without a package step the entry is stored after these ran, so what they install is in it
        "extra_setup_commands": [_command(internals.command_args(cmd))
                                 for cmd in _conf(tox_env, "extra_setup_commands", []) or []],
    }
    package_requirements = list(package.get("requirements", [])) if package else []
    frozen = unpinned([*wanted, *group_requirements, *package_requirements], constraints=pins) + local
    environ: Mapping[str, str] = tox_env.environment_variables
    originals = [*environ.values(), *options, *requirements, *constraints, *group_requirements]
    return KeyResult(_build(tox_env, inputs, config, interpreter), sorted(set(frozen), key=str.lower), originals,
                     package_layer=package is not None and package["type"] != internals.DEPS_ONLY, exact=exact)


def _pyproject(root: Path) -> dict[str, Any]:
    """pyproject.toml of the package ({} when missing or unreadable: tox then reports it itself)."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return {}


def _metadata_files(root: Path, pyproject: Mapping[str, Any]) -> dict[str, str]:
    """Content digests of the files that define dynamic package metadata: pyproject.toml, setup.py, setup.cfg and
    the requirement files named by ``[tool.setuptools.dynamic]`` or hatch's ``requirements_txt`` hook."""
    names = ["pyproject.toml", "setup.py", "setup.cfg"]
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    dynamic = tool.get("setuptools", {}).get("dynamic", {}) if isinstance(tool.get("setuptools"), dict) else {}
    for field_name in ("dependencies", "optional-dependencies"):
        value = dynamic.get(field_name) if isinstance(dynamic, dict) else None
        for spec in ([value] if field_name == "dependencies" else list((value or {}).values())):
            if isinstance(spec, dict):
                files = spec.get("file", [])
                names.extend([files] if isinstance(files, str) else [str(name) for name in files])
    hook = tool.get("hatch", {}).get("metadata", {}).get("hooks", {}).get("requirements_txt", {}) \
        if isinstance(tool.get("hatch"), dict) else {}
    if isinstance(hook, dict):
        names.extend(str(name) for name in hook.get("files", []) or [])
        for files in (hook.get("optional-dependencies") or {}).values():
            names.extend(str(name) for name in files)
    return {name: file_digest(root / name) for name in sorted(set(names)) if (root / name).is_file()}


def package_inputs(tox_env: ToxEnv) -> tuple[dict[str, Any] | None, bool]:
    """The package layer: what decides the package's own dependencies (with its extras) that tox installs before the
    package. Static ``[project]`` metadata gives the requirements themselves, read without a build (as tox reads
    them); dynamic metadata is keyed by the content of the files that define it. Returns (inputs or None when the env
    installs no package deps of its own, whether the key predicts them exactly)."""
    kind = str(_conf(tox_env, "package", "skip") or "skip")
    if kind not in internals.PACKAGE_TYPES_WITH_DEPS_STEP and kind != internals.DEPS_ONLY:
        return None, True
    root = _package_root(tox_env)
    extras = sorted(_conf(tox_env, "extras", set()) or ())
    inputs: dict[str, Any] = {
        "type": kind,
        "extras": extras,
        "force_dep": sorted(str(req) for req in getattr(tox_env.options, "force_dep", None) or []),
    }
    static = internals.static_package_deps(root, set(extras))
    if static is not None:
        inputs["requirements"] = static
        return inputs, True
    inputs["metadata_files"] = _metadata_files(root, _pyproject(root))
    return inputs, False


def _build_config(root: Path) -> str:
    """One digest of what a build backend reads to answer ``get_requires_for_build_*``: pyproject.toml's
    ``[build-system]`` and ``[tool]`` tables (not ``[project]``: a dependency bump keeps the packaging env), setup.py
    and setup.cfg."""
    pyproject = _pyproject(root)
    parts: dict[str, Any] = {name: pyproject.get(name) for name in ("build-system", "tool")}
    for name in ("setup.py", "setup.cfg"):
        if (root / name).is_file():
            parts[name] = file_digest(root / name)
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def package_env_key(tox_env: ToxEnv, requires: Any, config: Config, *,
                    interpreter: Mapping[str, Any] | None = None) -> KeyResult:
    """The key of a packaging env (``.pkg``), at its first install step: the build backend's requirements, the
    build types it prepares for, the build configuration and the interpreter; the build itself runs every time."""
    options, requirements = _requirements(requires)
    deps_options, deps = _requirements(_conf(tox_env, "deps"))
    inputs: dict[str, Any] = {
        **_common(tox_env, config),
        "requires": {"options": options, "requirements": sorted(requirements)},
        "deps": {"options": deps_options, "requirements": deps},
        "build_hooks": internals.build_hooks(tox_env),
        "build_config": _build_config(_package_root(tox_env)),
    }
    environ: Mapping[str, str] = tox_env.environment_variables
    return KeyResult(_build(tox_env, inputs, config, interpreter), [], [*environ.values(), *options, *requirements])


def lock_key(tox_env: ToxEnv, sync_cmd: Sequence[str], config: Config,
             interpreter: Mapping[str, Any] | None = None) -> KeyResult:
    """The key of a tox-uv ``uv-venv-lock-runner`` env: ``uv.lock``'s content and the ``uv sync`` flags (for the
    env's ``bin/python``, or for the base ``interpreter`` given before the venv exists)."""
    root = Path(tox_env.core["tox_root"])
    package_root = Path(_conf(tox_env, "package_root", root))
    package_root = package_root if package_root.is_absolute() else root / package_root
    inputs: dict[str, Any] = {
        **_common(tox_env, config),
        "uv_lock": hash_files([str(package_root / "uv.lock")], root),
        "sync": [arg for arg in _command(sync_cmd) if arg != "--reinstall"],
    }
    return KeyResult(_build(tox_env, inputs, config, interpreter))


def _build(tox_env: ToxEnv, inputs: dict[str, Any], config: Config,
           interpreter: Mapping[str, Any] | None = None) -> Key:
    """The key; the interpreter is the env's own ``bin/python`` unless its base interpreter's identity is given (the
    same document: the identity names the base executable either way)."""
    if interpreter is None:
        python_env = cast("Python", tox_env)  # every env the plugin keys is a tox Python env
        interpreter = interpreter_identity(python_env.env_python())
    return build_key(interpreter=dict(interpreter), inputs=placeholders(tox_env).apply(inputs), salt=config.salt,
                     tool=KEY_TOOL)
