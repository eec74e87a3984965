"""`viz plot`: every chart of one run, as one HTML report and, when asked, one image per chart."""

from __future__ import annotations

import html
from pathlib import Path

from viz.charts import run_charts
from viz.export import Page, ensure_dir, html_page, write_bytes, write_images
from viz.options import DEFAULT_FORMATS, DEFAULT_FREE_THRESHOLD_MIB
from viz.read import load_run
from viz.render import Renderer
from viz.report import SECTIONS, Report, analyse_run
from viz.text import METADATA_FIGURES, format_value, plural, status_line, unrecorded_section


def figures_table(report: Report) -> str:
    rows = []
    for section, labels in SECTIONS.items():
        rows.append(f'<tr><th colspan="3">{html.escape(section)}</th></tr>')
        if unrecorded_section(report.figures, labels):
            rows.append('<tr><td colspan="3">not recorded in this file</td></tr>')
            labels = {k: v for k, v in labels.items()
                      if k in METADATA_FIGURES and report.figures[k].value is not None}  # fmt: skip
        for key, label in labels.items():
            f = report.figures[key]
            rows.append(
                f'<tr><td>{html.escape(label)}</td><td class="num">{html.escape(format_value(f))}'
                f'</td><td class="how">{html.escape(f.method if f.recorded else "")}</td></tr>'
            )
        if section == "per-pod cost" and report.verdict:
            rows.append(f'<tr><td>verdict</td><td colspan="2">{html.escape(report.verdict)}</td></tr>')
    return "<table><tr><th>figure</th><th>value</th><th>how</th></tr>" + "".join(rows) + "</table>"


def plot_run(
    path: Path,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
) -> list[Path]:
    """Write <stem>.report.html and <stem>.<chart>.<png|svg>; return the files written."""
    images = [f for f in formats if f != "html"]
    # Started first: the helper's start-up overlaps reading and analysing the run.
    with Renderer(parallel=bool(images)) if images else _no_renderer() as renderer:
        run = load_run(path)
        report = analyse_run(run, free_threshold_mib)
        charts, datasets, skipped = run_charts(report)
        page = Page.build(charts, datasets)
        out = ensure_dir(out_dir if out_dir is not None else run.path.parent)
        written = write_images(page, out, run.name, images, renderer) if images else []
    if "html" in formats:
        meta = run.meta
        notes = [f"{name}: not drawn ({why})" for name, why in skipped.items()]
        notes += list(meta.notes)
        warning = status_line(meta)
        if warning:
            notes.insert(0, warning)
        elif meta.end_reason:
            notes.insert(0, f"run ended: {meta.end_reason}")
        page_html = html_page(
            f"{run.name}: {meta.describe()}",
            f"{meta.provenance()} · {plural(run.steps.height, 'step')} · {run.path.name}",
            "<h2>figures</h2>" + figures_table(report),
            page,
            notes,
        )
        written.append(write_bytes(out / f"{run.name}.report.html", page_html))
    return written


class _no_renderer:  # noqa: N801 - a null context manager typed like Renderer
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
