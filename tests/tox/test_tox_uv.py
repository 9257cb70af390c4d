"""End to end with tox-uv's ``uv-venv-runner``: hit without ``uv pip``, and every key input that must miss."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers import have_python

pytestmark = pytest.mark.slow

TESTENV = """
runner = uv-venv-runner
deps = -r requirements.txt
commands = tinytool
"""


def test_hit_on_second_fresh_run_without_uv_pip(make_project: Callable[..., object]) -> None:
    project = make_project(TESTENV)
    project.write("requirements.txt", "tinytool==1.0\n")
    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    assert cold.ran("py312", "install_deps")
    project.fresh()
    warm = project.tox("-e", "py312")
    assert warm.result("py312") == "hit", warm.out
    assert not warm.ran("py312", "install_deps"), warm.out  # uv pip install was not run
    assert "tinytool 1.0" in warm.out
    assert warm.key("py312") == cold.key("py312")


def test_changed_inputs_miss(make_project: Callable[..., object]) -> None:
    """A nested ``-r`` file's content, a dep in tox.ini, the interpreter: each gives a new key."""
    project = make_project(TESTENV)
    project.write("requirements.txt", "-r nested.txt\n")
    nested = project.write("nested.txt", "tinytool==1.0\n")
    first = project.tox("-e", "py312")
    assert first.result("py312") == "miss", first.out

    nested.write_text("tinytool==2.0\n")  # only the content of a file two levels down changes
    project.fresh()
    changed_file = project.tox("-e", "py312")
    assert changed_file.result("py312") == "miss", changed_file.out
    assert "tinytool 2.0" in changed_file.out
    assert changed_file.key("py312") != first.key("py312")

    ini = project.root / "tox.ini"
    ini.write_text(ini.read_text().replace("deps = -r requirements.txt", "deps = -r requirements.txt\n  tinylib==1.0"))
    project.fresh()
    changed_dep = project.tox("-e", "py312")
    assert changed_dep.result("py312") == "miss", changed_dep.out
    assert changed_dep.key("py312") not in {first.key("py312"), changed_file.key("py312")}

    if not have_python("3.11"):
        pytest.skip("python3.11 is not available")
    other_python = project.tox("-e", "py311")
    assert other_python.result("py311") == "miss", other_python.out  # same deps, other interpreter
    assert other_python.key("py311") != changed_dep.key("py312")
    assert len(project.entries()) == 4

    project.fresh()  # and each of them is served again by its own key
    again = project.tox("-e", "py311,py312")
    assert again.results() == {"py311": ("hit", other_python.key("py311")),
                               "py312": ("hit", changed_dep.key("py312"))}, again.out


def test_opt_outs_leave_the_env_alone(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        deps = tinytool==1.0
        commands = tinytool

        [testenv:off]
        virtualenv_cache = false
    """)
    per_env = project.tox("-e", "off")
    assert per_env.results() == {}, per_env.out
    assert per_env.ran("off", "install_deps")
    assert project.entries() == []

    for args, extra in ((("--no-venv-cache",), {}), ((), {"TOX_VENV_CACHE": "0"}), ((), {"TOX_NO_VENV_CACHE": "1"})):
        project.fresh()
        run = project.tox("-e", "py312", *args, extra_env=extra)
        assert run.results() == {}, (args, extra, run.out)
        assert project.entries() == []

    project.fresh()
    stored = project.tox("-e", "py312", "-v")
    assert stored.result("py312") == "miss"
    assert '"tool":"tox"' in stored.out and '"tinytool==1.0"' in stored.out  # -v shows the key document

    project.fresh()
    off_env_fresh = project.tox("-e", "off")  # the same deps, but this env opted out: no restore either
    assert off_env_fresh.results() == {}, off_env_fresh.out
    assert off_env_fresh.ran("off", "install_deps")

    project.fresh()
    refreshed = project.tox("-e", "py312", "--venv-cache-refresh")
    assert refreshed.result("py312") == "miss" and "(refresh asked)" in refreshed.out, refreshed.out
    assert refreshed.stored("py312") is not None and refreshed.stored("py312").startswith("stored ("), refreshed.out
    assert refreshed.ran("py312", "install_deps")
    assert len(project.entries()) == 1


def test_unpinned_deps_warn_once(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        deps = tinytool
            tinylib==1.0
        commands = tinytool
    """)
    run = project.tox("-e", "py312")
    warnings = [line for line in run.out.splitlines() if "freezes unpinned deps" in line]
    assert len(warnings) == 1, run.out
    assert "(tinytool)" in warnings[0] and "max_age" in warnings[0] and "--venv-cache-refresh" in warnings[0]

    project.fresh()
    ini = project.root / "tox.ini"
    ini.write_text(ini.read_text() + "max_age = 7d\n")  # the user chose an age limit: no more warning
    quiet = project.tox("-e", "py312")
    assert "freezes unpinned deps" not in quiet.out
    assert quiet.result("py312") == "hit"


def test_dependency_groups_are_cached_and_keyed(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        dependency_groups = test
        commands = tinytool
    """)
    pyproject = project.write("pyproject.toml", """
        [dependency-groups]
        test = ["tinytool==1.0"]
    """)
    cold = project.tox("-e", "py312")
    assert cold.result("py312") == "miss", cold.out
    assert cold.ran("py312", "install_dependency-groups")
    project.fresh()
    warm = project.tox("-e", "py312")
    assert warm.result("py312") == "hit", warm.out
    assert not warm.ran("py312", "install_dependency-groups") and not warm.ran("py312", "install_deps"), warm.out
    assert "tinytool 1.0" in warm.out

    pyproject.write_text(pyproject.read_text().replace("tinytool==1.0", "tinytool==2.0"))
    project.fresh()
    changed = project.tox("-e", "py312")
    assert changed.result("py312") == "miss", changed.out
    assert "tinytool 2.0" in changed.out
