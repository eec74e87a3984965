"""Charts of the per-pod cost (issue 14.6): what a pod costs, part by part, per runtime; how that
cost spreads over the pods; and the measured overhead beside the declared one.

One builder serves `viz plot` (one run) and `viz compare` (runtimes lined up, one row each):
each row is a ``CostRow`` of pods already reduced to one line each by ``viz.pods``.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import polars as pl

from viz import podcost
from viz.charts import HEIGHT, WIDTH
from viz.datasets import Dataset
from viz.pods import PARTS

PART_COLOURS = {"workload": "#1f77b4", "runtime/VMM": "#d62728", "page cache/shm": "#2ca02c",
                "kernel": "#9467bd"}  # fmt: skip
DECLARED_RED = "#b00020"
SUGGESTED_GREEN = "#2ca02c"
MAX_PODS = 20_000  # per row: a box plot and a histogram of more say nothing more


@dataclass(frozen=True)
class CostRow:
    label: str  # the row's name: the runtime, or the comparison's group label
    pods: pl.DataFrame  # PodTable.frame rows of this row's pods
    declared_mib: float | None
    vm_memory_mib: float | None
    measured: frozenset[str]  # optional parts the source measured ("kernel", "cache")
    sources: tuple[str, ...]
    default_runtime: bool = False  # no RuntimeClass to set a podFixed on: no suggestion drawn


def _rows(rows: list[CostRow]) -> tuple[Dataset, Dataset, Dataset, list[str]]:
    parts, pods, marks, notes = [], [], [], []
    for r in rows:
        frame = r.pods
        if frame.height > MAX_PODS:
            frame = frame.gather_every(-(-frame.height // MAX_PODS))
            notes.append(f"{r.label}: every {(-(-r.pods.height // MAX_PODS))}th pod drawn")
        means = {label: float(frame[col].mean()) for col, label in PARTS.items()}  # type: ignore[arg-type]
        parts.append(pl.DataFrame({
            "row": r.label, "part": list(means), "mib": [round(v, 1) for v in means.values()],
            "order": list(range(len(means))),
        }))  # fmt: skip
        pods.append(frame.select(pl.lit(r.label).alias("row"), pl.col("host").round(1),
                                 pl.col("overhead").round(1)))  # fmt: skip
        suggestion = None if r.default_runtime else podcost.suggest_pod_fixed(frame["overhead"].to_numpy())
        marks.append(pl.DataFrame({
            "row": [r.label] * 2, "what": ["declared podFixed", "suggested podFixed"],
            "mib": [r.declared_mib, suggestion[0] if suggestion else None],
        }, schema={"row": pl.String, "what": pl.String, "mib": pl.Float64}))  # fmt: skip
        missing = [label for key, label in (("cache", "page cache/shm"), ("kernel", "kernel"))
                   if key not in r.measured]  # fmt: skip
        if missing:
            notes.append(f"{r.label}: {' and '.join(missing)} not measured by the source "
                         f"({', '.join(r.sources)}): inside runtime/VMM")  # fmt: skip
    every = pl.concat(parts)
    top = float(every.group_by("row").agg(pl.col("mib").sum())["mib"].max())  # type: ignore[arg-type]
    every = every.with_columns((pl.col("mib") >= 0.04 * top).cast(pl.Int8).alias("wide"))
    return (Dataset("podparts", every), Dataset("pods", pl.concat(pods)),
            Dataset("podmarks", pl.concat(marks).drop_nulls("mib")), notes)  # fmt: skip


def _sized(chart: alt.TopLevelMixin, heading: str, subtitle: list[str]) -> alt.TopLevelMixin:
    chart.width = WIDTH  # type: ignore[attr-defined]
    chart.height = HEIGHT  # type: ignore[attr-defined]
    chart.autosize = alt.AutoSizeParams(type="fit", contains="padding")  # type: ignore[attr-defined]
    chart.title = alt.Title(text=heading, subtitle=subtitle, anchor="start", subtitleColor="#444")  # type: ignore[attr-defined]
    return chart


def pod_cost_charts(rows: list[CostRow], subtitle: list[str],
                    suffix: str = "") -> tuple[dict[str, alt.TopLevelMixin], list[Dataset]]:  # fmt: skip
    """The per-pod cost charts of ``rows`` (one or several runtimes) and their datasets;
    ``suffix`` ends each title (": kata, capacity" for one run)."""
    parts, pods, marks, notes = _rows(rows)
    order = [r.label for r in rows]
    y = alt.Y("row:N", title=None, sort=order, axis=alt.Axis(labelLimit=260))
    domain = list(PARTS.values())
    bars = (
        alt.Chart(parts.ref()).mark_bar()
        .encode(
            y=y, x=alt.X("sum(mib):Q", title="MiB per pod (mean over pods)", stack="zero"),
            color=alt.Color("part:N", title="part", sort=domain,
                            scale=alt.Scale(domain=domain, range=[PART_COLOURS[p] for p in domain])),
            order=alt.Order("order:Q"),
            tooltip=[alt.Tooltip("row:N"), alt.Tooltip("part:N"), alt.Tooltip("mib:Q", format=",.1f")],
        )
    )  # fmt: skip
    labels = (
        alt.Chart(parts.ref()).transform_filter("datum.wide === 1")  # a number fits in the segment
        .transform_stack(stack="mib", groupby=["row"], sort=[alt.SortField("order")], as_=["lo", "hi"])
        .transform_calculate(mid="(datum.lo + datum.hi) / 2", text="format(datum.mib, ',.0f')")
        .mark_text(color="white", fontWeight="bold")
        .encode(y=y, x=alt.X("mid:Q"), text=alt.Text("text:N"))
    )  # fmt: skip
    totals = (
        alt.Chart(parts.ref()).transform_aggregate(total="sum(mib)", groupby=["row"])
        .transform_calculate(text="format(datum.total, ',.0f') + ' MiB'")
        .mark_text(align="left", dx=4).encode(y=y, x=alt.X("total:Q"), text=alt.Text("text:N"))
    )  # fmt: skip
    cost = _sized(alt.layer(bars, labels, totals), "What a pod costs, part by part" + suffix,
                  [*subtitle, "each pod: its last measurement while running; bars: the mean "
                   "over pods (the parts add up to the host memory of the pod cgroup, + kata's "
                   "overhead cgroup)", *notes])  # fmt: skip
    marks_domain = ["declared podFixed", "suggested podFixed"]
    box = (
        alt.Chart(pods.ref()).mark_boxplot(extent="min-max", size=26, color="#555555")
        .encode(y=y, x=alt.X("overhead:Q", title="measured overhead per pod (MiB)", scale=alt.Scale(zero=True)))
    )  # fmt: skip
    ticks = (
        alt.Chart(marks.ref()).mark_tick(thickness=3, size=40)
        .encode(y=y, x=alt.X("mib:Q"),
                color=alt.Color("what:N", title="overhead", scale=alt.Scale(
                    domain=marks_domain, range=[DECLARED_RED, SUGGESTED_GREEN])),
                tooltip=[alt.Tooltip("row:N"), alt.Tooltip("what:N"), alt.Tooltip("mib:Q", format=",.0f")])
    )  # fmt: skip
    tick_text = (
        alt.Chart(marks.ref())
        .transform_calculate(text="(datum.what === 'declared podFixed' ? 'declared ' : 'suggested ') + format(datum.mib, ',.0f')")
        .mark_text(dy=-26, fontSize=11)
        .encode(y=y, x=alt.X("mib:Q"), text=alt.Text("text:N"),
                color=alt.Color("what:N", scale=alt.Scale(domain=marks_domain, range=[DECLARED_RED, SUGGESTED_GREEN]),
                                legend=None))
    )  # fmt: skip
    vm = [f"{r.label}: VM configured with {r.vm_memory_mib:,.0f} MiB" for r in rows if r.vm_memory_mib]
    undeclared = [r.label for r in rows if r.declared_mib is None]
    overhead = _sized(alt.layer(box, ticks, tick_text), "Measured vs declared overhead" + suffix,
                      [*subtitle, "measured overhead = host memory - the workload's own resident set; "
                       "box: quartiles, whiskers: min-max over pods",
                       f"suggested podFixed: the {podcost.SUGGEST_PERCENTILE:.0f}th percentile over "
                       f"pods, rounded up to {podcost.SUGGEST_STEP_MIB:.0f} MiB",
                       *([f"no declared overhead: {', '.join(undeclared)}"] if undeclared else []),
                       *vm])  # fmt: skip
    hist = (
        alt.Chart(pods.ref()).mark_bar(opacity=0.6, binSpacing=1)
        .encode(
            x=alt.X("host:Q", bin=alt.Bin(maxbins=60), title="host memory per pod (MiB)"),
            y=alt.Y("count():Q", title="pods", stack=None),
            color=alt.Color("row:N", title=None, sort=order),
            tooltip=[alt.Tooltip("row:N"), alt.Tooltip("count():Q", title="pods")],
        )
    )  # fmt: skip
    spread = _sized(hist, "Host memory per pod: how it spreads over the pods" + suffix,
                    [*subtitle, "each pod: its last measurement while running (pod cgroup + "
                     "kata's overhead cgroup)"])  # fmt: skip
    return {"pod-cost": cost, "pod-overhead": overhead, "pod-spread": spread}, [parts, pods, marks]
