"""Keep ``benchmarks/bench.py`` from rotting: its smallest real piece end to end, and its output formats.

No timing is asserted: only that the scenarios ran, and that ``--json`` has exactly the keys the issue fixes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
RATIOS = {"tox_warm_excess_over_cp_a", "nox_warm_excess_over_cp_a", "restore_copy_over_cp_a",
          "restore_hardlink_over_cp_al", "tox_cold_over_tox_warm", "toxuv_warm_over_tox_warm",
          "store_overhead_fraction", "list_200_seconds", "prune_200_seconds"}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("venvcache_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_ratios_follow_the_issue_formulas(bench: ModuleType) -> None:
    seconds = {name: None for name, _, _ in bench.SCENARIOS}
    seconds.update(tox_warm=1.5, tox_reuse=0.9, cp_a=0.6, tox_cold=18.0, toxuv_warm_uv_cache=4.5, store=1.0,
                   install_cold=20.0, list_200=0.1)
    ratios = bench.compute_ratios(seconds)
    assert set(ratios) == RATIOS
    assert ratios["tox_warm_excess_over_cp_a"] == pytest.approx(1.0)
    assert ratios["tox_cold_over_tox_warm"] == pytest.approx(12.0)
    assert ratios["toxuv_warm_over_tox_warm"] == pytest.approx(3.0)
    assert ratios["store_overhead_fraction"] == pytest.approx(0.05)
    assert ratios["list_200_seconds"] == 0.1
    assert ratios["nox_warm_excess_over_cp_a"] is None  # a failed or skipped scenario gives no ratio
    assert ratios["restore_copy_over_cp_a"] is None


def test_quick_scale_group_writes_json_and_markdown(bench: ModuleType, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``--quick --only scale``: real entries, ``list`` and ``prune`` run as processes, outputs written.

    20 entries instead of 200 keep it quick; the code path is the same.
    """
    monkeypatch.setattr(bench, "SCALE_ENTRIES", 20)
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    code = bench.main(["--quick", "--runs", "1", "--only", "scale", "--python", version, "--work-dir",
                       str(tmp_path / "work"), "--keep", "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    data = json.loads(out_json.read_text())
    assert set(data) == {"mode", "seconds", "ratios"}
    assert data["mode"] == "quick"
    assert set(data["ratios"]) == RATIOS
    assert set(data["seconds"]) == {name for name, _, _ in bench.SCENARIOS}
    assert data["seconds"]["list_200"] > 0 and data["seconds"]["prune_200"] > 0, capsys.readouterr().err
    assert data["ratios"]["list_200_seconds"] == data["seconds"]["list_200"]
    assert data["seconds"]["tox_cold"] is None  # not run: null, never a made-up number
    markdown = out_md.read_text()
    assert "| virtualenv-cache list, 20 entries |" in markdown
    assert "`list_200_seconds`" in markdown
    assert (tmp_path / "work" / "scale" / "cache").is_dir()  # --keep (pytest removes tmp_path later)
    assert "virtualenv-cache prune, 20 entries" in capsys.readouterr().out
