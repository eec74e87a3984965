"""The CPU and useful-work figures of one run (issue 13): which columns feed which analysis.

Work is the pods' useful work, 4 KiB pages touched per second (run.csv ``work_rate``, summed
over the pods' fresh reports; a published CPU run's ``WorkCount`` per report period of ~1 s).
Node CPU is ``cpu_busy_pct``, the mean over the sampled nodes of each node's busy share. A file
without them says "not recorded" for every figure here, never 0.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from viz import analysis as an
from viz import figures
from viz import work as wk
from viz.run import Run

LABELS: dict[str, str] = {
    "work_per_pod": "work per running pod before the CPU knee",
    "cpu_knee": "CPU knee (work per pod starts to fall)",
    "running_at_cpu_knee": "running pods at the CPU knee",
    "work_plateau": "total work where it stopped growing",
    "work_plateau_pods": "  the same, in pods' worth",
    "work_peak": "peak total work (10-step median)",
    "work_peak_pods": "  the same, in pods' worth",
    "cpu_busy_peak": "node CPU busy, peak (mean over nodes)",
    "cpu_busy_at_cpu_knee": "node CPU busy at the CPU knee",
}
_UNITS = {
    "work_per_pod": "pages/s", "cpu_knee": "step", "running_at_cpu_knee": "pods",
    "work_plateau": "pages/s", "work_plateau_pods": "pods' worth", "work_peak": "pages/s",
    "work_peak_pods": "pods' worth", "cpu_busy_peak": "%", "cpu_busy_at_cpu_knee": "%",
}  # fmt: skip
_CPU_KEYS = ("cpu_busy_peak", "cpu_busy_at_cpu_knee")


def _column(df: pl.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(df.height, np.nan)
    return df[name].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def work_recorded(df: pl.DataFrame) -> str | None:
    """None when the run recorded work; else why not, for the figures' methods."""
    if "work_rate" not in df.columns:
        return "not recorded in this file"
    work = _column(df, "work_rate")
    if not np.isfinite(work).any():
        return "the file's work column is empty: its node source read no work reports"
    if not (work > 0).any():
        return "no pod reported work in this run"
    return None


def _absent(key: str, why: str) -> an.Finding:
    return an.Finding(None, _UNITS[key], f"{LABELS[key].strip()} ({why})", recorded=False)


def cpu_figures(run: Run) -> dict[str, an.Finding]:
    """Every figure of LABELS, in its order."""
    df = run.steps
    step, running = _column(df, "step"), _column(df, "running")
    work = _column(df, "work_rate")
    out: dict[str, an.Finding] = {}
    why = work_recorded(df)
    knee_step = None
    if why is not None:
        out.update({k: _absent(k, why) for k in LABELS if k not in _CPU_KEYS})
    else:
        knee = figures.cpu_knee(step, running, work)
        knee_step = knee.step
        out["work_per_pod"] = wk.work_level(step, running, work, knee.step, run.work_method)
        out["cpu_knee"] = an.Finding(knee.step, "step", knee.method, knee.step)
        at = None if knee.index is None else float(running[knee.index])
        out["running_at_cpu_knee"] = an.Finding(
            at, "pods", "running pods at the step of the CPU knee", knee.step
        )
        out["work_plateau"] = wk.work_plateau(step, running, work, knee.index)
        out["work_plateau_pods"] = wk.in_pods(
            out["work_plateau"], out["work_per_pod"], "total work where it stopped growing"
        )
        out["work_peak"] = wk.peak_work(step, work)
        out["work_peak_pods"] = wk.in_pods(
            out["work_peak"], out["work_per_pod"], "peak total work"
        )
    busy = _column(df, "cpu_busy_pct")
    if not np.isfinite(busy).any():
        reason = ("not recorded in this file" if "cpu_busy_pct" not in df.columns
                  else "the file's CPU column is empty: its node source read no /proc/stat")
        out.update({k: _absent(k, reason) for k in _CPU_KEYS})
    else:
        out["cpu_busy_peak"] = wk.peak_value(
            step, busy, "%", "mean busy share of the sampled nodes' CPUs (/proc/stat)"
        )
        at_knee = an.value_at_step(step, busy, knee_step)
        out["cpu_busy_at_cpu_knee"] = an.Finding(
            at_knee, "%", "mean busy share of the sampled nodes' CPUs at the step of the CPU knee"
            + ("" if knee_step is not None else " (no CPU knee)"), knee_step,
        )  # fmt: skip
    return {k: out[k] for k in LABELS}
