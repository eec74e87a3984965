"""A figure over repeated runs: median and spread, and the same for the ratio of two figures.

A run is one draw of a random process (pod start order, evictions, a slow API call), so a
configuration run N times gives N values of each figure. Shown for each: the median (robust to
one odd run) and the range (min-max); from 5 values with a value on, also a 95% confidence
interval of the mean from Student's t distribution: mean ± t(0.975, n-1) · s / sqrt(n), s the
sample standard deviation. Figures a run did not reach (no eviction happened) are counted, not
averaged: "reached in 3 of 5 runs".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CI_MIN_RUNS = 5
Z975 = 1.959963984540054
# Two-sided 95% quantiles t(0.975, df) for df = 1..30 (any statistics table, e.g. NIST/SEMATECH
# e-Handbook of Statistical Methods, table 1.3.6.7.2); beyond 30, the Cornish-Fisher expansion
# below is within 1e-4 of the exact value.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
CI_METHOD = (
    "95% confidence interval of the mean, Student's t: mean ± t(0.975, n−1) · s/√n "
    f"(shown from {CI_MIN_RUNS} runs)"
)
RATIO_METHOD = (
    "central value: ratio of the medians; range: the lowest and highest ratio over every "
    "pair of runs; 95% interval (from 5 runs on each side): the extreme ratios of the two "
    "means' 95% confidence intervals (conservative)"
)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError("t quantile needs at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = Z975, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


@dataclass(frozen=True)
class Spread:
    """One figure over N runs. ``values`` has one entry per run (None: not reached)."""

    values: tuple[float | None, ...]
    median: float | None
    low: float | None
    high: float | None
    mean: float | None
    ci95: tuple[float, float] | None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def reached(self) -> int:
        return sum(v is not None for v in self.values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "reached": self.reached,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "mean": self.mean,
            "ci95": list(self.ci95) if self.ci95 else None,
            "values": list(self.values),
        }


def spread(values: Sequence[float | None]) -> Spread:
    """Median, min-max, mean and (from CI_MIN_RUNS values) the t-based 95% CI of the mean."""
    clean = tuple(None if v is None or not math.isfinite(v) else float(v) for v in values)
    have = np.array([v for v in clean if v is not None], dtype=np.float64)
    if have.size == 0:
        return Spread(clean, None, None, None, None, None)
    mean = float(have.mean())
    ci = None
    if have.size >= CI_MIN_RUNS:
        half = t975(have.size - 1) * float(have.std(ddof=1)) / math.sqrt(have.size)
        ci = (mean - half, mean + half)
    return Spread(
        clean, float(np.median(have)), float(have.min()), float(have.max()), mean, ci
    )


@dataclass(frozen=True)
class RatioSpread:
    """a / b over repeats (see RATIO_METHOD)."""

    value: float | None
    low: float | None
    high: float | None
    ci95: tuple[float, float] | None
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "min": self.low,
            "max": self.high,
            "ci95": list(self.ci95) if self.ci95 else None,
            "pairs": self.pairs,
        }


def ratio_spread(a: Spread, b: Spread) -> RatioSpread:
    """The ratio of two figures over their runs; None where the denominator is 0 or missing."""
    value = None
    if a.median is not None and b.median:
        value = a.median / b.median
    cross = [x / y for x in a.values if x is not None for y in b.values if y]
    low = min(cross) if cross else None
    high = max(cross) if cross else None
    ci = None
    if a.ci95 and b.ci95 and b.ci95[0] > 0 and a.ci95[0] >= 0:
        ci = (a.ci95[0] / b.ci95[1], a.ci95[1] / b.ci95[0])
    return RatioSpread(value, low, high, ci, len(cross))
