"""Measured vs declared pod overhead (issue 14.4) in words: the verdict on the RuntimeClass's
``overhead.podFixed`` and a podFixed that would cover most pods. Pure numpy.

The figures are ``viz.overhead``'s, the definitions the load generator's summary uses too (each
pod's last measurement while running; host memory minus the workload's resident set; median,
p90 and max over pods; under-stated when the median exceeds the declared value); this module
adds the wording and the suggestion. Percentiles are over pods, with linear interpolation
between them (numpy's default).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from viz.overhead import OverheadStats, covering, overhead_stats

Array = npt.NDArray[np.float64]

#: The suggested podFixed covers this share of the pods: high enough that a node filled by the
#: scheduler's sums is rarely short, without paying the worst pod's cost for every pod.
SUGGEST_PERCENTILE = 95.0
#: Rounded up to a whole number of this many MiB, as a person would write it (``340Mi``).
SUGGEST_STEP_MIB = 10.0
PERCENTILE_METHOD = "over pods, linear interpolation between pods"


def _finite(values: npt.ArrayLike) -> Array:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def stats(values: npt.ArrayLike) -> OverheadStats | None:
    """``viz.overhead.overhead_stats`` of the known values."""
    return overhead_stats(_finite(values))


def suggest_pod_fixed(values: npt.ArrayLike) -> tuple[float, float] | None:
    """(podFixed MiB, share of pods it covers): the overhead covering 95% of the pods
    (``viz.overhead.covering``), rounded up to a whole 10 MiB; None when there are no values."""
    v = _finite(values)
    at = covering(v, SUGGEST_PERCENTILE)
    if at is None:
        return None
    mib = max(math.ceil(at / SUGGEST_STEP_MIB) * SUGGEST_STEP_MIB, SUGGEST_STEP_MIB)
    return float(mib), float(np.mean(v <= mib))


def share_above(values: npt.ArrayLike, limit: float) -> float:
    v = _finite(values)
    return float(np.mean(v > limit)) if v.size else 0.0


def _mib(x: float) -> str:
    return f"{x:,.0f} MiB"


def _pct(share: float) -> str:
    """A share of pods as a percentage that never reads 0% or 100% when it is not."""
    p = 100.0 * share
    if 0 < p < 1:
        return "under 1%"
    if 99 < p < 100:
        return "over 99%"
    return f"{p:.0f}%"


def verdict(values: npt.ArrayLike, declared_mib: float | None, *, default_runtime: bool = False,
            vm_memory_mib: float | None = None, host_max_mib: float | None = None) -> str:
    """One paragraph: does the declared overhead state the measured one, by how much, and what
    podFixed would cover most pods. ``values``: each pod's measured overhead, MiB."""
    m = stats(values)
    if m is None:
        return "measured overhead: not recorded (no running pod with memory samples)"
    spread = (f"median {_mib(m.median_mib)} per pod, p90 {_mib(m.p90_mib)}, max {_mib(m.max_mib)} "
              f"({m.pods:,} pods)")  # fmt: skip
    suggestion = suggest_pod_fixed(values)
    assert suggestion is not None
    suggest = (f"Suggested podFixed: {suggestion[0]:.0f}Mi (the {SUGGEST_PERCENTILE:.0f}th "
               f"percentile rounded up to {SUGGEST_STEP_MIB:.0f} MiB: covers {_pct(suggestion[1])} "
               "of the pods).")  # fmt: skip
    if declared_mib is None or declared_mib <= 0:  # podFixed memory 0 declares none either
        if default_runtime:
            text = (f"No overhead is declared for the default runtime (no RuntimeClass); "
                    f"measured overhead: {spread}.")
        else:
            text = (f"No overhead is declared (the RuntimeClass has no overhead.podFixed memory): "
                    f"the scheduler counts none of the measured overhead, {spread}. {suggest}")
    else:
        above = share_above(values, declared_mib)
        if m.exceeds(declared_mib):
            text = (f"The declared overhead ({_mib(declared_mib)}) under-states the measured one: "
                    f"{spread}; the median pod costs {_mib(m.median_mib - declared_mib)} more "
                    f"({m.median_mib / declared_mib:.2f}x) and {_pct(above)} of the pods cost more "
                    f"than declared. {suggest}")  # fmt: skip
        elif m.max_mib > declared_mib:
            text = (f"The declared overhead ({_mib(declared_mib)}) covers the median pod but not "
                    f"all: {spread}; {_pct(above)} of the pods cost more, by up to "
                    f"{_mib(m.max_mib - declared_mib)}. {suggest}")  # fmt: skip
        else:
            text = (f"The declared overhead ({_mib(declared_mib)}) covers every pod: {spread}; "
                    f"{_mib(declared_mib - m.median_mib)} to spare at the median.")
    if vm_memory_mib and host_max_mib is not None:
        text += (f" The VM is configured with {_mib(vm_memory_mib)}; the costliest pod used "
                 f"{_mib(host_max_mib)} of host memory ({100 * host_max_mib / vm_memory_mib:.0f}% "
                 "of it).")  # fmt: skip
    return text
