"""The pieces without nox runs: step documents, local installs and their removal, settings, the env marker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nox_venvcache import dists, settings
from nox_venvcache.backend import is_installer_command
from nox_venvcache.sequences import MARKER, Cached, SequenceTree, marker, read_marker
from nox_venvcache.steps import StepDescriber, exact_sync_locks, installer_arguments
from venvcache_core import VenvCacheError
from wheels import make_wheel


def describe(root: Path, *args: str, call: str = "install", env: dict[str, str] | None = None) -> dict[str, object]:
    return StepDescriber(root).describe(call, args, cwd=root, env=env or {})


def test_requirement_files_are_followed_and_hashed(tmp_path: Path) -> None:
    (tmp_path / "req").mkdir()
    (tmp_path / "req" / "base.txt").write_text("tinylib\n")
    (tmp_path / "req" / "dev.txt").write_text("# comment\n-r base.txt\n-c ../constraints.txt\ntinytool  # tool\n")
    (tmp_path / "constraints.txt").write_text("tinytool==1.0\n")
    doc = describe(tmp_path, "-r", "req/dev.txt")
    assert set(doc["files"]) == {"{project}/req/dev.txt", "{project}/req/base.txt", "{project}/constraints.txt"}
    (tmp_path / "req" / "base.txt").write_text("tinylib==1.0\n")
    assert describe(tmp_path, "-r", "req/dev.txt") != doc, "a nested file's content is part of the step"


def test_option_spellings_and_local_projects(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("x\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "pyproject.toml").write_text("[project]\nname='lib'\n")
    wheel = make_wheel(tmp_path / "dist", "tinydep", requires=["tinylib"])
    doc = describe(tmp_path, "--constraint=c.txt", "-e", "./lib", str(wheel), "pkg[extra]>=1")
    assert set(doc["files"]) == {"{project}/c.txt", "{project}/lib/pyproject.toml", "{project}/dist/" + wheel.name}
    assert doc["files"]["{project}/dist/" + wheel.name].startswith("requires:")
    assert doc["args"][3] == "{project}/dist/" + wheel.name, "absolute paths in the project are checkout-neutral"
    assert doc["args"][4] == "pkg[extra]>=1"


def test_checkouts_agree_and_env_vars_count(tmp_path: Path) -> None:
    docs = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        (root / "requirements.txt").write_text("tinytool\n")
        docs.append(describe(root, "-r", str(root / "requirements.txt"), "-e", str(root)))
    assert docs[0] == docs[1]
    (tmp_path / "pins.txt").write_text("tinytool==1.0\n")
    with_env = describe(tmp_path / "a", "tinytool", env={"UV_CONSTRAINT": str(tmp_path / "pins.txt"), "HOME": "/x"})
    assert with_env["env"] == {"UV_CONSTRAINT": str(tmp_path / "pins.txt")}
    assert str((tmp_path / "pins.txt").as_posix()) in with_env["files"]


def test_run_install_reads_the_project_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    doc = describe(tmp_path, "uv", "sync", "--locked", call="run_install")
    assert set(doc["files"]) == {"{project}/pyproject.toml", "{project}/uv.lock"}


def _fake_dist(site: Path, name: str, url: str | None, *, editable: bool = False) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / name).mkdir()
    (site / name / "__init__.py").write_text("")
    (site / name / "__pycache__").mkdir()
    (site / name / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"")
    script = site.parent.parent.parent / "bin" / name
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!python\n")
    rows = [f"{name}/__init__.py,,", f"../../../bin/{name},,", f"{name}-1.0.dist-info/RECORD,,"]
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    if url:
        data = {"url": url, "dir_info": {"editable": True}} if editable else {"url": url, "archive_info": {}}
        (info / "direct_url.json").write_text(json.dumps(data))


def test_local_installs_are_found_and_removed(tmp_path: Path) -> None:
    env = tmp_path / "env"
    site = env / "lib" / "python3.11" / "site-packages"
    _fake_dist(site, "proj", "file:///src/proj")
    _fake_dist(site, "edit", "file:///src/edit", editable=True)
    _fake_dist(site, "indexed", None)
    before = dists.local_installs(env)
    assert list(before) == ["lib/python3.11/site-packages/proj-1.0.dist-info"]
    assert dists.changed({}, before) == list(before) and dists.changed(before, before) == []

    dists.remove(env, "lib/python3.11/site-packages/proj-1.0.dist-info")
    assert not (site / "proj").exists() and not (site / "proj-1.0.dist-info").exists()
    assert not (env / "bin" / "proj").exists() and (env / "bin").is_dir()
    assert (site / "edit" / "__init__.py").exists() and (env / "bin" / "indexed").exists()
    dists.remove(env, "lib/python3.11/site-packages/proj-1.0.dist-info")  # already gone: fine

    (site / "edit-1.0.dist-info" / "RECORD").unlink()
    with pytest.raises(VenvCacheError, match="no RECORD"):
        dists.remove(env, "lib/python3.11/site-packages/edit-1.0.dist-info")


def test_params_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = ["--system-site-packages", *settings.params(lock_files=["a.txt", "b.txt"], salt="s")]
    rest, ours = settings.split_params(params)
    assert rest == ["--system-site-packages"] and ours == {"lock-file": ["a.txt", "b.txt"], "salt": ["s"]}
    (tmp_path / ".virtualenv_cache.toml").write_text('[virtualenv-cache]\ncache_path = "c"\nsalt = "x"\n')
    got = settings.for_session(tmp_path, params)
    assert got.config is not None and got.config.cache_path == tmp_path / "c"
    assert got.lock_files == ("a.txt", "b.txt") and got.venv_params == ("--system-site-packages",)
    assert got.salt != settings.for_session(tmp_path, []).salt
    with pytest.raises(VenvCacheError, match="unknown venv_params"):
        settings.for_session(tmp_path, ["--venvcache-typo=1"])
    monkeypatch.setenv(settings.ENV_SWITCH, "0")
    assert settings.for_session(tmp_path, []).config is None


def test_configure_checks_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        with pytest.raises(VenvCacheError, match="link_mode"):
            settings.configure(link_mode="teleport")
        with pytest.raises(VenvCacheError, match="backend"):
            settings.configure(backend="conda")
        settings.configure(cache_path=tmp_path / "elsewhere", max_bytes="1GB", lock_files=["r.txt"])
        got = settings.for_session(tmp_path, [])
        assert got.config is not None and got.config.cache_path == tmp_path / "elsewhere"
        assert got.config.max_bytes == 10**9 and got.lock_files == ("r.txt",)
    finally:
        settings.reset()


def test_marker_round_trip() -> None:
    """The install sequence is entry metadata (nothing of nox_venvcache's is written into the env)."""
    record = marker(session="tests", family="f" * 64, steps=[("d1", {"call": "install", "args": ["x"]},
                                                              ["lib/site/x.dist-info"]), ("d2", {"call": "run"}, [])])
    family, back = read_marker("k" * 64, {MARKER: json.loads(json.dumps(record))}, last_used=5.0)
    assert family == "f" * 64
    assert back == Cached("k" * 64, ("d1", "d2"), (("lib/site/x.dist-info",), ()), 5.0)
    with pytest.raises(ValueError, match="unknown format"):
        read_marker("k", {MARKER: {}})
    with pytest.raises(ValueError, match="no 'nox_install_sequence' record"):
        read_marker("k", {})


def test_the_sequence_tree_answers_continues_exact_and_nearest() -> None:
    a = Cached("a", ("s1", "s2a"), ((), ()), last_used=1.0)
    b = Cached("b", ("s1", "s2b", "s3"), ((), (), ()), last_used=2.0)
    short = Cached("s", ("s1",), ((),), last_used=0.5)
    tree = SequenceTree([a, b, short])
    assert tree.continues(["s1"]) and tree.continues(["s1", "s2b"]) and not tree.continues(["s1", "s2c"])
    assert tree.exact(["s1", "s2a"]) is a and tree.exact(["s1", "s2b"]) is None
    assert tree.nearest(["s1", "s2b", "s3", "s4"]) is b, "the longest cached prefix"
    assert tree.nearest(["s1", "s2c"]) is short and tree.nearest(["s1"]) is None, "a proper prefix only"
    assert SequenceTree().nearest(["s1"]) is None and tree.entries[0] is b, "most recently used first"


@pytest.mark.parametrize(("command", "installs"), [
    ("python -m pip install x", True), ("pip3 uninstall -y x", True), ("uv pip sync r.txt", True),
    ("uv sync --locked", True), ("poetry install", True), ("pytest -k install", False), ("python -V", False),
])
def test_installer_commands_are_recognised(command: str, installs: bool) -> None:
    assert is_installer_command(command.split()) is installs


def test_an_installer_command_line_is_described_by_its_own_arguments(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("tinylib\n")
    assert installer_arguments("run", ["python", "-m", "pip", "install", "-r", "r.txt"]) == ["-r", "r.txt"]
    assert installer_arguments("run", ["uv", "pip", "sync", "r.txt"]) == ["-r", "r.txt"]
    doc = describe(tmp_path, "uv", "pip", "install", "-r", "r.txt", call="run")
    assert set(doc["files"]) == {"{project}/r.txt"}
    describer = StepDescriber(tmp_path)
    assert describer.unpinned("run", ["uv", "pip", "install", "-r", "r.txt"], cwd=tmp_path, env={}) == ["tinylib"]
    assert describer.unpinned("run", ["uv", "sync"], cwd=tmp_path, env={}) == []


def test_unpinned_requirements_are_named(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("tinylib==1.0\ntinydep>=1  # a range\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("tinytool[extra]; python_version > '3'\n")
    (tmp_path / "pinned.txt").write_text("tinytool==1.0\n")
    describer = StepDescriber(tmp_path)

    def unpinned(*args: str, env: dict[str, str] | None = None) -> list[str]:
        return describer.unpinned("install", args, cwd=tmp_path, env=env or {})

    assert unpinned("-r", "req.txt", "pytest", "black==24.1", ".") == ["pytest", "tinydep", "tinytool"]
    assert unpinned("-r", "pinned.txt") == []
    assert unpinned("tinytool", "pytest", "-c", "pinned.txt") == ["pytest"], "a constraint file pins what it pins"
    assert unpinned("tinytool", "tinylib==1.*", env={"UV_CONSTRAINT": "pinned.txt"}) == ["tinylib"], \
        "constraints from the environment count; a wildcard == is not a pin"
    assert describer.unpinned("run_install", ["uv", "sync"], cwd=tmp_path, env={}) == []


def test_credentials_are_redacted_in_step_documents(tmp_path: Path) -> None:
    """Issue 16 point 7: index URLs with tokens, passwords holding ``@`` or ``/`` and ``?token=`` queries reach the
    step document (stored in meta.json and in every pack) only as ``***``, with the same names as tox's key."""
    env = {"PIP_INDEX_URL": "https://__token__:SECRET1@pypi.example/simple",
           "UV_EXTRA_INDEX_URL": "https://extra.example/simple?token=SECRET2", "HOME": "/root"}
    doc = describe(tmp_path, "--index-url", "https://user:p@ss@host/simple", "-i", "https://u:pa/SECRET3@h/simple",
                   "tinytool", env=env)
    text = json.dumps(doc)
    for secret in ("SECRET1", "SECRET2", "SECRET3", "p@ss", "ss@host"):
        assert secret not in text, (secret, text)
    assert doc["env"] == {"PIP_INDEX_URL": "https://__token__:***@pypi.example/simple",
                          "UV_EXTRA_INDEX_URL": "https://extra.example/simple?token=***"}
    assert doc["args"][:2] == ["--index-url", "https://user:***@host/simple"]


def test_which_calls_make_the_env_exactly_a_lock(tmp_path: Path) -> None:
    """Only ``uv sync`` / ``uv pip sync`` into the session's env can finish a partial restore (they remove)."""
    env_dir = tmp_path / "envs" / "tests"
    (env_dir / "bin").mkdir(parents=True)
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "requirements.txt").write_text("tinytool==1.0\n")
    nox_env = {"VIRTUAL_ENV": str(env_dir), "UV_PROJECT_ENVIRONMENT": str(env_dir), "UV_PYTHON": str(env_dir)}

    def locks(call: str, *args: str, env: dict[str, str] | None = None) -> list[Path]:
        return exact_sync_locks(call, args, cwd=tmp_path, env=nox_env if env is None else env,
                                location=str(env_dir))

    lock, req = [tmp_path / "uv.lock"], [tmp_path / "requirements.txt"]
    assert locks("run_install", "uv", "sync", "--no-default-groups", "--locked", "--group", "test") == lock  # nox-uv
    assert locks("run", "uv", "--quiet", "sync", "--frozen") == lock
    assert locks("run", "uv", "sync", "--active", env={"VIRTUAL_ENV": str(env_dir)}) == lock
    assert locks("run", "uv", "sync", "--inexact") == []  # keeps what the lock no longer lists
    assert locks("run", "uv", "sync", env={"UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv")}) == []  # another env
    assert locks("run", "uv", "pip", "sync", "requirements.txt") == req
    assert locks("run", "uv", "pip", "sync", "--python", str(env_dir / "bin" / "python"), "requirements.txt",
                 env={}) == req
    assert locks("run", "uv", "pip", "sync", "-p", str(tmp_path / "other" / "bin" / "python"),
                 "requirements.txt") == []
    assert locks("run", "uv", "pip", "sync", "--system", "requirements.txt") == []
    assert locks("run", "uv", "pip", "sync", "missing.txt") == []
    assert locks("run", "uv", "pip", "install", "-r", "requirements.txt") == []  # never removes
    assert locks("install", "-r", "requirements.txt") == []  # session.install: uv pip install
    assert locks("run", "pip", "install", "tinytool") == []
