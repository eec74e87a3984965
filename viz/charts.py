"""Altair charts of one run. Each builder takes chart-ready tables and report figures.

Every chart has a fixed pixel size (autosize "fit" including padding) so exported PNGs have a
known size, and a title naming the run and a subtitle saying where the data comes from and how
it was aggregated.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from viz import series
from viz.report import Report
from viz.run import RunMeta

WIDTH = 900
HEIGHT = 380
ACTIVE_RED = "#d62728"
FREE_GREEN = "#2ca02c"
MARK_GREY = "#555555"


def title(what: str, meta: RunMeta, notes: tuple[str, ...] = ()) -> alt.Title:
    return alt.Title(
        text=f"{what}: {meta.describe()}",
        subtitle=[meta.provenance(), *notes],
        anchor="start",
    )


def _size(chart):
    return chart.properties(
        width=WIDTH,
        height=HEIGHT,
        autosize=alt.AutoSizeParams(type="fit", contains="padding"),
    )


def _markers(marks: list[tuple[float, str]], x: str) -> list[alt.Chart]:
    """Vertical rules with labels at steps worth pointing at (saturation, threshold, knee)."""
    if not marks:
        return []
    df = pl.DataFrame(
        {
            x: [m[0] for m in marks],
            "label": [m[1] for m in marks],
            "ypx": [4 + 14 * i for i in range(len(marks))],  # one line each: labels never overlap
        }
    )
    base = alt.Chart(df)
    rule = base.mark_rule(color=MARK_GREY, strokeDash=[6, 4]).encode(x=f"{x}:Q")
    text = base.mark_text(align="left", dx=4, color=MARK_GREY, baseline="top").encode(
        x=f"{x}:Q", y=alt.Y("ypx:Q", scale=None), text="label:N"
    )
    return [rule, text]


def memory_chart(table: series.Table, meta: RunMeta, x: str) -> alt.LayerChart:
    """Active (red) and free (green) memory: cluster sums large, each node small."""
    x_title = "elapsed (s)" if x == "elapsed_s" else "requested replicas"
    what = "Memory over time" if x == "elapsed_s" else "Memory vs requested replicas"
    points = (
        alt.Chart(table.data)
        .mark_point(filled=True, opacity=0.75)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title),
            y=alt.Y("mib:Q", title="memory (MiB)"),
            color=alt.Color(
                "metric:N",
                title="memory",
                scale=alt.Scale(domain=["active", "free"], range=[ACTIVE_RED, FREE_GREEN]),
            ),
            size=alt.Size(
                "level:O",
                title="level",
                scale=alt.Scale(domain=["cluster sum", "node"], range=[50, 6]),
            ),
            tooltip=["node:N", "metric:N", alt.Tooltip("mib:Q", format=",.0f"), f"{x}:Q"],
        )
        .interactive()  # zoom and pan in the HTML report
    )
    notes = ("large points: sum over the sampled nodes; small points: each node", *table.notes)
    return _size(alt.layer(points).properties(title=title(what, meta, notes)))


def state_chart(table: series.Table, report: Report) -> alt.LayerChart:
    """Requested vs running and the other pod states per step, saturation marked."""
    lines = (
        alt.Chart(table.data)
        .mark_line(strokeWidth=1.6)
        .encode(
            x=alt.X("step:Q", title="step"),
            y=alt.Y("pods:Q", title="pods"),
            color=alt.Color("series:N", title="pods", sort=list(series.STATE_SERIES.values())),
            tooltip=["series:N", "step:Q", "pods:Q"],
        )
        .interactive()  # zoom and pan in the HTML report
    )
    f = report.figures
    marks = []
    if f["saturation_step"].step is not None:
        marks.append(
            (f["saturation_step"].step, f"saturation (step {f['saturation_step'].step:g})")
        )
    if f["free_below_threshold"].step is not None:
        marks.append(
            (
                f["free_below_threshold"].step,
                f"free < threshold (step {f['free_below_threshold'].step:g})",
            )
        )
    chart = alt.layer(lines, *_markers(marks, "step"))
    return _size(
        chart.properties(title=title("Capacity and pod states", report.run.meta, table.notes))
    )


def per_pod_chart(table: series.Table, report: Report) -> alt.LayerChart:
    """Used memory above the first sample divided by running pods, with the linear-fit slope."""
    line = (
        alt.Chart(table.data)
        .mark_line(color=ACTIVE_RED, point=alt.OverlayMarkDef(size=12, color=ACTIVE_RED))
        .encode(
            x=alt.X("step:Q", title="step"),
            y=alt.Y("mib_per_pod:Q", title="MiB per running pod"),
            tooltip=["step:Q", alt.Tooltip("mib_per_pod:Q", format=",.1f")],
        )
        .interactive()  # zoom and pan in the HTML report
    )
    layers = [line]
    fit = report.figures["mib_per_pod_linear"].value
    if fit is not None:
        df = pl.DataFrame({"mib": [fit], "label": [f"linear-region fit: {fit:,.0f} MiB/pod"]})
        layers.append(alt.Chart(df).mark_rule(color=MARK_GREY, strokeDash=[6, 4]).encode(y="mib:Q"))
        layers.append(
            alt.Chart(df)
            .mark_text(align="right", baseline="top", x=WIDTH - 120, dy=4, color=MARK_GREY)
            .encode(y="mib:Q", text="label:N")
        )
    sat = report.figures["saturation_step"].step
    layers += _markers([(sat, "saturation")] if sat is not None else [], "step")
    notes = (f"used memory = {report.run.used_method}; minus the first sample", *table.notes)
    return _size(
        alt.layer(*layers).properties(title=title("Memory per pod", report.run.meta, notes))
    )


def timing_chart(table: series.Table, report: Report) -> alt.LayerChart:
    """Call and step durations per step (timing saturation) as lines; pod startup percentiles,
    present only at steps where pods became ready, as points so gaps are not drawn over."""
    startup = [series.TIMING_SERIES["startup_p50_s"], series.TIMING_SERIES["startup_p99_s"]]
    base = alt.Chart(table.data).encode(
        x=alt.X("step:Q", title="step"),
        # Call durations (tenths of a second) and pod startup (up to minutes) share the axis:
        # a symmetric log scale keeps both readable instead of flattening the calls to zero.
        y=alt.Y("seconds:Q", title="seconds (log scale)",
                scale=alt.Scale(type="symlog", constant=0.1),
                axis=alt.Axis(values=[0, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500,
                                      1000, 2000, 5000], format="~r")),
        color=alt.Color("series:N", title="duration", sort=list(series.TIMING_SERIES.values())),
        tooltip=["series:N", "step:Q", alt.Tooltip("seconds:Q", format=".3f")],
    )
    is_startup = alt.FieldOneOfPredicate(field="series", oneOf=startup)
    lines = (
        base.mark_line(strokeWidth=1.4)
        .transform_filter(~alt.Predicate(is_startup))
        .interactive()  # zoom and pan in the HTML report
    )
    points = base.mark_point(size=14, filled=True).transform_filter(is_startup)
    knee = report.figures["timing_knee"].step
    marks = [(knee, f"timing knee (step {knee:g})")] if knee is not None else []
    chart = alt.layer(lines, points, *_markers(marks, "step"))
    return _size(chart.properties(title=title("Timing", report.run.meta, table.notes)))


def run_charts(report: Report) -> tuple[dict[str, alt.TopLevelMixin], dict[str, str]]:
    """All charts of one run by name, and for each chart not drawn, why."""
    run = report.run
    charts: dict[str, alt.TopLevelMixin] = {}
    skipped: dict[str, str] = {}
    mem = series.memory_table(run)
    if mem is None:
        skipped["memory"] = skipped["memory-requested"] = "no memory samples in this run"
    else:
        charts["memory"] = memory_chart(mem, run.meta, "elapsed_s")
        charts["memory-requested"] = memory_chart(mem, run.meta, "requested")
    state = series.state_table(run)
    if state is not None:
        charts["capacity"] = state_chart(state, report)
    per_pod = series.per_pod_table(run)
    if per_pod is None:
        skipped["memory-per-pod"] = "no used-memory values with running pods"
    else:
        charts["memory-per-pod"] = per_pod_chart(per_pod, report)
    timing = series.timing_table(run)
    if timing is None:
        skipped["timing"] = "no timing columns"
    else:
        charts["timing"] = timing_chart(timing, report)
    return charts, skipped
