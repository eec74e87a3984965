"""CPU and useful work: the CPU knee (viz.figures), the figures and charts of one run, and the
CPU overhead ratio at equal density in `viz compare`, on known answers and on the published CPU
runs (read here with the csv module, independently of viz's reader)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.viz_support import REFERENCE, Synthetic, png_size, render_some, write_run
from viz import figures as fg
from viz import work as wk
from viz.charts import HEIGHT, WIDTH, run_charts
from viz.cli import main
from viz.compare import Comparison
from viz.compare_charts import comparison_charts
from viz.plot import plot_run
from viz.read import load_run
from viz.report import analyse_run

CPU_RUNS = ["cpu-runc-10pct", "cpu-runc-20pct", "cpu-runc-50pct", "cpu-runc-80pct",
            "cpu-runc-100pct", "cpu-kata-50pct", "cpu-kata-100pct"]  # fmt: skip


def steps(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float)


def saturating(n: int, cpu_pods: float, per_pod: float = 1e6) -> tuple[np.ndarray, np.ndarray]:
    """running = step; total work grows with the pods until the CPUs hold cpu_pods of them."""
    running = steps(n)
    return running, per_pod * np.minimum(running, cpu_pods)


# -- the CPU knee --------------------------------------------------------------------------------


@pytest.mark.parametrize("cpu_pods", [20, 45, 60, 133])
def test_cpu_knee_of_a_sharp_bend(cpu_pods):
    """Work per pod c up to C pods, c C / running after: the knee is the first running count at
    which it is under 95% of c (the walk back from the 90% crossing)."""
    running, work = saturating(cpu_pods * 3, cpu_pods)
    f = fg.cpu_knee(running, running, work)
    assert f.step == np.floor(cpu_pods / 0.95) + 1 and f.method == fg.cpu_knee_method()


def test_cpu_knee_with_noise_lands_near_the_bend():
    rng = np.random.default_rng(4)
    running, work = saturating(300, 80)
    f = fg.cpu_knee(running, running, work * rng.normal(1, 0.04, 300))
    assert f.step is not None and 80 <= f.step <= 90


def test_no_cpu_knee_on_flat_noise_a_short_dip_or_a_short_run():
    rng = np.random.default_rng(8)
    s = steps(400)
    flat = 1e6 * s * rng.normal(1, 0.08, 400)  # each pod does the same work, noisily
    assert fg.cpu_knee(s, s, flat).step is None
    dip = 1e6 * s
    dip[100:108] *= 0.5  # a short stall (a slow report read) is no knee
    assert fg.cpu_knee(s, s, dip).step is None
    running, work = saturating(35, 20)  # too few steps for the level and the look-ahead
    f = fg.cpu_knee(running, running, work)
    assert f.step is None and "only 35 steps" in f.method


def test_cpu_knee_skips_steps_without_pods_or_work():
    running, work = saturating(200, 50)
    running[:5] = 0  # nothing running yet
    work[60:70] = np.nan  # no sample
    f = fg.cpu_knee(steps(200), running, work)
    assert f.step == 53


def test_a_longer_run_never_moves_the_cpu_knee():
    rng = np.random.default_rng(2)
    running, work = saturating(400, 70)
    work *= rng.normal(1, 0.05, 400)
    full = fg.cpu_knee(running, running, work)
    assert full.step is not None
    found = [fg.cpu_knee(running[:n], running[:n], work[:n]).step for n in range(40, 401)]
    first = next(i for i, f in enumerate(found) if f is not None)
    assert set(found[first:]) == {full.step}  # once found, never moved by later steps
    # and found once the look-ahead past the 90% crossing has arrived (a few steps past the knee)
    assert 40 + first - full.step <= fg.CPU_KNEE_LOOKAHEAD + 10


def test_cpu_knee_parameters_are_checked():
    s = steps(50)
    with pytest.raises(ValueError):
        fg.cpu_knee(s, s, s, tracking=40, lookahead=30)
    with pytest.raises(ValueError):
        fg.cpu_knee(s, s, s, depart=0.3, drop=0.2)
    with pytest.raises(ValueError):
        fg.cpu_knee(s, s, s, min_level=0)


def test_expanding_median_is_the_median_of_each_prefix():
    v = np.random.default_rng(1).normal(0, 1, 101)
    out = fg.expanding_median(v)
    assert np.isnan(out[0])
    assert all(out[j] == pytest.approx(np.median(v[:j])) for j in range(1, 102))


def raw_cpu_run(name: str) -> dict[str, np.ndarray]:
    with (REFERENCE / f"{name}.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    col = {h: i for i, h in enumerate(rows[0][:8])}
    return {k: np.array([float(r[col[h]]) for r in rows[1:]])
            for k, h in (("step", "Iteration"), ("running", "Running"), ("work", "WorkCount"))}  # fmt: skip


def brute_force_knee(step, running, work) -> float | None:
    """The definition as written in cpu_knee_method, one loop per candidate."""
    ok = (running > 0) & np.isfinite(work)
    s, p = step[ok], work[ok] / running[ok]
    for j in range(10, len(p) - 30 + 1):
        level = float(np.median(p[:j]))
        if max(p[j:j + 10]) < 0.9 * level and np.median(p[j:j + 30]) < 0.75 * level:
            while j > 10 and p[j - 1] < 0.95 * level:
                j -= 1
            return float(s[j])
    return None


@pytest.mark.parametrize("name", CPU_RUNS)
def test_published_cpu_knee_is_the_definition(name):
    raw = raw_cpu_run(name)
    want = brute_force_knee(raw["step"], raw["running"], raw["work"])
    run = load_run(REFERENCE / f"{name}.csv")
    got = analyse_run(run).figures
    assert want is not None and got["cpu_knee"].step == want
    assert run.steps["work_rate"].to_list() == raw["work"].tolist()  # WorkCount per ~1 s period


def test_published_cpu_figures(capsys):
    """What the reference README and the issue quote: kata pods did less work each before the
    knee and saturated later (more pods each doing less)."""
    figs = {}
    for name in ("cpu-runc-100pct", "cpu-kata-100pct"):
        main_ok(["report", str(REFERENCE / f"{name}.csv"), "--json"])
        figs[name] = json.loads(capsys.readouterr().out)["figures"]
    runc, kata = figs["cpu-runc-100pct"], figs["cpu-kata-100pct"]
    assert runc["work_per_pod"]["value"] == pytest.approx(1.9e8, rel=0.02)
    assert kata["work_per_pod"]["value"] == pytest.approx(1.12e8, rel=0.02)
    assert (runc["cpu_knee"]["step"], runc["running_at_cpu_knee"]["value"]) == (23, 9)
    assert (kata["cpu_knee"]["step"], kata["running_at_cpu_knee"]["value"]) == (32, 25)
    assert runc["cpu_busy_peak"]["recorded"] is False  # the format has no node CPU


def main_ok(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0


# -- one run's figures and charts ------------------------------------------------------------------


def test_known_cpu_run_figures(tmp_path, capsys):
    syn = Synthetic(cpu_pods=60, work_per_pod=2e6, runtime="default", handler="runc")
    path = write_run(tmp_path, syn, name="default")
    main_ok(["report", str(path), "--json"])
    f = json.loads(capsys.readouterr().out)["figures"]
    assert f["cpu_knee"]["step"] == syn.cpu_knee() == 64
    assert f["running_at_cpu_knee"]["value"] == 64
    assert f["work_per_pod"]["value"] == pytest.approx(2e6)
    assert f["work_plateau"]["value"] == pytest.approx(60 * 2e6)
    assert f["work_plateau_pods"]["value"] == pytest.approx(60)
    assert f["work_peak"]["value"] == pytest.approx(60 * 2e6)
    assert f["cpu_busy_peak"]["value"] == pytest.approx(100) and f["cpu_busy_peak"]["step"] == 60
    assert f["cpu_busy_at_cpu_knee"]["value"] == pytest.approx(100)
    main_ok(["report", str(path)])
    text = capsys.readouterr().out
    assert "CPU knee (work per pod starts to fall)" in text and "step 64" in text
    assert "2M pages/s" in text and "60.0 pods' worth" in text


def test_a_run_without_work_says_not_recorded_never_zero(tmp_path, capsys):
    path = write_run(tmp_path, Synthetic())  # a file from before the work columns
    main_ok(["report", str(path), "--json"])
    f = json.loads(capsys.readouterr().out)["figures"]
    for key in ("work_per_pod", "cpu_knee", "work_plateau", "cpu_busy_peak"):
        assert f[key]["value"] is None and f[key]["recorded"] is False
    main_ok(["report", str(path)])
    assert "-- CPU and useful work: not recorded in this file" in capsys.readouterr().out


def test_work_and_cpu_charts_render(tmp_path):
    path = write_run(tmp_path, Synthetic(cpu_pods=40), name="kata")
    charts, datasets, skipped = run_charts(analyse_run(load_run(path)))
    assert {"work", "work-per-pod", "cpu"} <= set(charts) and not {"work", "cpu"} & set(skipped)
    for png in render_some(charts, datasets, ["work", "work-per-pod", "cpu"], tmp_path / "out"):
        assert png_size(png) == (WIDTH, HEIGHT)
    html = plot_run(path, tmp_path / "out", ("html",))[0].read_text()
    assert "each node&#x27;s busy share" in html or "each node's busy share" in html


# -- equal density --------------------------------------------------------------------------------


def test_equal_density_interpolates_where_a_run_skipped_counts():
    a = wk.DensityCurve(np.array([1.0, 3.0, 5.0]), np.array([10.0, 10.0, 6.0]))
    b = wk.DensityCurve(np.array([2.0, 4.0, 8.0]), np.array([5.0, 5.0, 5.0]))
    r = wk.equal_density(a, b)
    assert r.running.tolist() == [2.0, 3.0, 4.0, 5.0]  # within 2..5, both reached
    assert r.ratio.tolist() == pytest.approx([2.0, 2.0, 1.6, 1.2])


def test_density_curve_is_the_way_up_only():
    running = np.array([1, 2, 2, 3, 4, 3, 2, 1.0])  # pods lost after the top: left out
    work = np.array([1, 2, 4, 3, 4, 0, 0, 0.0])
    c = wk.density_curve(running, work)
    assert c.running.tolist() == [1, 2, 3, 4] and c.per_pod.tolist() == [1.0, 1.5, 1.0, 1.0]


def test_cpu_overhead_ratio_of_known_runs(tmp_path):
    """kata pods do 60% of a runc pod's work and the CPUs hold 40 of them (runc: 60): below the
    lower knee (kata's, 43 pods) the ratio is 0.6 at every count; from it on the known curves."""
    runc = write_run(tmp_path, Synthetic(cpu_pods=60, work_per_pod=2e6), name="runc")
    kata = write_run(tmp_path, Synthetic(runtime="kata", cpu_pods=40, work_per_pod=1.2e6,
                                         capacity=120), name="kata")  # fmt: skip
    cmp = Comparison.build([runc, kata])
    ratios = {r.name: r for r in cmp.ratios}
    below, past = ratios["cpu_ratio_below"], ratios["cpu_ratio_past"]
    assert below.value == pytest.approx(0.6)
    assert below.label == "capacity: work per pod at equal density below the CPU knees, kata / runc"
    r = np.arange(43, 121, dtype=float)
    want = (1.2e6 * np.minimum(r, 40) / r) / (2e6 * np.minimum(r, 60) / r)
    assert past.value == pytest.approx(float(np.median(want)))
    text = cmp.text()
    assert "work per pod at equal density below the CPU knees, kata / runc" in text
    charts, datasets = comparison_charts(cmp.groups, cmp.labels, [], cmp.pairs)
    assert {"work", "work-per-pod", "work-ratio"} <= set(charts)
    (png,) = render_some(charts, datasets, ["work-ratio"], tmp_path / "cmp")
    assert png_size(png) == (WIDTH, HEIGHT)


def test_published_kata_over_runc_work_ratios():
    """Below both knees a kata pod did about 40% (50% CPU) and 60% (100% CPU) of a runc pod's
    work; past them the saturated clusters shared out about the same total."""
    cmp = Comparison.build([], references=["c3d-2021/cpu-runc-50pct", "c3d-2021/cpu-kata-50pct",
                                           "c3d-2021/cpu-runc-100pct", "c3d-2021/cpu-kata-100pct"])  # fmt: skip
    got = {(r.num, r.name): r.value for r in cmp.ratios if r.name.startswith("cpu_ratio")}
    assert got[("c3d-2021/cpu-kata-50pct", "cpu_ratio_below")] == pytest.approx(0.39, abs=0.01)
    assert got[("c3d-2021/cpu-kata-100pct", "cpu_ratio_below")] == pytest.approx(0.63, abs=0.01)
    assert 0.6 < got[("c3d-2021/cpu-kata-50pct", "cpu_ratio_past")] < 1.0
    assert 1.0 < got[("c3d-2021/cpu-kata-100pct", "cpu_ratio_past")] < 1.6


def test_repeats_give_the_ratio_over_every_pair(tmp_path: Path):
    from tests.viz_support import write_repeats

    d = tmp_path / "rep"
    write_repeats(d, [Synthetic(cpu_pods=60, work_per_pod=w) for w in (2e6, 2.5e6)], "runc")
    write_repeats(d, [Synthetic(runtime="kata", cpu_pods=40, work_per_pod=1e6)] * 2, "kata")
    cmp = Comparison.build([d])
    below = next(r for r in cmp.ratios if r.name == "cpu_ratio_below")
    assert below.spread.pairs == 4
    assert (below.spread.low, below.spread.high) == pytest.approx((0.4, 0.5))
    assert below.value == pytest.approx(0.45)


def test_report_of_a_runtime_pair_shows_the_cpu_ratio(capsys):
    """`viz report` on the published runc and kata CPU files: each run's CPU knee, and the
    kata/runc work ratio at equal density (as `viz compare` prints it)."""
    runc, kata = REFERENCE / "cpu-runc-50pct.csv", REFERENCE / "cpu-kata-50pct.csv"
    main_ok(["report", str(runc), str(kata)])
    text = capsys.readouterr().out
    assert text.count("CPU knee (work per pod starts to fall)") == 2
    assert "work per pod at equal density below the CPU knees, kata / runc    0.39" in text
    main_ok(["report", str(runc), str(kata), "--json"])
    ratios = json.loads(capsys.readouterr().out)["ratios"]
    below = next(r for r in ratios if r["name"] == "cpu_ratio_below")
    assert below["value"] == pytest.approx(0.39, abs=0.01)


def test_an_empty_work_column_is_not_a_run_without_work(tmp_path, capsys):
    """The simulator writes the work columns empty (it reads no reports): unknown, not 0."""
    path = write_run(tmp_path, Synthetic(cpu_pods=40), name="sim")
    text = path.read_text().splitlines()
    head = text[0].split(",")
    i = head.index("work_rate")
    rows = [",".join("" if k == i else v for k, v in enumerate(line.split(","))) for line in text[1:]]
    path.write_text("\n".join([text[0], *rows]) + "\n")
    main_ok(["report", str(path)])
    out = capsys.readouterr().out
    assert "CPU knee (work per pod starts to fall)               not recorded" in out
    main_ok(["report", str(path), "--json"])
    f = json.loads(capsys.readouterr().out)["figures"]
    assert f["cpu_knee"]["recorded"] is False and "work column is empty" in f["cpu_knee"]["method"]
    assert f["cpu_busy_peak"]["value"] == pytest.approx(100)  # the CPU columns are still there
