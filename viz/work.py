"""Pure analysis of useful work (the CPU runs): the work per pod before the CPU knee, where the
total stopped growing, its peak, and work per pod at equal density between two runs (numpy
arrays in, findings out, each with the sentence saying how it was computed). The CPU knee itself
is ``viz.figures.cpu_knee``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from viz import figures
from viz.analysis import Array, Finding


def _f(x: npt.ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)

#: The total work rate's "peak" is its highest median over this many consecutive steps, so one
#: step in which many lingering reports were summed is not the cluster's capacity.
PEAK_WINDOW = 10


def _valid_rows(per_pod: Array, step: Array, until_step: float | None) -> npt.NDArray[np.bool_]:
    ok: npt.NDArray[np.bool_] = np.isfinite(per_pod)
    if until_step is not None:
        ok &= step < until_step
    return ok


def work_level(step: Array, running: Array, work: Array, until_step: float | None,
               work_method: str) -> Finding:
    """Useful work per running pod before the CPU knee: the median over the steps with pods
    running before it (all of them when there is no knee)."""
    step = _f(step)
    per_pod = figures.work_per_pod(work, running)
    ok = _valid_rows(per_pod, step, until_step)
    region = "every step" if until_step is None else f"the steps before the CPU knee ({until_step:g})"
    method = f"median of total work rate / running pods over {region} with pods running; work = {work_method}"
    if not ok.any():
        return Finding(None, "pages/s", method + " (no step with pods running)")
    return Finding(float(np.median(per_pod[ok])), "pages/s", method + f" ({int(ok.sum())} steps)")


def work_plateau(step: Array, running: Array, work: Array, knee_index: int | None,
                 lookahead: int = figures.CPU_KNEE_LOOKAHEAD) -> Finding:
    """The total work rate where it stopped growing with pods: its median over the steps (with
    pods running) from the CPU knee through the knee's look-ahead, the same steps that decided
    the knee."""
    step, work = _f(step), _f(work)
    method = f"median total work rate over the {lookahead} steps with pods running from the CPU knee"
    if knee_index is None:
        return Finding(None, "pages/s", method + " (no CPU knee)")
    per_pod = figures.work_per_pod(work, running)
    rows = np.flatnonzero(np.isfinite(per_pod) & (np.arange(step.size) >= knee_index))[:lookahead]
    return Finding(float(np.median(work[rows])), "pages/s", method, float(step[knee_index]))


def in_pods(value: Finding, per_pod: Finding, what: str) -> Finding:
    """A total work rate in pods' worth: how many pods working at the pre-knee level would do it."""
    method = f"{what} / the work per running pod before the CPU knee"
    if value.value is None or not per_pod.value:
        return Finding(None, "pods' worth", method, recorded=value.recorded and per_pod.recorded)
    return Finding(value.value / per_pod.value, "pods' worth", method, value.step)


def peak_work(step: Array, work: Array, window: int = PEAK_WINDOW) -> Finding:
    """Highest median of the total work rate over ``window`` consecutive steps with a value."""
    step, work = _f(step), _f(work)
    rows = np.flatnonzero(np.isfinite(work))
    method = (f"highest median of the total work rate over {window} consecutive steps; step is "
              "the first of them")
    if rows.size < window:
        return Finding(None, "pages/s", method + f" (fewer than {window} steps)")
    med = np.median(np.lib.stride_tricks.sliding_window_view(work[rows], window), axis=1)
    i = int(np.argmax(med))
    return Finding(float(med[i]), "pages/s", method, float(step[rows[i]]))


def peak_value(step: Array, values: Array, unit: str, what: str) -> Finding:
    """Largest value of a series and the first step reaching it."""
    step, values = _f(step), _f(values)
    method = f"largest {what}; step is the first that reached it"
    if not np.isfinite(values).any():
        return Finding(None, unit, method + " (no value)")
    i = int(np.nanargmax(values))
    return Finding(float(values[i]), unit, method, float(step[i]))


@dataclass(frozen=True)
class DensityCurve:
    """Work per running pod against running pods, on the way up: for each running count the
    run reached before its first step at its highest count, the median over the steps at it."""

    running: Array  # increasing integer counts
    per_pod: Array


def density_curve(running: Array, work: Array) -> DensityCurve:
    running, work = _f(running), _f(work)
    per_pod = figures.work_per_pod(work, running)
    if not np.isfinite(per_pod).any():
        return DensityCurve(np.empty(0), np.empty(0))
    top = int(np.nanargmax(np.where(np.isfinite(running), running, -1.0)))
    r, p = np.round(running[: top + 1]), per_pod[: top + 1]
    ok = np.isfinite(p)
    r, p = r[ok], p[ok]
    levels = np.unique(r)
    med = np.array([float(np.median(p[r == v])) for v in levels], dtype=np.float64)
    return DensityCurve(levels.astype(np.float64), med)


@dataclass(frozen=True)
class DensityRatio:
    """a / b at equal density (see ``EQUAL_DENSITY``): one value per running count."""

    running: Array
    ratio: Array


EQUAL_DENSITY = (
    "equal density = the same number of running pods: each run's work per running pod at each "
    "running count it reached on the way up (the median over its steps at that count, before its "
    "first step at its highest count), linearly interpolated between counts it skipped, compared "
    "at every count either run reached within the range both reached"
)


def equal_density(a: DensityCurve, b: DensityCurve) -> DensityRatio:
    """Work per running pod of ``a`` over that of ``b`` at each running count of the range both
    reached (counts either one visited; each curve interpolated between its own counts)."""
    if a.running.size == 0 or b.running.size == 0:
        return DensityRatio(np.empty(0), np.empty(0))
    lo = max(float(a.running[0]), float(b.running[0]), 1.0)
    hi = min(float(a.running[-1]), float(b.running[-1]))
    levels = np.union1d(a.running, b.running)
    levels = levels[(levels >= lo) & (levels <= hi)]
    pa = np.interp(levels, a.running, a.per_pod)
    pb = np.interp(levels, b.running, b.per_pod)
    ok = pb > 0
    return DensityRatio(levels[ok], pa[ok] / pb[ok])


def density_ratio_finding(ratio: DensityRatio, below: float | None, what: str) -> Finding:
    """The CPU overhead ratio: the median of ``ratio`` over the running counts under ``below``
    (the lower of the two runs' running counts at their CPU knees: where neither was saturated),
    every count when ``below`` is None."""
    region = ("every running count both reached (no CPU knee in either run)" if below is None
              else f"the running counts both reached under {below:g} (the lower of the two runs' "
              "running counts at their CPU knees: neither run saturated)")
    method = f"median over {region} of {what}; {EQUAL_DENSITY}"
    keep = ratio.running < below if below is not None else np.ones(ratio.running.size, bool)
    if not keep.any():
        return Finding(None, "ratio", method + " (no such running count)")
    return Finding(float(np.median(ratio.ratio[keep])), "ratio",
                   method + f" ({int(keep.sum())} counts)")
