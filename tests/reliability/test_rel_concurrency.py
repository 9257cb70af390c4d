"""Suite 1 — concurrency: N processes × R rounds of store/restore/prune/remove/erase/verify on one small cache.

``cache_size`` is smaller than the number of keys, so every store evicts. After every restore the worker checks the
env against the manifest of the venv it came from (and runs the console script on a sample). Result required: no
corrupt restore, no exception in any process, no temp dir, stage or lock file left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from relsupport import SourceEnv, digest

from venvcache_core import Cache

WORKER = Path(__file__).with_name("relworker.py")


def leftovers(cache: Path, workdirs: list[Path]) -> list[str]:
    """Everything a finished run must not leave behind."""
    found = [f".tmp/{p.name}" for p in (cache / ".tmp").iterdir()]
    found += [f".trash/{p.name}" for p in (cache / ".trash").iterdir()]
    found += [p.name for p in cache.iterdir() if p.name.startswith(".stats.json.")]
    for entry in cache.iterdir():
        if len(entry.name) == 64:
            found += [f"{entry.name[:8]}/{p.name}" for p in entry.iterdir() if p.name.startswith(".")]
    for work in workdirs:
        found += [f"{work.name}/{p.name}" for p in work.iterdir() if ".venvcache-" in p.name]
    return found


def run_workers(tmp_path: Path, sources: dict[str, SourceEnv], *, processes: int, rounds: int, max_entries: int,
                seed: int) -> tuple[list[dict[str, object]], Path, list[Path]]:
    cache = tmp_path / "cache"
    keys = {digest(f"key-{i}"): sources[name] for i, name in enumerate(["one", "two", "dep", "one"])}
    workdirs = []
    procs = []
    for n in range(processes):
        work = tmp_path / f"w{n}"
        work.mkdir()
        workdirs.append(work)
        plan = {"cache": str(cache), "max_entries": max_entries, "link_mode": "hardlink" if n % 2 else "copy",
                "seed": seed * 1000 + n, "rounds": rounds, "workdir": str(work), "script_every": 4,
                "keys": {key: src.to_json() for key, src in keys.items()}}
        (work / "plan.json").write_text(json.dumps(plan))
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(work / "plan.json")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, f"worker died ({proc.returncode}): {err[-3000:]}"
        reports.append(json.loads(out))
    return reports, cache, workdirs


def test_processes_hammering_one_cache(tmp_path: Path, sources: dict[str, SourceEnv], soak: bool,
                                       record_property: pytest.RecordProperty) -> None:
    processes, rounds = (8, 60) if soak else (4, 30)
    reports, cache_path, workdirs = run_workers(tmp_path, sources, processes=processes, rounds=rounds,
                                                max_entries=2, seed=7)
    errors = [e for r in reports for e in r["errors"]]  # type: ignore[attr-defined]
    corrupt = [c for r in reports for c in r["corrupt"]]  # type: ignore[attr-defined]
    hits = sum(r["ops"].get("hit", 0) for r in reports)  # type: ignore[attr-defined]
    stores = sum(r["ops"].get("store", 0) for r in reports)  # type: ignore[attr-defined]
    scripts = sum(r["scripts_run"] for r in reports)  # type: ignore[misc]
    summary = f"{processes} processes x {rounds} rounds: {hits} checked restores, {stores} stores, {scripts} scripts"
    record_property("concurrency", summary)
    print(summary)
    assert not errors, "\n".join(errors[:5])
    assert not corrupt, "\n".join(corrupt[:10])
    assert hits > 0, "no restore ever hit: the run proves nothing"

    cache = Cache(cache_path, max_entries=2)
    assert leftovers(cache_path, workdirs) == []
    cache.prune()
    keys = cache.keys()
    assert len(keys) <= 2
    for key in keys:
        assert cache.verify(key) == []
    locks = sorted(p.name for p in (cache_path / ".locks").iterdir())
    assert set(locks) <= {f"{key}.lock" for key in keys} | {"stats.lock"}, f"lock files left: {locks}"
