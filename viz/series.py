"""Chart-ready tables from a run, at the resolution a chart can show.

A chart is 900 px wide, so more than about one point per pixel column is invisible: long series
are averaged (or, for durations, maximised, so a slow step is never hidden) into bins with polars
before anything is drawn, and rounded to what the axis can resolve. Every aggregation returns a
note for the chart subtitle: data is never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from viz.analysis import used_per_pod
from viz.datasets import Dataset
from viz.report import Report, column
from viz.run import Run

# The plotting area is about 750 px wide. Lines: about one point per pixel column (a 999-step
# run is drawn whole). Points: a large point is ~8 px across and a small one ~3 px, so more than
# one every 3 px (large) or 3 px per node (small) only piles points on each other, and each
# point costs image-rendering time.
LINE_POINTS = 1000
SCATTER_POINTS = 600  # per phase of the memory-per-pod scatter
CLUSTER_POINTS = 250  # large points (cluster sums)
NODE_POINTS = 1250  # small points over all nodes together
MIN_NODE_POINTS = 50  # per node, however many nodes
MEMORY = ("mem_active_mib", "mem_free_mib")


@dataclass(frozen=True)
class Table:
    data: Dataset
    notes: tuple[str, ...] = ()

    @property
    def frame(self) -> pl.DataFrame:
        return self.data.frame


def bin_agg(
    df: pl.DataFrame,
    x: str,
    values: list[str],
    budget: int,
    by: str | None = None,
    rows: int | None = None,
    how: str = "mean",
) -> tuple[pl.DataFrame, str | None]:
    """Aggregate ``values`` (and average ``x``) over equal-width bins of ``x`` so the result has
    at most about ``budget`` rows per group ``by``; ``how`` is "mean" or "max". Returns the note
    saying what was done, counting ``rows`` input rows when given (the file's rows, before gaps
    were set aside)."""
    groups = df[by].n_unique() if by else 1
    if df.height <= 1.5 * budget * groups:  # averaging a few rows away would only blur them
        return df, None
    lo, hi = float(df[x].min()), float(df[x].max())  # type: ignore[arg-type]
    width = (hi - lo) / budget if hi > lo else 1.0
    keys = ([by] if by else []) + ["_bin"]
    agg = [pl.col(v).max() if how == "max" else pl.col(v).mean() for v in values if v != x]
    out = (
        df.with_columns(((pl.col(x) - lo) / width).floor().clip(0, budget - 1).alias("_bin"))
        .group_by(keys, maintain_order=True)
        .agg(pl.col(x).mean(), *agg)
        .drop("_bin")
        .sort(([by] if by else []) + [x])
    )
    per = f" per {by}" if by else ""
    unit = "s" if x == "elapsed_s" else "steps"
    word = "averaged into" if how == "mean" else "reduced to their maximum in"
    note = (
        f"{rows or df.height:,} rows {word} bins of {width:.3g} {unit}{per} "
        f"({out.height:,} points shown)"
    )
    return out, note


def _requested_at(df: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """Give each row the requested replicas of the latest step recorded at or before it."""
    left = df.with_columns(pl.col("elapsed_s").cast(pl.Float64)).sort("elapsed_s")
    right = steps.select(pl.col("elapsed_s").cast(pl.Float64), "requested").drop_nulls("elapsed_s")
    return left.join_asof(right.sort("elapsed_s"), on="elapsed_s", strategy="backward")


def memory_table(run: Run) -> Table | None:
    """Wide table elapsed_s, requested, node ("cluster sum" for the sums), active, free, MiB."""
    steps = run.steps
    parts: list[pl.DataFrame] = []
    notes: list[str] = []
    cols = [c for c in MEMORY if c in steps.columns]
    if cols:
        cluster = steps.select("elapsed_s", "requested", *cols).drop_nulls("elapsed_s")
        cluster = cluster.filter(pl.any_horizontal(pl.col(cols).is_not_null()))
        if cluster.height:
            cluster, note = bin_agg(cluster, "elapsed_s", ["requested", *cols], CLUSTER_POINTS)
            if note:
                notes.append(f"cluster sums: {note}")
            parts.append(cluster.with_columns(pl.lit("cluster sum").alias("node")))
    nodes = run.nodes
    if nodes is not None:
        ncols = [c for c in MEMORY if c in nodes.columns]
        ok = nodes.select("elapsed_s", "node", *ncols).drop_nulls("elapsed_s")
        rows = ok.height
        if ncols:
            ok = ok.filter(pl.any_horizontal(pl.col(ncols).is_not_null()))
        gaps = rows - ok.height
        if ncols and ok.height:
            per_node = max(MIN_NODE_POINTS, NODE_POINTS // max(1, ok["node"].n_unique()))
            ok, note = bin_agg(ok, "elapsed_s", ncols, per_node, by="node", rows=rows)
            if note:
                notes.append(f"node samples: {note}")
            parts.append(_requested_at(ok, steps))  # after binning: a few thousand rows
        if gaps:
            notes.append(f"{gaps:,} node samples without values (reconnecting or missing): gaps")
    if not parts:
        return None
    wide = pl.concat(
        [
            p.select(
                pl.col("elapsed_s").cast(pl.Float64).round(2),
                pl.col("requested").cast(pl.Float64).round(1),
                pl.col("node").cast(pl.String),
                *[pl.col(c).cast(pl.Float64).round(0).alias(c[4:-4]) for c in MEMORY if c in p.columns],
            )
            for p in parts
        ],
        how="diagonal_relaxed",
    )
    return Table(Dataset("memory", wide), tuple(notes))


STATE_SERIES = {  # column: (label, cumulative?)
    "requested": ("requested", False),
    "running": ("running", False),
    "pending": ("pending", False),
    "creating": ("creating", False),
    "terminating": ("terminating", False),
    "failed": ("failed", False),
    "evicted_listed": ("evicted (listed)", False),
    "evicted": ("evictions", True),
    "oom_killed": ("OOM kills", True),
    "restarts": ("restarts", True),
    "sandbox_deaths": ("sandbox/VM deaths", True),
    "sandbox_failures": ("sandbox failures", True),
    "failed_create": ("FailedCreate", True),
    "failed_scheduling": ("FailedScheduling", True),
}
TIMING_SERIES = {
    "scale_s": "scale call",
    "observe_s": "observe call",
    "step_s": "whole step",
    "startup_p50_s": "pod startup p50",
    "startup_p99_s": "pod startup p99",
}


def _present(run: Run, series: dict[str, object]) -> list[str]:
    df = run.steps
    return [c for c in series if c in df.columns and df[c].null_count() < df.height]


def state_table(run: Run) -> tuple[Table, list[str]] | None:
    """Wide table step + every pod-state column that is ever above 0; and the labels of the
    recorded ones that never were (said in the subtitle instead of drawn as flat lines)."""
    present = _present(run, STATE_SERIES)  # type: ignore[arg-type]
    if not present:
        return None
    df = run.steps.select("step", *[pl.col(c).cast(pl.Float64) for c in present])
    drawn = [c for c in present if c in ("requested", "running") or (df[c].fill_null(0) > 0).any()]
    zero = [STATE_SERIES[c][0] for c in present if c not in drawn]
    df, note = bin_agg(df.select("step", *drawn), "step", drawn, LINE_POINTS)
    df = df.with_columns(pl.col(drawn).round(1))
    return Table(Dataset("states", df), (f"steps: {note}",) if note else ()), zero


def timing_table(run: Run) -> Table | None:
    present = _present(run, TIMING_SERIES)  # type: ignore[arg-type]
    if not present:
        return None
    df = run.steps.select("step", *[pl.col(c).cast(pl.Float64) for c in present])
    df, note = bin_agg(df, "step", present, LINE_POINTS, how="max")
    df = df.with_columns(pl.col(present).round(4))
    return Table(Dataset("timing", df), (f"steps: {note}",) if note else ())


def per_pod_table(report: Report) -> Table | None:
    """step, running, used (MiB above the first sample), phase: the points of the MiB-per-pod
    fit ("fitted") and the rest ("after saturation")."""
    run = report.run
    used = column(run.steps, "mem_used_mib")
    finite = np.flatnonzero(np.isfinite(used))
    if finite.size == 0:
        return None
    step = column(run.steps, "step")
    until = report.fit_until
    fitted = step < until if until is not None else np.ones(step.size, dtype=bool)
    df = pl.DataFrame(
        {
            "step": step,
            "running": column(run.steps, "running"),
            "used": used - used[finite[0]],
            "phase": np.where(fitted, "fitted", "after saturation"),
        }
    ).with_columns(pl.col("running", "used").fill_nan(None))
    df = df.drop_nulls(["running", "used"]).filter(pl.col("running") > 0)
    if df.height == 0:
        return None
    df, note = bin_agg(df, "step", ["running", "used"], SCATTER_POINTS, by="phase")
    df = df.with_columns(pl.col("step", "running").round(1), pl.col("used").round(0))
    return Table(Dataset("perpod", df), (f"steps: {note}",) if note else ())


def per_pod_ratio(run: Run) -> np.ndarray:
    """(used − used at first step) / running per step (compare charts)."""
    return used_per_pod(column(run.steps, "mem_used_mib"), column(run.steps, "running"))
