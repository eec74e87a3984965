"""The simulator against every published memory run of 2021 (issue 11): each replayed by its
procedure with its workload and its cluster's state, over five seeds, and compared figure by
figure, both sides computed from CSVs in the published format (``calibration_support``).

Each published figure must lie within 25% of the model's band over the seeds (counts of a
handful of pods within 5 pods), or be named below with the published fact that explains why
it does not. The memory-hungry runs (MEMORY=0) are not published here: they are checked apart.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from tests.calibration_support import (
    FIGURES,
    Figures,
    all_bands,
    figures,
    memory_runs,
    setup,
    show,
    within,
)

SEEDS = range(5)
COUNTS = {"max_running", "max_evicted", "max_creating"}
# What Kubernetes shows as ContainerCreating is the part of the bound pods that the model cannot
# tell apart: pods a kubelet has not reported yet show Pending, pods whose container creation
# timed out show CreateContainerError; the published runs grep only "ContainerCreating".
_UNLISTED = ("of the pods requested, {n} are in none of the four states the procedure greps "
             "at its last iteration ({states}): Pending (not yet reported by a kubelet) or "
             "failed to create their container; the model's kubelets report every bound pod "
             "ContainerCreating at once")
# Published facts that explain a figure the model misses, by run and figure.
EXPLAINED: dict[tuple[str, str], str] = {
    ("runc", "active_per_pod_peak_mib"):
        "runc.csv's 377 running pods shared the same 65 GiB of Active memory the model's "
        "260-300 share: the maximum of running pods, 25% above the model's band, divides it",
    ("kata", "max_running_step"):
        "kata.csv's running pods stay within 20% of their maximum (134) from iteration 200 to "
        "500 (110-129) and the maximum comes at 479; the model's plateau reaches its top by "
        "iteration 180",
    ("kata", "max_creating"): _UNLISTED.format(
        n="533", states="106 Running, 341 ContainerCreating, 19 Terminating"),
    ("limited-runc", "max_creating"): _UNLISTED.format(
        n="512", states="94 Running, 356 ContainerCreating, 37 Terminating"),
    ("limited-runc", "max_running_step"):
        "limited-runc.csv's running pods stay between 78 and 110 from iteration 250 to its last "
        "and the maximum (110) comes at 902: on that plateau the step of the maximum is where "
        "its noise peaks; the model's plateau starts where the published one does",
    ("limited-runc", "active_per_pod_100_mib"):
        "limited-runc.csv's worker 0 had no sample before iteration 18 and held 12.7 GiB Active "
        "at iteration 50 with 26 pods running in the whole cluster: memory held from before "
        "the run on a worker whose starting state was not recorded (the model takes it as idle)",
    ("limited-kata", "max_running_step"):
        "limited-kata.csv's running VMs keep growing slowly through the run (52 at iteration "
        "100, 80 at 200, 102 from 590 on): its ContainerCreating VMs turned Running one by one, "
        "where the model's find /dev/shm full once its first VMs have grown",
    ("limited-kata", "active_per_pod_peak_mib"):
        "limited-kata.csv's 102 running VMs shared 24-29 GiB of Active memory where the "
        "model's 82-87 share about the same (30 GiB): its last VMs came up one by one, small "
        "(see max_running_step)",
    ("restricted-kata-512Mv2-limit", "first_free_under_1gib"):
        "restricted-kata-512Mv2-limit.csv started with 6.0, 6.6 and 0.8 GiB free on workers 1, "
        "2 and 4 (17 GiB less than the idle cluster of runc.csv): what held it is not recorded; "
        "the model takes what is not Active as page cache, which it reclaims before MemFree "
        "falls",
    ("restricted-runc-1024M-limit", "max_creating"): _UNLISTED.format(
        n="655", states="106 Running, 238 ContainerCreating, 0 Terminating"),
    ("runc-5pct-500m-fixed-timing", "max_evicted"):
        "runc-5pct-500m-fixed-timing.csv ends at iteration 110, one iteration after its first "
        "Evicted pods appear (22 at once at iteration 109, a burst of rejections at admission): "
        "the figure is whether the run stopped before or after one burst",
}
for _stem in ("restricted-kata-512M-limit", "restricted-kata-512Mv2-limit",
              "restricted-kata-1024M-limit", "restricted-kata-2048M-limit"):
    EXPLAINED[(_stem, "max_running_step")] = (
        f"{_stem}.csv's running VMs keep growing slowly through the run (about 50 at iteration "
        "150, 72-92 at the end) as its ContainerCreating VMs turn Running in batches of 8-10; "
        "the model's VMs find /dev/shm full once its first VMs have grown, so its maximum comes "
        "early")
# The same fact seen mid-run: of the ~130 kata pods the RuntimeClass overhead lets the scheduler
# bind, the published runs had 47-56 running at iterations 100-335 and the rest in
# ContainerCreating, where the model has its 74-76 running by iteration 100.
_MID_RUN = ("{stem}.csv had {run} VMs running and {cr} in ContainerCreating at iteration {at}; "
            "its VMs came up in batches of 8-10 through the run (maximum {top} at iteration "
            "{top_at}) with about 130 bound all along (the RuntimeClass overhead's limit), where "
            "the model's are up by iteration 100-145, so {what}")
_FEWER = "its most ContainerCreating pods are the ~50 that the model's running VMs leave"
_MORE = "the model divides the same Active memory among {n} running pods at iteration 100"
EXPLAINED[("restricted-kata-512M-limit", "max_creating")] = _MID_RUN.format(
    stem="restricted-kata-512M-limit", run=54, cr=76, at=335, top=72, top_at=908, what=_FEWER)
EXPLAINED[("restricted-kata-1024M-limit", "max_creating")] = _MID_RUN.format(
    stem="restricted-kata-1024M-limit", run=56, cr=75, at=131, top=79, top_at=832, what=_FEWER)
EXPLAINED[("restricted-kata-512M-limit", "active_per_pod_100_mib")] = _MID_RUN.format(
    stem="restricted-kata-512M-limit", run=47, cr=51, at=100, top=72, top_at=908,
    what=_MORE.format(n=75))
EXPLAINED[("restricted-kata-512Mv2-limit", "active_per_pod_100_mib")] = _MID_RUN.format(
    stem="restricted-kata-512Mv2-limit", run=54, cr=43, at=100, top=92, top_at=891,
    what=_MORE.format(n=76))


@pytest.fixture(scope="module")
def bands(tmp_path_factory) -> dict[str, list[Figures]]:
    """The model's figures over the seeds for every published memory run, replayed once."""
    return all_bands(memory_runs(), SEEDS, tmp_path_factory.mktemp("calibration"))


def _stem(name: str) -> str:
    return name.partition("/")[2]


@pytest.mark.parametrize("run", memory_runs(), ids=lambda r: _stem(r.name))
def test_published_run_within_the_models_band(run, bands):
    published = figures(run.path)
    band = bands[run.name]
    steps = setup(run).steps
    misses, stale = [], []
    for name in FIGURES:
        value = getattr(published, name)
        model = [getattr(b, name) for b in band]
        explained = (_stem(run.name), name) in EXPLAINED
        if value is None and all(m is None for m in model):
            stale += [name] if explained else []
            continue
        slack = 5 if name in COUNTS else 0
        if within(value, model, steps, absolute=slack):
            stale += [name] if explained else []
            continue
        if explained:
            continue
        misses.append(f"{name}: published {show(value)}, model {' '.join(show(m) for m in model)}")
    assert not misses, f"{run.name} outside the model's band (25%): " + "; ".join(misses)
    # an explanation of a figure the model now reproduces is out of date
    assert not stale, f"{run.name}: EXPLAINED names figures within the band: {stale}"


def test_every_explanation_names_a_published_run_and_figure():
    stems = {_stem(r.name) for r in memory_runs()}
    for stem, name in EXPLAINED:
        assert stem in stems and name in FIGURES, (stem, name)


def test_the_capacity_runs_stay_within_25_percent(bands):
    for stem in ("runc", "kata"):
        run = next(r for r in memory_runs() if _stem(r.name) == stem)
        published = figures(run.path)
        for name in ("max_running", "max_evicted", "first_free_under_1gib", "peak_active_gib",
                     "active_per_pod_100_mib"):
            model = [getattr(b, name) for b in bands[run.name]]
            assert within(getattr(published, name), model, 999), (stem, name, model)


def _median(bands, stem: str, name: str) -> float:
    run = next(r for r in memory_runs() if _stem(r.name) == stem)
    return statistics.median(getattr(b, name) for b in bands[run.name])


def test_kata_costs_more_per_pod_than_runc_at_capacity_and_less_when_restricted(bands):
    # Active memory per running pod at the peak, as the published runs show it: kata above runc
    # in the capacity runs (509 vs 178 MiB), below in the restricted runs (336-426 vs 445 MiB:
    # the typical restricted kata run against the restricted runc run)
    per_pod = "active_per_pod_peak_mib"
    assert _median(bands, "kata", per_pod) > _median(bands, "runc", per_pod)
    restricted_kata = statistics.median(
        _median(bands, f"restricted-kata-{size}-limit", per_pod)
        for size in ("512M", "512Mv2", "1024M", "2048M"))
    assert restricted_kata < _median(bands, "restricted-runc-1024M-limit", per_pod)


def test_no_eviction_where_the_published_runs_had_none(bands):
    for run in memory_runs():
        if figures(run.path).max_evicted == 0:
            assert all(b.max_evicted == 0 for b in bands[run.name]), run.name


def test_kata_uses_at_most_half_the_memory_when_restricted(bands):
    # the restricted kata runs never had more than 35 GiB of their 80 Active
    for run in memory_runs():
        if _stem(run.name).startswith("restricted-kata"):
            assert all(b.peak_active_gib <= 40 for b in bands[run.name]), run.name


def test_reference_figures_are_read_from_the_files():
    # The figures the design quotes, recomputed (guards the parsing, not the model).
    by_stem = {_stem(r.name): figures(r.path) for r in memory_runs()}
    runc, kata = by_stem["runc"], by_stem["kata"]
    assert (runc.max_running, runc.max_evicted, runc.first_free_under_1gib) == (377, 409, 161)
    assert (kata.max_running, kata.max_evicted, kata.first_free_under_1gib) == (134, 0, 65)
    assert runc.max_running_step == 691 and kata.max_running_step == 479
    assert by_stem["limited-runc"].first_free_under_1gib is None  # worker 3 kept memory free


def test_the_replay_writes_the_published_format(tmp_path):
    from tests.calibration_support import HEADER, Setup, replay

    out = replay(Setup("runc", 500, 256, "c3d-2021-capacity", steps=12), 0,
                 tmp_path / "replay.csv")
    lines = out.read_text().splitlines()
    assert lines[0].split(",") == HEADER and len(lines) == 13
    f = figures(Path(out))
    assert f.max_running >= 8 and f.early_iteration_s == pytest.approx(5.7, abs=0.3)
