"""Suite 5 — hostile input: fuzzed config files and entry metadata, bad keys and env paths, planted symlinks,
cache directory permissions.

The rule everywhere: our own error class with a one-line message, never another exception (a traceback for the
user), never a file touched outside the cache or the env being restored.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import socket
import stat
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relsupport import CLI, SourceEnv, check_env, digest, is_soak, run, write_project

from venvcache_core import Cache, MissReason, VenvCacheError, config

TRIED: Counter[str] = Counter()


def examples(request: pytest.FixtureRequest, default: int, soak: int) -> settings:
    return settings(max_examples=soak if is_soak(request.config) else default, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def one_line_error(exc: VenvCacheError) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, text


# -- config files ------------------------------------------------------------------------------------------------

def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


SCALARS = (st.booleans() | st.integers() | st.just(10**400) | st.floats() | st.text(max_size=30)
           | st.sampled_from(["5GB", "1e400", "9" * 400, "14d", "nan", "-1", "0", "copy", "hardlink", "${NOPE}/x",
                              "~nobody/x", "a\x00b", "", " ", "../../..", "/", "yes", "on"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
KEYS = st.sampled_from([*config._KEYS, "bogus", "Cache_Size", "cache-size", ""]) | st.text(max_size=12)
SECTIONS = st.sampled_from(["[virtualenv-cache]", "[tool.virtualenv-cache]", "[tool]", "tool = 1",
                            'tool = "x"', "virtualenv-cache = 3", "[[virtualenv-cache]]", ""])


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    header = draw(SECTIONS)
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in draw(st.dictionaries(KEYS, VALUES, max_size=5)).items()]
    return "\n".join([header, *lines]) + "\n"


@st.composite
def ini_documents(draw: st.DrawFn) -> str:
    header = draw(st.sampled_from(["[virtualenv-cache]", "[tox]\n[virtualenv-cache]", "", "[virtualenv-cache"]))
    text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
    lines = [f"{k} = {v}" for k, v in draw(st.dictionaries(KEYS, text | SCALARS.map(str), max_size=5)).items()]
    return "\n".join([header, *lines]) + "\n"


def mutate(text: str, edits: list[tuple[int, str]]) -> str:
    for pos, piece in edits:
        at = pos % (len(text) + 1)
        text = text[:at] + piece + text[at + len(piece) // 2:]
    return text


VALID_TOML = '[virtualenv-cache]\ncache_size = 3\nrequirements_lock_paths = ["r.txt"]\nmax_bytes = "1GB"\n'
CONFIG_FILES = st.sampled_from([".virtualenv_cache.toml", "pyproject.toml", "tox.ini"])
CONTENTS = (toml_documents() | ini_documents() | st.binary(max_size=200)
            | st.lists(st.tuples(st.integers(0, 200), st.text(max_size=4)), max_size=4).map(
                lambda edits: mutate(VALID_TOML, edits)))


def test_fuzz_config_loader(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                            record_property: pytest.RecordProperty) -> None:
    monkeypatch.delenv(config.ENV_CONFIG_PATH, raising=False)
    counter = itertools.count()

    @examples(request, 300, 5000)
    @given(name=CONFIG_FILES, content=CONTENTS)
    def check(name: str, content: str | bytes) -> None:
        TRIED["config files"] += 1
        work = tmp_path / f"c{next(counter)}"
        work.mkdir()
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogatepass")
        (work / name).write_bytes(content)
        try:
            cfg = config.load(work)
            Cache.from_config(cfg)
        except VenvCacheError as exc:
            one_line_error(exc)
        shutil.rmtree(work)

    check()
    record_property("config_inputs", TRIED["config files"])


@pytest.mark.parametrize("line", ['cache_path = "a\\u0000b"', 'virtualenv_path = "x\\u0000"', 'cache_path = ""',
                                  'max_bytes = "1e400"', 'max_bytes = "' + "9" * 400 + 'GB"', "max_age = nan",
                                  "max_age = 1" + "0" * 400,
                                  'python = "py\\u0000thon"', 'requirements_lock_paths = ["a\\u0000b"]'])
def test_config_values_that_broke_later_are_refused(tmp_path: Path, line: str, cli_env: dict[str, str]) -> None:
    (tmp_path / ".virtualenv_cache.toml").write_text(f"[virtualenv-cache]\n{line}\n")
    with pytest.raises(VenvCacheError) as err:
        cfg = config.load(tmp_path)
        cache = Cache.from_config(cfg)
        cache.restore(digest("x"), cfg.virtualenv_path)
    one_line_error(err.value)
    proc = run([*CLI, "stats"], cli_env, tmp_path, check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr


# -- entry metadata ----------------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.just(10**400) | st.floats() | st.text(max_size=20)
                    | st.sampled_from(["../../../etc/passwd", "/etc/passwd", "a\x00b", "bin/python", ""]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
DELETE = object()


@st.composite
def damaged_json(draw: st.DrawFn, valid: dict[str, Any]) -> str:
    how = draw(st.sampled_from(["mutate", "mutate", "mutate", "raw json", "text", "deep"]))
    if how == "raw json":
        return json.dumps(draw(JSON))
    if how == "text":
        return draw(st.text(max_size=60) | st.sampled_from(["", "{", '{"a": NaN}', "Infinity", "\x00"]))
    if how == "deep":
        return "[" * 50_000 + "]" * 50_000
    data = json.loads(json.dumps(valid))
    for key, value in draw(st.lists(st.tuples(st.sampled_from([*valid, "extra"]), st.just(DELETE) | JSON),
                                    min_size=1, max_size=3)):
        if value is DELETE:
            data.pop(key, None)
        elif key == "files" and isinstance(data.get("files"), dict) and data["files"] and draw(st.booleans()):
            name = draw(st.sampled_from([*sorted(data["files"]), "../outside", "/abs", "new"]))
            data["files"][name] = value
        else:
            data[key] = value
    return json.dumps(data)


@pytest.fixture
def pristine(tmp_path: Path, sources: dict[str, SourceEnv]) -> tuple[Path, dict[str, dict[str, Any]]]:
    cache = Cache(tmp_path / "pristine-cache", link_mode="copy")
    key = digest("pristine")
    assert cache.store(key, sources["one"].path).stored
    entry = cache.path / key
    valid = {name: json.loads((entry / name).read_text()) for name in ("meta.json", "manifest.json", "usage.json")}
    return entry, valid


def test_fuzz_entry_metadata(tmp_path: Path, pristine: tuple[Path, dict[str, dict[str, Any]]],
                             sources: dict[str, SourceEnv], request: pytest.FixtureRequest,
                             record_property: pytest.RecordProperty) -> None:
    entry, valid = pristine
    cache = Cache(tmp_path / "cache", link_mode="copy", max_entries=1)
    key = digest("fuzzed")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text(valid["meta.json"]["origin"])
    names = st.sampled_from(["meta.json", "manifest.json", "usage.json"])
    counter = itertools.count()

    @examples(request, 80, 1500)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        TRIED["metadata files"] += 1
        shutil.rmtree(cache.path / key, ignore_errors=True)
        shutil.copytree(entry, cache.path / key, symlinks=True)
        name = data.draw(names)
        (cache.path / key / name).write_text(data.draw(damaged_json(valid[name])))
        dest = tmp_path / f"p{next(counter)}" / ".venv"
        for op in (lambda: cache.get(key), cache.entries, cache.stats, lambda: cache.verify(key),
                   lambda: cache.restore(key, dest), cache.prune, cache.keys):
            try:
                op()
            except VenvCacheError as exc:
                one_line_error(exc)
        if dest.exists():  # served: then it must be a working env
            assert check_env(dest, sources["one"]) == [] or name != "manifest.json"
        shutil.rmtree(dest.parent, ignore_errors=True)
        assert (outside / "victim.txt").read_text() == valid["meta.json"]["origin"]
        assert list(outside.iterdir()) == [outside / "victim.txt"]

    check()
    record_property("metadata_inputs", TRIED["metadata files"])


def test_numbers_too_large_for_a_float_are_unreadable_metadata(tmp_path: Path,
                                                              pristine: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    """JSON integers have no bound (the fuzz test's shrunk example): a ``last_used`` too large for a float costs the
    entry its LRU place only; such a ``created`` makes the entry unreadable (a miss), never an ``OverflowError``."""
    entry, valid = pristine
    cache = Cache(tmp_path / "cache", link_mode="copy")
    key = digest("huge numbers")
    shutil.copytree(entry, cache.path / key, symlinks=True)
    (cache.path / key / "usage.json").write_text(json.dumps({**valid["usage.json"], "last_used": 10 ** 400}))
    found = cache.get(key)
    assert found is not None and found.last_used == valid["meta.json"]["created"]
    (cache.path / key / "meta.json").write_text(json.dumps({**valid["meta.json"], "created": 10 ** 400}))
    assert cache.get(key) is None
    assert not cache.restore(key, tmp_path / "p" / ".venv").hit


def test_unusable_entries_are_pruned_not_kept_for_ever(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    cache = Cache(tmp_path / "cache", link_mode="copy")
    key = digest("broken meta")
    assert cache.store(key, sources["one"].path).stored
    meta = json.loads((cache.path / key / "meta.json").read_text())
    (cache.path / key / "meta.json").write_text(json.dumps({**meta, "created": "yesterday"}))
    (cache.path / key / "usage.json").write_text('{"last_used": "soon", "hits": Infinity}')
    assert cache.get(key) is None and cache.entries() == []
    assert cache.prune() == [key] and not (cache.path / key).exists()


# -- keys and paths ----------------------------------------------------------------------------------------------

BAD_KEYS = ["..", "../" + "a" * 61, "a" * 63 + "/", "a" * 32 + "\x00" + "a" * 31, "A" * 64, "a" * 65, "a" * 4096,
            "", "a" * 63 + "\n", "/" + "a" * 63, ".locks", "stats"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k)[:20] for k in BAD_KEYS])
def test_bad_keys_are_rejected_everywhere(tmp_path: Path, key: str, sources: dict[str, SourceEnv]) -> None:
    cache = Cache(tmp_path / "cache")
    calls = [lambda: cache.restore(key, tmp_path / "d"), lambda: cache.store(key, sources["one"].path),
             lambda: cache.remove(key), lambda: cache.verify_env(key, tmp_path), lambda: cache.lock(key),
             lambda: cache.is_complete(key), lambda: cache.entry_path(key), lambda: cache.publish(key, tmp_path)]
    for call in calls:
        with pytest.raises(VenvCacheError, match="is not a cache key") as err:
            call()
        one_line_error(err.value)
    with pytest.raises(VenvCacheError, match="is not a cache key"):
        cache.verify(key)
    outside = [p for p in tmp_path.iterdir() if p.name != "cache"]
    assert outside == [], "a bad key created something"


@pytest.mark.parametrize("arg", ["../..", "/etc", "a" * 300, "..%2f", "-1"])
def test_cli_rejects_bad_key_arguments(tmp_path: Path, arg: str, cli_env: dict[str, str]) -> None:
    project = write_project(tmp_path / "proj", tmp_path / "cache", "tinytool==1.0\n")
    for command in ("erase", "verify"):
        proc = run([*CLI, command, "--", arg], cli_env, project, check=False)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("virtualenv-cache: error: ")


def stored_one(tmp_path: Path, sources: dict[str, SourceEnv]) -> tuple[Cache, str]:
    cache = Cache(tmp_path / "cache", link_mode="copy")
    key = digest("paths")
    assert cache.store(key, sources["one"].path).stored
    return cache, key


def test_hostile_destinations_are_refused(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    cache, key = stored_one(tmp_path, sources)
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "code.py").write_text("precious\n")
    refused = [project, project / "src", tmp_path / "x\x00y", Path("/"), cache.path, cache.path / key,
               tmp_path, tmp_path / "project" / "src" / "code.py", cache.path / ".tmp" / "env"]
    for dest in refused:
        with pytest.raises(VenvCacheError) as err:
            cache.restore(key, dest)
        one_line_error(err.value)
    assert (project / "src" / "code.py").read_text() == "precious\n"
    assert cache.verify(key) == []
    long_name = tmp_path / ("v" * 250)
    with pytest.raises(VenvCacheError) as err:
        cache.restore(key, long_name)
    one_line_error(err.value)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_symlinked_destination_is_replaced_not_followed(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    cache, key = stored_one(tmp_path, sources)
    elsewhere = tmp_path / "elsewhere" / "venv"
    shutil.copytree(sources["two"].path, elsewhere, symlinks=True)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / ".venv").symlink_to(elsewhere)
    assert cache.restore(key, tmp_path / "proj" / ".venv").hit
    assert not (tmp_path / "proj" / ".venv").is_symlink()
    assert check_env(tmp_path / "proj" / ".venv", sources["one"]) == []
    assert (elsewhere / "pyvenv.cfg").is_file() and (elsewhere / "bin").is_dir()


def test_planted_names_in_tmp_and_stages_do_not_crash(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    cache, key = stored_one(tmp_path, sources)
    host = socket.gethostname()
    for name in (f"{host}-99999999999999999999-x", f"{host}-²-x", f"{host}--x", "-", f"{host}-0-x"):
        (cache.path / ".tmp" / name).mkdir()
    dest = tmp_path / "proj" / ".venv"
    dest.parent.mkdir()
    for name in (".venv.venvcache-99999999999999999999-x", ".venv.venvcache-²-x", ".venv.venvcache--"):
        (dest.parent / name).mkdir()
    cache.prune()
    cache.erase()
    assert cache.store(key, sources["one"].path).stored
    assert cache.restore(key, dest).hit


# -- symlinks planted inside the cache ---------------------------------------------------------------------------

def plant(cache: Cache, key: str, outside: Path) -> None:
    env = cache.path / key / "env"
    (env / "lib" / "escape-dir").symlink_to(outside)
    (env / "escape-file").symlink_to(outside / "keep.txt")
    (cache.path / key / "escape").symlink_to(outside)
    (cache.path / ".trash" / f"{key}-deadbeef").symlink_to(outside)
    (cache.path / ".tmp" / f"{socket.gethostname()}-1-planted").symlink_to(outside)


@pytest.mark.parametrize("how", ["erase", "remove", "evict", "quarantine", "expire"])
def test_planted_symlinks_are_never_followed_when_deleting(tmp_path: Path, sources: dict[str, SourceEnv],
                                                           how: str) -> None:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep.txt").write_text("keep\n")
    (outside / "sub" / "deep.txt").write_text("keep\n")
    cache = Cache(tmp_path / "cache", link_mode="copy", max_entries=5)
    key = digest(how)
    assert cache.store(key, sources["one"].path).stored
    plant(cache, key, outside)
    if how == "erase":
        cache.erase()
    elif how == "remove":
        assert cache.remove(key)
    elif how == "evict":
        cache.max_entries = 1
        assert cache.store(digest("newer"), sources["two"].path).evicted == [key]
    elif how == "quarantine":
        result = cache.restore(key, tmp_path / "proj" / ".venv")
        assert not result.hit and result.reason is MissReason.QUARANTINED
    elif how == "expire":
        cache.max_age = 0.0
        assert not cache.restore(key, tmp_path / "proj" / ".venv").hit
        cache.prune()
    assert not (cache.path / key).exists()
    assert (outside / "keep.txt").read_text() == "keep\n" and (outside / "sub" / "deep.txt").is_file()
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt", "sub"]


def test_entry_dir_itself_a_symlink(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    outside = tmp_path / "outside"
    cache, key = stored_one(tmp_path, sources)
    shutil.move(cache.path / key, outside)
    (cache.path / key).symlink_to(outside)
    assert cache.keys() == []
    assert not cache.restore(key, tmp_path / "proj" / ".venv").hit
    cache.erase()
    assert cache.remove(key)
    assert (outside / "env" / "pyvenv.cfg").is_file()


# -- permissions -------------------------------------------------------------------------------------------------

def test_cache_dir_is_created_private(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    old = os.umask(0)
    try:
        cache = Cache(tmp_path / "a" / "cache")
        assert cache.store(digest("private"), sources["one"].path).stored
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o700
    for sub in (".locks", ".tmp", ".trash"):
        assert stat.S_IMODE(os.stat(cache.path / sub).st_mode) == 0o700
    for lock in (cache.path / ".locks").iterdir():
        assert stat.S_IMODE(lock.stat().st_mode) & 0o077 == 0, lock


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o1777, 0o720, 0o702])
def test_writable_by_others_is_refused(tmp_path: Path, mode: int, sources: dict[str, SourceEnv]) -> None:
    """Also with ``shared = true`` once allowed it: that setting is gone (issue 16; see tests/security)."""
    path = tmp_path / "cache"
    path.mkdir()
    os.chmod(path, mode)
    key = digest("shared")
    for call in (lambda c: c.store(key, sources["one"].path), lambda c: c.restore(key, tmp_path / "d"), Cache.prune,
                 Cache.erase):
        with pytest.raises(VenvCacheError, match="writable by other users") as err:
            call(Cache(path))
        one_line_error(err.value)
    with pytest.raises(VenvCacheError, match="shared = true is gone"):
        config.from_mapping({"shared": True}, work_dir=tmp_path, source=None)


def test_cache_dir_of_another_user_is_refused(tmp_path: Path, sources: dict[str, SourceEnv]) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    path = tmp_path / "cache"
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)
    with pytest.raises(VenvCacheError, match="belongs to another user"):
        Cache(path).store(digest("theirs"), sources["one"].path)


def test_hostile_input_figures(record_property: pytest.RecordProperty) -> None:
    """Not a check: prints how many fuzzed inputs this process tried (with -s)."""
    print(f"fuzzed inputs: {dict(TRIED)} ({uuid.uuid4().hex[:4]})")
