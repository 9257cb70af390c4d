"""Where the settings come from (tox.ini, tox.toml, pyproject.toml) and what a broken setting or cache does to tox:
one warning line, and the run goes on uncached."""

from __future__ import annotations

from collections.abc import Callable

import pytest

TOX_TOML = """
env_list = ["py312"]
skipsdist = true

[env_run_base]
runner = "uv-venv-runner"
pass_env = ["PYENV_VERSION"]
deps = ["tinytool==1.0"]
commands = [["tinytool"]]

[virtualenv-cache]
cache_path = "{cache}"
cache_size = 3
"""

PYPROJECT = """
[tool.tox]
env_list = ["py312"]
skipsdist = true

[tool.tox.env_run_base]
runner = "uv-venv-runner"
pass_env = ["PYENV_VERSION"]
deps = ["tinytool==1.0"]
commands = [["tinytool"]]

[tool.tox.virtualenv-cache]
cache_path = "{cache}"
"""


@pytest.mark.slow
@pytest.mark.parametrize("file_name, text", [("tox.toml", TOX_TOML), ("pyproject.toml", PYPROJECT)])
def test_toml_sections_are_read(make_project: Callable[..., object], file_name: str, text: str) -> None:
    project = make_project()
    (project.root / "tox.ini").unlink()
    project.write(file_name, text.replace("{cache}", str(project.cache)))
    run = project.tox("-e", "py312")
    assert run.result("py312") == "miss", run.out
    assert len(project.entries()) == 1  # stored where the section says


@pytest.mark.slow
def test_invalid_section_warns_once_and_tox_runs_uncached(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        deps = tinytool==1.0
        commands = tinytool
    """, section="link_mode = sideways\nbogus_key = 1")
    run = project.tox("-e", "py312")
    warnings = [line for line in run.out.splitlines() if "venv cache off" in line]
    assert len(warnings) == 1, run.out
    assert "tox.ini" in warnings[0] and ("link_mode" in warnings[0] or "bogus_key" in warnings[0])
    assert run.results() == {}
    assert "tinytool 1.0" in run.out


@pytest.mark.slow
def test_core_error_falls_back_to_a_normal_install(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        deps = tinytool==1.0
        commands = tinytool
    """)
    project.cache.parent.mkdir(parents=True, exist_ok=True)
    project.cache.write_text("a file where the cache directory should be\n")
    run = project.tox("-e", "py312")
    failures = [line for line in run.out.splitlines() if "venv cache" in line and "failed" in line]
    assert len(failures) == 1, run.out
    assert "installing as usual" in failures[0]
    assert run.ran("py312", "install_deps")
    assert "tinytool 1.0" in run.out


@pytest.mark.slow
def test_ini_values_are_typed_and_key_files_invalidate(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        deps = tinytool==1.0
        commands = tinytool
    """, section="cache_size = 2\nkey_files =\n    {toxinidir}/build-flags.txt\nsalt = one")
    flags = project.write("build-flags.txt", "-O2\n")
    first = project.tox("-e", "py312")
    assert first.result("py312") == "miss", first.out  # cache_size = 2 was accepted (an ini string)

    flags.write_text("-O3\n")
    project.fresh()
    second = project.tox("-e", "py312")
    assert second.result("py312") == "miss", second.out
    assert second.key("py312") != first.key("py312")

    ini = project.root / "tox.ini"
    ini.write_text(ini.read_text().replace("salt = one", "salt = two"))
    project.fresh()
    third = project.tox("-e", "py312")
    assert third.result("py312") == "miss" and third.key("py312") not in {first.key("py312"), second.key("py312")}
    assert len(project.entries()) == 2  # cache_size = 2: the least recently used entry went

    ini.write_text(ini.read_text().replace("salt = two", "enabled = false"))
    project.fresh()
    off = project.tox("-e", "py312")
    assert off.results() == {}, off.out
