"""Analysis functions on synthetic series whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from viz import analysis as an
from viz import figures


def steps(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float)


def test_max_running_reports_first_step_reaching_the_maximum():
    s = steps(6)
    f = an.max_running(s, np.array([1, 3, 7, 7, 2, np.nan]))
    assert (f.value, f.step) == (7, 3)


def test_max_running_of_no_values_is_none():
    assert an.max_running(steps(3), np.full(3, np.nan)).value is None


@pytest.mark.parametrize("capacity", [40, 77, 150])
def test_knee_is_the_shared_definition(capacity):
    """viz reports the knee of viz.figures (the load generator's summary uses the same), with
    its method sentence: for running = min(requested, C), the first step after reaching C."""
    s = steps(300)
    running = np.minimum(s, capacity)
    f = an.knee(s, s, running)
    assert f.step == capacity + 1 and f.value == f.step
    assert f.method == figures.knee(s, s, running).method


def test_free_below_is_the_shared_definition():
    s = steps(5)
    free = np.array([3000, np.nan, 1024, 1023.9, 10])
    f = an.free_below(s, free, 1024)
    assert f.step == 4 and f.method == figures.free_below(s, free, 1024).method
    assert an.free_below(s, np.full(5, 5000.0), 1024).value is None
    # a total missing a node is not a crossing
    sampled = np.array([5, 5, 5, 4, 5.0])
    assert an.free_below(s, free, 1024, sampled, nodes=5).step == 5


def test_eviction_onset_and_peak():
    s = steps(6)
    ev = np.array([0, 0, 2, 5, 5, 1])  # the original scripts' counts can fall again
    assert an.first_positive(s, ev, "evicted pods").step == 3
    peak = an.peak_count(s, ev, "evicted")
    assert (peak.value, peak.step) == (5, 4)
    zero = an.peak_count(s, np.zeros(6), "evicted")
    assert zero.value == 0 and zero.step is None


def test_linear_mib_per_pod_recovers_slope_before_saturation():
    rng = np.random.default_rng(3)
    s = steps(300)
    running = np.minimum(s, 200)
    used = 3000 + 480 * running + rng.normal(0, 50, 300)
    used[200:] += 5000  # after saturation memory behaves differently: must be excluded
    f, fit = an.linear_mib_per_pod(s, running, used, until_step=201)
    assert f.value == pytest.approx(480, abs=1)
    assert fit is not None and fit.points == 200 and fit.r2 > 0.99
    assert "steps before 201" in f.method


def test_linear_fit_needs_three_points():
    f, fit = an.linear_mib_per_pod(steps(2), np.array([1, 2.0]), np.array([5, 6.0]), None)
    assert f.value is None and fit is None


def test_used_per_pod_subtracts_first_sample():
    used = np.array([np.nan, 1000, 1500, 2000])
    running = np.array([0, 0, 1, 4])
    out = an.used_per_pod(used, running)
    assert np.isnan(out[0]) and np.isnan(out[1])
    assert out[2] == 500 and out[3] == 250


def test_timing_knee_found_where_slope_changes():
    s = steps(400)
    rng = np.random.default_rng(7)
    y = 2 + 0.002 * s + np.where(s >= 250, 0.04 * (s - 250), 0) + rng.normal(0, 0.02, 400)
    f = an.timing_knee(s, y)
    assert f.step is not None and abs(f.step - 250) <= 3


def test_timing_knee_survives_single_spikes():
    s = steps(400)
    y = 2 + 0.002 * s + np.where(s >= 250, 0.04 * (s - 250), 0)
    y[[40, 90, 120]] = 60.0  # three very slow API calls
    f = an.timing_knee(s, y)
    assert f.step is not None and abs(f.step - 250) <= 3


def test_no_knee_on_noisy_linear_or_improving_series():
    rng = np.random.default_rng(11)
    s = steps(400)
    noisy = 3 + 0.001 * s + rng.normal(0, 0.3, 400)
    assert an.timing_knee(s, noisy).value is None
    faster = np.where(s < 200, 10.0, 5.0)  # later steps quicker: not a saturation knee
    assert an.timing_knee(s, faster).value is None
    assert an.timing_knee(s, np.full(400, 4.0)).value is None


def test_running_median_removes_isolated_spike():
    y = np.array([1.0, 1, 1, 9, 1, 1, 1])
    assert np.all(an.running_median(y, 3) == 1.0)


def test_small_drift_is_not_a_timing_knee():
    """Fixed-interval steps going from 5.16 s to 5.25 s: real, steady, and of no consequence."""
    s = steps(300)
    drift = 5.16 + np.where(s >= 29, 0.09, 0.0) + 0.0001 * s
    f = an.timing_knee(s, drift)
    assert f.value is None and "no knee" in f.method


def test_steady_rise_is_not_a_timing_knee_but_a_jump_is():
    s = steps(300)
    rise = 0.3 + 0.001 * s  # API time growing with the objects listed: no bend, no knee
    assert an.timing_knee(s, np.round(rise, 4)).value is None
    rng = np.random.default_rng(5)
    jump = np.where(s < 120, 6.0, 9.0) + rng.choice([0.0, 1.0], 300)  # whole seconds, as recorded
    f = an.timing_knee(s, jump)
    assert f.step is not None and 110 <= f.step <= 125


@pytest.mark.parametrize("seed", range(8))
def test_noise_never_makes_a_timing_knee(seed):
    rng = np.random.default_rng(seed)
    s = steps(400)
    assert an.timing_knee(s, 3 + 0.001 * s + rng.normal(0, 0.3, 400)).value is None


def test_noise_sigma_ignores_trend_and_spikes():
    s = steps(500)
    rng = np.random.default_rng(2)
    y = 10 + 0.05 * s + rng.normal(0, 0.2, 500)
    y[::50] += 30
    assert an.noise_sigma(y) == pytest.approx(0.2, rel=0.2)
