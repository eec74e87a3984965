"""The original method's reference CSVs: figures, and every chart rendered from them.

Expected figures are computed here straight from the raw CSV with the csv module (not with the
code under test), then compared with what ``viz report --json`` finds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.viz_support import REFERENCE, assert_self_contained_html, png_size
from viz.charts import HEIGHT, WIDTH
from viz.cli import main
from viz.plot import plot_run

FREE_1GIB_KB = 1024 * 1024


def raw_figures(path: Path) -> dict:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    col = {name: header.index(name) for name in header[:8]}
    it = [int(r[col["Iteration"]]) for r in body]
    running = [int(r[col["Running"]]) for r in body]
    evicted = [int(r[col["Evicted"]]) for r in body]
    free = [int(r[col["Total Free Memory"]]) for r in body]
    top = max(running)
    return {
        "max_running": top,
        "max_running_iteration": it[running.index(top)],
        "max_evicted": max(evicted),
        "first_eviction": next((i for i, e in zip(it, evicted, strict=True) if e > 0), None),
        "free_below_1gib": next(
            (i for i, v in zip(it, free, strict=True) if v < FREE_1GIB_KB), None
        ),
        "rows": len(body),
    }


def viz_report(path: Path, capsys) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(path), "--json"])
    assert exit_info.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["runc", "kata", "runc-5pct-500m-fixed-timing"])
def test_report_matches_raw_csv(name, capsys):
    path = REFERENCE / f"{name}.csv"
    want = raw_figures(path)
    got = viz_report(path, capsys)
    fig = got["figures"]
    assert got["run"]["format"] == "original"
    assert got["run"]["steps"] == want["rows"]
    assert fig["max_running"]["value"] == want["max_running"]
    assert fig["max_running"]["step"] == want["max_running_iteration"]
    assert fig["evicted_listed_peak"]["value"] == want["max_evicted"]  # listed, as recorded
    assert fig["evicted_total"]["recorded"] is False  # the format has no cumulative count
    assert fig["eviction_onset"]["step"] == want["first_eviction"]
    assert fig["free_below_threshold"]["step"] == want["free_below_1gib"]


def test_raw_figures_are_the_ones_the_design_quotes():
    """The reference data itself: what the simulator is calibrated against."""
    runc, kata = raw_figures(REFERENCE / "runc.csv"), raw_figures(REFERENCE / "kata.csv")
    assert (runc["max_running"], runc["max_running_iteration"], runc["max_evicted"]) == (
        377,
        691,
        409,
    )
    assert (runc["free_below_1gib"], runc["first_eviction"]) == (161, 112)
    assert (kata["max_running"], kata["max_running_iteration"], kata["max_evicted"]) == (
        134,
        479,
        0,
    )
    assert kata["free_below_1gib"] == 65


def test_reference_memory_per_pod_is_near_the_workload_size(capsys):
    """runc pods run a 500 MiB workload: the linear-region slope must say about that."""
    fig = viz_report(REFERENCE / "runc.csv", capsys)["figures"]
    assert 450 < fig["mib_per_pod"]["value"] < 560
    kata = viz_report(REFERENCE / "kata.csv", capsys)["figures"]
    assert kata["mib_per_pod"]["value"] > fig["mib_per_pod"]["value"]


def test_every_chart_renders_from_reference_files(tmp_path):
    written = plot_run(REFERENCE / "kata.csv", tmp_path, ("html", "png"))
    names = {p.name for p in written}
    for chart in ("memory", "memory-requested", "capacity", "memory-per-pod", "timing"):
        assert f"kata.{chart}.png" in names
        assert png_size(tmp_path / f"kata.{chart}.png") == (WIDTH, HEIGHT)
    text = assert_self_contained_html(tmp_path / "kata.report.html")
    assert text.count('vegaEmbed("#chart') == 5
    assert "original method" in text and "134 at step 479" in text


def test_cpu_run_plots_memory_and_work(tmp_path):
    """The CPU runs' format (WorkUnits, WorkCount after Elapsed) draws every memory chart and the
    two work charts; no node CPU chart (the format has no CPU column), and the page says why."""
    written = plot_run(REFERENCE / "cpu-runc-100pct.csv", tmp_path, ("html",))
    text = assert_self_contained_html(written[0])
    assert text.count('vegaEmbed("#chart') == 7 and "c3d-2021/cpu-runc-100pct" in text
    assert "<h2>work</h2>" in text and "<h2>work-per-pod</h2>" in text
    assert "cpu: not drawn (no node CPU columns" in text
