"""Issue 16 point 7 end to end: credentials in tox's installer variables and deps never reach the stored entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TESTENV = """
runner = virtualenv
deps =
    --extra-index-url https://user:p@ss@index.invalid/simple
    tinytool==1.0
set_env =
    PIP_EXTRA_INDEX_URL = https://extra.invalid/simple?token=SECRET2
    UV_INDEX_URL = https://user:pa/SECRET3@uv.invalid/simple
commands = tinytool
"""


def test_meta_json_holds_no_credentials(make_project: Callable[..., Any]) -> None:
    """pip runs offline (PIP_NO_INDEX), so the URLs are never contacted; what matters is what the entry records."""
    project = make_project(TESTENV)
    run = project.tox("-e", "py312", extra_env={"PIP_INDEX_URL": "https://__token__:SECRET1@pypi.invalid/simple"})
    assert run.result("py312") == "miss" and (run.stored("py312") or "").startswith("stored ("), run.out
    (key,) = project.entries()
    entry = project.cache / key
    recorded = [path for path in entry.rglob("*.json") if "site-packages" not in path.parts]
    assert any(path.name == "meta.json" for path in recorded), recorded
    for path in recorded:
        text = path.read_text(encoding="utf-8")
        for secret in ("SECRET1", "SECRET2", "SECRET3", "p@ss"):
            assert secret not in text, f"{secret} in {path.relative_to(entry)}"
    meta = (entry / "meta.json").read_text(encoding="utf-8")
    assert "https://__token__:***@pypi.invalid/simple" in meta and "?token=***" in meta

    project.fresh()
    warm = project.tox("-e", "py312", extra_env={"PIP_INDEX_URL": "https://__token__:SECRET1@pypi.invalid/simple"})
    assert warm.result("py312") == "hit", warm.out
    assert not warm.ran("py312", "install_deps"), "tox finds its record equal: the clear values were put back"
