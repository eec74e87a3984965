"""Charts of a run's useful work and node CPU (issue 13): total work and work per pod against
running pods, with the CPU knee, and node CPU busy per step."""

from __future__ import annotations

import math

import altair as alt
import polars as pl

from viz.charts import MARK_GREY, X_AXIS, layered, log_ticks, markers, sized, title
from viz.cpu_report import work_recorded
from viz.datasets import Dataset
from viz.report import Report
from viz.series import Table
from viz.series_cpu import AFTER, BEFORE, cpu_table, reporting_label, work_table
from viz.text import si

WORK_BLUE = "#1f77b4"
LATE_GREY = "#9e9e9e"
PHASES = alt.Scale(domain=[BEFORE, AFTER], range=[WORK_BLUE, LATE_GREY])
SI = "~s"  # d3-format with SI prefixes: 1.9e8 -> 190M
SI_LABEL = "datum.value === 0 ? '0' : format(datum.value, '~s')"  # "0", not "0G"


def _log_axis(lo: float, hi: float, fmt: str) -> tuple[alt.Scale, alt.Axis]:
    ticks = log_ticks(lo, hi)
    return (alt.Scale(type="log", domain=[ticks[0], ticks[-1]], nice=False),
            alt.Axis(values=ticks, format=fmt, grid=True, labelOverlap="greedy"))  # fmt: skip


def work_axis(values: pl.Series) -> tuple[alt.Scale, alt.Axis, str]:
    """A log axis when the positive values span 10x or more (work per pod falls by decades past
    the knee), else linear from 0; zeros are not drawn on a log axis and the caller says so."""
    positive = values.drop_nulls().filter(values.drop_nulls() > 0)
    if len(positive) and float(positive.max()) / float(positive.min()) >= 10:  # type: ignore[arg-type]
        scale, axis = _log_axis(float(positive.min()), float(positive.max()), SI)  # type: ignore[arg-type]
        return scale, axis, " (log scale)"
    return alt.Scale(zero=True), alt.Axis(labelExpr=SI_LABEL, grid=True), ""


def running_x(frame: pl.DataFrame, log: bool = True) -> alt.X:
    """Running pods, on a log axis when asked and they span 10x or more: the knee of a CPU run
    comes at a few dozen pods of a thousand, and a linear axis squeezes everything before it
    into a sliver. (Not for totals: on a log axis a straight line looks like an exponential.)"""
    lo, hi = float(frame["running"].min()), float(frame["running"].max())  # type: ignore[arg-type]
    if log and lo > 0 and hi / lo >= 10:
        scale, axis = _log_axis(lo, hi, "~g")
        return alt.X("running:Q", title="running pods (log scale)", scale=scale, axis=axis)
    return alt.X("running:Q", title="running pods", axis=X_AXIS)


def _unit_note(report: Report) -> str:
    if report.run.meta.source_format == "original":
        return ("work: the published WorkCount, 4 KiB pages touched per ~1 s report period (read "
                "as pages/s), summed over the report files read")
    return "work: run.csv work_rate, 4 KiB pages touched per second, summed over fresh reports"


def _idle(frame: pl.DataFrame) -> int:
    return frame.filter(pl.col("work") <= 0).height


def _knee_mark(report: Report, frame: pl.DataFrame, log: bool = True,
               top: bool = True) -> list[alt.Chart]:
    """The CPU knee on the running-pods axis, its label on the side with room (and at the top
    or the bottom of the plot: work per pod falls away from the top after the knee)."""
    at = report.figures["running_at_cpu_knee"].value
    step = report.figures["cpu_knee"].step
    if at is None or step is None:
        return []
    lo, hi = float(frame["running"].min()), float(frame["running"].max())  # type: ignore[arg-type]
    log = log and lo > 0 and hi / lo >= 10
    where = (math.log(at / lo) / math.log(hi / lo)) if log else (at - lo) / max(hi - lo, 1.0)
    right = where > 0.6
    mark = pl.DataFrame({"running": [at], "label": [f"CPU knee: {at:g} running (step {step:g})"]})
    base = alt.Chart(mark)
    return [
        base.mark_rule(color=MARK_GREY, strokeDash=[6, 4]).encode(x=alt.X("running:Q")),
        base.mark_text(align="right" if right else "left", dx=-4 if right else 4,
                       y=4 if top else "height", dy=0 if top else -4,
                       baseline="top" if top else "bottom", color=MARK_GREY)
        .encode(x=alt.X("running:Q"), text=alt.Text("label:N")),
    ]  # fmt: skip


def _rule(value: float, field: str, scale: alt.Scale | None = None) -> alt.Chart:
    """A dotted horizontal rule (its value is in the subtitle: a label on the plot would sit on
    the points)."""
    y = alt.Y(f"{field}:Q", scale=scale if scale is not None else alt.Undefined)
    rule: alt.Chart = alt.Chart(pl.DataFrame({field: [value]})).mark_rule(
        color=MARK_GREY, strokeDash=[2, 3], strokeWidth=1.5
    ).encode(y=y)
    return rule


def work_total_chart(table: Table, report: Report) -> alt.LayerChart:
    """Total work rate against running pods, the plateau as a dotted rule."""
    points = (
        alt.Chart()
        .transform_filter("isValid(datum.work)")
        .mark_point(filled=True, size=16, opacity=0.7)
        .encode(
            x=running_x(table.frame, log=False),
            y=alt.Y("work:Q", title="total work (pages/s)", axis=alt.Axis(labelExpr=SI_LABEL)),
            color=alt.Color("phase:N", title="steps", scale=PHASES),
            tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("running:Q"), alt.Tooltip("work:Q", format=".3s")],
        )
        .interactive()
    )  # fmt: skip
    layers: list[alt.Chart] = [points, *_knee_mark(report, table.frame, log=False)]
    plateau = report.figures["work_plateau"].value
    notes: tuple[str, ...] = (_unit_note(report), *table.notes)
    if _idle(table.frame):
        notes = (f"{_idle(table.frame):,} steps with pods running and no work reported "
                 "(0 pages/s)", *notes)  # fmt: skip
    if plateau is not None:
        layers.append(_rule(plateau, "work"))
        notes = (f"dotted rule: the plateau, {si(plateau)} pages/s (the median total work over "
                 "the 30 steps from the CPU knee)", *notes)  # fmt: skip
    chart = layered(*layers, data=table.data.ref())
    return sized(chart, title("Useful work vs running pods", report.run.meta, notes))


def work_per_pod_chart(table: Table, report: Report) -> alt.LayerChart:
    """Work per running pod against running pods (and per reporting pod), the level before the
    CPU knee as a dotted rule."""
    frame = table.frame
    second = reporting_label(report.run)
    cols = (["per_reporting"] if second else []) + ["per_pod"]  # drawn first: under the main one
    scale, axis, log = work_axis(pl.concat([frame[c] for c in cols]))
    names = {"per_pod": "per running pod", "per_reporting": second or ""}
    domain = [f"per running pod, {BEFORE}", f"per running pod, {AFTER}"] + ([second] if second else [])
    colours = [WORK_BLUE, LATE_GREY] + (["#ff7f0e"] if second else [])
    positive = " && datum.value > 0" if log else ""
    points = (
        alt.Chart()
        .transform_fold(list(cols), as_=["column", "value"])
        .transform_filter(f"isValid(datum.value){positive}")
        .transform_calculate(
            series=f"datum.column === 'per_pod' ? 'per running pod, ' + datum.phase : {second!r}"
        )
        .mark_point(filled=True, size=14, opacity=0.6)
        .encode(
            x=running_x(frame),
            y=alt.Y("value:Q", title=f"work per pod (pages/s){log}", scale=scale, axis=axis),
            color=alt.Color("series:N", title="work", scale=alt.Scale(domain=domain, range=colours),
                            sort=domain, legend=alt.Legend(labelLimit=320)),
            tooltip=[alt.Tooltip("series:N"), alt.Tooltip("step:Q"), alt.Tooltip("running:Q"),
                     alt.Tooltip("value:Q", format=".3s")],
        )
        .interactive()
    )  # fmt: skip
    layers: list[alt.Chart] = [points, *_knee_mark(report, frame, top=False)]
    level = report.figures["work_per_pod"].value
    first = (f"{names['per_pod']} = total work / running pods (a pod that reported nothing did "
             "no work)")  # fmt: skip
    if level is not None:
        layers.append(_rule(level, "value", scale))
        first += f"; dotted: its median before the CPU knee, {si(level)} pages/s"
    notes = [first]
    if _idle(frame):
        zero = "at 0, not drawn on the log axis" if log else "at 0"
        notes.append(f"{_idle(frame):,} steps with pods running and no work reported: {zero}")
    notes += [_unit_note(report), *table.notes]
    chart = layered(*layers, data=table.data.ref())
    return sized(chart, title("Work per pod vs running pods", report.run.meta, tuple(notes)))


def cpu_chart(table: Table, report: Report) -> alt.LayerChart:
    """Node CPU busy per step: the mean over nodes and its parts as lines, each node as points."""
    series = list(dict.fromkeys(table.frame["series"].to_list()))
    lines_domain = [s for s in series if s != "node busy"]
    palette = {"busy (user + system + ...)": "#d62728", "user": "#1f77b4", "system": "#ff7f0e",
               "iowait": "#9467bd", "steal": "#8c564b"}  # fmt: skip
    x = alt.X("step:Q", title="step", axis=X_AXIS)
    y = alt.Y("pct:Q", title="CPU (% of all the node's CPUs)", scale=alt.Scale(domain=[0, 100]))
    lines = (
        alt.Chart()
        .transform_filter("datum.node === 'mean over nodes'")
        .mark_line(strokeWidth=1.4)
        .encode(
            x=x, y=y,
            color=alt.Color("series:N", title="mean over nodes", sort=lines_domain,
                            scale=alt.Scale(domain=lines_domain, range=[palette[s] for s in lines_domain])),
            size=alt.condition("datum.series === 'busy (user + system + ...)'", alt.value(2.6), alt.value(1.2)),
            tooltip=[alt.Tooltip("series:N"), alt.Tooltip("step:Q"), alt.Tooltip("pct:Q", format=".1f")],
        )
        .interactive()
    )  # fmt: skip
    layers: list[alt.Chart] = []
    notes = ["lines: run.csv means over the freshly sampled nodes (/proc/stat, since the previous sample)"]
    if "node busy" in series:
        layers.append(
            alt.Chart().transform_filter("datum.series === 'node busy'")
            .mark_point(filled=True, size=6, opacity=0.45, color="#555555")
            .encode(x=x, y=y, tooltip=[alt.Tooltip("node:N"), alt.Tooltip("step:Q"), alt.Tooltip("pct:Q", format=".1f")])
        )  # fmt: skip
        notes.append("grey points: each node's busy share (run.nodes.csv)")
    layers.append(lines)
    knee = report.figures["cpu_knee"].step
    marks = [(knee, f"CPU knee (step {knee:g})")] if knee is not None else []
    chart = layered(*layers, *markers(marks, "step"), data=table.data.ref())
    return sized(chart, title("Node CPU", report.run.meta, (*notes, *table.notes)))


def cpu_charts(report: Report) -> tuple[dict[str, alt.LayerChart], list[Dataset], dict[str, str]]:
    """The work and CPU charts of one run, their datasets, and why any is not drawn."""
    charts: dict[str, alt.LayerChart] = {}
    datasets: list[Dataset] = []
    skipped: dict[str, str] = {}
    work = work_table(report)
    if work is None:
        why = work_recorded(report.run.steps) or "no step with pods running and work known"
        skipped["work"] = skipped["work-per-pod"] = why
    else:
        charts["work"] = work_total_chart(work, report)
        charts["work-per-pod"] = work_per_pod_chart(work, report)
        datasets.append(work.data)
    cpu = cpu_table(report.run)
    if cpu is None:
        skipped["cpu"] = "no node CPU columns (cpu_busy_pct) in this file"
    else:
        charts["cpu"] = cpu_chart(cpu, report)
        datasets.append(cpu.data)
    return charts, datasets, skipped
