"""Test-project templates, one home for the tests and the benchmarks (which import it by putting ``tests/`` on
``sys.path``, like ``wheels.py``): a project's ``pyproject.toml`` by build backend, the editable hatch-vcs tox
project of the real-shape tests, and the git repo a dynamic version is read from.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

#: build backend -> (``[build-system]`` requires, build-backend, the tables its dynamic version needs or None)
BACKENDS: dict[str, tuple[list[str], str, str | None]] = {
    "setuptools": (["setuptools"], "setuptools.build_meta", None),
    "setuptools-scm": (["setuptools>=64", "setuptools-scm>=8"], "setuptools.build_meta", "[tool.setuptools_scm]\n"),
    "hatchling": (["hatchling"], "hatchling.build", None),
    "hatch-vcs": (["hatchling", "hatch-vcs"], "hatchling.build", '[tool.hatch.version]\nsource = "vcs"\n'),
}


def _toml_list(items: Sequence[str]) -> str:
    return json.dumps(list(items))  # a JSON list of strings is a TOML array


def pyproject(name: str, *, backend: str | None = "setuptools", version: str = "0.1",
              dependencies: Sequence[str] | None = None, extras: Mapping[str, Sequence[str]] | None = None,
              groups: Mapping[str, Sequence[str]] | None = None, packages: Sequence[str] | None = None,
              cache: str | os.PathLike[str] | None = None, tail: str = "") -> str:
    """A ``pyproject.toml``: ``backend`` one of :data:`BACKENDS` (the vcs ones make the version dynamic) or None (no
    ``[build-system]``); ``packages`` for ``[tool.setuptools]``; ``cache`` for ``[tool.virtualenv-cache]``; ``tail``:
    more TOML at the end (``[tool.tox]``, ``[tool.uv]`` ...)."""
    parts = []
    dynamic = None
    if backend is not None:
        requires, build_backend, dynamic = BACKENDS[backend]
        parts.append(f'[build-system]\nrequires = {_toml_list(requires)}\nbuild-backend = "{build_backend}"\n')
    project = f'[project]\nname = "{name}"\n'
    project += 'dynamic = ["version"]\n' if dynamic else f'version = "{version}"\n'
    project += 'requires-python = ">=3.10"\n'
    if dependencies is not None:
        project += f"dependencies = {_toml_list(dependencies)}\n"
    parts.append(project)
    for title, table in (("project.optional-dependencies", extras), ("dependency-groups", groups)):
        if table:
            parts.append(f"[{title}]\n" + "".join(f"{k} = {_toml_list(v)}\n" for k, v in table.items()))
    if packages is not None:
        parts.append(f"[tool.setuptools]\npackages = {_toml_list(packages)}\n")
    if dynamic:
        parts.append(dynamic)
    if cache is not None:
        parts.append(f'[tool.virtualenv-cache]\ncache_path = "{Path(cache).as_posix()}"\n')
    if tail:
        parts.append(tail.strip("\n") + "\n")
    return "\n".join(parts)


#: the tox.ini of an editable project with an extra (the hatch-vcs shape): ``{runner}``, ``{commands}`` (one line,
#: or lines indented under ``commands =``) and ``{cache}`` are left for the caller
EDITABLE_TOX_INI = """
[tox]
env_list = py312

[testenv]
runner = {runner}
package = editable
extras = test
pass_env = PYENV_VERSION
commands = {commands}

[pkgenv]
pass_env = PYENV_VERSION

[virtualenv-cache]
cache_path = {cache}
"""


def hatch_vcs_pyproject(name: str, dependency: str, test_extra: str) -> str:
    """The real-shape project: hatchling + hatch-vcs (a version from the git tag), one dependency, a ``test``
    extra; with :data:`EDITABLE_TOX_INI` and :func:`git_init`."""
    return pyproject(name, backend="hatch-vcs", dependencies=[dependency], extras={"test": [test_extra]})


def git_init(root: Path, tag: str = "v1.2", env: Mapping[str, str] | None = None) -> None:
    """Make ``root`` a git repo with one tagged commit (setuptools-scm / hatch-vcs read the version from it)."""
    env = {**(env if env is not None else os.environ), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": os.devnull}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"], ["git", "tag", tag]):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
