"""``tox p`` on one cold cache: every env stores once, the next fresh run hits everywhere, no entry is damaged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers import have_python
from venvcache_core import Cache

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not have_python("3.11"), reason="python3.11 is not available")
def test_parallel_twice_on_shared_cold_cache(make_project: Callable[..., object]) -> None:
    project = make_project("""
        runner = uv-venv-runner
        deps = tinydep==1.0
        commands = tinydep

        [testenv:py312-same]
        base_python = python3.12
    """)
    envs = "py311,py312,py312-same"  # py312 and py312-same have equal keys: two writers of one entry
    cold = project.tox("p", "-e", envs, "-o")
    results = {env: result for env, (result, _) in cold.results().items()}
    assert results["py311"] == "miss", cold.out
    # the two py312 envs race: both miss (then the second writer finds the entry there) or one restores the other's
    assert sorted([results["py312"], results["py312-same"]]) in (["miss", "miss"], ["hit", "miss"]), cold.out
    assert cold.key("py312") == cold.key("py312-same") != cold.key("py311")
    keys = project.entries()
    assert len(keys) == 2, cold.out

    project.fresh()
    warm = project.tox("p", "-e", envs, "-o")
    assert {env: result for env, (result, _) in warm.results().items()} == dict.fromkeys(envs.split(","), "hit"), \
        warm.out
    assert warm.out.count("tinydep 1.0") == 3
    cache = Cache(project.cache)
    assert cache.keys() == keys
    assert {key: cache.verify(key) for key in keys} == {key: [] for key in keys}
    assert cache.stats()["hits"] == 3 + (results["py312"] == "hit") + (results["py312-same"] == "hit")
    assert not list((project.cache / ".tmp").iterdir())  # no leftovers of the losing writer
