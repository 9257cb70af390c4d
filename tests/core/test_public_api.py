"""The front ends (tox and nox adapters, pytest plugin, CLI) use only ``venvcache_core``'s ``__all__``.

Imports are read with :mod:`ast`. The CLI lives inside the core package, so for ``venvcache_core/cli.py`` (and
its ``__main__`` shim, which may import the CLI itself) ``from . import X`` counts as importing the package and
any ``from .submodule import ...`` is a violation, as ``from venvcache_core.submodule import ...`` is for the
adapters. ``from venvcache_core import X`` must name something in ``__all__`` (not a submodule by name).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import venvcache_core

SRC = Path(__file__).resolve().parents[2] / "src"
FRONT_END_PACKAGES = ("tox_venvcache", "nox_venvcache", "pytest_venvcache")
IN_PACKAGE_FRONT_ENDS = {"cli.py": set(), "__main__.py": {"cli"}}  # file -> submodules it may import


def violations(source: str, *, in_package: bool = False, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Imports in ``source`` that reach past ``venvcache_core``'s public names (``line: what``)."""
    public = set(venvcache_core.__all__)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("venvcache_core.")]
        elif isinstance(node, ast.ImportFrom):
            if in_package and node.level == 1:
                module = "venvcache_core" + (f".{node.module}" if node.module else "")
            elif node.level == 0 and node.module is not None:
                module = node.module
            else:
                continue  # an adapter's own relative imports
            if module.startswith("venvcache_core.") and module.removeprefix("venvcache_core.") not in allowed:
                found.append(f"{node.lineno}: from {module} import ...")
            elif module == "venvcache_core":
                found += [f"{node.lineno}: from venvcache_core import {a.name} (not in __all__)"
                          for a in node.names if a.name not in public]
    return found


def front_end_files() -> list[tuple[Path, bool, frozenset[str]]]:
    files = [(path, False, frozenset[str]()) for package in FRONT_END_PACKAGES if (SRC / package).is_dir()
             for path in sorted((SRC / package).rglob("*.py"))]
    files += [(SRC / "venvcache_core" / name, True, frozenset(allowed)) for name, allowed in
              IN_PACKAGE_FRONT_ENDS.items()]
    return files


@pytest.mark.parametrize(("path", "in_package", "allowed"), front_end_files(),
                         ids=[str(p.relative_to(SRC)) for p, _, _ in front_end_files()])
def test_front_ends_import_only_the_public_api(path: Path, in_package: bool, allowed: frozenset[str]) -> None:
    assert violations(path.read_text(encoding="utf-8"), in_package=in_package, allowed=allowed) == []


def test_the_checker_catches_each_way_around_the_public_api() -> None:
    adapter = ("import venvcache_core.cache\nfrom venvcache_core.cache import Cache\n"
               "from venvcache_core import config\nfrom venvcache_core import Cache, load\nfrom . import key\n")
    assert violations(adapter) == ["1: import venvcache_core.cache", "2: from venvcache_core.cache import ...",
                                   "3: from venvcache_core import config (not in __all__)"]
    cli = "from . import Cache, config\nfrom .cache import MARKER\nfrom .cli import main\n"
    assert violations(cli, in_package=True) == ["1: from venvcache_core import config (not in __all__)",
                                                "2: from venvcache_core.cache import ...",
                                                "3: from venvcache_core.cli import ..."]
    assert violations(cli, in_package=True, allowed=frozenset({"cli"})) == [
        "1: from venvcache_core import config (not in __all__)", "2: from venvcache_core.cache import ..."]


def test_every_public_name_exists_and_says_what_it_is() -> None:
    assert sorted(venvcache_core.__all__) == sorted(set(venvcache_core.__all__))
    for name in venvcache_core.__all__:
        value = getattr(venvcache_core, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            doc = inspect.getdoc(value) or ""
            assert doc.strip() and value.__module__.startswith("venvcache_core."), name
            if inspect.isfunction(value):  # classes are checked by mypy --strict (.ci/run)
                signature = inspect.signature(value)
                assert signature.return_annotation is not inspect.Signature.empty, f"{name} has no return type"
                assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()), name


def test_miss_reasons_and_link_modes_are_typed_values() -> None:
    from typing import get_args

    assert [reason.value for reason in venvcache_core.MissReason] == ["no entry", "expired", "quarantined",
                                                                       "partial"]
    assert str(venvcache_core.MissReason.EXPIRED) == "expired"
    assert venvcache_core.LINK_MODES == get_args(venvcache_core.LinkMode) == ("auto", "copy", "hardlink", "reflink")
