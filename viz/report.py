"""The report figures of one run: which analysis applies to which columns, and how to print it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from viz import analysis as an
from viz.cpu_report import LABELS as CPU_LABELS
from viz.cpu_report import cpu_figures
from viz.pod_report import LABELS as POD_LABELS
from viz.pod_report import pod_figures, pod_verdict
from viz.pods import PodTable, read_pods
from viz.read import load_run
from viz.run import Run

# Figures in the order they are printed and compared, by section. Failure modes get figures of
# their own: a run that stopped at 30 pods because its VMs kept dying must say so.
SECTIONS: dict[str, dict[str, str]] = {
    "capacity": {
        "max_running": "max running pods",
        "knee": "knee (running stops tracking requested)",
        "stop": "stop rule met (the cluster stopped gaining)",
        "free_below_threshold": "free memory under threshold",
        "running_at_free_threshold": "running pods when free memory crossed the threshold",
        "mib_per_pod": "MiB per pod",
        "peak_active": "peak total Active memory",
    },
    "CPU and useful work": CPU_LABELS,
    "per-pod cost": POD_LABELS,
    "failure modes": {
        "pending_peak": "most pods Pending (not scheduled)",
        "creating_peak": "most pods Creating (scheduled, not started)",
        "terminating_peak": "most pods Terminating",
        "failed_peak": "most pods Failed",
        "evicted_listed_peak": "most Evicted pods listed at once",
        "eviction_onset": "first eviction",
        "evicted_total": "evictions (cumulative)",
        "oom_onset": "first OOM kill",
        "oom_total": "OOM-killed containers",
        "restarts_peak": "container restarts",
        "sandbox_deaths": "sandbox/VM deaths",
        "sandbox_failures": "sandbox set-up failures",
        "failed_create": "pods not created (FailedCreate)",
        "failed_scheduling": "FailedScheduling events",
        "api_errors": "API errors retried",
    },
    "timing": {
        "timing_knee": "timing knee",
    },
}
FIGURE_LABELS: dict[str, str] = {k: v for sec in SECTIONS.values() for k, v in sec.items()}

# Counters drawn from one column each: (key, column, what, kind). "peak" is the largest value
# (right for counts of pods now and for cumulative counters alike).
_COUNTS = [
    ("pending_peak", "pending", "Pending pods"),
    ("creating_peak", "creating", "Creating pods"),
    ("terminating_peak", "terminating", "Terminating pods"),
    ("failed_peak", "failed", "Failed pods"),
    ("evicted_listed_peak", "evicted_listed", "Evicted pods listed at one step (not cumulative)"),
    ("evicted_total", "evicted", "evicted (cumulative)"),
    ("oom_total", "oom_killed", "OOM-killed (cumulative)"),
    ("restarts_peak", "restarts", "container restarts"),
    ("sandbox_deaths", "sandbox_deaths", "sandbox/VM deaths (cumulative)"),
    ("sandbox_failures", "sandbox_failures", "FailedCreatePodSandBox (cumulative)"),
    ("failed_create", "failed_create", "FailedCreate (cumulative)"),
    ("failed_scheduling", "failed_scheduling", "FailedScheduling (cumulative)"),
    ("api_errors", "api_errors", "transient API errors retried (cumulative)"),
]


@dataclass(frozen=True)
class Report:
    run: Run
    figures: dict[str, an.Finding]
    fit: an.LineFit | None
    fit_until: float | None = None  # the MiB-per-pod fit used the steps before this one
    pods: PodTable | None = None  # run.pods.csv, one row per pod (None: no such file)
    verdict: str = ""  # measured vs declared overhead, in words

    def to_dict(self) -> dict[str, Any]:
        meta = self.run.meta
        return {
            "run": {
                "path": str(self.run.path),
                "runtime": meta.runtime,
                "runtime_label": meta.runtime_label,
                "scenario": meta.scenario,
                "workload": meta.workload_label or meta.workload,
                "mode": meta.mode,
                "cluster": meta.cluster_kind,
                "simulated": meta.simulated,
                "reference": meta.reference,
                "date": meta.date,
                "format": meta.source_format,
                "end_reason": meta.end_reason,
                "status": meta.status,
                "group": meta.group,
                "repeat": meta.repeat_index,
                "steps": self.run.steps.height,
                "used_memory": self.run.used_method,
                "notes": list(meta.notes),
            },
            "figures": {k: v.to_dict() for k, v in self.figures.items()},
            "pod_cost": {
                "verdict": self.verdict,
                "file": None if self.pods is None else str(self.pods.path),
                "rows": None if self.pods is None else self.pods.rows,
                "sources": None if self.pods is None else list(self.pods.sources),
                "measured_parts": None if self.pods is None else sorted(self.pods.measured),
            },
        }


def generic(method: str) -> str:
    """A method sentence without the run's own closing note ("... (not found in the first 160
    steps)"): what a group of runs has in common."""
    if not method.endswith(")"):
        return method
    depth = 0
    for i in range(len(method) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(method[i], 0)
        if depth == 0:
            return method[: i - 1] if i > 0 and method[i - 1] == " " else method
    return method


def column(df: pl.DataFrame, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing; all-NaN when the column is absent."""
    if name not in df.columns:
        return np.full(df.height, np.nan)
    return df[name].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def complete_sums(df: pl.DataFrame, name: str) -> np.ndarray:
    """A cluster sum only on steps where every node was sampled: a sum missing a node reads as
    a drop in free memory that never happened (the published runs miss workers at first)."""
    values = column(df, name)
    sampled = column(df, "nodes_sampled")
    if np.isfinite(sampled).any():
        values = np.where(sampled >= np.nanmax(sampled), values, np.nan)
    return values


def timing_series(df: pl.DataFrame) -> tuple[np.ndarray, str]:
    """What the timing knee looks at: the cluster calls of a step (scale + observe) when
    recorded, since in fixed-interval mode the step itself is mostly the interval; else the
    whole step (the original scripts: sleep 5 s plus the calls)."""
    calls = column(df, "scale_s") + column(df, "observe_s")
    if np.isfinite(calls).sum() >= 10:
        return calls, "the cluster calls' time per step (scale + observe)"
    return column(df, "step_s"), "step duration"


def analyse_run(run: Run, free_threshold_mib: float = an.DEFAULT_FREE_THRESHOLD_MIB) -> Report:
    df = run.steps
    step, requested, running = column(df, "step"), column(df, "requested"), column(df, "running")
    used = column(df, "mem_used_mib")
    fig: dict[str, an.Finding] = {}
    fig["max_running"] = an.max_running(step, running)
    fig["knee"] = an.knee(step, requested, running)
    fig["stop"] = an.stop(step, column(df, "elapsed_s"), requested, running)
    sampled = column(df, "nodes_sampled") if "nodes_sampled" in df.columns else None
    fig["free_below_threshold"] = an.free_below(
        step, column(df, "mem_free_mib"), free_threshold_mib, sampled, run.node_count
    )
    at_free = an.value_at_step(step, running, fig["free_below_threshold"].step)
    fig["running_at_free_threshold"] = an.Finding(
        at_free, "pods", "running pods at the step where free memory crossed the threshold",
        fig["free_below_threshold"].step,
    )  # fmt: skip
    fig["mib_per_pod"], fit, until = _mib_per_pod(step, running, used, fig)
    active = complete_sums(df, "mem_active_mib")
    if np.isfinite(active).any():
        i = int(np.nanargmax(active))
        fig["peak_active"] = an.Finding(
            float(active[i]), "MiB", "largest total Active memory (steps with every node "
            "sampled); step is the first that reached it", float(step[i]),
        )  # fmt: skip
    else:
        fig["peak_active"] = an.not_recorded("MiB", "largest total Active memory")
    for key, col, what in _COUNTS:
        if col in df.columns:
            fig[key] = an.peak_count(step, column(df, col), what)
        else:
            fig[key] = an.not_recorded("pods", f"largest {what} count over the run")
    # The first eviction is the same event whether the file counts evictions or lists them.
    onset_col = "evicted" if "evicted" in df.columns else "evicted_listed"
    fig["eviction_onset"] = _onset(df, step, onset_col, "evicted pods")
    fig["oom_onset"] = _onset(df, step, "oom_killed", "OOM-killed containers")
    fig.update(cpu_figures(run))
    pods = read_pods(run.path) if run.meta.source_format == "scaler" else None
    fig.update(pod_figures(run, pods))
    durations, what = timing_series(df)
    fig["timing_knee"] = an.timing_knee(step, durations, what=what)
    elapsed = column(df, "elapsed_s")
    fig = {k: replace(f, elapsed_s=an.value_at_step(step, elapsed, f.step)) for k, f in fig.items()}
    ordered = {k: fig[k] for k in FIGURE_LABELS}
    return Report(run, ordered, fit, until, pods, pod_verdict(run, pods))


def _onset(df: pl.DataFrame, step: np.ndarray, col: str, what: str) -> an.Finding:
    if col not in df.columns:
        return an.not_recorded("step", f"first step with {what} > 0")
    return an.first_positive(step, column(df, col), what)


def _mib_per_pod(
    step: np.ndarray, running: np.ndarray, used: np.ndarray, fig: dict[str, an.Finding]
) -> tuple[an.Finding, an.LineFit | None, float | None]:
    """One figure a reader can check: the slope of used memory against running pods while
    every pod still got its memory (before saturation and before free memory ran short). The
    memory-per-pod chart draws exactly this line over exactly these points."""
    ends = [f.step for f in (fig["knee"], fig["free_below_threshold"]) if f.step]
    until = min(ends) if ends else None
    finding, fit = an.linear_mib_per_pod(step, running, used, until)
    if fit is None:
        return finding, None, until
    region = "all steps" if until is None else f"the steps before {until:g}"
    why = (
        " (before the knee and before free memory fell under the threshold: past them pods "
        "no longer get the memory they ask for)"
        if until is not None
        else ""
    )
    method = (
        f"least-squares slope of used memory against running pods over {region}{why}; "
        f"R² {fit.r2:.3f}, {fit.points} points"
    )
    if fit.r2 < 0.9:
        method += "; a poor fit: memory per pod was not constant (see the memory-per-pod chart)"
    return replace(finding, method=method), fit, until


def analyse(path: Path | str, free_threshold_mib: float = an.DEFAULT_FREE_THRESHOLD_MIB) -> dict:
    """Report figures of the run at ``path`` as a JSON-ready dict (API for ``scaler run``)."""
    return analyse_run(load_run(Path(path)), free_threshold_mib).to_dict()
