"""Hits: a fresh ``--envdir`` or another checkout gets the env from the cache, without running the installer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from noxsupport import NoxProject, entry_problems, uv_commands

from wheels import make_wheel

pytestmark = pytest.mark.slow

TWO_INSTALLS = """
@nox.session(venv_backend="cached")
def tests(session):
    session.install("-r", "requirements.txt")
    session.install("tinydep")
    session.run("tinytool")
    session.run("tinydep")
"""


def test_fresh_envdir_is_a_hit_and_uv_is_not_run(project: NoxProject, uv_log: tuple[dict[str, str], Path]) -> None:
    env, log = uv_log
    project.noxfile(TWO_INSTALLS)
    project.write("requirements.txt", "tinytool==1.0\n")

    first = project.nox(env=env)
    assert first.miss and "stored" in first.output, first.output
    assert "tinytool 1.0" in first.output and "tinydep 1.0" in first.output
    assert any("pip install" in line for line in uv_commands(log)), "the cold run installs with uv"
    keys = project.cache.keys()
    assert len(keys) == 1
    assert entry_problems(project.cache) == []

    log.unlink()
    second = project.nox(env=env)
    assert second.hit, second.output
    assert "tinytool 1.0" in second.output and "tinydep 1.0" in second.output
    assert uv_commands(log) == [], "a hit creates no venv and installs nothing"
    assert not second.lines("uv pip install"), second.output
    assert project.cache.keys() == keys
    assert project.cache.get(keys[0]).hits == 1


def test_another_checkout_is_a_hit_with_editable_project_and_console_script(project: NoxProject,
                                                                            tmp_path: Path) -> None:
    """``-e .`` is relocated into the new checkout (not re-run); a dependency's console script still starts."""
    project.noxfile("""
        @nox.session(venv_backend="cached")
        def tests(session):
            session.install("-e", ".")
            session.install("tinydep")
            session.run("tinydep")
            # -I: not from the current folder (the checkout), only through the env's editable install
            session.run("python", "-I", "-c", "import demo, pathlib; print('DEMO', pathlib.Path(demo.__file__).parent)")
    """)
    first = project.nox()
    assert first.miss, first.output
    assert f"DEMO {project.root / 'demo'}" in first.output

    other = project.copy_to(tmp_path / "somewhere" / "else" / "checkout-b")
    (other.root / "demo" / "__init__.py").write_text('VALUE = "edited"\n')
    shutil.rmtree(project.root)  # nothing may still point into the first checkout

    second = other.nox()
    assert second.hit, second.output
    assert "tinydep 1.0" in second.output
    assert f"DEMO {other.root / 'demo'}" in second.output
    assert not second.lines("pip install"), "neither the editable install nor the dependency ran again"


def test_fast_path_restores_while_nox_creates_the_env(project: NoxProject) -> None:
    """Declared lock files key the env; it is restored before the session function starts."""
    project.noxfile("""
        @nox.session(venv_backend="cached", venv_params=nox_venvcache.params(lock_files=["requirements.txt"]))
        def tests(session):
            session.log("SESSION FUNCTION STARTS")
            session.install("-r", "requirements.txt")
            session.run("tinytool")
    """)
    project.write("requirements.txt", "tinytool==2.0\n")
    assert project.nox().miss
    second = project.nox()
    assert second.hit, second.output
    out = second.output
    assert out.index("venv cache hit") < out.index("SESSION FUNCTION STARTS"), out
    assert "tinytool 2.0" in out and not second.lines("pip install")

    project.write("requirements.txt", "tinytool==1.0\n")
    third = project.nox()
    assert third.miss and "tinytool 1.0" in third.output, third.output


@pytest.mark.parametrize(("backend", "target"), [("cached", "."), ("cached-virtualenv", "wheel")])
def test_local_project_install_is_rerun_on_a_hit(project: NoxProject, backend: str, target: str) -> None:
    """``install(".")`` or of a local wheel copies code into the env: on a hit that copy is replaced, never stale.

    uv skips an installed local project and pip an installed local wheel of the same version: the copy is removed
    after the restore, so the re-run really installs.
    """
    if target == "wheel":
        target = str(make_wheel(project.root / "dist", "demo", "0.1", body='VALUE = "one"\n').relative_to(project.root))
    project.noxfile("""
        @nox.session(venv_backend=os.environ["BACKEND"])
        def tests(session):
            session.install(os.environ["TARGET"])
            session.install("tinytool")
            session.run("python", "-I", "-c", "import demo; print('VALUE', demo.VALUE, demo.__file__)")
    """)
    env = {"BACKEND": backend, "TARGET": target}
    first = project.nox(env=env)
    assert "VALUE one" in first.output and "site-packages" in first.output, first.output
    assert ("Creating virtual environment (uv)" in first.output) == (backend == "cached"), first.output
    if target == ".":
        project.write("demo/__init__.py", 'VALUE = "two"\n')
    else:
        make_wheel(project.root / "dist", "demo", "0.1", body='VALUE = "two"\n')
    second = project.nox(env=env)
    assert second.hit, second.output
    assert "VALUE two" in second.output
    assert len(second.lines("pip install")) == 1, "only the local install runs again"


def test_reuse_flags_keep_their_meaning(project: NoxProject) -> None:
    """``-R`` on a fresh envdir uses the cache; ``-R``/``-r`` on an existing env reuse it as nox does."""
    project.noxfile("""
        @nox.session(venv_backend="cached")
        def tests(session):
            session.install("tinytool==1.0")
            session.run("tinytool")
    """)
    project.nox()
    envdir = project.fresh_envdir()
    restored = project.nox("-R", envdir=envdir)
    assert restored.hit and "tinytool 1.0" in restored.output

    reused = project.nox("-R", envdir=envdir)
    assert "venvcache:" not in reused.output and not reused.lines("pip install"), reused.output
    assert "tinytool 1.0" in reused.output

    reinstalled = project.nox("-r", envdir=envdir)
    assert "venvcache:" not in reinstalled.output
    assert reinstalled.lines("pip install"), "with -r nox runs the installs on the reused env"


@pytest.mark.parametrize("how", ["NOX_DEFAULT_VENV_BACKEND", "nox.options"])
def test_default_backend_from_the_environment_or_options(project: NoxProject, how: str) -> None:
    """``NOX_DEFAULT_VENV_BACKEND=cached`` and ``nox.options.default_venv_backend`` work; ``-db cached`` cannot
    (nox freezes the choices of ``-db`` when it is imported, before the noxfile registers the backend)."""
    options = "nox.options.default_venv_backend = 'cached'" if how == "nox.options" else ""
    project.noxfile(f"""
        {options}

        @nox.session
        def tests(session):
            session.install("tinytool==2.0")
            session.run("tinytool")
    """)
    env = {"NOX_DEFAULT_VENV_BACKEND": "cached"} if how == "NOX_DEFAULT_VENV_BACKEND" else {}
    assert project.nox(env=env).miss
    assert project.nox(env=env).hit
    if how == "nox.options":
        refused = project.nox("-db", "cached", expect=2)
        assert "invalid choice: 'cached'" in refused.output


@pytest.mark.parametrize("declared", [False, True])
def test_an_unusable_cache_only_costs_a_warning(project: NoxProject, declared: bool) -> None:
    """A cache error never fails the session: one warning, then plain nox (also with session.create_tmp())."""
    project.cache_path.write_text("a file where the cache directory should be")
    params = 'nox_venvcache.params(lock_files=["requirements.txt"])' if declared else "()"
    project.write("requirements.txt", "tinytool==1.0\n")
    project.noxfile(f"""
        @nox.session(venv_backend="cached", venv_params={params})
        def tests(session):
            session.create_tmp()
            session.install("-r", "requirements.txt")
            session.run("tinytool")
    """)
    run = project.nox()
    assert "tinytool 1.0" in run.output and run.lines("pip install"), run.output
    warnings = run.lines("venvcache:")
    assert len(warnings) == 1 and "runs without the cache" in warnings[0], run.output
