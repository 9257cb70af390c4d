"""The shared key inputs (``venvcache_core.inputs``) and the one report line (``venvcache_core.report``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvcache_core import (
    INSTALLER_ENV_VARS,
    MissReason,
    Placeholders,
    RestoreResult,
    StoreResult,
    describe_miss,
    describe_restore,
    describe_store,
    human_bytes,
    human_count,
    human_seconds,
    installer_env,
    redact,
    requirement_files,
    unpinned,
    walk_requirements,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("https://__token__:SECRET@pypi.example/simple", "https://__token__:***@pypi.example/simple"),
    ("--index-url https://user:SECRET@host/simple tinytool", "--index-url https://user:***@host/simple tinytool"),
    ("https://host/simple?token=SECRET&page=2", "https://host/simple?token=***&page=2"),
    ("https://host/simple/?api_key=SECRET", "https://host/simple/?api_key=***"),
    ("https://user:p@ss@host/simple", "https://user:***@host/simple"),
    ("https://user:pa/ss@host/simple", "https://user:***@host/simple"),
    ("https://ghp_SECRET@github.com/o/r.git", "https://***@github.com/o/r.git"),
    ("https://u:SECRET@[::1]:8080/simple", "https://u:***@[::1]:8080/simple"),
])
def test_credentials_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert "SECRET" not in redact(text)


@pytest.mark.parametrize("text", [
    "https://host:8080/simple", "git+https://github.com/o/r@v1.0", "git+ssh://git@github.com/o/r",
    "file:///tmp/wheels", "pkg @ https://host/pkg-1.0-py3-none-any.whl#sha256=ab", "plain text, no URL",
    "https://host/simple?page=2",
])
def test_urls_without_credentials_are_kept(text: str) -> None:
    assert redact(text) == text


def test_installer_env_is_one_list_and_redacts() -> None:
    environ = {"PIP_INDEX_URL": "https://__token__:SECRET@host/simple", "UV_NO_SOURCES": "1",
               "PIP_CONFIG_FILE": "/dev/null", "HOME": "/root", "PIP_NO_COLOR": "1"}
    assert installer_env(environ) == {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "https://__token__:***@host/simple",
                                      "UV_NO_SOURCES": "1"}
    # the names each adapter keyed alone before the lists were merged
    assert {"PIP_CONFIG_FILE", "UV_NO_SOURCES", "UV_BUILD_CONSTRAINT", "PIP_REQUIRE_HASHES"} <= INSTALLER_ENV_VARS


def test_unpinned_is_decided_by_packaging() -> None:
    lines = ["foo==1.*", "bar==1.2", "Baz>=1", "qux", "direct @ https://host/d-1.0-py3-none-any.whl", "exact===3",
             "-r other.txt", "./local/project", "hashed==1.0 --hash=sha256:00", "marked; python_version > '3'",
             "compat~=1.4", "Qux"]
    assert unpinned(lines) == ["Baz", "compat", "foo", "marked", "qux"], "a wildcard == is not a pin"
    assert unpinned(lines, constraints=["QUX==2", "foo==1.*", "marked===1"]) == ["Baz", "compat", "foo"]


def test_placeholders_name_both_spellings_and_whole_components(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / ".tox" / "py312").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    places = Placeholders({"{project}": link, "{env}": link / ".tox" / "py312"})
    value = {"args": [f"-e {link}/lib", f"{real}/.tox/py312/bin/python", f"{real}2/other", f"{link}"],
             f"{real}/req.txt": f"https://u:SECRET@host/simple --find-links {real}/wheels"}
    assert places.apply(value) == {
        "args": ["-e {project}/lib", "{env}/bin/python", f"{real}2/other", "{project}"],
        "{project}/req.txt": "https://u:***@host/simple --find-links {project}/wheels"}
    assert places.name(real / "sub" / ".." / "req.txt") == "{project}/req.txt"
    assert places.name("/elsewhere/req.txt") == "/elsewhere/req.txt"


def test_requirement_files_follow_nesting_and_contents(tmp_path: Path) -> None:
    (tmp_path / "req").mkdir()
    (tmp_path / "req" / "base.txt").write_text("tinylib\n-c ../pins.txt\n")
    (tmp_path / "req" / "dev.txt").write_text("# comment\n-r base.txt\ntinytool  # tool\n-r missing.txt\n")
    (tmp_path / "pins.txt").write_text("tinytool==1.0\n-r more-pins.txt\n")
    (tmp_path / "more-pins.txt").write_text("tinylib==1.0\n")
    files = requirement_files(["-r", "req/dev.txt"], cwd=tmp_path, root=tmp_path)
    assert set(files) == {"{project}/req/dev.txt", "{project}/req/base.txt", "{project}/pins.txt",
                          "{project}/more-pins.txt", "{project}/req/missing.txt"}
    assert files["{project}/req/missing.txt"] == "missing"
    walk = walk_requirements(["-r", "req/dev.txt", "pytest"], cwd=tmp_path)
    assert walk.unpinned() == ["pytest"], "constraint files (and the files they include) pin tinylib and tinytool"
    (tmp_path / "req" / "base.txt").write_text("tinylib==1.0\n")
    assert requirement_files(["-r", "req/dev.txt"], cwd=tmp_path, root=tmp_path) != files


def test_report_lines_read_the_same_everywhere(tmp_path: Path) -> None:
    assert [human_bytes(n) for n in (0, 999, 18_000, 4_200_000, 273_000_000, 2 * 10**12)] == [
        "0 B", "999 B", "18 kB", "4.2 MB", "273 MB", "2.0 TB"]
    assert human_count(14606) == "14,606"
    assert [human_seconds(s) for s in (0.914, 12.34, 125)] == ["0.91 s", "12.3 s", "2 min 05 s"]
    key = "3f2a9c1e" + "0" * 56
    hit = RestoreResult(True, key, tmp_path, seconds=0.91, bytes=273_000_000, files=14606, link_mode="hardlink")
    assert describe_restore(hit, label="py312") == (
        "py312: venv cache hit 3f2a9c1e (14,606 files, 273 MB, hardlink) in 0.91 s")
    miss = RestoreResult(False, key, tmp_path, reason=MissReason.EXPIRED, detail="expired (max_age)")
    assert describe_restore(miss, label="py312") == "py312: venv cache miss 3f2a9c1e (expired (max_age))"
    stored = StoreResult(True, key, seconds=0.8, bytes=273_000_000, files=14606)
    assert describe_store(stored, label="tests") == "tests: venv cache stored 3f2a9c1e (14,606 files, 273 MB) in 0.80 s"
    assert describe_store(StoreResult(False, key), label="tests") == (
        "tests: venv cache not stored 3f2a9c1e (the cache has it already)")
    assert describe_miss(key, "refresh asked", label=".venv") == ".venv: venv cache miss 3f2a9c1e (refresh asked)"
    assert describe_miss(key, "recreate", label="") == "venv cache miss 3f2a9c1e (recreate)", "tox adds the env name"
