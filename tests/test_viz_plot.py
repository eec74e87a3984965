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
    assert "knee (step 101)" in text  # the capacity chart marks it
    assert "run ended: max-replicas" in text


def test_memory_table_has_cluster_sums_and_every_node_sample(tmp_path):
    syn = Synthetic(steps=80, nodes=4)
    run = load_run(write_run(tmp_path, syn))
    table = series.memory_table(run)
    data = table.frame
    counts = dict(data.group_by(pl.col("node") == "cluster sum").len().iter_rows())
    assert counts == {True: 80, False: 80 * 4}  # one row each, active and free side by side
    assert table.notes == ()  # nothing aggregated, nothing left out
    free0 = data.filter(pl.col("node") == "worker-0").sort("elapsed_s")["free"][0]
    assert free0 == pytest.approx((syn.total_mib - syn.used()[0]) / 4, abs=0.5)
    # each node sample carries the requested replicas of the step recorded before it
    req = data.filter(pl.col("node") != "cluster sum").sort("elapsed_s")["requested"]
    assert req.is_sorted() and req.min() == 1 and req.max() == 80


def test_page_carries_each_dataset_once_and_images_only_when_asked(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=60))
    written = plot_run(path, tmp_path / "o")  # default: the HTML report alone
    assert [p.name for p in written] == ["runc.report.html"]
    text = (tmp_path / "o" / "runc.report.html").read_text()
    # memory over time and against requested replicas draw one table, written once
    assert text.count('"memory": "elapsed_s,') == 1
    assert text.count('"name": "memory"') == 2


def test_unfinished_run_is_marked_on_every_chart(tmp_path):
    path = write_run(tmp_path, Synthetic(steps=60, end_reason="interrupted"))
    plot_run(path, tmp_path / "o", ("html", "svg"))
    for chart in CHARTS:
        svg = (tmp_path / "o" / f"runc.{chart}.svg").read_text()
        assert "[INTERRUPTED]" in svg and "run did not finish (interrupted)" in svg
    html = (tmp_path / "o" / "runc.report.html").read_text()
    assert "RUN DID NOT FINISH (interrupted)" in html


def test_state_chart_shows_failure_modes(tmp_path):
    """Restarts, sandbox deaths and listed evictions get lines of their own; counters that never
    moved are named in the subtitle instead of drawn flat."""
    syn = Synthetic(steps=200, capacity=120, failures=True, restarts_from=130)
    path = write_run(tmp_path, syn)
    plot_run(path, tmp_path / "o", ("svg",))
    svg = (tmp_path / "o" / "runc.capacity.svg").read_text()
    for label in ("restarts", "sandbox/VM deaths", "evicted (listed)", "evictions",
                  "FailedScheduling", "cumulative count"):  # fmt: skip
        assert label in svg, label
    assert "never above 0: creating, terminating, failed, OOM kills, FailedCreate" in svg


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
    assert table.frame.height <= series.CLUSTER_POINTS + series.NODE_POINTS
    note = next(n for n in table.notes if n.startswith("node samples"))
    assert "1,000,000 rows averaged" in note
    assert any("1,000 node samples without values" in n for n in table.notes)
    # the aggregated means keep the data: overall mean free memory per node is preserved
    nodes = table.frame.filter(pl.col("node") != "cluster sum")
    raw_mean = run.nodes["mem_free_mib"].mean()
    assert abs(nodes["free"].mean() - raw_mean) < 0.01 * raw_mean
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


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_html_page_hands_each_chart_its_data(tmp_path):
    """Run the page's chart script under node with a recording vegaEmbed: every chart receives
    a spec whose named datasets are filled in, and that spec renders (vl-convert) to the same
    picture as the exported image's spec."""
    import json as _json

    import vl_convert as vlc

    path = write_run(tmp_path, Synthetic(steps=60))
    plot_run(path, tmp_path, ("html",))
    text = (tmp_path / "runc.report.html").read_text()
    script = re.findall(r'<script type="module">(.*?)</script>', text, re.S)[1]
    module = tmp_path / "page.mjs"
    module.write_text(
        "const seen = [];\nglobalThis.vegaEmbed = (id, spec) => seen.push([id, spec]);\n"
        + script
        + "\nconsole.log(JSON.stringify(seen));\n"
    )
    proc = subprocess.run(["node", str(module)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]
    seen = _json.loads(proc.stdout)
    assert [i for i, _ in seen] == [f"#chart{k}" for k in range(len(CHARTS))]
    for _, spec in seen:
        assert spec["data"]["name"] in spec["datasets"]
        assert vlc.vegalite_to_svg(spec).startswith("<svg")


def test_axis_labels_never_overlap(tmp_path):
    """The original memory chart printed "8,5009,000" at the end of its time axis: every chart's
    visible axis labels must stand apart (measured on the rendered SVG)."""
    from tests.viz_support import REFERENCE, overlapping_axis_labels

    written = plot_run(REFERENCE / "runc.csv", tmp_path, ("svg",))
    assert len(written) == len(CHARTS)
    for svg in written:
        assert overlapping_axis_labels(svg.read_text()) == [], svg.name


def test_image_helper_renders_its_share_and_never_outlives_a_failure(tmp_path):
    """Images render on this process and a helper process (started before the run is read);
    the helper must really do its share, and bad input must not leave it behind."""
    import os

    from viz.datasets import Dataset, with_data
    from viz.errors import VizInputError
    from viz.render import Renderer

    data = Dataset("d", pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": [3.0, 1.0, 2.0]}))
    spec = with_data({"data": data.ref().to_dict(), "mark": "line", "encoding": {
        "x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}}},
        {"d": data})  # fmt: skip
    jobs = [(spec, tmp_path / f"i{k}.png", "png") for k in range(4)]
    with Renderer() as renderer:
        renderer.render(jobs)
        helped = renderer.by_helper
    assert all(png_size(path) for _, path, _ in jobs)
    if (os.cpu_count() or 1) >= 2:
        assert helped == 2
    with pytest.raises(VizInputError), Renderer() as renderer:
        pid = renderer.pid
        raise VizInputError("bad input")
    assert pid is None or not os.path.exists(f"/proc/{pid}")


def test_state_chart_fits_its_axis_to_the_pods_when_counters_would_flatten_them(tmp_path):
    """A long run past saturation counts thousands of failed set-ups for ~100 pods: the axis is
    fitted to the pods and the counters cut at its top are named with their highest value."""
    syn = Synthetic(steps=200, capacity=120, failures=True)
    path = write_run(tmp_path, syn)
    df = pl.read_csv(path)
    df.with_columns((pl.col("step") * 20).alias("sandbox_failures")).write_csv(path)
    plot_run(path, tmp_path / "o", ("svg",))
    svg = (tmp_path / "o" / "runc.capacity.svg").read_text()
    top = int(df["step"].max()) * 20
    assert f"axis fitted to the pods; dashed counts past its top: sandbox failures up to {top:,}" in svg
    assert ">4,000<" not in svg  # no tick near the counter's top: the axis stops near 200 pods
    # counters within reach keep the axis whole
    plot_run(write_run(tmp_path / "plain", syn), tmp_path / "p", ("svg",))
    assert "axis fitted" not in (tmp_path / "p" / "runc.capacity.svg").read_text()
