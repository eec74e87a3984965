"""Charts of a comparison: runs overlaid on shared axes, colour = runtime, dash/shape = scenario.

Every run is binned on one grid of requested replicas, so repeats of a configuration line up
and the chart draws their median as a line and their min-max as a band. Four runs of a
2-runtime x 2-scenario matrix read as a 2 x 2: two colours, two dash patterns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import polars as pl
from altair.utils.schemapi import debug_mode

from viz.charts import X_AXIS, layered, seconds_scale, sized
from viz.datasets import Dataset
from viz.groups import Group
from viz.labels import variant_labels
from viz.pairing import Pair
from viz.report import column

MAX_ROWS = 12_000  # all runs together; each run gets an equal share of bins
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [12, 4], [1, 3]]
SHAPES = ["circle", "triangle-up", "square", "diamond", "cross", "triangle-down"]


def overlay_table(groups: list[Group], labels: list[str]) -> tuple[Dataset, str, list[str]]:
    """One row per (run, bin of requested replicas): the values each chart draws."""
    metas = [g.meta for g in groups]
    title, variants = variant_labels(metas, labels)
    runs = sum(g.n for g in groups)
    top = max(float(np.nanmax(column(r.run.steps, "requested"))) for g in groups for r in g.reports)
    width = max(1.0, math.ceil(top / max(50, MAX_ROWS // runs)))
    parts = []
    for g, label, variant in zip(groups, labels, variants, strict=True):
        for k, r in enumerate(g.reports):
            df = r.run.steps
            used = column(df, "mem_used_mib")
            finite = used[np.isfinite(used)]
            frame = pl.DataFrame(
                {
                    "requested": column(df, "requested"),
                    "running": column(df, "running"),
                    "free": column(df, "mem_free_mib"),
                    "used": used - (finite[0] if finite.size else np.nan),
                    "scale": column(df, "scale_s"),
                    "observe": column(df, "observe_s"),
                    "step": column(df, "step_s"),
                }
            ).with_columns(pl.all().fill_nan(None))
            frame = (
                frame.drop_nulls("requested")
                .with_columns((pl.col("requested") / width).floor().mul(width).alias("requested"))
                .group_by("requested", maintain_order=True)
                .agg(pl.all().mean())
            )
            parts.append(
                frame.with_columns(
                    pl.lit(label).alias("group"),
                    pl.lit(g.meta.runtime_label).alias("runtime"),
                    pl.lit(variant).alias("variant"),
                    pl.lit(k).alias("run"),
                )
            )
    data = pl.concat(parts, how="vertical_relaxed").with_columns(
        pl.col("running", "free", "used").round(1), pl.col("scale", "observe", "step").round(4)
    )
    return Dataset("overlay", data), title, variants


def _scales(groups: list[Group], variants: list[str]) -> tuple[alt.Scale, alt.Scale, alt.Scale]:
    # The cluster default first, so it is blue in every comparison.
    ordered = sorted(groups, key=lambda g: not g.meta.is_default_runtime)
    runtimes = list(dict.fromkeys(g.meta.runtime_label for g in ordered))
    kinds = list(dict.fromkeys(variants))
    colour = alt.Scale(domain=runtimes, range=[PALETTE[i % len(PALETTE)] for i in range(len(runtimes))])
    dash = alt.Scale(domain=kinds, range=[DASHES[i % len(DASHES)] for i in range(len(kinds))])
    shape = alt.Scale(domain=kinds, range=[SHAPES[i % len(SHAPES)] for i in range(len(kinds))])
    return colour, dash, shape


def _frame(chart: alt.LayerChart, what: str, subtitle: list[str]) -> alt.LayerChart:
    # Independent legends: the band layer has none, so the runtime legend shows solid lines.
    chart.resolve = alt.Resolve(legend=alt.LegendResolveMap(color="independent"))
    heading = alt.Title(text=what, subtitle=subtitle, anchor="start", subtitleColor="#444")
    return sized(chart, heading)


def _band_chart(
    data: Dataset, y: str, y_title: str, scales: tuple[alt.Scale, alt.Scale, alt.Scale],
    variant_title: str, seconds: tuple[alt.Scale, alt.Axis, str] | None = None,
) -> list[alt.Chart]:  # fmt: skip
    colour, dash, _ = scales
    yscale, axis = (seconds[0], seconds[1]) if seconds else (alt.Undefined, alt.Undefined)
    base = (
        alt.Chart()
        .transform_filter(f"isValid(datum.{y})" + (f" && datum.{y} > 0" if seconds else ""))
        .transform_aggregate(
            mid=f"median({y})", lo=f"min({y})", hi=f"max({y})",
            groupby=["group", "runtime", "variant", "requested"],
        )
    )  # fmt: skip
    x = alt.X("requested:Q", title="requested replicas", axis=X_AXIS)
    band = base.mark_area(opacity=0.18).encode(
        x=x, y=alt.Y("lo:Q", scale=yscale), y2=alt.Y2("hi:Q"),
        color=alt.Color("runtime:N", scale=colour, legend=None), detail=alt.Detail("group:N"),
    )  # fmt: skip
    line = base.mark_line(strokeWidth=1.8).encode(
        x=x,
        y=alt.Y("mid:Q", title=y_title, scale=yscale, axis=axis),
        color=alt.Color("runtime:N", title="runtime", scale=colour),
        strokeDash=alt.StrokeDash(
            "variant:N", title=variant_title, scale=dash,
            legend=alt.Undefined if len(dash.domain) > 1 else None,  # type: ignore[arg-type]
        ),  # fmt: skip
        detail=alt.Detail("group:N"),
        tooltip=[alt.Tooltip("group:N"), alt.Tooltip("requested:Q"), alt.Tooltip("mid:Q", title=y_title, format=",.3~f")],
    ).interactive()
    return [band, line]


def comparison_charts(
    groups: list[Group], labels: list[str], subtitle: list[str], pairs: Sequence[Pair] = ()
) -> tuple[dict[str, alt.LayerChart], list[Dataset]]:
    """The comparison's charts (schema validation off: the specs are ours) and their data."""
    from viz.compare_charts_cpu import cpu_comparison_charts  # it builds on this module

    with debug_mode(False):
        charts, data, variant_title, variants, scales = _comparison_charts(groups, labels, subtitle)
        more, more_data = cpu_comparison_charts(groups, labels, variants, variant_title, scales,
                                                list(pairs), subtitle)  # fmt: skip
    return {**charts, **more}, [data, *more_data]


def _comparison_charts(
    groups: list[Group], labels: list[str], subtitle: list[str]
) -> tuple[dict[str, alt.LayerChart], Dataset, str, list[str], tuple[alt.Scale, alt.Scale, alt.Scale]]:
    data, variant_title, variants = overlay_table(groups, labels)
    frame = data.frame
    scales = _scales(groups, variants)
    if any(g.n > 1 for g in groups):
        subtitle = [*subtitle, "lines: median of each group's runs; bands: their min-max"]
    charts: dict[str, alt.LayerChart] = {}
    ref = data.ref()
    if frame["running"].null_count() < frame.height:
        # The ideal line stops a little above the highest count, so it never squashes the runs.
        top = min(float(frame["requested"].max()), 1.15 * float(frame["running"].max()))  # type: ignore[arg-type]
        ideal = alt.Chart(pl.DataFrame({"requested": [0.0, top], "mid": [0.0, top]})).mark_line(
            color="#bbbbbb", strokeDash=[4, 4]
        ).encode(x=alt.X("requested:Q"), y=alt.Y("mid:Q"))
        layers = _band_chart(data, "running", "running pods", scales, variant_title)
        charts["capacity"] = _frame(
            layered(ideal, *layers, data=ref),
            "Running pods vs requested (dashed grey: all running)", subtitle,
        )  # fmt: skip
    if frame["free"].null_count() < frame.height:
        layers = _band_chart(data, "free", "free memory, cluster sum (MiB)", scales, variant_title)
        charts["free-memory"] = _frame(layered(*layers, data=ref), "Free memory", subtitle)
    if frame["used"].null_count() < frame.height:
        colour, _, shape = scales
        points = alt.Chart().transform_filter("isValid(datum.used) && datum.running > 0").mark_point(
            size=18, opacity=0.6, filled=True
        ).encode(
            x=alt.X("running:Q", title="running pods", axis=X_AXIS),
            y=alt.Y("used:Q", title="used memory above the first sample (MiB)"),
            color=alt.Color("runtime:N", title="runtime", scale=colour),
            shape=alt.Shape(
                "variant:N", title=variant_title, scale=shape,
                legend=alt.Undefined if len(shape.domain) > 1 else None,  # type: ignore[arg-type]
            ),
            tooltip=[alt.Tooltip("group:N"), alt.Tooltip("requested:Q"), alt.Tooltip("running:Q"), alt.Tooltip("used:Q", format=",.0f")],
        ).interactive()  # fmt: skip
        charts["memory-per-pod"] = _frame(
            layered(points, data=ref),
            "Used memory vs running pods (slope = MiB per pod)", subtitle,
        )  # fmt: skip
    calls = ["scale", "observe"]
    if any(frame.filter(pl.col("group") == lab)["scale"].null_count() == frame.filter(pl.col("group") == lab).height for lab in labels):
        calls.append("step")  # a run without call timings (the original scripts): its whole step
    for call in calls:
        values = frame[call].drop_nulls()
        values = values.filter(values > 0)
        if len(values) == 0:
            continue
        secs = seconds_scale(float(values.min()), float(values.max()))  # type: ignore[arg-type]
        what = "whole step" if call == "step" else f"{call} call"
        layers = _band_chart(data, call, f"{what} (s{secs[2]})", scales, variant_title, secs)
        heading = (
            "Timing: the whole step (the original scripts: sleep 5 s plus the calls)"
            if call == "step" else f"Timing: the {call} call per step (what saturates first)"
        )
        charts[f"timing-{call}"] = _frame(layered(*layers, data=ref), heading, subtitle)
    return charts, data, variant_title, variants, scales
