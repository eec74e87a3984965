"""The CPU overhead ratio of a runtime pair: work per running pod at equal density, a / b.

Not a ratio of two figures (as MiB per pod is) but of two curves: each run's work per running
pod against running pods (``analysis.density_curve``), compared at the same running counts
(``analysis.equal_density``). Two values per pair, because they answer different questions:

- below the CPU knees (the running counts under the lower of the two runs' knees, where
  neither run's pods were short of CPU): what a pod of one runtime does with the same CPU as a
  pod of the other, the runtime's own CPU overhead;
- from the knees on: how the two clusters share out their saturated CPUs, which depends on the
  cluster as much as on the runtime.

With repeats, every run of one group is paired with every run of the other: the value is the
median over those pairs, the range their min-max.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viz import analysis as an
from viz import work as wk
from viz.cpu_report import work_recorded
from viz.groups import Group
from viz.report import Report, column
from viz.stats import RatioSpread


@dataclass(frozen=True)
class CpuRatio:
    key: str  # "cpu_ratio_below" or "cpu_ratio_past"
    what: str  # label text, without the pair
    spread: RatioSpread
    method: str


REGIONS = {
    "cpu_ratio_below": "work per pod at equal density below the CPU knees",
    "cpu_ratio_past": "work per pod at equal density from the CPU knees on",
}


def curve(report: Report) -> wk.DensityCurve | None:
    """The run's work per running pod against running pods; None when it recorded no work."""
    df = report.run.steps
    if work_recorded(df) is not None:
        return None
    return wk.density_curve(column(df, "running"), column(df, "work_rate"))


def _knee_running(report: Report) -> float | None:
    return report.figures["running_at_cpu_knee"].value


def lower_knee(a: Report, b: Report) -> float | None:
    """The lower of the two runs' running counts at their CPU knees (one, if only one has it)."""
    knees = [k for k in (_knee_running(a), _knee_running(b)) if k is not None]
    return min(knees) if knees else None


def pair_ratio(a: Report, b: Report) -> wk.DensityRatio | None:
    ca, cb = curve(a), curve(b)
    if ca is None or cb is None:
        return None
    return wk.equal_density(ca, cb)


def _past(ratio: wk.DensityRatio, knee: float | None) -> an.Finding:
    method = (f"median over the running counts both reached from {knee:g} on (the lower of the "
              "two runs' running counts at their CPU knees) of work per running pod, a / b; "
              f"{wk.EQUAL_DENSITY}") if knee is not None else "no CPU knee in either run"  # fmt: skip
    if knee is None:
        return an.Finding(None, "ratio", method)
    keep = ratio.running >= knee
    if not keep.any():
        return an.Finding(None, "ratio", method + " (no such running count)")
    return an.Finding(float(np.median(ratio.ratio[keep])), "ratio",
                      method + f" ({int(keep.sum())} counts)")  # fmt: skip


def cpu_ratios(a: Group, b: Group) -> list[CpuRatio]:
    """Both ratios of group ``a`` over group ``b``; [] when either recorded no work."""
    if all(work_recorded(r.run.steps) for r in a.reports) or all(
        work_recorded(r.run.steps) for r in b.reports
    ):
        return []
    found: dict[str, list[an.Finding]] = {k: [] for k in REGIONS}
    for ra in a.reports:
        for rb in b.reports:
            ratio = pair_ratio(ra, rb)
            if ratio is None:
                continue
            knee = lower_knee(ra, rb)
            found["cpu_ratio_below"].append(
                wk.density_ratio_finding(ratio, knee, "work per running pod, a / b")
            )
            found["cpu_ratio_past"].append(_past(ratio, knee))
    out = []
    for key, findings in found.items():
        values = [f.value for f in findings if f.value is not None]
        method = findings[0].method if findings else "no pair of runs with work recorded"
        if len(findings) > 1:
            method = (f"{len(findings)} pairs of runs: median [min-max] over the pairs; each "
                      f"pair: {findings[0].method.split(' (')[0]}")  # fmt: skip
        spread = RatioSpread(
            float(np.median(values)) if values else None,
            min(values) if values else None,
            max(values) if values else None,
            None,
            len(values),
        )
        out.append(CpuRatio(key, REGIONS[key], spread, method))
    return out
