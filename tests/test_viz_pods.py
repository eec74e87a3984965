"""Per-pod cost from run.pods.csv (contract 10): known answers from synthetic pods whose every
part is set, the verdict on the declared overhead, old runs ("not recorded", never 0), the
charts, and `viz compare` lining runtimes up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.viz_support import (
    POD_COLUMNS,
    Synthetic,
    SyntheticPods,
    png_size,
    render_some,
    write_pods,
    write_run,
)
from viz import podcost
from viz.charts import HEIGHT, WIDTH, run_charts
from viz.cli import main
from viz.compare import Comparison
from viz.errors import VizInputError
from viz.meta import declared_overhead, memory_mib
from viz.plot import plot_run
from viz.pods import read_pods
from viz.read import load_run
from viz.report import analyse_run

DEFAULT_PODS = SyntheticPods()
KATA_CLASS = {"name": "kata", "handler": "kata", "overhead": {"memory_mib": 160, "cpu_millis": 250}}


def kata_run(tmp_path, pods: SyntheticPods | None = DEFAULT_PODS, declared=KATA_CLASS,
             name: str = "kata"):  # fmt: skip
    cluster = {"kind": "simulated", "simulated": True, "nodes": []}
    if declared is not None:
        cluster["runtime_class"] = declared
    path = write_run(tmp_path, Synthetic(runtime="kata", capacity=100), name=name,
                     extra_meta={"cluster": cluster, "vm_memory_mib": 2048, "node_source": "ssh"})  # fmt: skip
    if pods is not None:
        write_pods(path, pods)
    return path


def report_json(path, capsys) -> dict:
    with pytest.raises(SystemExit) as e:
        main(["report", str(path), "--json"])
    assert e.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_pods_reduced_to_one_row_each_with_parts_that_add_up(tmp_path):
    syn = SyntheticPods()
    table = read_pods(kata_run(tmp_path, syn))
    assert table is not None
    f = table.frame.sort("uid")
    assert f.height == syn.pods and f["samples"].to_list() == [syn.samples] * syn.pods  # running only
    assert table.rows == syn.pods * (syn.samples + 3)  # every line read, lifecycle rows too
    assert f["overhead"].to_numpy() == pytest.approx(syn.overhead())
    assert f["workload"].to_numpy() == pytest.approx(np.full(syn.pods, 500.0))
    assert f["kernel"].to_numpy() == pytest.approx(np.full(syn.pods, 20.0))
    assert f["cache"].to_numpy() == pytest.approx(np.full(syn.pods, 15.0))  # guest backing not cache
    parts = f["workload"] + f["runtime_part"] + f["cache"] + f["kernel"]
    assert parts.to_numpy() == pytest.approx(f["host"].to_numpy())
    assert table.measured == {"kernel", "cache"} and table.sources == ("ssh",)


def test_known_overhead_figures_and_verdict(tmp_path, capsys):
    syn = SyntheticPods()  # overhead 300..399 MiB over 100 pods, declared 160 MiB
    got = report_json(kata_run(tmp_path, syn), capsys)
    f = got["figures"]
    over = syn.overhead()
    assert f["pods_measured"]["value"] == 100
    assert f["overhead_median"]["value"] == pytest.approx(np.percentile(over, 50))
    assert f["overhead_p90"]["value"] == pytest.approx(np.percentile(over, 90))
    assert f["overhead_max"]["value"] == pytest.approx(399)
    assert f["pod_host"]["value"] == pytest.approx(500 + np.median(over))
    assert f["declared_overhead"]["value"] == 160 and f["vm_memory"]["value"] == 2048
    assert f["suggested_pod_fixed"]["value"] == 400  # p95 = 394.05, up to a whole 10 MiB
    verdict = got["pod_cost"]["verdict"]
    assert verdict.startswith("The declared overhead (160 MiB) under-states the measured one")
    assert "the median pod costs 190 MiB more (2.18x)" in verdict
    assert "100% of the pods cost more than declared" in verdict
    assert "Suggested podFixed: 400Mi" in verdict and "covers 100% of the pods" in verdict
    assert "The VM is configured with 2,048 MiB" in verdict


@pytest.mark.parametrize("declared, start", [
    (340.0, "The declared overhead (340 MiB) under-states"),  # below the median (349.5)
    (380.0, "The declared overhead (380 MiB) covers the median pod but not all"),
    (400.0, "The declared overhead (400 MiB) covers every pod"),
])  # fmt: skip
def test_verdict_wording(declared, start):
    over = SyntheticPods().overhead()
    text = podcost.verdict(over, declared)
    assert text.startswith(start)
    if declared == 380.0:
        assert "19% of the pods cost more, by up to 19 MiB" in text
    if declared == 400.0:
        assert "Suggested" not in text and "50 MiB to spare at the median" in text


def test_verdict_without_declared_overhead():
    over = np.array([300.0, 310, 320])
    assert podcost.verdict(over, None).startswith(
        "No overhead is declared (the RuntimeClass has no overhead.podFixed memory)")
    runc = podcost.verdict(np.array([5.0, 6, 7]), None, default_runtime=True)
    assert runc.startswith("No overhead is declared for the default runtime") and "Suggested" not in runc


def test_suggestion_covers_its_percentile():
    v = np.arange(1.0, 201.0)  # 1..200 MiB
    mib, covers = podcost.suggest_pod_fixed(v)
    assert mib == 200.0 and covers == 1.0  # p95 = 190.05 -> 200
    v = np.concatenate([np.full(95, 100.0), np.full(5, 1000.0)])
    # p95 lies between the 95th and 96th pod (100 + 0.05 x 900 = 145): 150 MiB, 5 outliers out
    assert podcost.suggest_pod_fixed(v) == (150.0, 0.95)


def test_declared_overhead_from_either_metadata_shape():
    assert declared_overhead({"overhead": {"memory_mib": 350, "cpu_millis": 250}}) == 350
    assert declared_overhead({"overhead": {"memory": "160Mi", "cpu": "250m"}}) == 160
    assert declared_overhead({"overhead": {"podFixed": {"memory": "1Gi"}}}) == 1024
    assert declared_overhead({"overhead": {"cpu": "250m"}}) is None and declared_overhead({}) is None
    assert memory_mib("350M") == pytest.approx(350e6 / 2**20) and memory_mib("lots") is None


def test_old_run_without_pods_file_says_not_recorded_never_zero(tmp_path, capsys):
    path = kata_run(tmp_path, pods=None)
    got = report_json(path, capsys)
    f = got["figures"]
    for key in ("pods_measured", "overhead_median", "overhead_p90", "suggested_pod_fixed"):
        assert f[key]["value"] is None and f[key]["recorded"] is False
    assert f["declared_overhead"]["value"] == 160  # from the metadata: still known
    assert got["pod_cost"]["verdict"].startswith("measured overhead: not recorded")
    with pytest.raises(SystemExit):
        main(["report", str(path)])
    text = capsys.readouterr().out
    assert ("-- per-pod cost: not recorded (no run.pods.csv beside the run) "
            "(declared overhead (RuntimeClass podFixed): 160 MiB") in text
    assert "measured overhead per pod" not in text


def test_pods_file_that_is_not_one_is_a_clear_error(tmp_path, capsys):
    path = kata_run(tmp_path, pods=None)
    path.with_name("kata.pods.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit) as e:
        main(["report", str(path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "kata.pods.csv: not a run.pods.csv: missing column(s) uid, class, source" in err
    with pytest.raises(VizInputError, match="is a run's per-pod file"):
        from viz.read import load_run

        write_pods(path, SyntheticPods(pods=2))
        load_run(path.with_name("kata.pods.csv"))


def test_sources_that_measure_less_say_so(tmp_path):
    """The simulator's source gives no kernel or page-cache split: those parts are 0 in the
    breakdown and the chart says they are inside runtime/VMM."""
    syn = SyntheticPods(kernel_mib=None, cache_mib=None, source="sim")
    table = read_pods(kata_run(tmp_path, syn))
    assert table is not None and table.measured == frozenset() and table.sources == ("sim",)
    assert table.frame["runtime_part"].to_numpy() == pytest.approx(syn.overhead())
    written = plot_run(tmp_path / "kata.csv", tmp_path / "out", ("html",))
    html = written[-1].read_text()
    assert "page cache/shm and kernel not measured by the source (sim): inside runtime/VMM" in html


def test_pod_charts_render(tmp_path):
    path = kata_run(tmp_path, SyntheticPods(pods=30))
    charts, datasets, skipped = run_charts(analyse_run(load_run(path)))
    names = ["pod-cost", "pod-overhead", "pod-spread"]
    assert set(names) <= set(charts) and not any(n in skipped for n in names)
    for png in render_some(charts, datasets, names, tmp_path / "out"):
        assert png_size(png) == (WIDTH, HEIGHT)


def test_compare_lines_runtimes_up(tmp_path):
    kata_run(tmp_path, SyntheticPods(pods=40))
    runc = write_run(tmp_path, Synthetic(runtime="default", handler="runc", capacity=150), name="default")
    write_pods(runc, SyntheticPods(runtime="default", pods=40, base_overhead_mib=4, step_mib=0.1,
                                   kernel_mib=2, cache_mib=1, guest_backing_mib=None))  # fmt: skip
    cmp = Comparison.build([tmp_path])
    text = cmp.text()
    assert "per-pod cost: measured vs declared overhead" in text
    assert "  kata: The declared overhead (160 MiB) under-states the measured one" in text
    assert "  default (runc): No overhead is declared for the default runtime" in text
    assert "measured overhead per pod, median" in text
    data = cmp.to_dict()
    assert set(data["pod_cost"]) == {"kata", "default (runc)"}
    written = cmp.write(tmp_path / "cmp", ("html",))
    html = next(p for p in written if p.name == "compare.html").read_text()
    for chart in ("pod-cost", "pod-overhead", "pod-spread"):
        assert f"<h2>{chart}</h2>" in html
    assert "per-pod cost: measured vs declared overhead" in html


def test_a_pods_file_being_written_is_read_to_its_last_complete_line(tmp_path):
    path = kata_run(tmp_path, SyntheticPods(pods=10))
    pods = path.with_name("kata.pods.csv")
    whole = read_pods(path)
    lines = pods.read_bytes().splitlines(keepends=True)
    pods.write_bytes(b"".join(lines[:-1]) + lines[-1][:25])  # the last row half written
    cut = read_pods(path)
    assert whole is not None and cut is not None
    assert cut.rows == whole.rows - 1 and cut.frame.height in (whole.frame.height, whole.frame.height - 1)


def test_no_node_source_says_why(tmp_path, capsys):
    path = kata_run(tmp_path, pods=None)
    meta = json.loads(path.with_name("kata.meta.json").read_text())
    path.with_name("kata.meta.json").write_text(json.dumps({**meta, "node_source": "none"}))
    path.with_name("kata.pods.csv").write_text(",".join(POD_COLUMNS) + "\n")  # header only
    got = report_json(path, capsys)
    assert "no node source (--node-source none)" in got["pod_cost"]["verdict"]


def test_report_and_the_engines_rule_agree(tmp_path, capsys):
    """The load generator's summary feeds viz.overhead.PodOverheads run.pods.csv's rows as it
    writes them; `viz report` reduces the file with polars: the same figures."""
    import csv

    from viz.overhead import PodOverheads

    path = kata_run(tmp_path, SyntheticPods(pods=37))
    engine = PodOverheads()

    def num(text: str) -> float | None:
        return float(text) if text else None

    with path.with_name("kata.pods.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            engine.add(row["uid"], row["class"], num(row["cgroup_mib"]),
                       num(row["overhead_cgroup_mib"]), num(row["workload_mib"]))  # fmt: skip
    want = engine.stats()
    f = report_json(path, capsys)["figures"]
    assert want is not None and f["pods_measured"]["value"] == want.pods
    assert f["overhead_median"]["value"] == pytest.approx(want.median_mib)
    assert f["overhead_p90"]["value"] == pytest.approx(want.p90_mib)
    assert f["overhead_max"]["value"] == pytest.approx(want.max_mib)


def test_a_kubelet_only_kata_run_says_why_it_has_no_overhead(tmp_path, capsys):
    """cAdvisor sees no container cgroup of a kata pod: the kubelet source records the pod's host
    memory but no workload figure; the report says so instead of "no memory samples"."""
    path = kata_run(tmp_path, pods=None)
    row = {c: "" for c in POD_COLUMNS}
    row.update(time="2026-01-01T00:00:00Z", elapsed_s="1", pod="p", uid="u1", node="n",
               runtime="kata", **{"class": "running"}, phase="Running", source="kubelet",
               cgroup_mib="783.0")
    path.with_name("kata.pods.csv").write_text(
        ",".join(POD_COLUMNS) + "\n" + ",".join(row[c] for c in POD_COLUMNS) + "\n")
    got = report_json(path, capsys)
    assert got["pod_cost"]["verdict"].startswith("measured overhead: not recorded (the kubelet source")
    assert "cAdvisor" in got["pod_cost"]["verdict"]


def test_a_runtime_class_declaring_zero_memory_declares_none():
    """podFixed memory 0 (the 2021 pre-release RuntimeClass, c3d-2021-capacity) is no overhead
    declared, not a ratio to divide by."""
    text = podcost.verdict([283.0, 283.0, 290.0], 0.0)
    assert text.startswith("No overhead is declared (the RuntimeClass has no overhead.podFixed "
                           "memory)")
    assert "Suggested podFixed: 290Mi" in text
