"""Chart-ready tables of a run's useful work and node CPU, binned with polars like every table.

Work is drawn against running pods (the density axis the CPU knee and the equal-density ratio
use); node CPU against steps, like the capacity and timing charts, so the three line up.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from viz import figures
from viz.cpu_report import work_recorded
from viz.datasets import Dataset
from viz.report import Report, column
from viz.run import Run
from viz.series import LINE_POINTS, MIN_NODE_POINTS, NODE_POINTS, Table, bin_agg

BEFORE, AFTER = "before the CPU knee", "from the CPU knee on"
CPU_SERIES = {  # run.csv column: label (means over the sampled nodes)
    "cpu_busy_pct": "busy (user + system + ...)",
    "cpu_user_pct": "user",
    "cpu_system_pct": "system",
    "cpu_iowait_pct": "iowait",
    "cpu_steal_pct": "steal",
}


def reporting_label(run: Run) -> str | None:
    """What the second per-pod series divides by, in words; None when the file has no count."""
    df = run.steps
    if "work_pods" in df.columns and df["work_pods"].null_count() < df.height:
        return "per pod with a fresh report"
    if "work_files" in df.columns and df["work_files"].null_count() < df.height:
        return "per report file read (lingering files of gone pods included)"
    return None


def work_table(report: Report) -> Table | None:
    """step, running, work (pages/s), per_pod (per running pod), per_reporting, phase."""
    run = report.run
    df = run.steps
    if work_recorded(df) is not None:
        return None
    step, running, work = column(df, "step"), column(df, "running"), column(df, "work_rate")
    knee = report.figures["cpu_knee"].step
    denominator = column(df, "work_pods") if "work_pods" in df.columns else column(df, "work_files")
    frame = pl.DataFrame(
        {
            "step": step,
            "running": running,
            "work": work,
            "per_pod": figures.work_per_pod(work, running),
            "per_reporting": figures.work_per_pod(work, denominator),
            "phase": np.where(step < knee, BEFORE, AFTER) if knee is not None else BEFORE,
        }
    ).with_columns(pl.col("running", "work", "per_pod", "per_reporting").fill_nan(None))
    frame = frame.drop_nulls(["running", "work"]).filter(pl.col("running") > 0)
    if frame.height == 0:
        return None
    frame, note = bin_agg(frame, "step", ["running", "work", "per_pod", "per_reporting"],
                          LINE_POINTS, by="phase")  # fmt: skip
    frame = frame.with_columns(
        pl.col("step", "running").round(1),
        *[pl.col(c).round_sig_figs(4) for c in ("work", "per_pod", "per_reporting")],
    )
    return Table(Dataset("work", frame), (f"steps: {note}",) if note else ())


def _step_at(nodes: pl.DataFrame, steps: pl.DataFrame) -> pl.DataFrame:
    """Each node sample gets the step recorded at or before it."""
    left = nodes.with_columns(pl.col("elapsed_s").cast(pl.Float64)).sort("elapsed_s")
    right = steps.select(pl.col("elapsed_s").cast(pl.Float64), "step").drop_nulls("elapsed_s")
    return left.join_asof(right.sort("elapsed_s"), on="elapsed_s", strategy="backward")


def cpu_table(run: Run) -> Table | None:
    """Long table step, series, node ("mean over nodes" or a node's name), pct: the run.csv
    means per step, and each node's busy share from run.nodes.csv."""
    df = run.steps
    present = [c for c in CPU_SERIES if c in df.columns and df[c].null_count() < df.height]
    if "cpu_busy_pct" not in present:
        return None
    wide = df.select("step", *present).drop_nulls("step")
    wide, note = bin_agg(wide, "step", present, LINE_POINTS)
    notes = [f"steps: {note}"] if note else []
    parts = [
        wide.unpivot(index="step", on=present, variable_name="series", value_name="pct")
        .with_columns(pl.col("series").replace_strict(CPU_SERIES), pl.lit("mean over nodes").alias("node"))
    ]  # fmt: skip
    nodes = run.nodes
    if nodes is not None and "cpu_busy_pct" in nodes.columns:
        busy = nodes.select("elapsed_s", "node", "cpu_busy_pct").drop_nulls()
        if busy.height:
            busy = _step_at(busy, df).drop_nulls("step").drop("elapsed_s")
            per_node = max(MIN_NODE_POINTS, NODE_POINTS // max(1, busy["node"].n_unique()))
            busy, nnote = bin_agg(busy, "step", ["cpu_busy_pct"], per_node, by="node")
            if nnote:
                notes.append(f"node samples: {nnote}")
            parts.append(
                busy.rename({"cpu_busy_pct": "pct"}).with_columns(pl.lit("node busy").alias("series"))
            )
    data = pl.concat(
        [p.select(pl.col("step").cast(pl.Float64).round(1), "series", "node",
                  pl.col("pct").cast(pl.Float64).round(1)) for p in parts]
    ).drop_nulls("pct")  # fmt: skip
    return Table(Dataset("cpu", data), tuple(notes))
