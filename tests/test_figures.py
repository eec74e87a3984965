"""The run figures (viz.figures): known answers on synthetic series, and every published memory
run replayed, as the engine would see it step by step and as viz reads the file."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest

from viz import figures as fg
from viz.read import load_run
from viz.reference import RUNS

MEMORY_RUNS = sorted(name for name, r in RUNS.items() if r.kind == "memory")


def steps(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float)


@functools.cache
def published(name: str) -> dict[str, np.ndarray]:
    """A published run as viz reads it (the original scripts' format), as numpy arrays."""
    df = load_run(RUNS[name].path).steps
    cols = ("step", "elapsed_s", "requested", "running", "mem_free_mib", "nodes_sampled")
    return {c: df[c].to_numpy().astype(float) for c in cols}


def test_importing_it_imports_nothing_heavy():
    code = ("import sys, viz.figures; "
            "print([m for m in ('polars', 'altair', 'scaler') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- tolerance ---------------------------------------------------------------------------------


def test_tolerance_is_two_pods_or_one_percent():
    assert fg.tolerance(0) == 2 and fg.tolerance(150) == 2 and fg.tolerance(500) == 5
    assert not fg.is_gain(0, None) and fg.is_gain(1, None)  # the first pod is the first gain
    assert not fg.is_gain(101, 100) and fg.is_gain(102, 100)
    assert not fg.is_gain(float("nan"), None)


# -- knee --------------------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [10, 40, 77, 150])
def test_knee_is_first_step_after_running_reaches_capacity(capacity):
    s = steps(capacity + 100)
    f = fg.knee(s, s, np.minimum(s, capacity))
    assert f.step == capacity + 1 and f.method == fg.knee_method()


def test_knee_with_larger_step_size():
    idx = steps(300)
    requested = 5 * idx
    f = fg.knee(idx, requested, np.minimum(requested, 600))  # 600 reached at index 120
    assert f.step == 121


def test_knee_with_noise_stays_near_capacity():
    rng = np.random.default_rng(5)
    s = steps(400)
    for capacity in (60, 120, 250):
        running = np.minimum(s, capacity) - rng.integers(0, 4, s.size)  # pods a little late
        f = fg.knee(s, s, running)
        assert f.step is not None and abs(f.step - (capacity + 1)) <= 4, (capacity, f.step)


def test_knee_ignores_a_slow_start_a_dip_and_a_short_stall():
    s = steps(300)
    running = np.minimum(np.maximum(s - 3, 0), 200)  # 3-step start-up lag
    running[50:53] -= 6  # a few pods restarted: the high-water mark ignores it
    running[100:110] = running[99]  # a 10-step stall, then running catches up
    assert fg.knee(s, s, running).step == 204  # running reached 200 at step 203


def test_no_wait_start_up_lag_is_not_a_knee():
    # no-wait: requested rises every step while pods take ~15 steps to start
    s = steps(400)
    running = np.clip(s - 15, 0, 180)
    assert fg.knee(s, s, running).step == 196  # running reached 180 at step 195


def test_slow_creep_after_the_knee_still_puts_the_knee_at_the_bend():
    # runc-like: running follows requested to 120, then gains 0.4 pod per step
    s = steps(600)
    running = np.where(s <= 120, s, 120 + 0.4 * (s - 120))
    assert fg.knee(s, s, running).step == 121


def test_pace_above_half_is_still_tracking():
    # gains 0.6 pod per requested pod from 50 to 100, then nothing: the knee is where it stops
    s = steps(300)
    running = np.minimum(np.where(s <= 50, s, 50 + 0.6 * (s - 50)), 100)
    f = fg.knee(s, s, running)
    # 100 is reached at step 133.3; the pace is judged over 10 steps, so a bend from 0.6 to 0
    # shows once most of such a window lies past it
    assert f.step is not None and 125 <= f.step <= 134


def test_no_knee_when_running_tracks_or_never_runs_or_too_short():
    s = steps(100)
    assert fg.knee(s, s, s - 2).step is None
    never = fg.knee(s, s, np.zeros(100))
    assert never.step is None and "never kept pace" in never.method
    short = fg.knee(steps(5), steps(5), np.ones(5))
    assert short.step is None and "shorter" in short.method


def _assert_knee_never_moves(step, requested, running, cuts):
    full = fg.knee(step, requested, running)
    for n in cuts:
        part = fg.knee(step[:n], requested[:n], running[:n])
        assert part.step in (None, full.step), (n, part.step, full.step)
        if full.index is not None and full.index + fg.KNEE_LOOKAHEAD < n:
            assert part.step == full.step, n  # found as soon as its look-ahead is in
    return full


def test_a_longer_run_never_moves_the_knee_synthetic():
    rng = np.random.default_rng(9)
    s = steps(900)
    running = np.where(s <= 140, s, 140 + 0.5 * (s - 140)) - rng.integers(0, 6, s.size)
    running[300:500] = 260 + rng.integers(-20, 5, 200)  # evictions, then a late climb
    full = _assert_knee_never_moves(s, s, running, range(20, 901, 7))
    assert full.step is not None


@pytest.mark.parametrize("name", MEMORY_RUNS)
def test_a_longer_run_never_moves_the_knee_published(name):
    d = published(name)
    n = d["step"].size
    _assert_knee_never_moves(d["step"], d["requested"], d["running"], range(15, n + 1, 23))


def test_knee_tracker_matches_knee_at_every_step():
    rng = np.random.default_rng(2)
    s = steps(300)
    running = np.minimum(s, 150) - rng.integers(0, 3, s.size)
    tracker = fg.KneeTracker()
    for i in range(s.size):
        found = tracker.update(s[i], s[i], running[i])
        assert found == fg.knee(s[: i + 1], s[: i + 1], running[: i + 1]).step, i


def test_knee_parameters_are_checked():
    with pytest.raises(ValueError):
        fg.knee(steps(3), steps(3), steps(3), tracking=40)
    with pytest.raises(ValueError):
        fg.KneeTracker(behind=1.5)


# -- free memory under a threshold -------------------------------------------------------------


def test_free_below_is_strict_and_skips_missing_totals():
    s = steps(5)
    f = fg.free_below(s, np.array([3000, np.nan, 1024, 1023.9, 10]), 1024)
    assert (f.step, f.index) == (4, 3)
    assert fg.free_below(s, np.full(5, 5000.0)).step is None


def test_free_below_skips_totals_that_miss_a_node():
    s = steps(5)
    free = np.array([900, 3000, 800, 2000, 700.0])  # 900 and 800 are sums over 3 of 5 nodes
    sampled = np.array([3, 5, 3, 5, 5])
    assert fg.free_below(s, free, sampled=sampled, nodes=5).step == 5
    # without the node count, the most nodes sampled so far (no later data) is the reference
    assert fg.free_below(s, free, sampled=sampled).step == 1
    assert fg.free_below(s[1:], free[1:], sampled=sampled[1:]).step == 5


def test_free_below_rejects_a_meaningless_threshold():
    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            fg.free_below(steps(2), np.ones(2), bad)


def test_published_missing_worker_is_read_as_missing_and_skipped():
    # kata.csv has no sample of worker 3 in its first steps (the script wrote 0): the reader
    # counts 4 sampled workers there, while the script's own total summed that 0 in.
    d = published("c3d-2021/kata")
    assert list(d["nodes_sampled"][:4]) == [4, 4, 4, 4] and d["nodes_sampled"][4] == 5
    low = d["mem_free_mib"].copy()
    low[:4] = 500.0  # as if that partial total had been under the threshold
    assert fg.free_below(d["step"], low, sampled=d["nodes_sampled"], nodes=5).step == 65


@pytest.mark.parametrize("name, expected", [
    ("c3d-2021/runc", 161), ("c3d-2021/kata", 65), ("c3d-2021/restricted-kata-512Mv2-limit", 54),
    ("c3d-2021/limited-runc", None),
])
def test_free_below_on_published_runs(name, expected):
    d = published(name)
    f = fg.free_below(d["step"], d["mem_free_mib"], sampled=d["nodes_sampled"], nodes=5)
    assert f.step == expected


# -- the stop rule -----------------------------------------------------------------------------


def replay(running, requested=None, dt=5.0, rule=None):
    running = np.asarray(running, dtype=float)
    s = steps(running.size)
    requested = s if requested is None else np.asarray(requested, dtype=float)
    return fg.stop_step(s, dt * s, requested, running, rule).step


def test_stop_comes_when_the_last_gain_is_two_thirds_of_the_run_ago():
    s = steps(1000)
    # gains are pods 1, 3, 5, ... 89 (a gain is 2 pods): the last at step 89; 3 x 89 = 267
    assert replay(np.minimum(s, 90)) == 267
    # early saturation: the 30-step minimum decides
    assert replay(np.minimum(s, 5)) == 35
    assert replay(np.minimum(s, 5), rule=fg.StopRule(min_steps=50)) == 55


def test_single_pod_creep_and_noise_do_not_keep_a_run_going_forever():
    s = steps(2000)
    flat = np.minimum(s, 300)
    creep = flat + (s > 400)  # one more pod for good
    rng = np.random.default_rng(4)
    noisy = flat - rng.integers(0, 12, s.size)  # evicted and replaced all the time
    for running in (flat, creep, noisy):
        stop = replay(running)
        assert stop is not None and 890 <= stop <= 910


def test_slow_real_growth_keeps_the_run_going():
    # runc-like: a knee at 120, then 0.4 pod per step until step 600, then flat
    s = steps(2000)
    running = np.floor(np.where(s <= 120, s, 120 + 0.4 * (np.minimum(s, 600) - 120)))
    stop = replay(running)
    assert stop is not None and 600 < stop <= 3 * 600  # after it stopped gaining (step 600)


def test_no_wait_start_up_lag_is_not_a_stop():
    # 0.3 s steps; pods take 60 s (200 steps) before any runs, then follow requested
    s = steps(2500)
    running = np.clip(s - 200, 0, 500)
    stop = replay(running, dt=0.3)
    assert stop is not None and stop > 2000  # well after the plateau (reached at step 700)
    # nothing ever runs: never a stop (max-replicas or the duration ends such a run)
    assert replay(np.zeros(2000), dt=0.3) is None


def test_short_steps_need_the_minimum_time():
    s = steps(400)
    running = np.minimum(s, 3)  # saturated at once, 0.3 s steps
    stop = replay(running, dt=0.3)
    assert stop == 203  # 60 s after the last gain at step 3, not 30 steps after it


def test_no_stop_while_requested_does_not_grow():
    s = steps(300)
    assert replay(np.full(300, 50.0), requested=np.full(300, 50.0)) is None
    requested = np.minimum(s, 60)  # capped: running keeps up with what was asked
    assert replay(np.minimum(s, 60), requested=requested) is None


def test_detector_stays_stopped_and_replay_is_the_same_code_path():
    det = fg.StopDetector()
    s = steps(400)
    running = np.minimum(s, 20)
    flags = [det.update(s[i], 5 * s[i], s[i], running[i]) for i in range(400)]
    first = flags.index(True)
    assert all(flags[first:]) and det.stop_step == s[first] == replay(running)
    assert det.figure.index == first and det.gain_step == 19


def test_stop_rule_parameters_are_checked():
    for bad in ({"min_steps": 0}, {"min_seconds": -1}, {"fraction": 1.0}):
        with pytest.raises(ValueError):
            fg.StopRule(**bad)


@pytest.mark.parametrize("name", MEMORY_RUNS)
def test_published_runs_never_stop_before_95_percent_of_their_maximum(name):
    d = published(name)
    running = d["running"]
    reach95 = d["step"][int(np.argmax(running >= 0.95 * np.nanmax(running)))]
    stop = fg.stop_step(d["step"], d["elapsed_s"], d["requested"], running)
    assert stop.step is None or stop.step >= reach95, (stop.step, reach95)


def test_a_smaller_fraction_would_stop_a_published_run_too_early():
    # why the window is two thirds of the run: limited-kata sat at 80 pods for 340 steps
    d = published("c3d-2021/limited-kata")
    early = fg.stop_step(d["step"], d["elapsed_s"], d["requested"], d["running"],
                         fg.StopRule(fraction=0.6))
    assert early.step is not None and early.step < 537  # where it reached 95% of its 102


# -- online and offline agree ------------------------------------------------------------------


@pytest.mark.parametrize("name", MEMORY_RUNS)
def test_engine_and_viz_find_the_same_figures(name):
    d = published(name)
    n = d["step"].size
    for cut in sorted({min(n, c) for c in (60, 178, 400, n)}):
        part = {k: v[:cut] for k, v in d.items()}
        offline = fg.figures_of(part["step"], part["elapsed_s"], part["requested"],
                                part["running"], part["mem_free_mib"],
                                sampled=part["nodes_sampled"], nodes=5)
        online = fg.RunFigures(nodes=5)
        for i in range(cut):
            online.update(part["step"][i], part["elapsed_s"][i], part["requested"][i],
                          part["running"][i], part["mem_free_mib"][i], part["nodes_sampled"][i])
        got = online.figures()
        assert {k: (f.step, f.index) for k, f in got.items()} == \
            {k: (f.step, f.index) for k, f in offline.items()}, cut
