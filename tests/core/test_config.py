"""Config sources, defaults, validation and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvcache_core import VenvCacheError, load
from venvcache_core.config import default_cache_root, parse_age, parse_size


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert cfg.source is None and cfg.cache_size == 20 and cfg.link_mode == "auto"
    assert cfg.virtualenv_path == tmp_path.resolve() / ".venv"
    assert cfg.cache_path == default_cache_root() / tmp_path.name.lower()


def test_first_found_wins(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[virtualenv-cache]\ncache_size = 3\n")
    assert load(tmp_path).cache_size == 3
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "Demo_Pkg"\n[tool.virtualenv-cache]\ncache_size = 4\n')
    assert load(tmp_path).cache_size == 4
    assert load(tmp_path).cache_path.name == "demo_pkg"  # per-project sub dir from [project].name
    (tmp_path / ".virtualenv_cache.toml").write_text("[virtualenv-cache]\ncache_size = 5\n")
    assert load(tmp_path).cache_size == 5


def test_pyproject_without_section_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "tox.ini").write_text("[tox]\n[virtualenv-cache]\nrequirements_lock_paths =\n  a.txt\n  b.txt\n")
    cfg = load(tmp_path)
    assert cfg.requirements_lock_paths == ("a.txt", "b.txt")
    assert cfg.source == tmp_path.resolve() / "tox.ini"


def test_explicit_path_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "conf" / "cache.toml"
    other.parent.mkdir()
    other.write_text('[virtualenv-cache]\ncache_path = "store"\nmax_bytes = "5GB"\nmax_age = "14d"\n')
    cfg = load(tmp_path, other)
    assert cfg.cache_path == other.parent / "store"  # relative to the config file
    assert cfg.max_bytes == 5 * 10**9 and cfg.max_age == 14 * 86400
    monkeypatch.setenv("VIRTUALENV_CACHE_CONFIG_PATH", str(other))
    assert load(tmp_path).max_bytes == 5 * 10**9


def test_paths_expand_vars_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / ".virtualenv_cache.toml").write_text(
        '[virtualenv-cache]\ncache_path = "${CACHE_ROOT}/x"\nvirtualenv_path = "~/venvs/a"\n')
    cfg = load(tmp_path)
    assert cfg.cache_path == tmp_path / "root" / "x"
    assert cfg.virtualenv_path == tmp_path / "home" / "venvs" / "a"


@pytest.mark.parametrize(("text", "message"), [
    ("[virtualenv-cache\n", "is not valid TOML"),
    ("[virtualenv-cache]\ncache_sise = 3\n", "unknown key 'cache_sise'"),
    ("[virtualenv-cache]\ncache_size = \"3\"\n", "cache_size = '3' is not valid"),
    ("[virtualenv-cache]\ncache_size = 0\n", "expected a whole number of entries >= 1"),
    ("[virtualenv-cache]\nlink_mode = \"symlink\"\n", "expected one of auto, copy, hardlink, reflink"),
    ("[virtualenv-cache]\nrequirements_lock_paths = \"a.txt\"\n", "expected a list of file paths"),
    ("[virtualenv-cache]\nmax_bytes = \"lots\"\n", "expected a size"),
    ("[virtualenv-cache]\ncache_path = \"${VENVCACHE_SURELY_UNSET}/x\"\n", "VENVCACHE_SURELY_UNSET"),
    ("[other]\n", "has no [virtualenv-cache] table"),
])
def test_bad_config_names_file_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".virtualenv_cache.toml").write_text(text)
    with pytest.raises(VenvCacheError) as info:
        load(tmp_path)
    line = str(info.value)
    assert message in line
    assert str(tmp_path / ".virtualenv_cache.toml") in line
    assert "\n" not in line


def test_bad_ini(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[virtualenv-cache]\nnot a key value line\n")
    with pytest.raises(VenvCacheError, match="is not valid ini"):
        load(tmp_path)


def test_missing_named_file(tmp_path: Path) -> None:
    with pytest.raises(VenvCacheError, match="config file does not exist"):
        load(tmp_path, tmp_path / "nope.toml")


@pytest.mark.parametrize(("text", "size"), [("5GB", 5 * 10**9), ("500MiB", 500 * 2**20), ("1024", 1024),
                                             ("1.5G", 1_500_000_000)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "seconds"), [("14d", 14 * 86400), ("12h", 43200), ("90m", 5400), ("30", 30),
                                               ("2w", 14 * 86400)])
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds
