"""Pure analysis of one run's per-step series (numpy arrays in, findings out).

Every finding carries the sentence saying how it was computed, because a capacity figure
without its definition starts arguments instead of ending them. Missing values are NaN and
are ignored; arrays are ordered by step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from viz import figures
from viz.options import DEFAULT_FREE_THRESHOLD_MIB

__all__ = ["DEFAULT_FREE_THRESHOLD_MIB"]  # re-exported: callers read the default from here

Array = npt.NDArray[np.float64]
DEFAULT_KNEE_SMOOTH = 7
#: A timing knee must lift the step time by this fraction of its earlier level (5.16 s -> 5.25 s
#: is noise to anyone reading the run) and by KNEE_NOISE_SIGMAS times the step-to-step noise.
DEFAULT_KNEE_LIFT = 0.10
KNEE_NOISE_SIGMAS = 3.0


@dataclass(frozen=True)
class Finding:
    """One reported figure: its value (None when not reached), the step it refers to, and how."""

    value: float | None
    unit: str
    method: str
    step: float | None = None
    elapsed_s: float | None = None  # seconds since the run started, at ``step``
    recorded: bool = True  # False: the file has no column for it (None then means "unknown")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LineFit:
    slope: float
    intercept: float
    r2: float
    points: int


def _f(x: npt.ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


def not_recorded(unit: str, method: str) -> Finding:
    """The figure of a column the file does not have: unknown, and said so."""
    return Finding(None, unit, method + " (not recorded in this file)", recorded=False)


def max_running(step: Array, running: Array) -> Finding:
    """Highest running-pod count and the first step that reached it."""
    step, running = _f(step), _f(running)
    method = "highest running count; step is the first that reached it"
    if np.all(np.isnan(running)):
        return Finding(None, "pods", method)
    i = int(np.nanargmax(running))
    return Finding(float(running[i]), "pods", method, float(step[i]))


def knee(step: Array, requested: Array, running: Array) -> Finding:
    """Where running stops tracking requested: :func:`viz.figures.knee`, the one definition the
    load generator's summary uses too, with its method sentence."""
    fig = figures.knee(step, requested, running)
    return Finding(fig.step, "step", fig.method, fig.step)


def free_below(
    step: Array,
    free_mib: Array,
    threshold_mib: float,
    sampled: Array | None = None,
    nodes: int | None = None,
) -> Finding:
    """First step total free memory is under the threshold: :func:`viz.figures.free_below`."""
    fig = figures.free_below(step, free_mib, threshold_mib, sampled=sampled, nodes=nodes)
    return Finding(fig.step, "step", fig.method, fig.step)


def stop(step: Array, elapsed_s: Array, requested: Array, running: Array) -> Finding:
    """The step at which the load generator's stop rule is (or would have been) met:
    :func:`viz.figures.stop_step`, replaying the engine's own detector."""
    fig = figures.stop_step(step, elapsed_s, requested, running)
    return Finding(fig.step, "step", fig.method, fig.step)


def first_positive(step: Array, counts: Array, what: str) -> Finding:
    step, counts = _f(step), _f(counts)
    method = f"first step with {what} > 0"
    hit = np.isfinite(counts) & (counts > 0)
    if not hit.any():
        return Finding(None, "step", method + " (none)")
    i = int(np.argmax(hit))
    return Finding(float(step[i]), "step", method, float(step[i]))


def peak_count(step: Array, counts: Array, what: str) -> Finding:
    """Largest value of a cumulative counter (the recorder's counters never decrease, but the
    original scripts counted listed pods, which garbage collection can lower again)."""
    step, counts = _f(step), _f(counts)
    method = f"largest {what} count over the run"
    if np.all(np.isnan(counts)):
        return Finding(None, "pods", method + " (not recorded)")
    i = int(np.nanargmax(counts))
    where = float(step[i]) if counts[i] > 0 else None
    return Finding(float(counts[i]), "pods", method, where)


def fit_line(x: Array, y: Array) -> LineFit | None:
    """Least-squares y = slope x + intercept over finite pairs; None under 3 points or flat x."""
    x, y = _f(x), _f(y)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return LineFit(float(slope), float(intercept), r2, int(x.size))


def used_per_pod(used: Array, running: Array) -> Array:
    """(used − used at the first sample) / running; NaN where no pod runs.

    Subtracting the first sample removes the nodes' own use (kernel, system pods), which would
    otherwise dominate the ratio at low pod counts.
    """
    used, running = _f(used), _f(running)
    finite = np.flatnonzero(np.isfinite(used))
    out = np.full(used.shape, np.nan)
    if finite.size == 0:
        return out
    base = used[finite[0]]
    ok = np.isfinite(running) & (running > 0)
    out[ok] = (used[ok] - base) / running[ok]
    return out


def linear_mib_per_pod(
    step: Array, running: Array, used: Array, until_step: float | None
) -> tuple[Finding, LineFit | None]:
    """Slope of used memory against running pods over the steps before saturation."""
    step, running, used = _f(step), _f(running), _f(used)
    region = "all steps" if until_step is None else f"steps before {until_step:g}"
    method = f"least-squares slope of used memory vs running pods over {region}"
    mask = np.isfinite(running) & (running > 0)
    if until_step is not None:
        mask &= step < until_step
    fit = fit_line(running[mask], used[mask])
    if fit is None:
        return Finding(None, "MiB/pod", method + " (too few points)"), None
    return Finding(fit.slope, "MiB/pod", method + f" (R² {fit.r2:.3f}, {fit.points} points)"), fit


def value_at_step(step: Array, values: Array, at: float | None) -> float | None:
    """Value at the row whose step is ``at`` (the first such row), or None."""
    if at is None:
        return None
    step, values = _f(step), _f(values)
    hit = np.flatnonzero(step == at)
    if hit.size == 0 or not np.isfinite(values[hit[0]]):
        return None
    return float(values[hit[0]])


def running_median(y: Array, window: int) -> Array:
    """Centred running median (edges padded with the end values): removes one-off spikes, such
    as a single slow API call, that would otherwise decide where a least-squares knee lands."""
    y = _f(y)
    if y.size < window or window < 2:
        return y.copy()
    half = window // 2
    padded = np.concatenate((np.full(half, y[0]), y, np.full(window - 1 - half, y[-1])))
    return _f(np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1))


def noise_sigma(y: Array) -> float:
    """Step-to-step noise of a series, robust to its trend and to spikes: the median absolute
    deviation of its first differences, scaled to a standard deviation (x 1.4826) and divided
    by sqrt(2) because a difference carries the noise of two values."""
    y = _f(y)
    d = np.diff(y[np.isfinite(y)])
    if d.size < 2:
        return 0.0
    mad = float(np.median(np.abs(d - np.median(d))))
    return 1.4826 * mad / float(np.sqrt(2.0))


def timing_knee(
    step: Array,
    duration: Array,
    smooth: int = DEFAULT_KNEE_SMOOTH,
    min_lift: float = DEFAULT_KNEE_LIFT,
    what: str = "step duration",
) -> Finding:
    """The first step after which ``duration`` leaves the trend of the steps before it, upwards,
    by an amount that matters, and stays up.

    On the ``smooth``-step running median of the durations (one slow API call is not a knee),
    for each candidate step b (after at least ``m`` = max(10, n/50) steps): fit a line to the
    steps before b. b is the knee when (1) the next ``m`` steps run above that line, carried
    forward, by at least ``min_lift`` of its value at b and by KNEE_NOISE_SIGMAS standard errors
    of that prediction (sigma * sqrt(1/m + 1/b + (distance from the fitted steps' centre)^2 /
    their spread), sigma the series' step-to-step noise from :func:`noise_sigma`), and (2) all
    the later steps average above the ``m`` steps just before b by the same margin (so a trend
    bent by an earlier drop cannot make a flat or falling series look slower). A series that keeps
    rising at the same rate, a noisy flat one, a small drift (5.16 s -> 5.25 s), a slowdown that
    passes and a series that got faster have no knee; a jump (6 s -> 9 s) and a bend have one.
    """
    step, duration = _f(step), _f(duration)
    method = (
        f"first step after which the {smooth}-step running median of {what} runs above the "
        f"linear trend of the steps before it by >= {min_lift:.0%} of that trend and by >= "
        f"{KNEE_NOISE_SIGMAS:g} standard errors (from the step-to-step noise), over the next "
        "steps and on average over all later ones"
    )
    ok = np.isfinite(step) & np.isfinite(duration)
    x, y = step[ok], running_median(duration[ok], smooth)
    n = x.size
    m = max(10, n // 50)
    if n < 3 * m:
        return Finding(None, "step", method + " (too few steps)")
    if float(np.ptp(y)) == 0:
        return Finding(None, "step", method + " (the running median never changes: no knee)")
    sigma = noise_sigma(duration[ok])
    xc = x - x.mean()  # centred: the running sums stay well conditioned
    cx, cy, cxx, cxy = (np.concatenate(([0.0], np.cumsum(v))) for v in (xc, y, xc * xc, xc * y))
    b = np.arange(m, n - m + 1)
    centre = cx[b] / b
    sxx = cxx[b] - b * centre**2
    slope = np.where(sxx > 0, (cxy[b] - centre * cy[b]) / np.where(sxx > 0, sxx, 1.0), 0.0)
    intercept = cy[b] / b - slope * centre  # the line is intercept + slope * xc
    near_x = (cx[b + m] - cx[b]) / m
    near = (cy[b + m] - cy[b]) / m - (intercept + slope * near_x)
    level = intercept + slope * xc[b]
    recent = (cy[b] - cy[b - m]) / m  # what the steps just before b actually took
    rest = (cy[n] - cy[b]) / (n - b) - recent
    spread = np.where(sxx > 0, (near_x - centre) ** 2 / np.where(sxx > 0, sxx, 1.0), 0.0)
    error = sigma * np.sqrt(1.0 / m + 1.0 / b + spread)
    lift = min_lift * np.abs(level)
    need_near = np.maximum(lift, KNEE_NOISE_SIGMAS * error)
    need_rest = np.maximum(lift, KNEE_NOISE_SIGMAS * sigma * np.sqrt(1.0 / (n - b) + 1.0 / m))
    hits = np.flatnonzero((near >= need_near) & (rest >= need_rest))
    if hits.size == 0:
        best = int(np.argmax(near - need_near))
        why = (
            "later steps never above the earlier trend"
            if float(near[best]) <= 0
            else f"at most {float(near[best]):.3g} s above the earlier trend where "
            f"{float(need_near[best]):.3g} s was needed"
        )
        return Finding(None, "step", method + f" ({why}: no knee)")
    j = int(hits[0])
    knee = float(x[b[j]])
    return Finding(
        knee,
        "step",
        method + f" (the next steps {float(near[j]):.3g} s above the trend, which was "
        f"{float(level[j]):.3g} s at the knee; later steps {float(rest[j]):.3g} s slower on average "
        "than the steps before it)",
        knee,
    )
