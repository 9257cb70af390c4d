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

import os
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
    file_digest,
    hash_files,
    installer_env,
    interpreter_identity,
    tool_versions,
    unpinned,
)

from . import _tox_internals as internals

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
    info = internals.read_info(tox_env.env_dir)
    inputs: dict[str, Any] = {
        "runner": tox_env.id(),
        "runner_class": type(tox_env).__name__,
        "tox_python": info.get(internals.SECTION_PYTHON),
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


def deps_key(tox_env: ToxEnv, arguments: Any, config: Config) -> KeyResult:
    """The key of a ``PythonRun`` env (virtualenv or tox-uv ``uv-venv-runner``), just before its deps install."""
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
    inputs: dict[str, Any] = {
        **_common(tox_env, config),
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
    frozen = unpinned([*wanted, *group_requirements], constraints=pins) + local
    environ: Mapping[str, str] = tox_env.environment_variables
    originals = [*environ.values(), *options, *requirements, *constraints, *group_requirements]
    return KeyResult(_build(tox_env, inputs, config), sorted(set(frozen), key=str.lower), originals)


def lock_key(tox_env: ToxEnv, sync_cmd: Sequence[str], config: Config) -> KeyResult:
    """The key of a tox-uv ``uv-venv-lock-runner`` env: ``uv.lock``'s content and the ``uv sync`` flags."""
    root = Path(tox_env.core["tox_root"])
    package_root = Path(_conf(tox_env, "package_root", root))
    package_root = package_root if package_root.is_absolute() else root / package_root
    inputs: dict[str, Any] = {
        **_common(tox_env, config),
        "uv_lock": hash_files([str(package_root / "uv.lock")], root),
        "sync": [arg for arg in _command(sync_cmd) if arg != "--reinstall"],
    }
    return KeyResult(_build(tox_env, inputs, config))


def _build(tox_env: ToxEnv, inputs: dict[str, Any], config: Config) -> Key:
    python_env = cast("Python", tox_env)  # every env the plugin keys is a tox Python env
    interpreter = interpreter_identity(python_env.env_python())
    return build_key(interpreter=interpreter, inputs=placeholders(tox_env).apply(inputs), salt=config.salt,
                     tool=KEY_TOOL)
