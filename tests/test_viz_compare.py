"""`viz compare` / compare_runs: overlays, side-by-side figures and overhead ratios."""

from __future__ import annotations

import json

import pytest

from tests.viz_support import REFERENCE, Synthetic, assert_self_contained_html, png_size, write_run
from viz.charts import HEIGHT, WIDTH
from viz.cli import main
from viz.compare import compare_runs, run_labels
from viz.errors import VizInputError
from viz.run import RunMeta


def test_ratios_from_known_runs(tmp_path):
    runc = write_run(tmp_path, Synthetic(runtime="runc", capacity=150, mib_per_pod=420))
    kata = write_run(tmp_path, Synthetic(runtime="kata", capacity=60, mib_per_pod=840))
    # kata first on the command line: the baseline is still runc
    written = compare_runs([kata, runc], tmp_path / "cmp", ("html", "png"))
    names = {p.name for p in written}
    assert {"compare.json", "compare.html", "compare.capacity.png", "compare.timing.png"} <= names
    for p in written:
        if p.suffix == ".png":
            assert png_size(p) == (WIDTH, HEIGHT)
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert data["baseline"] == "runc"
    assert [r["label"] for r in data["runs"]] == ["kata", "runc"]
    ratios = {r["name"]: r["value"] for r in data["ratios"]}
    assert ratios["mib_per_pod_linear"] == pytest.approx(2.0)
    assert ratios["max_running"] == pytest.approx(150 / 60)
    # at saturation: (used - first) / running = m * (C - 1) / C for each run
    assert ratios["mib_per_pod_at_saturation"] == pytest.approx((840 * 59 / 60) / (420 * 149 / 150))
    html = assert_self_contained_html(tmp_path / "cmp" / "compare.html")
    assert "overhead ratios" in html and "kata / runc" in html and "2.00" in html


def test_labels_use_what_differs():
    a = RunMeta(runtime="kata", scenario="capacity", mode="wait")
    b = RunMeta(runtime="kata", scenario="hungry", mode="wait")
    assert run_labels([a, b], ["x", "y"]) == ["capacity", "hungry"]
    assert run_labels([a, a], ["x", "y"]) == ["kata (x)", "kata (y)"]
    c = RunMeta(runtime="runc", scenario="hungry", mode="wait")
    assert run_labels([a, c], ["x", "y"]) == ["kata capacity", "runc hungry"]


def test_compare_cli_prints_table(tmp_path, capsys):
    runc = write_run(tmp_path, Synthetic(runtime="runc"))
    kata = write_run(tmp_path, Synthetic(runtime="kata", mib_per_pod=960))
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(runc), str(kata), "-o", str(tmp_path / "c"), "--format", "svg"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "MiB per pod (linear region), kata / runc: 2.00" in out
    assert (tmp_path / "c" / "compare.capacity.svg").exists()


def test_compare_new_run_with_reference_run(tmp_path):
    """Old runs re-plotted next to new ones: the original format mixes with the contract."""
    new = write_run(tmp_path, Synthetic(runtime="kata", steps=120))
    written = compare_runs([REFERENCE / "runc.csv", new], tmp_path / "o", ("html",))
    data = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert [r["label"] for r in data["runs"]] == ["runc original method", "kata simulated"]
    assert data["runs"][0]["figures"]["max_running"]["value"] == 377
    assert {p.name for p in written} == {"compare.json", "compare.html"}


def test_compare_needs_runs(tmp_path):
    with pytest.raises(VizInputError):
        compare_runs([], tmp_path)


def test_directory_argument_takes_every_run_in_it(tmp_path):
    runs = tmp_path / "matrix"
    write_run(runs, Synthetic(runtime="runc", steps=60))
    write_run(runs, Synthetic(runtime="kata", steps=60, mib_per_pod=900))
    compare_runs([runs], tmp_path / "out", ("html",))
    data = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert sorted(r["label"] for r in data["runs"]) == ["kata", "runc"]  # node files not taken
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VizInputError, match="holds no run CSV"):
        compare_runs([empty], tmp_path / "o2")


def test_skip_unusable_leaves_failed_runs_out_and_says_so(tmp_path):
    good = write_run(tmp_path, Synthetic(runtime="runc", steps=60))
    failed = tmp_path / "kata.csv"
    failed.write_text("step,elapsed_s,requested,running\n")  # the run died before its first row
    with pytest.raises(VizInputError, match="no data rows"):
        compare_runs([good, failed], tmp_path / "strict")
    compare_runs([good, failed], tmp_path / "lenient", ("html",), skip_unusable=True)
    data = json.loads((tmp_path / "lenient" / "compare.json").read_text())
    assert [r["label"] for r in data["runs"]] == ["runc"]
    assert len(data["skipped"]) == 1 and "kata.csv: no data rows" in data["skipped"][0]
    assert "left out: " in (tmp_path / "lenient" / "compare.html").read_text()
    with pytest.raises(VizInputError, match="no usable run"):
        compare_runs([failed], tmp_path / "none", skip_unusable=True)
