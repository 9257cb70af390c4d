"""The key of a tox env: everything that decides what its deps install puts into it, read from tox itself.

Two envs (or two checkouts, or two machines) share an entry exactly when these agree: the interpreter (identity of
the env's own ``bin/python``), the deps as tox unrolls them (nested ``-r``/``-c`` files expanded, so their content
counts), constraints, extras, dependency groups, pip_pre, the install command, the ``PIP_*``/``UV_*`` variables that
change resolution, the runner, tox's own ``Python`` record (creator and its version), tox/tox-uv/virtualenv/uv
versions, the user's salt and ``key_files``. Paths under the project root or the env dir are written relative, so
another checkout computes the same key; the core relocates the env on restore.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement

from venvcache_core import Config, Key, build_key, file_digest, hash_files, interpreter_identity, tool_versions

from . import _tox_internals as internals

if TYPE_CHECKING:
    from tox.tox_env.api import ToxEnv

KEY_TOOL = "tox"
TOOLS = ("tox", "tox-uv", "virtualenv", "uv")
# flags that change what is printed, never what is installed
_QUIET_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "-qq", "--quiet"})
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/@\s]+@")


@dataclass
class KeyResult:
    """A key, and what the plugin should warn about: requirements a cache freezes at today's versions."""

    key: Key
    unpinned: list[str] = field(default_factory=list)


def _redact(value: str) -> str:
    """Drop ``user:password@`` from URLs: the key document is stored in the entry and printed with ``-v``."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", value)


def _relative(value: Any, prefixes: Sequence[tuple[str, str]]) -> Any:
    """Replace absolute project/env paths by placeholders in every string of a JSON-like value."""
    if isinstance(value, str):
        for prefix, name in prefixes:
            value = re.sub(re.escape(prefix) + r"(?![\w.-])", name, value)
        return _redact(value)
    if isinstance(value, list):
        return [_relative(item, prefixes) for item in value]
    if isinstance(value, dict):
        return {key: _relative(item, prefixes) for key, item in value.items()}
    return value


def _prefixes(tox_env: ToxEnv) -> list[tuple[str, str]]:
    """Spellings of the env dir and project root, longest first (the env dir usually lives inside the project)."""
    pairs: dict[str, str] = {}
    for path, name in ((tox_env.env_dir, "{env_dir}"), (tox_env.core["tox_root"], "{tox_root}")):
        for form in (os.path.abspath(path), os.path.realpath(path)):
            pairs.setdefault(form, name)
    return sorted(pairs.items(), key=lambda item: len(item[0]), reverse=True)


def _conf(tox_env: ToxEnv, name: str, default: Any = None) -> Any:
    """A config value the env type may not have (``uv_resolution`` exists only with tox-uv, and so on)."""
    try:
        return tox_env.conf[name]
    except KeyError:
        return default


def _env_vars(tox_env: ToxEnv) -> dict[str, str]:
    """The resolution-changing variables the installer will see (pass_env and set_env applied)."""
    wanted = internals.PIP_RESOLUTION_VARS | internals.UV_RESOLUTION_VARS
    return {name: value for name, value in sorted(tox_env.environment_variables.items()) if name in wanted}


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


def _pins(requirements: Iterable[str]) -> set[str]:
    """Names pinned exactly (``==1.2`` / ``===1.2``) by constraint lines."""
    pinned = set()
    for line in requirements:
        req = _parse(line.removeprefix("-c ").strip())
        if req is not None and _is_pin(req):
            pinned.add(_canonical(req.name))
    return pinned


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(line: str) -> Requirement | None:
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def _is_pin(req: Requirement) -> bool:
    return bool(req.url) or any(spec.operator == "===" or (spec.operator == "==" and "*" not in spec.version)
                                for spec in req.specifier)


def _requirements(arguments: Any) -> tuple[list[str], list[str]]:
    """(options, requirement lines) of what tox passes to the deps install: a ``PythonDeps`` (unrolled: nested
    ``-r`` and ``-c`` files are expanded into their lines) or, for tox-uv's combined resolution, a plain list."""
    if hasattr(arguments, "unroll"):
        options, requirements = arguments.unroll()
        return list(options), list(requirements)
    return [], sorted(str(item) for item in arguments or [])


def _package_root(tox_env: ToxEnv) -> Path:
    """Where pyproject.toml lives (``package_root``, else the tox root)."""
    try:
        return Path(tox_env.core["package_root"])
    except KeyError:
        return Path(tox_env.core["tox_root"])


def deps_key(tox_env: ToxEnv, arguments: Any, config: Config) -> KeyResult:
    """The key of a ``PythonRun`` env (virtualenv or tox-uv ``uv-venv-runner``), just before its deps install."""
    root = Path(tox_env.core["tox_root"])
    options, requirements = _requirements(arguments)
    constraints_conf = _conf(tox_env, "constraints")
    constraints = list(constraints_conf.unroll()[1]) if constraints_conf is not None else []
    pinned = _pins([line for line in requirements if line.startswith("-c ")] + constraints)
    unpinned: list[str] = []
    files: dict[str, str] = {}
    for line in requirements:
        if line.startswith("-c "):
            continue
        target = line.removeprefix("-e ").strip()
        req = _parse(target)
        if req is not None and not os.path.exists(root / target):
            if not _is_pin(req) and _canonical(req.name) not in pinned:
                unpinned.append(req.name)
            continue
        path = Path(target) if os.path.isabs(target) else root / target
        if path.is_file():  # a local wheel or sdist: its content is what gets installed
            files[line] = file_digest(path)
        else:  # a local directory (or something pip resolves itself): its content is not in the key
            unpinned.append(target)
    groups = sorted(_conf(tox_env, "dependency_groups", set()) or ())
    inputs: dict[str, Any] = {
        **_common(tox_env, config),
        "deps": {"options": options, "requirements": requirements, "files": files},
        "constraints": constraints,
        "constraint_options": {name: bool(_conf(tox_env, name, False))
                               for name in ("constrain_package_deps", "use_frozen_constraints")},
        "extras": sorted(_conf(tox_env, "extras", set()) or ()),
        "dependency_groups": {
            "names": groups,
            "requirements": internals.resolve_dependency_groups(_package_root(tox_env), set(groups))
            if groups else [],
        },
        "pip_pre": bool(_conf(tox_env, "pip_pre", False)),
        "install_command": _command(getattr(_conf(tox_env, "install_command"), "args", None) or []),
        "uv_resolution": _conf(tox_env, "uv_resolution", "") or "",
        # without a package step the entry is stored after these ran, so what they install is in it
        "extra_setup_commands": [_command(cmd.args) for cmd in _conf(tox_env, "extra_setup_commands", []) or []],
    }
    return KeyResult(_build(tox_env, inputs, config), sorted(set(unpinned)))


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
    interpreter = interpreter_identity(tox_env.env_python())
    return build_key(interpreter=interpreter, inputs=_relative(inputs, _prefixes(tox_env)), salt=config.salt,
                     tool=KEY_TOOL)
