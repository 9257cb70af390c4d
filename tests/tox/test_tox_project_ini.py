"""The project's own tox.ini: its deps are the ``test`` extra (listed again so that the cache holds them)."""

from __future__ import annotations

import configparser
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_tox_ini_deps_are_the_test_extra() -> None:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini", encoding="utf-8")
    deps = [line.strip() for line in ini["testenv"]["deps"].splitlines() if line.strip()]
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert sorted(deps) == sorted(extra["test"]), "tox.ini [testenv] deps must list exactly the `test` extra"
    assert ini.has_section("virtualenv-cache")
    assert set(ini["tox"]["env_list"].replace(" ", "").split(",")) == {"py310", "py311", "py312", "py313"}
