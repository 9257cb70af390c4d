"""One process of the concurrency suite: seeded random store/restore/prune/erase/verify rounds on a shared cache.

Run as ``python relworker.py PLAN.json``; prints one JSON report on stdout. Every exception is caught and
reported (the suite counts them: there must be none), every restored env is checked against the manifest of the
venv it was stored from, and the console script runs on a sample of the restores.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from relsupport import SourceEnv, check_env

from venvcache_core import Cache

OPS = ("restore", "store", "prune", "remove", "verify", "erase")
WEIGHTS = (45, 28, 10, 9, 6, 2)


def main(plan_path: str) -> int:
    plan: dict[str, Any] = json.loads(Path(plan_path).read_text())
    rng = random.Random(plan["seed"])
    cache = Cache(plan["cache"], max_entries=plan["max_entries"], link_mode=plan["link_mode"])
    keys: dict[str, SourceEnv] = {key: SourceEnv.from_json(src) for key, src in plan["keys"].items()}
    dest = Path(plan["workdir"]) / "venv"
    ops: Counter[str] = Counter()
    corrupt: list[str] = []
    errors: list[str] = []
    restores = 0
    scripts_run = 0
    started = time.monotonic()
    for round_no in range(plan["rounds"]):
        op = rng.choices(OPS, WEIGHTS)[0]
        key = rng.choice(sorted(keys))
        source = keys[key]
        ops[op] += 1
        try:
            if op == "store":
                cache.store(key, source.path, replace=rng.random() < 0.2)
            elif op == "restore":
                result = cache.restore(key, dest)
                ops["hit" if result.hit else "miss"] += 1
                if result.hit:
                    restores += 1
                    sample = restores % plan["script_every"] == 0
                    scripts_run += sample
                    problems = check_env(dest, source, run_script=sample)
                    if problems:
                        corrupt.append(f"round {round_no} key {key[:8]} ({result.link_mode}): {problems[:5]}")
            elif op == "prune":
                cache.prune()
            elif op == "remove":
                cache.remove(key)
            elif op == "verify":
                problems = cache.verify(key)
                if problems and problems != [f"{key[:8]}: incomplete or missing entry"]:
                    corrupt.append(f"round {round_no} verify {key[:8]}: {problems[:5]}")
            elif op == "erase":
                cache.erase()
        except Exception as exc:  # the suite fails on any of these
            errors.append(f"round {round_no} {op} {key[:8]}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    report = {"ops": dict(ops), "corrupt": corrupt, "errors": errors, "restores": restores,
              "scripts_run": scripts_run, "seconds": time.monotonic() - started}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
