"""The simulator's CPU model against the seven published CPU runs of 2021 (issue 13): each replayed
by the published procedure with its runtime and CPU percent (``calibration_cpu_support``), over
two seeds, and compared figure by figure, both sides computed from CSVs in the published CPU
format by the same code.

Figures: the most pods running, the most Evicted listed, the step where work per running pod
starts to fall (``viz.figures.cpu_knee``), the total work rate where it stopped growing and its
peak, both in pods' worth of work (``viz.work``). Each published figure must lie within 25% of
the model's band over the seeds, or be named in ``EXPLAINED`` with the published fact that says
why it does not.

Runs whose replays are the same are replayed once: below 100% the C workload's loop spins at a
whole core whatever its setting (``WorkloadProfile.pacing`` "timer"), so the four runc runs at
10-80% share one band, as do nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calibration_cpu_support import (
    FIGURES,
    CpuFigures,
    all_bands,
    cpu_figures,
    cpu_runs,
)
from tests.calibration_support import show, within
from viz.reference import ReferenceRun

SEEDS = range(2)
STEPS = 999

_LATE = ("{run}'s pods started behind their requests ({facts}), so its first worker's CPUs "
         "filled steps later than the model's, whose pods start within seconds: the knee is a "
         "step of the procedure, not a pod count")
_SLOW_TOTAL = ("{run}'s total work did not stop at the CPUs' capacity: after its knee it kept "
               "rising with the pods ({facts}), at a few percent of a lone pod's work per pod "
               "added, and reached its peak only near 1,000 pods; its figure at the knee is the "
               "start of that climb. The model's total levels off once every worker's CPUs are "
               "full (the issue's qualitative rule), about 27 pods' worth past its knee")
_NO_EVICTION = ("{run} evicted hundreds of kata pods where the kata memory run on the same "
                "cluster (kata.csv) evicted none with its workers' memory full: the model's "
                "kubelet gets no kata pod stats (RuntimeProfile.pod_stats false, calibrated on "
                "kata.csv), so it never evicts kata pods; and this run started with {free} GiB "
                "free where the model's cluster (and kata.csv) starts with 55")

EXPLAINED: dict[tuple[str, str], str] = {
    ("cpu-runc-10pct", "cpu_knee"): _LATE.format(
        run="cpu-runc-10pct.csv", facts="9 running from iteration 15 to 20, 14 at 30"),
    ("cpu-runc-20pct", "cpu_knee"): _LATE.format(
        run="cpu-runc-20pct.csv", facts="1 running at iteration 5, 15 at 20, 24 at 30"),
    ("cpu-runc-50pct", "cpu_knee"): _LATE.format(
        run="cpu-runc-50pct.csv", facts="1 running from iteration 3 to 15, 15 at 30"),
    ("cpu-runc-100pct", "cpu_knee"): _LATE.format(
        run="cpu-runc-100pct.csv", facts="6 running from iteration 9 to 21"),
    ("cpu-runc-10pct", "work_plateau_pods"): _SLOW_TOTAL.format(
        run="cpu-runc-10pct.csv", facts="1.2e8 pages/s at 47 running, 1.7e8 at 483, 2.5e8 at 996"),
    ("cpu-runc-20pct", "work_plateau_pods"): _SLOW_TOTAL.format(
        run="cpu-runc-20pct.csv", facts="1.2e8 pages/s at 45 running, 1.7e8 at 459, 2.4e8 at 935"),
    ("cpu-runc-50pct", "work_plateau_pods"): _SLOW_TOTAL.format(
        run="cpu-runc-50pct.csv", facts="1.2e8 pages/s at 49 running, 1.7e8 at 466, 2.5e8 at 973"),
    ("cpu-runc-80pct", "work_plateau_pods"): _SLOW_TOTAL.format(
        run="cpu-runc-80pct.csv", facts="8e7 pages/s at 45 running, 1.7e8 at 457, 2.3e8 at 939"),
    ("cpu-runc-100pct", "work_plateau_pods"): _SLOW_TOTAL.format(
        run="cpu-runc-100pct.csv",
        facts="8.4e8 pages/s at 46 running over all five workers, 3.5e9 at 494, 6.5e9 at 992"),
    ("cpu-runc-80pct", "work_peak_pods"):
        "cpu-runc-80pct.csv's peak (28.3 pods' worth) is 21% under the model's 36, 0.3 pods' "
        "worth past the 25% allowed: its total was still rising at its last iteration (2.2e8 "
        "at 901, 2.3e8 at 999), like every runc run's (see work_plateau_pods)",
    ("cpu-kata-100pct", "work_plateau_pods"):
        "kata pods' report files were often missing (README: both kata runs end with over 100 "
        "pods running and no file read): cpu-kata-100pct.csv read 51 reports with 83 running "
        "at iteration 101, 36 with 131 at 201, 19 with 133 at 301; the model counts every "
        "running pod's report",
    ("cpu-kata-50pct", "work_plateau_pods"):
        "kata pods' report files were often missing (README): cpu-kata-50pct.csv read 41 "
        "reports with 46 running at iteration 51, 64 with 82 at 101, 44 with 135 at 201; the "
        "model counts every running pod's report",
    ("cpu-kata-100pct", "work_peak_pods"):
        "the same missing reports: cpu-kata-100pct.csv's total peaked while 17-23 of its 21-27 "
        "running pods' reports were read (iterations 27-33) and fell as fewer were",
    ("cpu-kata-50pct", "max_evicted"): _NO_EVICTION.format(run="cpu-kata-50pct.csv", free="34.7"),
    ("cpu-kata-100pct", "max_evicted"): _NO_EVICTION.format(run="cpu-kata-100pct.csv",
                                                            free="27.0"),
}


def _stem(run: ReferenceRun) -> str:
    return run.name.partition("/")[2]


def _same_replay(run: ReferenceRun) -> tuple[str, bool]:
    return run.runtime, run.cpu_percent < 100


@pytest.fixture(scope="module")
def bands(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[CpuFigures]]:
    runs = cpu_runs()
    first: dict[tuple[str, bool], ReferenceRun] = {}
    for r in runs:
        first.setdefault(_same_replay(r), r)
    tmp = Path(tmp_path_factory.mktemp("cpu-calibration"))
    done = all_bands(list(first.values()), SEEDS, tmp, STEPS)
    return {r.name: done[first[_same_replay(r)].name] for r in runs}


@pytest.fixture(scope="module")
def published() -> dict[str, CpuFigures]:
    return {r.name: cpu_figures(r.path) for r in cpu_runs()}


def _check(name: str, figure: str, pub: CpuFigures, band: list[CpuFigures]) -> str | None:
    """None when the figure is within 25% of the band (a count of a handful within 5)."""
    value = getattr(pub, figure)
    model = [getattr(f, figure) for f in band]
    absolute = 5.0 if figure in ("max_running", "max_evicted") else 0.0
    if within(value, model, STEPS, absolute=absolute):
        return None
    shown = ", ".join(show(m) for m in model)
    return f"{name} {figure}: published {show(value)}, model [{shown}]"


def test_every_cpu_figure_is_within_25_percent_or_explained(bands, published):
    misses, stale, rows = [], [], []
    for r in cpu_runs():
        stem = _stem(r)
        for figure in FIGURES:
            miss = _check(stem, figure, published[r.name], bands[r.name])
            explained = (stem, figure) in EXPLAINED
            model = [getattr(f, figure) for f in bands[r.name]]
            rows.append(f"{stem:16} {figure:18} published {show(getattr(published[r.name], figure)):>6}"
                        f"  model {show(min(model, key=_key)):>6} .. {show(max(model, key=_key)):>6}"
                        f"{'  (explained)' if miss and explained else '  MISS' if miss else ''}")
            if miss and not explained:
                misses.append(miss)
            if explained and not miss:
                stale.append(f"{stem} {figure} is within 25% now: drop its explanation")
    print("\n".join(rows))
    assert not misses, "\n".join(misses)
    assert not stale, "\n".join(stale)


def _key(v: float | None) -> float:
    return float("inf") if v is None else float(v)


def test_runc_scales_to_about_a_thousand_pods_and_kata_to_its_overhead_bound(bands):
    for r in cpu_runs():
        top = min(f.max_running for f in bands[r.name])
        if r.runtime == "runc":
            assert top >= 900, r.name
        else:
            # 5 workers x (7,500 - 800)m allocatable left / 250m RuntimeClass overhead
            assert 100 <= top <= 134, r.name


def test_total_work_levels_off_when_the_nodes_cpus_are_full(bands):
    """The peak in pods' worth is what the workers' CPUs hold: 5 x 8, less what the node's
    services and infrastructure use (0.8 a worker) and, for kata, the VMs' host overhead."""
    for r in cpu_runs():
        for f in bands[r.name]:
            assert f.work_peak_pods is not None and f.cpu_knee is not None, r.name
            assert 30 <= f.work_peak_pods <= 5 * (8 - 0.8) + 0.5, (r.name, f)
            assert f.work_plateau_pods is not None and f.work_plateau_pods <= f.work_peak_pods
