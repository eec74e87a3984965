"""viz on real simulated runs: `scaler run --runtime runc,kata` writes the files, viz reads them.

The runs are made by the load generator as a user runs it (a subprocess), so these tests check
the data contract end to end: the figures viz reports are compared with values computed here
from the raw CSV with the csv module.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.viz_support import assert_self_contained_html, png_size
from viz.charts import HEIGHT, WIDTH
from viz.compare import compare_runs
from viz.plot import plot_run
from viz.report import analyse

REPO = Path(__file__).resolve().parents[1]
# A simulated run measures its pods (run.pods.csv): the per-pod charts are drawn too; and its
# pods' work and its nodes' CPU (scaler.sim.cpu): the work and CPU charts.
CHARTS = ("memory", "memory-requested", "capacity", "memory-per-pod", "timing", "pod-cost",
          "pod-overhead", "pod-spread", "work", "work-per-pod", "cpu")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("matrix")
    cmd = [
        sys.executable, "-m", "scaler", "run", "--runtime", "runc,kata", "--mode", "no-wait",
        "--max-replicas", "150", "--quiet", "-o", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


# The cluster default runtime is written "default" by newer recorders and "runc" by older ones.
NAMES = {"runc": ("runc", "default"), "kata": ("kata",)}


def run_csv(matrix: Path, runtime: str) -> Path:
    found = sorted(p for name in NAMES[runtime] for p in matrix.glob(f"{name}*.csv"))
    found = [p for p in found if not p.name.endswith((".nodes.csv", ".pods.csv"))]
    assert len(found) == 1, found
    return found[0]


def raw(path: Path) -> dict:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    running = [int(r["running"]) for r in rows]
    steps = [int(r["step"]) for r in rows]
    free = [float(r["mem_free_mib"]) if r["mem_free_mib"] else None for r in rows]
    evicted = [int(r["evicted"]) for r in rows]
    top = max(running)
    return {
        "max": top,
        "max_step": steps[running.index(top)],
        "free_step": next(
            (s for s, v in zip(steps, free, strict=True) if v is not None and v < 1024), None
        ),
        "evicted": max(evicted),
        "first_eviction": next((s for s, e in zip(steps, evicted, strict=True) if e > 0), None),
    }


@pytest.mark.parametrize("runtime", ["runc", "kata"])
def test_report_of_simulated_run_matches_raw_csv(matrix, runtime):
    path = run_csv(matrix, runtime)
    want = raw(path)
    got = analyse(path)
    fig = got["figures"]
    assert got["run"]["runtime"] in NAMES[runtime] and got["run"]["simulated"] is True
    assert (fig["max_running"]["value"], fig["max_running"]["step"]) == (
        want["max"],
        want["max_step"],
    )
    assert fig["free_below_threshold"]["step"] == want["free_step"]
    assert fig["evicted_total"]["value"] == want["evicted"]
    assert fig["eviction_onset"]["step"] == want["first_eviction"]


@pytest.mark.parametrize("runtime", ["runc", "kata"])
def test_every_chart_from_simulated_run(matrix, runtime, tmp_path):
    written = plot_run(run_csv(matrix, runtime), tmp_path, ("html", "png"))
    pngs = [p for p in written if p.suffix == ".png"]
    assert sorted(p.name.split(".")[1] for p in pngs) == sorted(CHARTS)
    assert all(png_size(p) == (WIDTH, HEIGHT) for p in pngs)
    html = assert_self_contained_html(next(p for p in written if p.suffix == ".html"))
    assert "capacity, no-wait" in html and "simulated cluster" in html


def test_matrix_run_ends_with_viz_comparison(matrix):
    """`scaler run --runtime runc,kata` calls compare_runs; its files are complete."""
    cmp_dir = next(p for p in matrix.rglob("compare.json")).parent
    data = json.loads((cmp_dir / "compare.json").read_text())
    labels = sorted(g["label"] for g in data["groups"])
    assert labels in (["kata", "runc"], ["default (runc)", "kata"], ["default", "kata"])
    assert data["baseline"] == next(lab for lab in labels if lab != "kata")
    assert {r["kind"] for r in data["ratios"]} == {"runtime"}
    assert_self_contained_html(cmp_dir / "compare.html")
    assert png_size(cmp_dir / "compare.capacity.png") == (WIDTH, HEIGHT)


def test_kata_costs_more_memory_per_pod_than_runc(matrix, tmp_path):
    compare_runs([run_csv(matrix, "kata"), run_csv(matrix, "runc")], tmp_path, ("svg",))
    ratios = {
        r["name"]: r["value"] for r in json.loads((tmp_path / "compare.json").read_text())["ratios"]
    }
    assert ratios["mib_per_pod"] > 1.2
    assert ratios["max_running"] > 1.0
