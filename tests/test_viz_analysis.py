"""Analysis functions on synthetic series whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from viz import analysis as an


def steps(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float)


def test_max_running_reports_first_step_reaching_the_maximum():
    s = steps(6)
    f = an.max_running(s, np.array([1, 3, 7, 7, 2, np.nan]))
    assert (f.value, f.step) == (7, 3)


def test_max_running_of_no_values_is_none():
    assert an.max_running(steps(3), np.full(3, np.nan)).value is None


@pytest.mark.parametrize("capacity", [40, 77, 150])
def test_saturation_is_first_step_after_running_hits_capacity(capacity):
    s = steps(200)
    running = np.minimum(s, capacity)
    f = an.tracking_saturation(s, s, running, window=10)
    assert f.step == capacity + 1


def test_saturation_with_larger_step_size_and_default_window():
    idx = np.arange(1, 301, dtype=float)
    requested = 5 * idx
    running = np.minimum(requested, 600)  # reached at index 120
    f = an.tracking_saturation(idx, requested, running)
    assert f.step == 121


def test_saturation_ignores_a_short_dip_and_a_slow_start():
    s = steps(300)
    running = np.minimum(np.maximum(s - 3, 0), 200)  # 3-step start-up lag
    running[50:53] -= 6  # a few pods restarted
    f = an.tracking_saturation(s, s, running)
    assert f.step == 204  # running hit 200 at step 203


def test_no_saturation_while_running_tracks_requested():
    s = steps(100)
    f = an.tracking_saturation(s, s, s - 2)
    assert f.value is None and "not reached" in f.method


def test_saturation_needs_running_to_have_tracked_first():
    s = steps(100)
    assert an.tracking_saturation(s, s, np.zeros(100)).value is None


def test_first_below_is_strict_and_skips_nan():
    s = steps(5)
    free = np.array([3000, np.nan, 1024, 1023.9, 10])
    f = an.first_below(s, free, 1024, "MiB", "free")
    assert f.step == 4
    assert an.first_below(s, np.full(5, 5000.0), 1024, "MiB", "free").value is None


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


def test_tracking_window_scales_with_run_length():
    assert an.tracking_window(50) == 10
    assert an.tracking_window(600) == 20
    assert an.tracking_window(5000) == 30


def test_temporary_stall_then_recovery_is_not_saturation():
    s = steps(300)
    running = np.minimum(s, 220)
    running[40:70] = 40  # the cluster stalled for 30 steps, then caught up
    running[70:80] = np.linspace(45, 80, 10)
    f = an.tracking_saturation(s, s, running, window=10)
    assert f.step == 221 and "1 earlier stall(s) recovered" in f.method


def test_stall_only_is_not_saturation():
    s = steps(200)
    running = s.copy()
    running[50:80] = 50
    f = an.tracking_saturation(s, s, running, window=10)
    assert f.value is None and "temporary stall" in f.method
