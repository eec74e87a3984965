"""`viz plot`: every chart of one run, as one HTML report and one image per chart."""

from __future__ import annotations

import html
from pathlib import Path

from viz.analysis import DEFAULT_FREE_THRESHOLD_MIB
from viz.charts import run_charts
from viz.export import ensure_dir, html_page, save_image, write_bytes
from viz.read import load_run
from viz.report import FIGURE_LABELS, Report, analyse_run, format_value, plural


def figures_table(report: Report) -> str:
    rows = []
    for key, label in FIGURE_LABELS.items():
        f = report.figures[key]
        rows.append(
            f'<tr><td>{html.escape(label)}</td><td class="num">{html.escape(format_value(f))}'
            f'</td><td class="how">{html.escape(f.method)}</td></tr>'
        )
    return "<table><tr><th>figure</th><th>value</th><th>how</th></tr>" + "".join(rows) + "</table>"


def plot_run(
    path: Path,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = ("html", "png"),
    free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
) -> list[Path]:
    """Write <stem>.report.html and <stem>.<chart>.<png|svg>; return the files written."""
    run = load_run(path)
    report = analyse_run(run, free_threshold_mib)
    charts, skipped = run_charts(report)
    out = ensure_dir(out_dir if out_dir is not None else run.path.parent)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "html":
            continue
        for name, chart in charts.items():
            written.append(save_image(chart, out / f"{run.name}.{name}.{fmt}", fmt))
    if "html" in formats:
        meta = run.meta
        notes = [f"{name}: not drawn ({why})" for name, why in skipped.items()]
        notes += list(meta.notes)
        if meta.end_reason:
            notes.insert(0, f"run ended: {meta.end_reason}")
        page = html_page(
            f"{run.name}: {meta.describe()}",
            f"{meta.provenance()} · {plural(run.steps.height, 'step')} · {run.path.name}",
            "<h2>figures</h2>" + figures_table(report),
            charts,
            notes,
        )
        written.append(write_bytes(out / f"{run.name}.report.html", page))
    return written
