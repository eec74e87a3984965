"""Comparison charts of useful work: runtimes overlaid against running pods, and the CPU overhead
ratio (work per running pod at equal density) of each runtime pair against running pods.

Colour is the runtime and point shape what else differs, as in every comparison chart. The
lines are each run's curve on the way up (the median per running count, what the ratio uses);
the points every step, so the reader sees what the curves leave out (the steps after a run's
highest count, e.g. a kata run's pods evicted and replaced).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import polars as pl

from viz import figures
from viz.charts import MARK_GREY, X_AXIS, layered
from viz.charts_cpu import _log_axis, work_axis
from viz.compare_charts import _frame
from viz.compare_cpu import curve, lower_knee, pair_ratio
from viz.cpu_report import work_recorded
from viz.datasets import Dataset
from viz.groups import Group
from viz.pairing import Pair
from viz.report import column

MAX_POINTS = 8_000  # every run together


def density_table(groups: list[Group], labels: list[str], variants: list[str]) -> Dataset | None:
    """Rows (group, runtime, variant, run, kind, running, per_pod, work): kind "step" for each
    step with pods running (binned per run past MAX_POINTS / runs), "curve" for the curve."""
    runs = sum(g.n for g in groups)
    budget = max(100, MAX_POINTS // max(runs, 1))
    parts = []
    for g, label, variant in zip(groups, labels, variants, strict=True):
        for k, r in enumerate(g.reports):
            df = r.run.steps
            if work_recorded(df) is not None:
                continue
            running, work = column(df, "running"), column(df, "work_rate")
            steps = pl.DataFrame(
                {"running": running, "work": work, "per_pod": figures.work_per_pod(work, running)}
            ).with_columns(pl.all().fill_nan(None)).drop_nulls().filter(pl.col("running") > 0)
            if steps.height > budget:  # every n-th step: points, not a trend, so no averaging
                steps = steps.gather_every(int(np.ceil(steps.height / budget)))
            c = curve(r)
            lines = pl.DataFrame(
                {"running": c.running if c is not None else [], "per_pod": c.per_pod if c is not None else []},
                schema={"running": pl.Float64, "per_pod": pl.Float64},
            ).with_columns((pl.col("per_pod") * pl.col("running")).alias("work"))  # fmt: skip
            for kind, frame in (("step", steps), ("curve", lines)):
                parts.append(frame.select(
                    pl.lit(label).alias("group"), pl.lit(g.meta.runtime_label).alias("runtime"),
                    pl.lit(variant).alias("variant"), pl.lit(k).alias("run"),
                    pl.lit(kind).alias("kind"), pl.col("running").cast(pl.Float64),
                    pl.col("per_pod").cast(pl.Float64).round_sig_figs(4),
                    pl.col("work").cast(pl.Float64).round_sig_figs(4),
                ))  # fmt: skip
    if not parts:
        return None
    return Dataset("density", pl.concat(parts))


def _layers(data: Dataset, y: str, y_title: str, x: alt.X, y_scale: alt.Scale, y_axis: alt.Axis,
            scales: tuple[alt.Scale, alt.Scale, alt.Scale], variant_title: str,
            positive: bool) -> list[alt.Chart]:  # fmt: skip
    colour, dash, _ = scales
    keep = f"isValid(datum.{y})" + (f" && datum.{y} > 0" if positive else "")
    y_enc = alt.Y(f"{y}:Q", title=y_title, scale=y_scale, axis=y_axis)
    points = (
        alt.Chart().transform_filter(f"datum.kind === 'step' && {keep}")
        .mark_point(size=10, opacity=0.3, filled=True)
        .encode(x=x, y=y_enc, color=alt.Color("runtime:N", scale=colour, legend=None))
    )  # fmt: skip
    lines = (
        alt.Chart().transform_filter(f"datum.kind === 'curve' && {keep}")
        .mark_line(strokeWidth=2)
        .encode(
            x=x, y=y_enc,
            color=alt.Color("runtime:N", title="runtime", scale=colour),
            strokeDash=alt.StrokeDash("variant:N", title=variant_title, scale=dash,
                                      legend=alt.Undefined if len(dash.domain) > 1 else None),
            detail=alt.Detail("group:N"),
            tooltip=[alt.Tooltip("group:N"), alt.Tooltip("running:Q"), alt.Tooltip(f"{y}:Q", format=".3s")],
        )
        .interactive()
    )  # fmt: skip
    return [points, lines]


def _running_x(frame: pl.DataFrame, log: bool) -> alt.X:
    lo, hi = float(frame["running"].min()), float(frame["running"].max())  # type: ignore[arg-type]
    if log and lo > 0 and hi / lo >= 10:
        scale, axis = _log_axis(lo, hi, "~g")
        return alt.X("running:Q", title="running pods (log scale)", scale=scale, axis=axis)
    return alt.X("running:Q", title="running pods", axis=X_AXIS)


def ratio_table(groups: list[Group], labels: list[str], pairs: list[Pair]) -> Dataset | None:
    """Rows (pair, running, ratio) for every runtime pair and every pair of their runs, and the
    knees (pair, knee, which)."""
    rows = []
    for p in pairs:
        if p.kind != "runtime":
            continue
        a, b = groups[p.num], groups[p.den]
        name = f"{labels[p.num]} / {labels[p.den]}"
        for ra in a.reports:
            for rb in b.reports:
                ratio = pair_ratio(ra, rb)
                if ratio is None or ratio.running.size == 0:
                    continue
                tag = name if a.n * b.n == 1 else f"{name} ({ra.run.name} / {rb.run.name})"
                rows.append(pl.DataFrame({"pair": tag, "running": ratio.running,
                                          "ratio": np.round(ratio.ratio, 4), "knee": lower_knee(ra, rb)},
                                         schema={"pair": pl.String, "running": pl.Float64,
                                                 "ratio": pl.Float64, "knee": pl.Float64}))  # fmt: skip
    return Dataset("cpuratio", pl.concat(rows)) if rows else None


def ratio_chart(data: Dataset, subtitle: list[str]) -> alt.LayerChart:
    frame = data.frame
    positive = frame.filter(pl.col("ratio") > 0)
    lo, hi = float(positive["ratio"].min()), float(positive["ratio"].max())  # type: ignore[arg-type]
    lo, hi = min(lo, 0.5), max(hi, 2.0)  # 1 always inside, with room on both sides
    scale, axis = _log_axis(lo, hi, "~g")
    x = _running_x(frame, log=True)
    line = (
        alt.Chart().transform_filter("datum.ratio > 0")
        .mark_line(strokeWidth=1.8, point=alt.OverlayMarkDef(size=10, filled=True))
        .encode(x=x, y=alt.Y("ratio:Q", title="work per running pod, ratio (log scale)", scale=scale, axis=axis),
                color=alt.Color("pair:N", title="pair",
                                legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=700)),
                tooltip=[alt.Tooltip("pair:N"), alt.Tooltip("running:Q"), alt.Tooltip("ratio:Q", format=".2f")])
        .interactive()
    )  # fmt: skip
    one = alt.Chart(pl.DataFrame({"ratio": [1.0]})).mark_rule(color=MARK_GREY).encode(
        y=alt.Y("ratio:Q", scale=scale)
    )
    knees = frame.drop_nulls("knee").unique("pair").select("pair", pl.col("knee").alias("running"))
    layers: list[alt.Chart] = [one, line]
    if knees.height:
        layers.append(
            alt.Chart(knees).mark_rule(strokeDash=[6, 4]).encode(x=alt.X("running:Q"), color=alt.Color("pair:N", legend=None))
        )  # fmt: skip
    notes = [*subtitle, "each runtime's work per running pod / the baseline's at the same running "
             "count (each curve interpolated between the counts it reached)",
             "dashed: the lower of the two runs' running counts at their CPU knees; left of it "
             "neither run was short of CPU (the table's 'below the CPU knees')"]  # fmt: skip
    return _frame(layered(*layers, data=data.ref()),
                  "CPU overhead: work per pod at equal density, runtime / baseline", notes)


def cpu_comparison_charts(
    groups: list[Group], labels: list[str], variants: list[str], variant_title: str,
    scales: tuple[alt.Scale, alt.Scale, alt.Scale], pairs: list[Pair], subtitle: list[str],
) -> tuple[dict[str, alt.LayerChart], list[Dataset]]:  # fmt: skip
    """The work charts of a comparison (none when no run recorded work)."""
    data = density_table(groups, labels, variants)
    if data is None:
        return {}, []
    frame = data.frame
    charts: dict[str, alt.LayerChart] = {}
    notes = [*subtitle, "points: every step; lines: each run's median per running count on the "
             "way up (before its first step at its highest count), what the ratio compares"]  # fmt: skip
    yscale, yaxis, log = work_axis(frame["per_pod"])
    charts["work-per-pod"] = _frame(
        layered(*_layers(data, "per_pod", f"work per running pod (pages/s){log}", _running_x(frame, True),
                         yscale, yaxis, scales, variant_title, positive=bool(log)), data=data.ref()),
        "Work per running pod vs running pods", notes,
    )  # fmt: skip
    tscale, taxis, tlog = work_axis(frame["work"])
    zero = frame.filter((pl.col("kind") == "step") & (pl.col("work") <= 0)).height
    tnotes = notes + ([f"{zero:,} steps with pods running and no work reported: at 0, not drawn on "
                       "the log axis"] if tlog and zero else [])  # fmt: skip
    charts["work"] = _frame(
        layered(*_layers(data, "work", f"total work (pages/s){tlog}", _running_x(frame, False), tscale,
                         taxis, scales, variant_title, positive=bool(tlog)), data=data.ref()),
        "Useful work vs running pods", tnotes,
    )  # fmt: skip
    datasets = [data]
    ratios = ratio_table(groups, labels, pairs)
    if ratios is not None:
        charts["work-ratio"] = ratio_chart(ratios, subtitle)
        datasets.append(ratios)
    return charts, datasets
