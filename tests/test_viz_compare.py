"""`viz compare` / compare_runs: overlays, side-by-side figures, ratios between the right pairs."""

from __future__ import annotations

import json

import pytest

from tests.viz_support import REFERENCE, Synthetic, assert_self_contained_html, png_size, write_run
from viz.charts import HEIGHT, WIDTH
from viz.cli import main
from viz.compare import Comparison, compare_runs
from viz.errors import VizInputError
from viz.labels import run_labels
from viz.pairing import find_pairs
from viz.run import RunMeta


def ratios_of(data: dict) -> dict[str, float]:
    return {r["label"]: r["value"] for r in data["ratios"]}


def test_ratios_from_known_runs(tmp_path):
    runc = write_run(tmp_path, Synthetic(runtime="runc", capacity=150, mib_per_pod=420))
    kata = write_run(tmp_path, Synthetic(runtime="kata", capacity=60, mib_per_pod=840))
    # kata first on the command line: the baseline is still runc
    written = compare_runs([kata, runc], tmp_path / "cmp", ("html", "png"))
    names = {p.name for p in written}
    assert {"compare.json", "compare.html", "compare.capacity.png"} <= names
    assert {"compare.timing-scale.png", "compare.timing-observe.png"} <= names  # the calls
    for p in written:
        if p.suffix == ".png":
            assert png_size(p) == (WIDTH, HEIGHT)
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert data["baseline"] == "runc"
    assert [g["label"] for g in data["groups"]] == ["kata", "runc"]
    ratios = ratios_of(data)
    assert ratios["capacity: MiB per pod, kata / runc"] == pytest.approx(2.0)
    assert ratios["capacity: max running pods, runc / kata"] == pytest.approx(150 / 60)
    assert {r["kind"] for r in data["ratios"]} == {"runtime"}
    html = assert_self_contained_html(tmp_path / "cmp" / "compare.html")
    assert "kata / runc" in html and "2.00" in html


def test_labels_use_what_differs():
    a = RunMeta(runtime="kata", scenario="capacity", mode="wait")
    b = RunMeta(runtime="kata", scenario="hungry", mode="wait")
    assert run_labels([a, b], ["x", "y"]) == ["capacity", "hungry"]
    assert run_labels([a, a], ["x", "y"]) == ["kata (x)", "kata (y)"]
    c = RunMeta(runtime="runc", scenario="hungry", mode="wait")
    assert run_labels([a, c], ["x", "y"]) == ["kata capacity", "runc hungry"]
    d = RunMeta(runtime="default", runtime_handler="runc", scenario="hungry")
    assert run_labels([d, b], ["x", "y"]) == ["default (runc)", "kata"]


def test_matrix_pairs_runtimes_within_scenario_and_scenarios_within_runtime(tmp_path):
    """`--scenario hungry,restricted --runtime default,kata`: kata vs default in each scenario,
    restricted vs hungry in each runtime, and nothing across both."""
    d = tmp_path / "matrix"
    for rt, handler in (("default", "runc"), ("kata", None)):
        for scen, cap in (("hungry", 60), ("restricted", 120)):
            syn = Synthetic(runtime=rt, handler=handler, scenario=scen, capacity=cap // (2 if rt == "kata" else 1),
                            mib_per_pod=400 * (2 if rt == "kata" else 1) * (0.5 if scen == "restricted" else 1))  # fmt: skip
            write_run(d, syn, name=f"{rt}-{scen}")
    cmp = Comparison.build([d])
    assert cmp.labels == ["default (runc) hungry", "default (runc) restricted", "kata hungry", "kata restricted"]
    ratios = {r.label: r for r in cmp.ratios}
    assert set(ratios) == {
        "hungry: MiB per pod, kata / default (runc)",
        "hungry: max running pods, default (runc) / kata",
        "restricted: MiB per pod, kata / default (runc)",
        "restricted: max running pods, default (runc) / kata",
        "default (runc): MiB per pod, restricted / hungry",
        "default (runc): max running pods, restricted / hungry",
        "kata: MiB per pod, restricted / hungry",
        "kata: max running pods, restricted / hungry",
    }
    assert ratios["hungry: MiB per pod, kata / default (runc)"].value == pytest.approx(2.0)
    assert ratios["restricted: max running pods, default (runc) / kata"].value == pytest.approx(2.0)
    assert ratios["kata: MiB per pod, restricted / hungry"].value == pytest.approx(0.5)
    assert ratios["kata: max running pods, restricted / hungry"].value == pytest.approx(2.0)
    text = cmp.text()
    assert "ratios: runtime vs the baseline runtime default (runc)" in text
    assert "ratios: scenario vs scenario (same runtime" in text
    assert "kata restricted / runc hungry" not in text and "hungry / default (runc) restricted" not in text


def test_runtime_pairs_need_the_same_workload_and_kind_of_cluster():
    default = RunMeta(runtime="default", runtime_handler="runc", scenario="custom",
                      workload_label="memory 1024 MiB", simulated_flag=True)  # fmt: skip
    kata_other = RunMeta(runtime="kata", scenario="custom", workload_label="memory 2048 MiB",
                         simulated_flag=True)  # fmt: skip
    kata_real = RunMeta(runtime="kata", scenario="custom", workload_label="memory 1024 MiB",
                        simulated_flag=False)  # fmt: skip
    assert not [p for p in find_pairs([default, kata_other]) if p.kind == "runtime"]
    assert not [p for p in find_pairs([default, kata_real]) if p.kind == "runtime"]
    kata_same = RunMeta(runtime="kata", scenario="custom", workload_label="memory 1024 MiB",
                        simulated_flag=True)  # fmt: skip
    assert [(p.kind, p.num, p.den) for p in find_pairs([default, kata_same])] == [("runtime", 1, 0)]


def test_baseline_option_and_unknown_baseline(tmp_path, capsys):
    paths = [
        write_run(tmp_path, Synthetic(runtime=rt, capacity=cap, mib_per_pod=mib))
        for rt, cap, mib in (("runc", 150, 400), ("kata", 60, 800), ("gvisor", 100, 600))
    ]
    cmp = Comparison.build(paths, baseline="kata")
    assert set(ratios_of(cmp.to_dict())) == {
        "capacity: MiB per pod, runc / kata", "capacity: max running pods, kata / runc",
        "capacity: MiB per pod, gvisor / kata", "capacity: max running pods, kata / gvisor",
    }  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *map(str, paths), "--baseline", "crun", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "--baseline crun: no run has that runtime (runtimes: gvisor, kata, runc)" in err


def test_compare_cli_prints_table(tmp_path, capsys):
    runc = write_run(tmp_path, Synthetic(runtime="runc"))
    kata = write_run(tmp_path, Synthetic(runtime="kata", mib_per_pod=960))
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(runc), str(kata), "-o", str(tmp_path / "c"), "--format", "svg"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "capacity: MiB per pod, kata / runc" in out and "2.00" in out
    assert (tmp_path / "c" / "compare.capacity.svg").exists()
    assert not (tmp_path / "c" / "compare.html").exists()  # only the formats asked for


def test_default_output_is_a_folder_named_after_the_runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runc = write_run(runs, Synthetic(runtime="runc", steps=40))
    kata = write_run(runs, Synthetic(runtime="kata", steps=40))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    written = compare_runs([runc, kata], None, ("html",))
    assert {p.parent for p in written} == {runs / "compare-runc-vs-kata"}
    assert list(elsewhere.iterdir()) == []


def test_compare_new_run_with_reference_run(tmp_path):
    """Old runs beside new ones: the original format mixes with the contract."""
    new = write_run(tmp_path, Synthetic(runtime="kata", steps=120))
    written = compare_runs([REFERENCE / "runc.csv", new], tmp_path / "o", ("html",))
    data = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert [g["label"] for g in data["groups"]] == ["c3d-2021/runc", "kata"]
    assert data["groups"][0]["figures"]["max_running"]["median"] == 377
    assert data["ratios"] == []  # different runtimes on different clusters: nothing to divide
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
    assert sorted(g["label"] for g in data["groups"]) == ["kata", "runc"]  # node files not taken
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
    assert [g["label"] for g in data["groups"]] == ["runc"]
    assert len(data["skipped"]) == 1 and "kata.csv: no data rows" in data["skipped"][0]
    assert "left out: " in (tmp_path / "lenient" / "compare.html").read_text()
    with pytest.raises(VizInputError, match="no usable run"):
        compare_runs([failed], tmp_path / "none", skip_unusable=True)


def test_unfinished_runs_are_marked_in_table_and_charts(tmp_path):
    runc = write_run(tmp_path, Synthetic(runtime="runc", steps=60))
    kata = write_run(tmp_path, Synthetic(runtime="kata", steps=40, end_reason="interrupted"))
    cmp = Comparison.build([runc, kata])
    assert "status" in cmp.text() and "1 of 1 did not finish" in cmp.text()
    cmp.write(tmp_path / "o", ("html",))
    html = (tmp_path / "o" / "compare.html").read_text()
    assert "DID NOT FINISH: kata: interrupted" in html
    assert "[interrupted]" in html  # the run's legend entry on every chart


def test_reference_by_name_lines_a_simulated_run_up_with_the_published_one(tmp_path, capsys):
    """The calibration report as a product feature: same axes, same figures, the published
    Evicted column (listed now) beside the model's like-for-like evicted_listed."""
    sim = write_run(tmp_path, Synthetic(runtime="kata", simulated=True, failures=True, steps=200))
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(sim), "--reference", "c3d-2021/kata", "-o", str(tmp_path / "cal")])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "ratios: model vs measurement (same runtime)" in out
    assert "kata vs c3d-2021/kata:" in out
    assert any(
        line.split()[:3] == ["max", "running", "pods"] and line.endswith("120 vs 134 (-10%)")
        for line in out.splitlines()
    )
    assert "evictions (cumulative)" in out and "51 vs not recorded" in out
    # listed Evicted on both sides: the model's column of the same meaning, not its cumulative count
    listed = [line for line in out.splitlines() if "most Evicted pods listed at once" in line]
    assert any(" vs 0" in line for line in listed)
    data = json.loads((tmp_path / "cal" / "compare.json").read_text())
    assert [g["label"] for g in data["groups"]] == ["kata", "c3d-2021/kata"]
    assert data["groups"][1]["run"]["reference"] == "c3d-2021/kata"
    html = (tmp_path / "cal" / "compare.html").read_text()
    assert "published measurement c3d-2021/kata" in html and "simulated cluster" in html


def test_unknown_reference_lists_the_known_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--reference", "c3d-2021/nope", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "unknown reference run 'c3d-2021/nope'" in err and "c3d-2021/kata" in err
    assert not (tmp_path / "x").exists()


def test_old_files_without_custom_label_are_told_apart_by_their_workload(tmp_path):
    """Before the "custom" label, a changed workload kept its scenario's name: two "capacity"
    runs of different workloads are labelled by their settings and never divided by runtime."""
    runc = write_run(tmp_path, Synthetic(runtime="runc"), name="runc")
    kata = write_run(tmp_path, Synthetic(runtime="kata"), name="kata", extra_meta={
        "workload": {"cpu_percent": 5, "memory_mib": 1024, "increment_mib": 128, "limit_mib": 1200}
    })  # fmt: skip
    cmp = Comparison.build([runc, kata])
    assert cmp.labels == [
        "runc CPU 5%, memory 500 MiB +256 MiB/s, no request or limit",
        "kata CPU 5%, memory 1024 MiB +128 MiB/s, limit 1200 MiB",
    ]
    assert not [r for r in cmp.ratios if r.kind == "runtime"]
