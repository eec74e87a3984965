"""The report figures of one run: which analysis applies to which columns, and how to print it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from viz import analysis as an
from viz.read import load_run
from viz.run import Run

# Order in which the figures are printed and compared.
FIGURE_LABELS = {
    "max_running": "max running pods",
    "saturation_step": "saturation (running stops tracking requested)",
    "free_below_threshold": "free memory under threshold",
    "running_at_free_threshold": "running pods when free memory crossed the threshold",
    "mib_per_pod_linear": "MiB per pod, linear region",
    "mib_per_pod_at_saturation": "MiB per pod at saturation",
    "eviction_onset": "first eviction",
    "evicted_total": "evicted pods",
    "oom_onset": "first OOM kill",
    "oom_total": "OOM-killed containers",
    "timing_knee": "timing knee",
}


@dataclass(frozen=True)
class Report:
    run: Run
    figures: dict[str, an.Finding]
    fit: an.LineFit | None

    def to_dict(self) -> dict:
        meta = self.run.meta
        return {
            "run": {
                "path": str(self.run.path),
                "runtime": meta.runtime,
                "scenario": meta.scenario,
                "mode": meta.mode,
                "cluster": meta.cluster_kind,
                "date": meta.date,
                "format": meta.source_format,
                "end_reason": meta.end_reason,
                "steps": self.run.steps.height,
                "used_memory": self.run.used_method,
                "notes": list(meta.notes),
            },
            "figures": {k: v.to_dict() for k, v in self.figures.items()},
        }


def column(df: pl.DataFrame, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing; all-NaN when the column is absent."""
    if name not in df.columns:
        return np.full(df.height, np.nan)
    return df[name].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def analyse_run(
    run: Run,
    free_threshold_mib: float = an.DEFAULT_FREE_THRESHOLD_MIB,
    window: int | None = None,
) -> Report:
    df = run.steps
    step, requested, running = column(df, "step"), column(df, "requested"), column(df, "running")
    used, free = column(df, "mem_used_mib"), column(df, "mem_free_mib")
    fig: dict[str, an.Finding] = {}
    fig["max_running"] = an.max_running(step, running)
    fig["saturation_step"] = an.tracking_saturation(step, requested, running, window=window)
    fig["free_below_threshold"] = an.first_below(
        step, free, free_threshold_mib, "MiB", "total free memory (sum over sampled nodes)"
    )
    at_free = an.value_at_step(step, running, fig["free_below_threshold"].step)
    fig["running_at_free_threshold"] = an.Finding(
        at_free, "pods", "running pods at the step where free memory crossed the threshold",
        fig["free_below_threshold"].step,
    )  # fmt: skip

    ends = [f.step for f in (fig["saturation_step"], fig["free_below_threshold"]) if f.step]
    until = min(ends) if ends else None
    fig["mib_per_pod_linear"], fit = an.linear_mib_per_pod(step, running, used, until)
    sat = fig["saturation_step"].step or fig["free_below_threshold"].step
    per_pod = an.used_per_pod(used, running)
    which = "saturation step" if fig["saturation_step"].step else "free-memory threshold step"
    fig["mib_per_pod_at_saturation"] = an.Finding(
        an.value_at_step(step, per_pod, sat),
        "MiB/pod",
        f"(used − used at first step) / running at the {which}",
        sat,
    )
    evicted, oom = column(df, "evicted"), column(df, "oom_killed")
    fig["eviction_onset"] = an.first_positive(step, evicted, "evicted pods")
    fig["evicted_total"] = an.peak_count(step, evicted, "evicted")
    fig["oom_onset"] = an.first_positive(step, oom, "OOM-killed containers")
    fig["oom_total"] = an.peak_count(step, oom, "OOM-killed")
    fig["timing_knee"] = an.timing_knee(step, column(df, "step_s"))
    elapsed = column(df, "elapsed_s")
    fig = {k: replace(f, elapsed_s=an.value_at_step(step, elapsed, f.step)) for k, f in fig.items()}
    return Report(run, fig, fit)


def analyse(path: Path | str, free_threshold_mib: float = an.DEFAULT_FREE_THRESHOLD_MIB) -> dict:
    """Report figures of the run at ``path`` as a JSON-ready dict (API for ``scaler run``)."""
    return analyse_run(load_run(Path(path)), free_threshold_mib).to_dict()


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def format_value(f: an.Finding) -> str:
    if f.value is None:
        return "—"
    if f.unit == "step":
        text = f"step {f.value:g}"
    elif f.unit == "pods":
        text = f"{f.value:,.0f}"
    else:
        text = f"{f.value:,.1f} {f.unit}"
    if f.step is not None and f.unit != "step":
        text += f" at step {f.step:g}"
    if f.elapsed_s is not None:
        text += f" ({f.elapsed_s:,.0f} s)"
    return text


def format_text(report: Report) -> str:
    meta = report.run.meta
    lines = [
        f"{report.run.path}: {meta.describe()}",
        f"  {meta.provenance()}; {plural(report.run.steps.height, 'step')}; used memory = "
        f"{report.run.used_method}",
    ]
    if meta.end_reason:
        lines.append(f"  ended: {meta.end_reason}")
    for note in meta.notes:
        lines.append(f"  note: {note}")
    width = max(len(v) for v in FIGURE_LABELS.values())
    for key, label in FIGURE_LABELS.items():
        f = report.figures[key]
        lines.append(f"  {label:<{width}}  {format_value(f)}")
        lines.append(f"  {'':<{width}}    ({f.method})")
    return "\n".join(lines)
