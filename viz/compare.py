"""`viz compare`: several runs overlaid, and their figures side by side with overhead ratios.

Called by the load generator after a matrix run (``scaler run --runtime runc,kata``) through
:func:`compare_runs`; it only needs the files those runs wrote.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl

from viz.analysis import DEFAULT_FREE_THRESHOLD_MIB, used_per_pod
from viz.charts import HEIGHT, WIDTH
from viz.errors import VizInputError
from viz.export import ensure_dir, html_page, save_image, write_bytes
from viz.read import load_run
from viz.report import FIGURE_LABELS, Report, analyse_run, column, format_value
from viz.run import RunMeta
from viz.series import ROW_LIMIT, bin_mean


@dataclass(frozen=True)
class Ratio:
    name: str
    label: str  # e.g. "kata / runc"
    value: float | None
    method: str


def run_labels(metas: list[RunMeta], stems: list[str]) -> list[str]:
    """Short labels made of what differs between the runs (runtime, scenario, mode, cluster);
    file names when nothing does; file names appended where labels would still collide."""
    fields = ("runtime", "scenario", "mode", "cluster_kind")
    # A field only some runs record (old files have no scenario) tells the runs apart no better
    # than the fields they all record: only differing known values count.
    varying = [f for f in fields if len({getattr(m, f) for m in metas} - {None}) > 1]
    if varying:
        labels = [
            " ".join(str(getattr(m, f)) for f in varying if getattr(m, f)) or s
            for m, s in zip(metas, stems, strict=True)
        ]
    else:
        labels = [m.runtime or s for m, s in zip(metas, stems, strict=True)]
    if len(set(labels)) < len(labels):
        labels = [
            f"{lab} ({s})" if labels.count(lab) > 1 else lab
            for lab, s in zip(labels, stems, strict=True)
        ]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    return labels


def baseline_index(metas: list[RunMeta]) -> int:
    """The run ratios are taken against: the first run on the cluster's default runtime (recorded
    as ``default``, or ``runc`` in older files), else the first."""
    for i, m in enumerate(metas):
        if m.runtime in ("default", "runc"):
            return i
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def overhead_ratios(reports: list[Report], labels: list[str]) -> list[Ratio]:
    """Per non-baseline run: memory per pod relative to the baseline, baseline pods relative to it."""
    base = baseline_index([r.run.meta for r in reports])
    b = reports[base].figures
    out: list[Ratio] = []
    for i, r in enumerate(reports):
        if i == base:
            continue
        f = r.figures
        pair = f"{labels[i]} / {labels[base]}"
        out.append(Ratio("mib_per_pod_linear", f"MiB per pod (linear region), {pair}",
                         _ratio(f["mib_per_pod_linear"].value, b["mib_per_pod_linear"].value),
                         "ratio of the linear-region slopes"))  # fmt: skip
        out.append(Ratio("mib_per_pod_at_saturation", f"MiB per pod at saturation, {pair}",
                         _ratio(f["mib_per_pod_at_saturation"].value, b["mib_per_pod_at_saturation"].value),
                         "ratio of (used − first sample) / running at each run's saturation step"))  # fmt: skip
        inverse = f"{labels[base]} / {labels[i]}"
        out.append(Ratio("max_running", f"max running pods, {inverse}",
                         _ratio(b["max_running"].value, f["max_running"].value),
                         "how many times more pods the baseline ran at most"))  # fmt: skip
    return out


def overlay_table(reports: list[Report], labels: list[str]) -> pl.DataFrame:
    """One row per (run, step): requested, running, free memory, memory per pod, step time."""
    budget = max(50, ROW_LIMIT // (2 * len(reports)))
    parts = []
    for r, label in zip(reports, labels, strict=True):
        df = r.run.steps
        wide = pl.DataFrame(
            {
                "requested": column(df, "requested"),
                "running": column(df, "running"),
                "free_mib": column(df, "mem_free_mib"),
                "mib_per_pod": used_per_pod(column(df, "mem_used_mib"), column(df, "running")),
                "step_s": column(df, "step_s"),
            }
        ).with_columns(pl.all().fill_nan(None))
        wide, _ = bin_mean(
            wide, "requested", ["running", "free_mib", "mib_per_pod", "step_s"], budget
        )
        parts.append(wide.with_columns(pl.lit(label).alias("run")))
    return pl.concat(parts, how="vertical_relaxed")


def _overlay(
    data: pl.DataFrame, y: str, y_title: str, what: str, subtitle: list[str]
) -> alt.LayerChart:
    sub = data.select("requested", "run", y).drop_nulls(y)
    lines = (
        alt.Chart(sub)
        .mark_line(strokeWidth=1.6)
        .encode(
            x=alt.X("requested:Q", title="requested replicas"),
            y=alt.Y(f"{y}:Q", title=y_title),
            color=alt.Color("run:N", title="run"),
            tooltip=["run:N", "requested:Q", alt.Tooltip(f"{y}:Q", format=",.2f")],
        )
        .interactive()
    )
    layers = [lines]
    if y == "running":  # the ideal: every requested replica running
        top = float(sub["requested"].max() or 0.0)
        ideal = pl.DataFrame({"requested": [0.0, top], "running": [0.0, top]})
        layers.insert(
            0,
            alt.Chart(ideal)
            .mark_line(color="#bbbbbb", strokeDash=[4, 4])
            .encode(x="requested:Q", y="running:Q"),
        )
    return alt.layer(*layers).properties(
        width=WIDTH, height=HEIGHT, autosize=alt.AutoSizeParams(type="fit", contains="padding"),
        title=alt.Title(text=what, subtitle=subtitle, anchor="start"),
    )  # fmt: skip


def comparison_charts(reports: list[Report], labels: list[str]) -> dict[str, alt.LayerChart]:
    data = overlay_table(reports, labels)
    provenance = sorted({r.run.meta.provenance() for r in reports})
    sub = [
        " · ".join(
            f"{lab}: {r.run.meta.describe()}" for lab, r in zip(labels, reports, strict=True)
        ),
        *provenance,
    ]
    if any(r.run.steps.height > ROW_LIMIT // (2 * len(reports)) for r in reports):
        sub.append("long runs averaged into bins of requested replicas")
    charts = {
        "capacity": _overlay(data, "running", "running pods", "Running pods vs requested (dashed: all running)", sub),
        "free-memory": _overlay(data, "free_mib", "free memory, cluster sum (MiB)", "Free memory", sub),
        "memory-per-pod": _overlay(data, "mib_per_pod", "MiB per running pod (above first sample)", "Memory per pod", sub),
        "timing": _overlay(data, "step_s", "step duration (s)", "Timing", sub),
    }  # fmt: skip
    return {k: c for k, c in charts.items() if data[_y(k)].null_count() < data.height}


def _y(name: str) -> str:
    return {"capacity": "running", "free-memory": "free_mib", "memory-per-pod": "mib_per_pod", "timing": "step_s"}[name]  # fmt: skip


def _json_value(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def comparison_dict(reports: list[Report], labels: list[str], ratios: list[Ratio]) -> dict:
    return {
        "runs": [dict(label=lab, **r.to_dict()) for lab, r in zip(labels, reports, strict=True)],
        "baseline": labels[baseline_index([r.run.meta for r in reports])],
        "ratios": [
            {"name": x.name, "label": x.label, "value": _json_value(x.value), "method": x.method}
            for x in ratios
        ],
    }


def format_table(reports: list[Report], labels: list[str], ratios: list[Ratio]) -> str:
    width = max(len(v) for v in FIGURE_LABELS.values())
    table = {key: [format_value(r.figures[key]) for r in reports] for key in FIGURE_LABELS}
    cols = [
        max(len(lab), *(len(vals[i]) for vals in table.values())) for i, lab in enumerate(labels)
    ]
    lines = [
        f"{'':<{width}}  " + "  ".join(f"{lab:>{w}}" for lab, w in zip(labels, cols, strict=True))
    ]
    for key, name in FIGURE_LABELS.items():
        vals = table[key]
        lines.append(
            f"{name:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(vals, cols, strict=True))
        )
    for x in ratios:
        lines.append(f"{x.label}: {'—' if x.value is None else f'{x.value:.2f}'} ({x.method})")
    return "\n".join(lines)


def _html_table(reports: list[Report], labels: list[str], ratios: list[Ratio]) -> str:
    head = "".join(f"<th>{html.escape(lab)}</th>" for lab in labels)
    rows = []
    for key, name in FIGURE_LABELS.items():
        cells = "".join(
            f'<td class="num">{html.escape(format_value(r.figures[key]))}</td>' for r in reports
        )
        how = html.escape(reports[0].figures[key].method.split(" (")[0])
        rows.append(f'<tr><td>{html.escape(name)}<div class="how">{how}</div></td>{cells}</tr>')
    table = f"<table><tr><th>figure</th>{head}</tr>{''.join(rows)}</table>"
    rat = "".join(
        f'<tr><td>{html.escape(x.label)}</td><td class="num">{"—" if x.value is None else f"{x.value:.2f}"}'
        f'</td><td class="how">{html.escape(x.method)}</td></tr>'
        for x in ratios
    )
    if rat:
        table += f"<h2>overhead ratios</h2><table><tr><th>ratio</th><th>value</th><th>how</th></tr>{rat}</table>"
    return "<h2>figures</h2>" + table


def expand_paths(paths: list[Path]) -> list[Path]:
    """Run CSVs named directly, or every run CSV in a named directory (a matrix run's output)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.csv") if not f.name.endswith(".nodes.csv"))
            if not found:
                raise VizInputError(f"{p}: directory holds no run CSV")
            out += found
        else:
            out.append(p)
    if not out:
        raise VizInputError("compare needs at least one run CSV")
    return out


@dataclass(frozen=True)
class Comparison:
    reports: list[Report]
    labels: list[str]
    ratios: list[Ratio]
    skipped: tuple[str, ...] = ()  # one-line reasons for runs left out (skip_unusable only)

    @classmethod
    def build(
        cls,
        paths: list[Path],
        free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
        skip_unusable: bool = False,
    ) -> Comparison:
        reports: list[Report] = []
        skipped: list[str] = []
        for p in expand_paths(paths):
            try:
                reports.append(analyse_run(load_run(Path(p)), free_threshold_mib))
            except VizInputError as err:
                if not skip_unusable:
                    raise
                skipped.append(str(err))
        if not reports:
            raise VizInputError("no usable run to compare: " + "; ".join(skipped))
        labels = run_labels([r.run.meta for r in reports], [r.run.name for r in reports])
        return cls(reports, labels, overhead_ratios(reports, labels), tuple(skipped))

    def text(self) -> str:
        table = format_table(self.reports, self.labels, self.ratios)
        return "\n".join([table, *(f"left out: {why}" for why in self.skipped)])

    def to_dict(self) -> dict:
        data = comparison_dict(self.reports, self.labels, self.ratios)
        data["skipped"] = list(self.skipped)
        return data

    def write(self, out_dir: Path, formats: tuple[str, ...] | list[str]) -> list[Path]:
        reports, labels = self.reports, self.labels
        charts = comparison_charts(reports, labels)
        out = ensure_dir(Path(out_dir))
        written = [write_bytes(out / "compare.json", json.dumps(self.to_dict(), indent=2))]
        for fmt in formats:
            if fmt != "html":
                written += [
                    save_image(c, out / f"compare.{name}.{fmt}", fmt) for name, c in charts.items()
                ]
        if "html" in formats:
            notes = [
                f"{lab}: {r.run.path.name} ({r.run.meta.describe()})"
                for lab, r in zip(labels, reports, strict=True)
            ]
            notes += [f"left out: {why}" for why in self.skipped]
            page = html_page(
                "Comparison: " + " vs ".join(labels),
                " · ".join(sorted({r.run.meta.provenance() for r in reports})),
                _html_table(reports, labels, self.ratios),
                charts,
                notes,
            )
            written.append(write_bytes(out / "compare.html", page))
        return written


def compare_runs(
    paths: list[Path],
    out_dir: Path,
    formats: tuple[str, ...] | list[str] = ("html", "png"),
    free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
    skip_unusable: bool = False,
) -> list[Path]:
    """Write compare.html, compare.json and compare.<chart>.<png|svg> in ``out_dir``.

    Returns the files written. Raises VizInputError (a ValueError with a one-line message) on
    unusable input; with ``skip_unusable`` (for a matrix where one run failed early) such runs
    are left out and named in compare.json ("skipped") and in the page, and only having no
    usable run at all raises.
    """
    return Comparison.build(paths, free_threshold_mib, skip_unusable).write(out_dir, formats)
