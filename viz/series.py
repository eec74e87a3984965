"""Chart-ready tables from a run, aggregated with polars to what a chart can show.

Altair refuses more than 5,000 rows per dataset and vl-convert takes seconds per 100k points,
so large series are averaged into bins here. Every aggregation returns a note for the chart
subtitle: data is never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from viz.analysis import used_per_pod
from viz.report import column
from viz.run import Run

# Altair's limit is 5,000 rows per dataset; each chart has one main dataset in long form.
ROW_LIMIT = 5000
NODE_POINT_BUDGET = 1400  # wide rows, each giving an active and a free point
CLUSTER_POINT_BUDGET = 1000  # same; 2 x (1400 + 1000) stays under ROW_LIMIT


@dataclass(frozen=True)
class Table:
    data: pl.DataFrame
    notes: tuple[str, ...] = ()


def bin_mean(
    df: pl.DataFrame,
    x: str,
    values: list[str],
    budget: int,
    by: str | None = None,
    rows: int | None = None,
) -> tuple[pl.DataFrame, str | None]:
    """Average ``values`` (and ``x``) over equal-width bins of ``x`` so the result has at most
    about ``budget`` rows; per group ``by`` when given. Returns the note saying what was done,
    counting ``rows`` input rows when given (the file's rows, before gaps were set aside)."""
    if df.height <= budget:
        return df, None
    groups = df[by].n_unique() if by else 1
    bins = max(1, budget // max(1, groups))
    lo, hi = df[x].min(), df[x].max()
    width = (hi - lo) / bins if hi > lo else 1.0
    keys = ([by] if by else []) + ["_bin"]
    out = (
        df.with_columns(((pl.col(x) - lo) / width).floor().clip(0, bins - 1).alias("_bin"))
        .group_by(keys, maintain_order=True)
        .agg(pl.col(x).mean(), *[pl.col(v).mean() for v in values if v != x])
        .drop("_bin")
        .sort(([by] if by else []) + [x])
    )
    per = f" per {by}" if by else ""
    unit = "s" if x == "elapsed_s" else "steps"
    note = (
        f"{rows or df.height:,} rows averaged into bins of {width:.3g} {unit}{per} "
        f"({out.height:,} points shown)"
    )
    return out, note


def _with_requested(nodes: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """Give each node sample the requested replicas of the latest step recorded before it."""
    left = nodes.with_columns(pl.col("elapsed_s").cast(pl.Float64)).sort("elapsed_s")
    right = steps.select(pl.col("elapsed_s").cast(pl.Float64), "requested").drop_nulls("elapsed_s")
    right = right.sort("elapsed_s")
    return left.join_asof(right, on="elapsed_s", strategy="backward")


def memory_table(run: Run) -> Table | None:
    """Long table elapsed_s, requested, level, node, metric, mib; None without memory data."""
    steps = run.steps
    cols = [c for c in ("mem_active_mib", "mem_free_mib") if c in steps.columns]
    parts: list[pl.DataFrame] = []
    notes: list[str] = []
    cluster = steps.select("elapsed_s", "requested", *cols).drop_nulls("elapsed_s")
    cluster = cluster.filter(pl.any_horizontal(pl.col(cols).is_not_null())) if cols else cluster
    if cols and cluster.height:
        cluster, note = bin_mean(cluster, "elapsed_s", ["requested", *cols], CLUSTER_POINT_BUDGET)
        if note:
            notes.append(f"cluster sums: {note}")
        parts.append(
            cluster.with_columns(pl.lit("cluster sum").alias("level"), pl.lit("all").alias("node"))
        )
    nodes = run.nodes
    if nodes is not None:
        ncols = [c for c in ("mem_active_mib", "mem_free_mib") if c in nodes.columns]
        ok = nodes.select("elapsed_s", "node", *ncols).drop_nulls("elapsed_s")
        rows, gaps = ok.height, 0
        if ncols:
            ok = ok.filter(pl.any_horizontal(pl.col(ncols).is_not_null()))
            gaps = rows - ok.height
        if ncols and ok.height:
            ok = _with_requested(ok, steps)
            ok, note = bin_mean(
                ok, "elapsed_s", ["requested", *ncols], NODE_POINT_BUDGET, by="node", rows=rows
            )
            if note:
                notes.append(f"node samples: {note}")
            parts.append(ok.with_columns(pl.lit("node").alias("level")))
        if gaps:
            notes.append(f"{gaps:,} node samples without values (reconnecting or missing): gaps")
    if not parts:
        return None
    keep = ["elapsed_s", "requested", "level", "node"]
    wide = pl.concat(
        [
            p.select(*[pl.col(c) for c in keep], *[pl.col(c).cast(pl.Float64) for c in cols_of(p)])
            for p in parts
        ],
        how="diagonal_relaxed",
    )
    long = wide.unpivot(
        index=keep,
        on=[c for c in ("mem_active_mib", "mem_free_mib") if c in wide.columns],
        variable_name="metric",
        value_name="mib",
    ).drop_nulls("mib")
    long = long.with_columns(
        pl.col("metric").replace({"mem_active_mib": "active", "mem_free_mib": "free"})
    )
    return Table(long, tuple(notes))


def cols_of(df: pl.DataFrame) -> list[str]:
    return [c for c in ("mem_active_mib", "mem_free_mib") if c in df.columns]


STATE_SERIES = {
    "requested": "requested",
    "running": "running",
    "pending": "pending",
    "creating": "creating",
    "terminating": "terminating",
    "evicted": "evicted",
    "oom_killed": "OOM-killed",
}
TIMING_SERIES = {
    "scale_s": "scale call",
    "observe_s": "observe call",
    "step_s": "whole step",
    "startup_p50_s": "pod startup p50",
    "startup_p99_s": "pod startup p99",
}


def _long_by_step(run: Run, series: dict[str, str], value: str) -> Table | None:
    present = [
        c for c in series if c in run.steps.columns and run.steps[c].null_count() < run.steps.height
    ]
    if not present:
        return None
    df = run.steps.select("step", *[pl.col(c).cast(pl.Float64) for c in present])
    df, note = bin_mean(df, "step", present, ROW_LIMIT // len(present))
    long = df.unpivot(index="step", on=present, variable_name="series", value_name=value)
    long = long.drop_nulls(value).with_columns(pl.col("series").replace(series))
    return Table(long, (f"steps: {note}",) if note else ())


def state_table(run: Run) -> Table | None:
    return _long_by_step(run, STATE_SERIES, "pods")


def timing_table(run: Run) -> Table | None:
    return _long_by_step(run, TIMING_SERIES, "seconds")


def per_pod_table(run: Run) -> Table | None:
    """step, mib_per_pod: (used − used at first step) / running."""
    per_pod = used_per_pod(column(run.steps, "mem_used_mib"), column(run.steps, "running"))
    df = pl.DataFrame({"step": column(run.steps, "step"), "mib_per_pod": per_pod})
    df = df.with_columns(pl.col("mib_per_pod").fill_nan(None)).drop_nulls("mib_per_pod")
    if df.height == 0:
        return None
    df, note = bin_mean(df, "step", ["mib_per_pod"], ROW_LIMIT)
    return Table(df, (f"steps: {note}",) if note else ())
