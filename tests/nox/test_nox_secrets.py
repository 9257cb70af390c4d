"""Issue 16 point 7 end to end: credentials in installer variables and install arguments never reach the cache."""

from __future__ import annotations

import pytest
from noxsupport import NoxProject

pytestmark = pytest.mark.slow

SECRET_CALLS = """
@nox.session(venv_backend="cached-virtualenv")
def tests(session):
    session.install("--index-url", "https://user:p@ss@index.invalid/simple",
                    "--extra-index-url", "https://extra.invalid/simple?token=SECRET2", "tinytool==1.0")
    session.run("tinytool")
"""


def test_meta_json_holds_no_credentials(project: NoxProject) -> None:
    """pip runs offline (PIP_NO_INDEX), so the URLs are never contacted; what matters is what the entry records."""
    project.noxfile(SECRET_CALLS)
    run = project.nox(env={"PIP_INDEX_URL": "https://__token__:SECRET1@pypi.invalid/simple"})
    assert run.miss and "venv cache stored" in run.output, run.output
    (key,) = project.cache.keys()
    entry = project.cache_path / key
    recorded = [path for path in entry.rglob("*.json") if "site-packages" not in path.parts]
    assert any(path.name == "meta.json" for path in recorded), recorded
    for path in recorded:
        text = path.read_text(encoding="utf-8")
        for secret in ("SECRET1", "SECRET2", "p@ss"):
            assert secret not in text, f"{secret} in {path.relative_to(entry)}"
    meta = (entry / "meta.json").read_text(encoding="utf-8")
    assert "https://__token__:***@pypi.invalid/simple" in meta and "https://user:***@index.invalid/simple" in meta
    assert project.nox(env={"PIP_INDEX_URL": "https://__token__:OTHER@pypi.invalid/simple"}).hit, \
        "the key holds the redacted URL: another token for the same index shares the entry"
