"""Pure analysis of one run's per-step series (numpy arrays in, findings out).

Every finding carries the sentence saying how it was computed, because a capacity figure
without its definition starts arguments instead of ending them. Missing values are NaN and
are ignored; arrays are ordered by step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_FREE_THRESHOLD_MIB = 1024.0
MAX_TRACKING_WINDOW = 30
DEFAULT_TRACKING_RATIO = 0.5
DEFAULT_KNEE_GAIN = 0.3
DEFAULT_KNEE_SMOOTH = 7


@dataclass(frozen=True)
class Finding:
    """One reported figure: its value (None when not reached), the step it refers to, and how."""

    value: float | None
    unit: str
    method: str
    step: float | None = None
    elapsed_s: float | None = None  # seconds since the run started, at ``step``

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LineFit:
    slope: float
    intercept: float
    r2: float
    points: int


def _f(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def max_running(step: np.ndarray, running: np.ndarray) -> Finding:
    """Highest running-pod count and the first step that reached it."""
    step, running = _f(step), _f(running)
    method = "highest running count; step is the first that reached it"
    if np.all(np.isnan(running)):
        return Finding(None, "pods", method)
    i = int(np.nanargmax(running))
    return Finding(float(running[i]), "pods", method, float(step[i]))


def tracking_window(n: int) -> int:
    """Default window: a thirtieth of the run, between 10 and 30 steps.

    Long enough that a single slow pod start (or a burst of evictions replaced a few steps
    later) does not read as saturation, short enough to place the knee of a 100-step run.
    """
    return min(MAX_TRACKING_WINDOW, max(10, n // 30))


def tracking_saturation(
    step: np.ndarray,
    requested: np.ndarray,
    running: np.ndarray,
    window: int | None = None,
    ratio: float = DEFAULT_TRACKING_RATIO,
) -> Finding:
    """First step where running stops tracking requested for good.

    A window of ``window`` steps "tracks" when the highest running count so far grew by at least
    ``ratio`` of what requested grew (the high-water mark, so pods restarting or evicted and
    replaced within the window do not read as saturation). A candidate is the centre of the
    first non-tracking window after a tracking one: for running = min(requested, C) that is the
    first step after running hit C. A candidate is dropped when the run recovers from it: the
    lag (requested minus the high-water mark) grew by some amount over that window, and later
    wins back at least half of it (a temporary stall); the search then goes on from there.
    Windows where requested did not grow say nothing and are skipped.
    """
    step, requested, running = _f(step), _f(requested), _f(running)
    n = len(step)
    window = tracking_window(n) if window is None else window
    method = (
        f"centre of the first {window}-step window, after one that tracked, in which the highest "
        f"running count so far grew by less than {ratio:g} x the growth of requested, and whose "
        "lost ground (lag behind requested) is never half won back later"
    )
    if n <= window:
        return Finding(None, "step", method + f" (run shorter than {window + 1} steps)")
    high = np.fmax.accumulate(running)  # highest running so far: a dip is not saturation
    lag = requested - high
    d_req = requested[window:] - requested[:-window]
    d_run = high[window:] - high[:-window]
    informative = np.isfinite(d_req) & np.isfinite(d_run) & (d_req > 0)
    tracks = informative & (d_run >= ratio * d_req)
    lags = informative & ~tracks
    if not tracks.any():
        return Finding(None, "step", method + " (running never tracked requested)")
    start = int(np.argmax(tracks))
    stalls = 0
    while True:
        later = np.flatnonzero(lags[start:])
        if later.size == 0:
            note = f" (not reached; {stalls} temporary stall(s))" if stalls else " (not reached)"
            return Finding(None, "step", method + note)
        j = start + int(later[0])
        centre = min(j + window // 2, n - 1)
        end = min(j + window, n - 1)
        # The window is behind by construction: the lag grew by `lost` over it.
        lost = lag[end] - lag[j]
        back = np.flatnonzero(lag[end:] <= lag[j] + lost / 2)
        if back.size == 0:
            note = f" ({stalls} earlier stall(s) recovered)" if stalls else ""
            return Finding(float(step[centre]), "step", method + note, float(step[centre]))
        stalls += 1
        start = end + int(back[0])


def first_below(
    step: np.ndarray, values: np.ndarray, threshold: float, unit: str, what: str
) -> Finding:
    """First step where ``values`` is under ``threshold`` (strictly)."""
    step, values = _f(step), _f(values)
    method = f"first step where {what} < {threshold:g} {unit}"
    below = np.isfinite(values) & (values < threshold)
    if not below.any():
        return Finding(None, "step", method + " (never)")
    i = int(np.argmax(below))
    return Finding(float(step[i]), "step", method, float(step[i]))


def first_positive(step: np.ndarray, counts: np.ndarray, what: str) -> Finding:
    step, counts = _f(step), _f(counts)
    method = f"first step with {what} > 0"
    hit = np.isfinite(counts) & (counts > 0)
    if not hit.any():
        return Finding(None, "step", method + " (none)")
    i = int(np.argmax(hit))
    return Finding(float(step[i]), "step", method, float(step[i]))


def peak_count(step: np.ndarray, counts: np.ndarray, what: str) -> Finding:
    """Largest value of a cumulative counter (the recorder's counters never decrease, but the
    original scripts counted listed pods, which garbage collection can lower again)."""
    step, counts = _f(step), _f(counts)
    method = f"largest {what} count over the run"
    if np.all(np.isnan(counts)):
        return Finding(None, "pods", method + " (not recorded)")
    i = int(np.nanargmax(counts))
    where = float(step[i]) if counts[i] > 0 else None
    return Finding(float(counts[i]), "pods", method, where)


def fit_line(x: np.ndarray, y: np.ndarray) -> LineFit | None:
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


def used_per_pod(used: np.ndarray, running: np.ndarray) -> np.ndarray:
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
    step: np.ndarray, running: np.ndarray, used: np.ndarray, until_step: float | None
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


def value_at_step(step: np.ndarray, values: np.ndarray, at: float | None) -> float | None:
    """Value at the row whose step is ``at`` (the first such row), or None."""
    if at is None:
        return None
    step, values = _f(step), _f(values)
    hit = np.flatnonzero(step == at)
    if hit.size == 0 or not np.isfinite(values[hit[0]]):
        return None
    return float(values[hit[0]])


def _segment_sse(s0: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxx: np.ndarray,
                 sxy: np.ndarray, syy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residual sum of squares of a least-squares line from running sums (vectorised)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        vxx = sxx - sx * sx / s0
        vxy = sxy - sx * sy / s0
        vyy = syy - sy * sy / s0
        sse = vyy - np.where(vxx > 0, vxy * vxy / vxx, 0.0)
        slope = np.where(vxx > 0, vxy / vxx, 0.0)
    return np.maximum(sse, 0.0), slope


def running_median(y: np.ndarray, window: int) -> np.ndarray:
    """Centred running median (edges padded with the end values): removes one-off spikes, such
    as a single slow API call, that would otherwise decide where a least-squares knee lands."""
    y = _f(y)
    if y.size < window or window < 2:
        return y.copy()
    half = window // 2
    padded = np.concatenate((np.full(half, y[0]), y, np.full(window - 1 - half, y[-1])))
    out: np.ndarray = np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    return out


def timing_knee(
    step: np.ndarray,
    duration: np.ndarray,
    min_gain: float = DEFAULT_KNEE_GAIN,
    smooth: int = DEFAULT_KNEE_SMOOTH,
) -> Finding:
    """Where step duration departs upwards from its linear trend.

    On the ``smooth``-step running median of the durations, fits two independent lines split at
    every admissible breakpoint (each side at least 5 points and 5% of the run) and keeps the split
    with the least total squared error. It is reported only when two lines remove at least
    ``min_gain`` of the error one line leaves, and the later steps are slower on average than
    the earlier ones (durations got worse, not better): a noisy flat series has no knee.
    """
    step, duration = _f(step), _f(duration)
    method = (
        f"breakpoint of the best two-segment linear fit of the {smooth}-step running median of "
        f"step duration vs step; kept when it removes >= {min_gain:.0%} of the one-line squared "
        "error and the later steps are slower on average"
    )
    ok = np.isfinite(step) & np.isfinite(duration)
    x, y = step[ok], running_median(duration[ok], smooth)
    n = x.size
    m = max(5, n // 20)
    if n < 2 * m:
        return Finding(None, "step", method + " (too few steps)")
    xc = x - x.mean()
    yc = y - y.mean()
    cums = [
        np.concatenate(([0.0], np.cumsum(v)))
        for v in (np.ones(n), xc, yc, xc * xc, xc * yc, yc * yc)
    ]
    totals = [c[-1] for c in cums]
    one, _ = _segment_sse(*totals)
    if one <= 0:
        return Finding(None, "step", method + " (constant duration)")
    b = np.arange(m, n - m + 1)
    left = [c[b] for c in cums]
    right = [t - c[b] for t, c in zip(totals, cums, strict=True)]
    sse_l, _ = _segment_sse(*left)
    sse_r, _ = _segment_sse(*right)
    total = sse_l + sse_r
    k = int(np.argmin(total))
    gain = 1.0 - total[k] / one
    split = int(b[k])
    before, after = float(np.mean(y[:split])), float(np.mean(y[split:]))
    if gain < min_gain or after <= before:
        why = f"best split removes {gain:.0%}" if gain < min_gain else "later steps not slower"
        return Finding(None, "step", method + f" ({why}: no knee)")
    knee = float(x[split])
    return Finding(
        knee,
        "step",
        method + f" (removes {gain:.0%}; mean step {before:.3g} s before, {after:.3g} s after)",
        knee,
    )
