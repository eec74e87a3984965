"""Altair charts of one run. Each builder takes a chart-ready table (data by name) and figures.

Every chart has a fixed pixel size (autosize "fit" including padding) so exported images have a
known size, a title naming the run (and saying so when the run did not finish), and a subtitle
saying where the data comes from and how it was aggregated.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import polars as pl
from altair.utils.schemapi import debug_mode

from viz import series
from viz.datasets import Dataset
from viz.report import Report
from viz.run import RunMeta

WIDTH = 900
HEIGHT = 380
ACTIVE_RED = "#d62728"
FREE_GREEN = "#2ca02c"
MARK_GREY = "#555555"
WARN = "#b00020"
# One colour per pod state, fixed so every chart and every run reads the same way.
STATE_COLOURS = {
    "requested": "#9e9e9e", "running": "#1f77b4", "pending": "#ff7f0e", "creating": "#bcbd22",
    "terminating": "#8c564b", "failed": "#7f3b08", "evicted (listed)": "#e377c2",
    "evictions": "#d62728", "OOM kills": "#9467bd", "restarts": "#17becf",
    "sandbox/VM deaths": "#111111", "sandbox failures": "#637939", "FailedCreate": "#843c39",
    "FailedScheduling": "#6b6ecf",
}  # fmt: skip
X_AXIS = alt.Axis(tickCount=10, labelOverlap="greedy", labelSeparation=8, labelFlush=True)


def title(what: str, meta: RunMeta, notes: tuple[str, ...] = ()) -> alt.Title:
    """'<what>: <run>', marked when the run did not finish; subtitle: provenance, notes."""
    text = f"{what}: {meta.describe()}"
    sub = [meta.provenance(), *notes]
    if meta.abnormal:
        text += f"  [{meta.status.upper() if meta.status else 'UNFINISHED'}]"
        sub.insert(0, f"run did not finish ({meta.abnormal}): the data stops where it stopped")
    return alt.Title(text=text, subtitle=sub, anchor="start", subtitleColor="#444")


def layered(*layers: alt.Chart, data: alt.NamedData) -> alt.LayerChart:
    """A layer chart over one named dataset (layers with their own small data keep it)."""
    return alt.LayerChart(layer=list(layers), data=data)


def fold(columns: list[str]) -> Any:
    """Column names for transform_fold (whose stubs want a list of FieldName)."""
    return list(columns)


def sized(chart: alt.LayerChart, heading: alt.Title) -> alt.LayerChart:
    """Fixed size and title, set as attributes: ``properties()`` would validate each value."""
    chart.width = WIDTH
    chart.height = HEIGHT
    chart.autosize = alt.AutoSizeParams(type="fit", contains="padding")
    chart.title = heading
    return chart


def markers(marks: list[tuple[float, str]], x: str) -> list[alt.Chart]:
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
    rule = base.mark_rule(color=MARK_GREY, strokeDash=[6, 4]).encode(x=alt.X(f"{x}:Q"))
    text = base.mark_text(align="left", dx=4, color=MARK_GREY, baseline="top").encode(
        x=alt.X(f"{x}:Q"), y=alt.Y("ypx:Q", scale=None), text=alt.Text("label:N")
    )
    return [rule, text]


def memory_chart(table: series.Table, meta: RunMeta, x: str) -> alt.LayerChart:
    """Active (red) and free (green) memory: cluster sums large, each node small."""
    x_title = "elapsed (s)" if x == "elapsed_s" else "requested replicas"
    what = "Memory over time" if x == "elapsed_s" else "Memory vs requested replicas"
    points = (
        alt.Chart()
        .transform_fold(["active", "free"], as_=["metric", "mib"])
        .transform_filter("isValid(datum.mib)")
        .transform_calculate(level="datum.node === 'cluster sum' ? 'cluster sum' : 'node'")
        .mark_point(filled=True, opacity=0.75)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, axis=X_AXIS),
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
            tooltip=[alt.Tooltip("node:N"), alt.Tooltip("metric:N"), alt.Tooltip("mib:Q", format=",.0f"), alt.Tooltip(f"{x}:Q")],
        )
        .interactive()  # zoom and pan in the HTML report
    )
    notes = ("large points: sum over the sampled nodes; small points: each node", *table.notes)
    layer = layered(points, data=table.data.ref())
    return sized(layer, title(what, meta, notes))


def _saturation_marks(report: Report) -> list[tuple[float, str]]:
    f = report.figures
    marks = []
    if f["knee"].step is not None:
        marks.append((f["knee"].step, f"knee (step {f['knee'].step:g})"))
    if f["free_below_threshold"].step is not None:
        step = f["free_below_threshold"].step
        marks.append((step, f"free < threshold (step {step:g})"))
    return marks


def state_chart(table: series.Table, zero: list[str], report: Report) -> alt.LayerChart:
    """Requested vs running and every other pod state and failure counter per step: states now
    as solid lines, cumulative counters dashed; saturation marked."""
    cols = [c for c in table.frame.columns if c != "step"]
    labels = {c: series.STATE_SERIES[c][0] for c in cols}
    cumulative = [labels[c] for c in cols if series.STATE_SERIES[c][1]]
    domain = list(labels.values())
    top, past = _state_axis_top(table.frame, cols)
    y_scale = alt.Scale(domain=[0, top]) if top is not None else alt.Undefined
    lines = (
        alt.Chart()
        .transform_fold(fold(cols), as_=["column", "pods"])
        .transform_filter("isValid(datum.pods)")
        .transform_calculate(
            series=_lookup("column", labels),
            kind=f"indexof({cumulative!r}, datum.series) >= 0 ? 'cumulative count' : 'pods now'",
        )
        .mark_line(strokeWidth=1.6, clip=top is not None)
        .encode(
            x=alt.X("step:Q", title="step", axis=X_AXIS),
            y=alt.Y("pods:Q", title="pods (or events, dashed)", scale=y_scale),
            color=alt.Color(
                "series:N", title="pods",
                scale=alt.Scale(domain=domain, range=[STATE_COLOURS[d] for d in domain]),
                sort=domain,
            ),
            strokeDash=alt.StrokeDash(
                "kind:N", title="line",
                scale=alt.Scale(domain=["pods now", "cumulative count"], range=[[1, 0], [5, 3]]),
            ),
            tooltip=[alt.Tooltip("series:N"), alt.Tooltip("step:Q"), alt.Tooltip("pods:Q")],
        )
        .interactive()  # zoom and pan in the HTML report
    )  # fmt: skip
    notes = table.notes
    if past:
        notes = ("axis fitted to the pods; dashed counts past its top: "
                 + ", ".join(f"{labels[c]} up to {v:,.0f}" for c, v in past), *notes)
    if zero:
        notes = (f"never above 0: {', '.join(zero)}", *notes)
    chart = layered(lines, *markers(_saturation_marks(report), "step"), data=table.data.ref())
    return sized(chart, title("Capacity and pod states", report.run.meta, notes))


#: A cumulative counter more than this many times the most pods of any state would flatten the
#: pods' lines (a long run past saturation counts thousands of failed set-ups for ~100 pods).
STATE_AXIS_OVERSHOOT = 2.0


def _state_axis_top(frame: pl.DataFrame, cols: list[str]) -> tuple[float | None, list[tuple[str, float]]]:
    """The capacity chart's y-axis top when cumulative counters would flatten the pods' lines
    (else None: the axis fits everything), and the counters (column, highest value) cut there:
    the axis is fitted to the pods, whose states are what the chart is read for, and the cut
    counters are named with their highest value."""
    def high(c: str) -> float:
        v = frame[c].max()
        return float(v) if isinstance(v, (int, float)) else 0.0
    now = [high(c) for c in cols if not series.STATE_SERIES[c][1]]
    counters = [(c, high(c)) for c in cols if series.STATE_SERIES[c][1]]
    most = max(now, default=0.0)
    if most <= 0 or not any(v > STATE_AXIS_OVERSHOOT * most for _, v in counters):
        return None, []
    top = most * 1.1
    return top, [(c, v) for c, v in counters if v > top]


def _lookup(field: str, mapping: dict[str, str]) -> str:
    """A Vega expression mapping a field's values through ``mapping``."""
    pairs = ", ".join(f"{k!r}: {v!r}" for k, v in mapping.items())
    return f"({{{pairs}}})[datum.{field}]"


def per_pod_chart(table: series.Table, report: Report) -> alt.LayerChart:
    """Used memory above the first sample against running pods, with the fitted line whose
    slope is the report's MiB-per-pod figure, over the points it was fitted on."""
    points = (
        alt.Chart()
        .mark_point(filled=True, size=14, opacity=0.7)
        .encode(
            x=alt.X("running:Q", title="running pods", axis=X_AXIS),
            y=alt.Y("used:Q", title="used memory above the first sample (MiB)"),
            color=alt.Color(
                "phase:N", title="steps",
                scale=alt.Scale(domain=["fitted", "after saturation"], range=[ACTIVE_RED, "#aaaaaa"]),
            ),
            tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("running:Q"), alt.Tooltip("used:Q", format=",.0f"), alt.Tooltip("phase:N")],
        )
        .interactive()  # zoom and pan in the HTML report
    )  # fmt: skip
    layers: list[alt.Chart] = [points]
    fit, figure = report.fit, report.figures["mib_per_pod"]
    fitted = table.frame.filter(pl.col("phase") == "fitted")
    if fit is not None and figure.value is not None and fitted.height:
        lo, hi = float(fitted["running"].min()), float(fitted["running"].max())  # type: ignore[arg-type]
        shift = fit.intercept - _first_used(report)  # the table is above the first sample
        line = pl.DataFrame({"running": [lo, hi], "used": [fit.slope * lo + shift, fit.slope * hi + shift]})
        label = f"slope {figure.value:,.0f} MiB per pod (R² {fit.r2:.3f})"
        lbl = pl.DataFrame({"running": [hi], "used": [line["used"][1]], "label": [label]})
        layers.append(
            alt.Chart(line).mark_line(color="#000000", strokeDash=[6, 4], strokeWidth=2)
            .encode(x=alt.X("running:Q"), y=alt.Y("used:Q"))
        )  # fmt: skip
        layers.append(
            alt.Chart(lbl).mark_text(align="right", baseline="bottom", dy=-6, fontWeight="bold")
            .encode(x=alt.X("running:Q"), y=alt.Y("used:Q"), text=alt.Text("label:N"))
        )  # fmt: skip
    notes = (
        "dashed line: least-squares fit over the red points; its slope is the report's "
        "MiB-per-pod figure",
        f"used memory = {report.run.used_method}",
        *table.notes,
    )
    chart = layered(*layers, data=table.data.ref())
    return sized(chart, title("Memory per pod", report.run.meta, notes))


def _first_used(report: Report) -> float:
    used = report.run.steps["mem_used_mib"].drop_nulls()
    return float(used[0]) if len(used) else 0.0


def log_ticks(lo: float, hi: float, max_ticks: int = 10) -> list[float]:
    """Round ticks from just under ``lo`` to just over ``hi``, as fine as fits in ``max_ticks``
    (1-1.5-2-3-4-5-6-8 within a decade, down to powers of ten alone over many decades): a log
    axis without a 0 and without crammed labels."""
    lo, hi = max(lo, 1e-6), max(hi, lo * 1.0001)
    start, stop = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    sets = ((1, 1.5, 2, 3, 4, 5, 6, 8), (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,))
    for mantissas in sets:
        ticks = [float(f"{m * 10.0**e:.6g}") for e in range(start, stop + 1) for m in mantissas]
        below = [t for t in ticks if t <= lo]
        above = [t for t in ticks if t >= hi]
        ticks = [t for t in ticks if (below[-1] if below else lo) <= t <= (above[0] if above else hi)]
        if len(ticks) <= max_ticks:
            return ticks
    return [10.0**e for e in range(start, stop + 1)]


def seconds_scale(lo: float, hi: float) -> tuple[alt.Scale, alt.Axis, str]:
    """A log axis when durations span a factor of 3 or more (API calls in tenths of a second,
    pod startup in minutes), else a linear one: a log axis over 0.15-0.17 s has no tick."""
    if lo > 0 and hi / lo >= 3:
        ticks = log_ticks(lo, hi)
        scale = alt.Scale(type="log", domain=[ticks[0], ticks[-1]], nice=False)
        return scale, alt.Axis(values=ticks, format="~g", grid=True), " (log scale)"
    return alt.Scale(zero=False), alt.Axis(format="~g", grid=True), ""


def timing_chart(table: series.Table, report: Report) -> alt.LayerChart:
    """Call and step durations per step (timing saturation) as lines; pod startup percentiles,
    present only at steps where pods became ready, as points so gaps are not drawn over."""
    df = table.frame
    cols = [c for c in df.columns if c != "step"]
    values = df.select(pl.concat_list(cols).explode()).to_series().drop_nulls()
    positive = values.filter(values > 0)
    notes = list(table.notes)
    if len(positive) < len(values):
        notes.append(f"{len(values) - len(positive):,} values of 0 s not drawn (a log axis has no 0)")
    lo, hi = (float(positive.min()), float(positive.max())) if len(positive) else (0.1, 1.0)  # type: ignore[arg-type]
    scale, axis, log = seconds_scale(lo, hi)
    labels = {c: series.TIMING_SERIES[c] for c in cols}
    startup = [series.TIMING_SERIES["startup_p50_s"], series.TIMING_SERIES["startup_p99_s"]]
    base = (
        alt.Chart()
        .transform_fold(fold(cols), as_=["column", "seconds"])
        .transform_filter("isValid(datum.seconds) && datum.seconds > 0")
        .transform_calculate(series=_lookup("column", labels))
        .encode(
            x=alt.X("step:Q", title="step", axis=X_AXIS),
            y=alt.Y("seconds:Q", title=f"seconds{log}", scale=scale, axis=axis),
            color=alt.Color("series:N", title="duration", sort=list(series.TIMING_SERIES.values())),
            tooltip=[alt.Tooltip("series:N"), alt.Tooltip("step:Q"), alt.Tooltip("seconds:Q", format=".3f")],
        )
    )  # fmt: skip
    is_startup = alt.FieldOneOfPredicate(field="series", oneOf=startup)
    lines = (
        base.mark_line(strokeWidth=1.4)
        .transform_filter(~alt.Predicate(is_startup))
        .interactive()  # zoom and pan in the HTML report
    )
    points = base.mark_point(size=14, filled=True).transform_filter(is_startup)
    knee = report.figures["timing_knee"].step
    marks = [(knee, f"timing knee (step {knee:g})")] if knee is not None else []
    chart = layered(lines, points, *markers(marks, "step"), data=table.data.ref())
    return sized(chart, title("Timing", report.run.meta, tuple(notes)))


def run_charts(report: Report) -> tuple[dict[str, alt.LayerChart], list[Dataset], dict[str, str]]:
    """All charts of one run by name, the datasets they name, and for each chart not drawn, why.

    Built with Altair's schema validation off: the specs are ours and tested, and validating
    each channel as it is made cost more than reading a million-row node file."""
    with debug_mode(False):
        return _run_charts(report)


def _run_charts(report: Report) -> tuple[dict[str, alt.LayerChart], list[Dataset], dict[str, str]]:
    run = report.run
    charts: dict[str, alt.LayerChart] = {}
    datasets: list[Dataset] = []
    skipped: dict[str, str] = {}
    mem = series.memory_table(run)
    if mem is None:
        skipped["memory"] = skipped["memory-requested"] = "no memory samples in this run"
    else:
        charts["memory"] = memory_chart(mem, run.meta, "elapsed_s")
        charts["memory-requested"] = memory_chart(mem, run.meta, "requested")
        datasets.append(mem.data)
    state = series.state_table(run)
    if state is not None:
        charts["capacity"] = state_chart(state[0], state[1], report)
        datasets.append(state[0].data)
    per_pod = series.per_pod_table(report)
    if per_pod is None:
        skipped["memory-per-pod"] = "no used-memory values with running pods"
    else:
        charts["memory-per-pod"] = per_pod_chart(per_pod, report)
        datasets.append(per_pod.data)
    timing = series.timing_table(run)
    if timing is None:
        skipped["timing"] = "no timing columns"
    else:
        charts["timing"] = timing_chart(timing, report)
        datasets.append(timing.data)
    from viz.charts_cpu import cpu_charts  # it builds on this module's helpers

    more, more_data, more_skipped = cpu_charts(report)
    charts.update(more)
    datasets += more_data
    skipped.update(more_skipped)
    pods, pod_data, pod_skipped = run_pod_charts(report)
    charts.update(pods)  # type: ignore[arg-type]  # layer charts of their own data
    datasets += pod_data
    skipped.update(pod_skipped)
    return charts, datasets, skipped


def run_pod_charts(report: Report) -> tuple[dict[str, alt.TopLevelMixin], list[Dataset], dict[str, str]]:
    from viz.charts_pods import CostRow, pod_cost_charts
    from viz.pod_report import own_pods

    run, pods = report.run, report.pods
    if pods is None:
        why = "no run.pods.csv, or no running pod with memory samples in it"
        return {}, [], {"pod-cost": why, "pod-overhead": why, "pod-spread": why}
    meta = run.meta
    row = CostRow(meta.runtime_label, own_pods(run, pods), meta.declared_overhead_mib,
                  meta.vm_memory_mib, pods.measured, pods.sources, meta.is_default_runtime)  # fmt: skip
    subtitle = [meta.provenance()]
    if meta.abnormal:
        subtitle.insert(0, f"run did not finish ({meta.abnormal}): the data stops where it stopped")
    charts, datasets = pod_cost_charts([row], subtitle, f": {meta.describe()}")
    return charts, datasets, {}
