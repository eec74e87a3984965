"""`viz plot`: every chart to real PNG/SVG files and one offline HTML report."""

from __future__ import annotations

import re
import shutil
import subprocess

import polars as pl
import pytest

from tests.viz_support import (
    Synthetic,
    assert_self_contained_html,
    png_size,
    write_big_nodes,
    write_run,
)
from viz import series
from viz.charts import HEIGHT, WIDTH
from viz.plot import plot_run
from viz.read import load_run

CHARTS = ("memory", "memory-requested", "capacity", "memory-per-pod", "timing")


def test_every_chart_as_png_svg_and_html(tmp_path):
    path = write_run(tmp_path / "runs", Synthetic(steps=150, capacity=100, runtime="kata"))
    out = tmp_path / "out"
    written = plot_run(path, out, ("html", "png", "svg"))
    assert len(written) == 2 * len(CHARTS) + 1 and all(p.parent == out for p in written)
    for chart in CHARTS:
        assert png_size(out / f"kata.{chart}.png") == (WIDTH, HEIGHT)
        svg = (out / f"kata.{chart}.svg").read_text()
        assert svg.startswith("<svg") and f'width="{WIDTH}"' in svg
    text = assert_self_contained_html(out / "kata.report.html")
    assert text.count('vegaEmbed("#chart') == len(CHARTS)
    # titles and subtitles say what was run, where and when
    assert (
        "kata, capacity, no-wait" in text and "simulated cluster" in text and "2026-11-23" in text
    )
    assert "saturation (step 101)" in text  # the capacity chart marks it
    assert "run ended: max-replicas" in text


def test_memory_table_has_cluster_sums_and_every_node_sample(tmp_path):
    syn = Synthetic(steps=80, nodes=4)
    run = load_run(write_run(tmp_path, syn))
    table = series.memory_table(run)
    counts = dict(table.data.group_by("level").len().iter_rows())
    assert counts == {"cluster sum": 2 * 80, "node": 2 * 80 * 4}  # active + free each
    assert table.notes == ()  # nothing aggregated, nothing left out
    free0 = table.data.filter(
        pl.col("level") == "node", pl.col("node") == "worker-0", pl.col("metric") == "free"
    ).sort("elapsed_s")["mib"][0]
    assert free0 == pytest.approx((syn.total_mib - syn.used()[0]) / 4)
    # each node sample carries the requested replicas of the step recorded before it
    req = table.data.filter(pl.col("level") == "node").sort("elapsed_s")["requested"]
    assert req.is_sorted() and req.min() == 1 and req.max() == 80


def test_default_output_is_beside_the_run(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=30))
    written = plot_run(path, None, ("svg",))
    assert {p.parent for p in written} == {tmp_path}


def test_run_without_memory_says_which_charts_are_missing(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=40))
    pl.read_csv(path).with_columns(
        pl.lit(None, pl.Float64).alias(c)
        for c in ("mem_total_mib", "mem_free_mib", "mem_active_mib")
    ).write_csv(path)
    (tmp_path / "runc.nodes.csv").unlink()
    written = plot_run(path, tmp_path / "o", ("html", "png"))
    names = {p.name for p in written}
    assert names == {"runc.capacity.png", "runc.timing.png", "runc.report.html"}
    text = (tmp_path / "o" / "runc.report.html").read_text()
    assert "memory: not drawn (no memory samples in this run)" in text


def test_million_row_node_file_plots_aggregated(tmp_path):
    syn = Synthetic(steps=400, capacity=300, mib_per_pod=150)
    path = write_run(tmp_path, syn, name="big")
    write_big_nodes(tmp_path / "big.nodes.csv", 1_000_000)
    run = load_run(path)
    assert run.nodes.height == 1_000_000
    table = series.memory_table(run)
    assert table.data.height <= 5000
    note = next(n for n in table.notes if n.startswith("node samples"))
    assert "1,000,000 rows averaged" in note
    assert any("1,000 node samples without values" in n for n in table.notes)
    # the aggregated means keep the data: overall mean free memory per node is preserved
    nodes = table.data.filter(pl.col("level") == "node", pl.col("metric") == "free")
    raw_mean = run.nodes["mem_free_mib"].mean()
    assert abs(nodes["mib"].mean() - raw_mean) < 0.01 * raw_mean
    written = plot_run(path, tmp_path / "out", ("html", "png"))
    assert png_size(tmp_path / "out" / "big.memory.png") == (WIDTH, HEIGHT)
    html = assert_self_contained_html(tmp_path / "out" / "big.report.html")
    assert "1,000,000 rows averaged into bins" in html
    assert len(written) == len(CHARTS) + 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_html_scripts_are_valid_javascript(tmp_path):
    """The embedded bundle and the chart calls parse as JavaScript modules (no broken escaping)."""
    path = write_run(tmp_path, Synthetic(steps=60))
    plot_run(path, tmp_path, ("html",))
    text = (tmp_path / "runc.report.html").read_text()
    scripts = re.findall(r'<script type="module">(.*?)</script>', text, re.S)
    assert len(scripts) == 2 and "vegaEmbed(" in scripts[1]
    for i, script in enumerate(scripts):
        module = tmp_path / f"script{i}.mjs"
        module.write_text(script)
        proc = subprocess.run(
            ["node", "--check", str(module)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr[-500:]
