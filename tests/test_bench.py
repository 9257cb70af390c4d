"""Keep ``benchmarks/bench.py`` from rotting: its smallest real piece end to end, and its output formats.

No timing is asserted: only that the scenarios ran, and that ``--json`` has exactly the keys the issue fixes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
RATIOS = {"tox_warm_default_excess_over_toxuv_excess", "nox_warm_default_excess_over_nox_uv_excess",
          "tox_warm_hardlink_excess_over_cp_al", "restore_fixed_overhead_seconds", "store_overhead_fraction",
          "ci_fresh_runner_remote_over_uv_restored_cache", "ci_fresh_runner_s3_over_uv_restored_cache",
          "tox_warm_excess_over_cp_a", "nox_warm_excess_over_cp_a", "restore_copy_over_cp_a",
          "restore_hardlink_over_cp_al", "tox_cold_over_tox_warm", "toxuv_warm_over_tox_warm",
          "list_200_seconds", "prune_200_seconds"}
JSON_KEYS = {"mode", "seconds", "in_process", "ratios", "bytes", "machine"}


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
    seconds.update(tox_warm=1.5, tox_reuse=0.9, toxuv_warm_uv_cache=4.5, toxuv_reuse=1.5, tox_warm_hardlink=1.2,
                   nox_warm=1.0, nox_reuse=0.5, nox_uv_warm_uv_cache=2.5, nox_uv_reuse=0.5, cp_a=0.6, cp_al=0.25,
                   restore_hardlink=0.4, tox_cold=18.0, store=1.0, ci_pip_wheel_cache=20.0, ci_remote_file=1.4,
                   ci_uv_cache_tarball=2.0, list_200=0.1)
    ratios = bench.compute_ratios(seconds, {"restore_hardlink": 0.28})
    assert set(ratios) == RATIOS
    assert ratios["tox_warm_default_excess_over_toxuv_excess"] == pytest.approx(0.6 / 3.0)
    assert ratios["nox_warm_default_excess_over_nox_uv_excess"] == pytest.approx(0.5 / 2.0)
    assert ratios["tox_warm_hardlink_excess_over_cp_al"] == pytest.approx(0.3 / 0.25)
    assert ratios["restore_fixed_overhead_seconds"] == pytest.approx(0.03)  # in-process restore - cp -al
    assert ratios["ci_fresh_runner_remote_over_uv_restored_cache"] == pytest.approx(0.7)
    assert ratios["tox_warm_excess_over_cp_a"] == pytest.approx(1.0)
    assert ratios["tox_cold_over_tox_warm"] == pytest.approx(12.0)
    assert ratios["toxuv_warm_over_tox_warm"] == pytest.approx(3.0)
    assert ratios["store_overhead_fraction"] == pytest.approx(0.05)
    assert ratios["list_200_seconds"] == 0.1
    assert ratios["ci_fresh_runner_s3_over_uv_restored_cache"] is None  # a failed or skipped scenario: no ratio
    assert ratios["restore_copy_over_cp_a"] is None
    assert bench.compute_ratios(seconds)["restore_fixed_overhead_seconds"] is None  # no in-process figure


def _bench_with(bench: ModuleType, tmp_path: Path, seconds: dict[str, float]) -> object:
    """A Bench whose scenarios carry ``seconds`` as their one sample; every other scenario did not run."""
    made = bench.Bench(mode="quick", runs=1, work=tmp_path, python_version="3.12", groups=bench.GROUPS)
    for name, scenario in made.scenarios.items():
        if name in seconds:
            scenario.samples = [seconds[name]]
        else:
            scenario.error = "not run (--only)"
    return made


def test_plot_draws_each_measured_warm_scenario_and_cuts_the_cold_ones(bench: ModuleType, tmp_path: Path) -> None:
    seconds = {"tox_warm": 0.8, "tox_warm_copy": 2.5, "toxuv_warm_uv_cache": 1.9, "tox_reuse": 0.5, "tox_cold": 19.0,
               "ci_remote_file": 1.1, "ci_uv_cache_tarball": 1.6}
    made = _bench_with(bench, tmp_path, seconds)
    made.scenarios["nox_warm"].error = "exited 1"  # failed: no bar, not a zero
    svg = ET.fromstring(bench.plot_svg(made))
    ns = "{http://www.w3.org/2000/svg}"
    bars = {title.text.split(":")[0]: rect for rect in svg.iter(f"{ns}rect")
            for title in rect.iter(f"{ns}title")}
    assert set(bars) == set(seconds)
    widths = {name: float(rect.get("width")) for name, rect in bars.items()}
    assert widths["tox_warm"] < widths["toxuv_warm_uv_cache"] < widths["tox_warm_copy"]
    assert widths["tox_warm_copy"] / widths["tox_warm"] == pytest.approx(2.5 / 0.8, rel=0.01)  # one linear axis
    assert widths["tox_cold"] == max(widths.values())  # cut at the axis end, not 19/2.5 times longer
    assert widths["tox_cold"] < widths["tox_warm_copy"] * 19.0 / 2.5
    colours = {name: rect.get("fill") for name, rect in bars.items()}
    assert colours["tox_warm"] == colours["ci_remote_file"] != colours["toxuv_warm_uv_cache"]
    assert colours["toxuv_warm_uv_cache"] == colours["ci_uv_cache_tarball"]
    assert len({colours["tox_warm"], colours["toxuv_warm_uv_cache"], colours["tox_reuse"], colours["tox_cold"]}) == 4
    text = " ".join(t.text or "" for t in svg.iter(f"{ns}text"))
    assert "19.00" in text and "tox reusing its own .tox" in text and "fresh CI runner" in text


def test_markdown_names_skipped_link_modes_and_sizes(bench: ModuleType, tmp_path: Path) -> None:
    made = _bench_with(bench, tmp_path, {"tox_warm": 0.8, "cp_al": 0.2})
    made.scenarios["tox_warm_reflink"].error = "not run: this file system cannot reflink"
    made.sizes.update(env_bytes=273_000_000, env_files=14_606, pack_bytes=81_000_000,
                      uv_cache_tarball_bytes=57_000_000, uv_cache_dir_bytes=300_000_000)
    text = bench.markdown(made, "python benchmarks/bench.py --quick")
    assert "| tox -e py312: fresh .tox, warm cache, defaults" in text
    assert "reflink (ours)" not in text  # a skipped scenario has no row ...
    assert "tox_warm_reflink (this file system cannot reflink)" in text  # ... but is named
    assert "venvcache pack 81.0 MB" in text and "uv cache tarball (zstd) 57.0 MB" in text
    assert "| `restore_fixed_overhead_seconds` | n/a |" in text


def test_quick_scale_group_writes_json_and_markdown(bench: ModuleType, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``--quick --only scale``: real entries, ``list`` and ``prune`` run as processes, outputs written.

    20 entries instead of 200 keep it quick; the code path is the same. The warm-up round stays here (it is cheap
    in this group): its runs are logged and not counted.
    """
    monkeypatch.setattr(bench, "SCALE_ENTRIES", 20)
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    code = bench.main(["--quick", "--runs", "1", "--only", "scale", "--python", version, "--work-dir",
                       str(tmp_path / "work"), "--keep", "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 0
    data = json.loads(out_json.read_text())
    assert set(data) == JSON_KEYS
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
    out, err = capsys.readouterr()
    assert "virtualenv-cache prune, 20 entries" in out
    for name in ("list_200", "prune_200"):
        assert err.count(f"warm-up: {name} ") == 1 and err.count(f"run 1/1: {name} ") == 1, err
        counted = float(err.split(f"run 1/1: {name} ")[1].split(" s")[0])
        assert abs(data["seconds"][name] - counted) < 0.001, err  # the median of the timed run alone


@pytest.mark.slow
def test_quick_core_and_ci_groups_run_for_real(bench: ModuleType, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``--quick --only core,ci``: real stores and restores, the file:// and S3 remotes, uv from a cache tarball.

    3 modules per wheel instead of 200 and no warm-up round (it repeats the timed round: a pip install, every
    scenario once more) keep it to a few venvs' worth of time; the code path is the same.
    """
    monkeypatch.setattr(bench, "QUICK_MODULES", 3)
    monkeypatch.setattr(bench, "WARMUP_ROUNDS", 0)
    out_json, plot = tmp_path / "bench.json", tmp_path / "bench.svg"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    code = bench.main(["--quick", "--runs", "1", "--only", "core,ci", "--python", version, "--work-dir",
                       str(tmp_path / "work"), "--json", str(out_json), "--plot", str(plot)])
    assert code == 0
    err = capsys.readouterr().err
    data = json.loads(out_json.read_text())
    assert set(data) == JSON_KEYS
    for name in ("store", "cp_a", "restore_copy", "cp_al", "restore_hardlink", "ci_remote_file", "ci_remote_s3",
                 "ci_uv_cache_tarball", "ci_pip_wheel_cache"):
        assert data["seconds"][name] is not None and data["seconds"][name] > 0, (name, err)
    assert data["seconds"]["tox_warm"] is None
    assert data["in_process"]["restore_hardlink"] > 0
    assert data["ratios"]["restore_fixed_overhead_seconds"] is not None
    assert data["ratios"]["ci_fresh_runner_remote_over_uv_restored_cache"] is not None
    assert data["bytes"]["pack_bytes"] > 0 and data["bytes"]["uv_cache_tarball_bytes"] > 0
    assert data["bytes"]["env_files"] > 100
    titles = [t.text for t in ET.fromstring(plot.read_text()).iter("{http://www.w3.org/2000/svg}title")]
    assert {t.split(":")[0] for t in titles} == {"ci_remote_file", "ci_remote_s3", "ci_uv_cache_tarball",
                                                 "ci_pip_wheel_cache"}


def test_rmtree_moves_trees_aside_during_a_run_and_deletes_without_a_trash(bench: ModuleType, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario's tree leaves its place at once, but its inodes are freed only at the end (see ``rmtree``)."""
    tree = tmp_path / "env"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "mod.py").write_text("x = 1\n")
    trash = tmp_path / "trash"
    monkeypatch.setattr(bench, "TRASH", [trash])
    bench.rmtree(tree)
    assert not tree.exists()
    assert [p.read_text() for p in trash.rglob("mod.py")] == ["x = 1\n"]

    monkeypatch.setattr(bench, "TRASH", [])
    (tree / "lib").mkdir(parents=True)
    bench.rmtree(tree)
    assert not tree.exists() and len(list(trash.rglob("mod.py"))) == 1


def test_bench_partial_locks_and_table(tmp_path: Path) -> None:
    """``bench_partial.py``: the quick lock pins every wheel once (the bumped one at the asked version), and the
    table prints each front end's four scenarios and the ratios per machine."""
    spec = importlib.util.spec_from_file_location("venvcache_bench_partial", BENCH.parent / "bench_partial.py")
    assert spec and spec.loader
    partial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(partial)
    lock = partial.quick_lock(tmp_path, sys.executable)
    old, new = lock.pins(lock.old), lock.pins(lock.new)
    assert len(old) == len(new) == 40 and set(old) ^ set(new) == {"benchpkg00==1.0", "benchpkg00==2.0"}
    assert lock.direct("2.0")[0] == "benchpkg00==2.0" and lock.code.endswith(f"print('{partial.IMPORTED}')")
    names = [f"{f} {k} {m}" for m in partial.MACHINES for f in partial.FRONTS for k in partial.KINDS]
    medians = {name: float(i + 1) for i, name in enumerate(names)}
    text = partial.table(medians, {name: [value] for name, value in medians.items()})
    assert text.count("| ratio partial / cold |") == 2
    assert "| partial: nearest entry, sync, store | 2.00 (2.0) | 6.00 (6.0) |" in text
    assert "| ratio partial / uv alone | 0.50 | 0.75 |" in text  # tox 2/4, CLI 6/8 on the CI runner
