"""Misses that explain themselves, time saved per hit, and the require-hit error: the core pieces front ends share."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from venvcache_core import (
    Cache,
    RequireHitError,
    VenvCacheError,
    build_key,
    describe_restore,
    diff_documents,
    explain_miss,
    interpreter_identity,
    venv_python,
)

INTERP = {"implementation": "cpython", "version": "3.12.1", "cache_tag": "cpython-312",
          "base_executable": "/opt/py/3.12.1/bin/python3.12"}


def key(*, version: str = "3.12.1", locks: dict[str, str] | None = None, salt: str = "", tools: dict[str, str] | None
        = None, tool: str = "virtualenv-cache") -> object:
    interpreter = {**INTERP, "version": version,
                   "base_executable": f"/opt/py/{version}/bin/python{version.rsplit('.', 1)[0]}"}
    inputs: dict[str, object] = {"lock_files": locks if locks is not None else {"requirements.txt": "a" * 64}}
    if tools is not None:
        inputs["tools"] = tools
    return build_key(interpreter=interpreter, inputs=inputs, salt=salt, tool=tool)


@pytest.fixture
def stored(cache: Cache, clone_venv: Callable[[Path], Path], tmp_path: Path) -> Callable[..., str]:
    """Store a real env under a synthetic key; returns the key's digest."""

    def store(k: object, **kwargs: object) -> str:
        env = clone_venv(tmp_path / f"env-{str(k)[:8]}")
        cache.store(k, env, **kwargs)  # type: ignore[arg-type]
        return str(k)

    return store


def test_no_entries_no_explanation(cache: Cache, tmp_path: Path) -> None:
    result = cache.restore(key(), tmp_path / "dest")
    assert not result.hit and result.nearest is None and result.differs == []
    assert describe_restore(result, label=".venv") == f".venv: venv cache miss {str(key())[:8]} (no entry)"
    assert explain_miss(cache, key()) is None  # type: ignore[arg-type]


def test_interpreter_patch_version_is_named(cache: Cache, stored: Callable[..., str], tmp_path: Path) -> None:
    old = stored(key(version="3.12.1"))
    new = key(version="3.12.2")
    result = cache.restore(new, tmp_path / "dest")  # type: ignore[arg-type]
    assert result.nearest == old
    assert result.differs == ["python patch version 3.12.1 → 3.12.2"]  # the base path's change is implied
    line = describe_restore(result, label=".venv")
    assert line == f".venv: venv cache miss {str(new)[:8]} (no entry; nearest {old[:8]}: python patch version " \
                   "3.12.1 → 3.12.2)"
    data = result.to_json()
    assert data["nearest"] == old and data["differs"] == result.differs
    assert not (tmp_path / "dest").exists()


def test_nearest_is_the_closest_document(cache: Cache, stored: Callable[..., str], tmp_path: Path) -> None:
    far = stored(key(version="3.11.7", salt="x"))
    near = stored(key(locks={"requirements.txt": "b" * 64}))
    assert far != near
    explanation = explain_miss(cache, key())  # type: ignore[arg-type]
    assert explanation is not None and explanation.nearest == near
    assert explanation.differs == ["requirements.txt content"]
    assert [c.dotted for c in explanation.changes] == ["inputs.lock_files.requirements.txt"]
    assert explanation.changes[0].line() == f"inputs.lock_files.requirements.txt: {'b' * 64!r} → {'a' * 64!r}"
    against_far = explain_miss(cache, key(), nearest=far)  # type: ignore[arg-type]
    assert against_far is not None
    assert against_far.differs == ["python 3.11.7 → 3.12.1", "salt"]


def test_added_file_tool_version_and_salt(cache: Cache, stored: Callable[..., str]) -> None:
    stored(key(tools={"tox": "4.23.0"}))
    wanted = key(locks={"requirements.txt": "a" * 64, "constraints.txt": "c" * 64}, tools={"tox": "4.24.1"},
                 salt="2")
    explanation = explain_miss(cache, wanted)  # type: ignore[arg-type]
    assert explanation is not None
    assert explanation.differs == ["constraints.txt added", "tox 4.23.0 → 4.24.1", "salt"]
    assert explanation.summary.endswith("constraints.txt added, tox 4.23.0 → 4.24.1, salt")
    assert json.loads(json.dumps(explanation.to_json()))["changes"][0] == {
        "path": "inputs.lock_files.constraints.txt", "entry": None, "key": "c" * 64, "change": "added"}


def test_diff_documents_full() -> None:
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": "x"}
    new = {"a": {"b": 2, "c": [1, 2]}, "new": {"d": True}}
    assert [(c.dotted, c.to_json()["change"]) for c in diff_documents(old, new)] == [
        ("a.b", "changed"), ("gone", "removed"), ("new.d", "added")]


def real_key(clone_venv: Callable[[Path], Path], tmp_path: Path) -> object:
    """A key with the template env's own interpreter: only such an entry can be served (a hit)."""
    identity = interpreter_identity(venv_python(clone_venv(tmp_path / "probe")))
    return build_key(interpreter=identity, inputs={"lock_files": {"requirements.txt": "a" * 64}})


def test_time_saved_is_counted(cache: Cache, stored: Callable[..., str], clone_venv: Callable[[Path], Path],
                               tmp_path: Path) -> None:
    hit_key = real_key(clone_venv, tmp_path)
    digest = stored(hit_key, build_seconds=30.0)
    entry = cache.get(digest)
    assert entry is not None and entry.build_seconds == 30.0 and entry.saved_seconds == 0.0
    first = cache.restore(hit_key, tmp_path / "d1")  # type: ignore[arg-type]
    second = cache.restore(hit_key, tmp_path / "d2")  # type: ignore[arg-type]
    assert first.hit and second.hit
    assert 0 < first.saved_seconds <= 30.0 and abs(first.saved_seconds - (30.0 - first.seconds)) < 0.5
    assert ", saved ~" in describe_restore(first, label=".venv")
    entry = cache.get(digest)
    assert entry is not None and entry.saved_seconds == pytest.approx(first.saved_seconds + second.saved_seconds,
                                                                      abs=0.01)
    assert cache.stats()["saved_seconds"] == pytest.approx(entry.saved_seconds, abs=0.01)


def test_no_build_time_no_saving(cache: Cache, stored: Callable[..., str], clone_venv: Callable[[Path], Path],
                                 tmp_path: Path) -> None:
    hit_key = real_key(clone_venv, tmp_path)
    stored(hit_key)
    result = cache.restore(hit_key, tmp_path / "d")  # type: ignore[arg-type]
    assert result.hit and result.saved_seconds == 0.0
    assert "saved" not in describe_restore(result, label=".venv")
    assert cache.stats()["saved_seconds"] == 0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "12"])
def test_bad_build_seconds_is_an_error(cache: Cache, clone_venv: Callable[[Path], Path], tmp_path: Path,
                                       bad: object) -> None:
    with pytest.raises(VenvCacheError, match="not a number of seconds"):
        cache.store(key(), clone_venv(tmp_path / "env"), build_seconds=bad)  # type: ignore[arg-type]
    assert cache.keys() == []


def test_require_hit_error_names_key_and_nearest(cache: Cache, stored: Callable[..., str], tmp_path: Path) -> None:
    old = stored(key(version="3.12.1"))
    result = cache.restore(key(version="3.11.7"), tmp_path / "dest")  # type: ignore[arg-type]
    err = RequireHitError(result, label="py311")
    assert isinstance(err, VenvCacheError)
    assert err.key == result.key and err.nearest == old
    text = str(err)
    assert "\n" not in text
    assert text.startswith(f"py311: venv cache hit required, but key {result.key[:8]} missed (no entry; nearest "
                           f"{old[:8]}: python 3.12.1 → 3.11.7)")


def test_resolution_skips_entries_whose_interpreter_is_not_here(cache: Cache, stored: Callable[..., str]) -> None:
    """An entry for the same inputs built with an interpreter this machine lacks is not served; nor one for other
    inputs; the preferred interpreter's key stays (and misses, explained)."""
    import sys

    from venvcache_core import interpreter_identity, resolve_interpreter

    here = Path(getattr(sys, "_base_executable", sys.executable))
    inputs = {"lock_files": {"requirements.txt": "a" * 64}}
    stored(build_key(interpreter={**interpreter_identity(here), "base_executable": "/nonexistent/python3.99"},
                     inputs=inputs))
    other = build_key(interpreter=interpreter_identity(here), inputs={"lock_files": {"other.txt": "b" * 64}})
    stored(other)
    resolution = resolve_interpreter(cache, preferred=here, inputs=inputs)
    assert resolution.why == "preferred" and resolution.python == here
    assert resolution.key.digest == build_key(interpreter=interpreter_identity(here), inputs=inputs).digest
    served = build_key(interpreter=interpreter_identity(here), inputs=inputs)
    digest = stored(served)
    assert resolve_interpreter(cache, preferred=here, inputs=inputs).key.digest == digest
