"""A comparison as a table (text for the terminal, HTML for the page) and its files."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from viz.export import Page, ensure_dir, html_page, write_bytes, write_images
from viz.labels import where
from viz.pairing import KIND_TITLES
from viz.report import SECTIONS, generic
from viz.stats import CI_METHOD, CI_MIN_RUNS
from viz.text import format_number, format_spread

if TYPE_CHECKING:
    from viz.compare import Comparison, Ratio
    from viz.groups import Group


def _header_rows(cmp: Comparison) -> list[tuple[str, list[str]]]:
    rows = [
        ("runs", [str(g.n) for g in cmp.groups]),
        ("cluster", [where(g.meta) or "not recorded" for g in cmp.groups]),
    ]
    if any(g.meta.scenario in (None, "custom") for g in cmp.groups):  # else the label says it
        rows.append(
            ("workload", [g.meta.workload_label or g.meta.workload or "—" for g in cmp.groups])
        )
    status = [
        f"{len(g.unfinished)} of {g.n} did not finish" if g.unfinished else "finished"
        for g in cmp.groups
    ]
    if any(g.unfinished for g in cmp.groups):
        rows.append(("status", status))
    return rows


def figure_rows(cmp: Comparison) -> list[tuple[str, str, list[str]]]:
    """(section, figure label, one cell per group)."""
    out = []
    for section, labels in SECTIONS.items():
        for key, label in labels.items():
            cells = [
                format_spread(g.figures[key], g.first.figures[key], compact=True)
                for g in cmp.groups
            ]
            quiet = all(not v for g in cmp.groups for v in g.figures[key].values)
            if section == "failure modes" and quiet:
                continue  # nothing happened (or nothing recorded) in any run: one line says so
            out.append((section, label, cells))
    return out


def _ratio_value(r: Ratio) -> str:
    if r.value is None:
        return "—"
    text = f"{r.value:.2f}"
    s = r.spread
    if s.pairs > 1 and s.low is not None and s.high is not None:
        text += f" [{s.low:.2f}–{s.high:.2f}]"
    if s.ci95:
        text += f"; 95% interval {s.ci95[0]:.2f}–{s.ci95[1]:.2f}"
    return text


def _measured_value(cmp: Comparison, r: Ratio) -> str:
    a = cmp.groups[cmp.labels.index(r.num)]
    b = cmp.groups[cmp.labels.index(r.den)]
    fa, fb = a.figures[r.name], b.figures[r.name]
    unit = a.first.figures[r.name].unit

    def one(v: float | None, g: Group) -> str:
        if v is None:
            return "—" if g.first.figures[r.name].recorded else "not recorded"
        return format_number(v, unit) if unit != "MiB" else f"{v:,.0f} MiB"

    text = f"{one(fa.median, a)} vs {one(fb.median, b)}"
    if r.value is not None:
        text += f" ({(r.value - 1) * 100:+.0f}%)"
    return text


def _quiet_failures(cmp: Comparison) -> list[str]:
    shown = {label for _, label, _ in figure_rows(cmp)}
    return [label for label in SECTIONS["failure modes"].values() if label not in shown]


def format_comparison(cmp: Comparison) -> str:
    width = max(len(v) for sec in SECTIONS.values() for v in sec.values())
    rows = figure_rows(cmp)
    cols = [
        max(len(lab), *(len(cells[i]) for _, _, cells in rows), 8)
        for i, lab in enumerate(cmp.labels)
    ]

    def line(name: str, cells: list[str]) -> str:
        body = "  ".join(f"{c:>{w}}" for c, w in zip(cells, cols, strict=True))
        return f"{name:<{width}}  {body}"

    out = [line("", cmp.labels)]
    out += [line(name, cells) for name, cells in _header_rows(cmp)]
    section = None
    for sec, label, cells in rows:
        if sec != section:
            out.append(f"-- {sec}")
            section = sec
        out.append(line(label, cells))
    quiet = _quiet_failures(cmp)
    if quiet:
        out.append(f"   (none in any run, or not recorded: {', '.join(quiet)})")
    if any(g.n > 1 for g in cmp.groups):
        out.append("values: median [min–max] over each group's runs")
        if any(g.n >= CI_MIN_RUNS for g in cmp.groups):
            out.append(f"        95% CI: {CI_METHOD}")
    for kind, title in KIND_TITLES.items():
        ratios = [r for r in cmp.ratios if r.kind == kind]
        if not ratios:
            continue
        head = title if kind != "runtime" else title.replace("baseline runtime", f"baseline runtime {cmp.baseline}")
        out.append(f"ratios: {head}")
        if kind == "measured":
            for pair_label in dict.fromkeys(r.label for r in ratios):
                out.append(f"  {pair_label}:")
                for r in (x for x in ratios if x.label == pair_label):
                    name = next(lab for sec in SECTIONS.values() for k, lab in sec.items() if k == r.name)
                    out.append(f"    {name:<{width}}  {_measured_value(cmp, r)}")
            continue
        w = max(len(r.label) for r in ratios)
        for r in ratios:
            out.append(f"  {r.label:<{w}}  {_ratio_value(r)}")
        if any(r.spread.pairs > 1 for r in ratios):
            out.append(f"  ({ratios[0].method})")
    if not cmp.ratios and len(cmp.groups) > 1:
        out.append("ratios: none (no two runs differ only in runtime, scenario, or model vs measurement)")
    out += [f"left out: {why}" for why in cmp.skipped]
    return "\n".join(out)


def _html_table(cmp: Comparison) -> str:
    head = "".join(f"<th>{html.escape(lab)}</th>" for lab in cmp.labels)
    body = []
    for name, cells in _header_rows(cmp):
        tds = "".join(f'<td class="num">{html.escape(c)}</td>' for c in cells)
        body.append(f"<tr><td>{html.escape(name)}</td>{tds}</tr>")
    section = None
    methods = {k: generic(f.method) for k, f in cmp.groups[0].first.figures.items()}
    keys = {label: key for sec in SECTIONS.values() for key, label in sec.items()}
    for sec, label, cells in figure_rows(cmp):
        if sec != section:
            body.append(f'<tr><th colspan="{len(cells) + 1}">{html.escape(sec)}</th></tr>')
            section = sec
        tds = "".join(f'<td class="num">{html.escape(c)}</td>' for c in cells)
        how = html.escape(methods[keys[label]])
        body.append(f'<tr><td>{html.escape(label)}<div class="how">{how}</div></td>{tds}</tr>')
    parts = [f"<h2>figures</h2><table><tr><th>figure</th>{head}</tr>{''.join(body)}</table>"]
    for kind, title in KIND_TITLES.items():
        ratios = [r for r in cmp.ratios if r.kind == kind]
        if not ratios:
            continue
        rows = "".join(
            f'<tr><td>{html.escape(r.label)}{"" if kind != "measured" else " · " + html.escape(r.name)}'
            f'</td><td class="num">'
            f"{html.escape(_measured_value(cmp, r) if kind == 'measured' else _ratio_value(r))}"
            f'</td><td class="how">{html.escape(r.method)}</td></tr>'
            for r in ratios
        )
        parts.append(
            f"<h2>ratios: {html.escape(title)}</h2>"
            f"<table><tr><th>ratio</th><th>value</th><th>how</th></tr>{rows}</table>"
        )
    return "".join(parts)


def write_comparison(cmp: Comparison, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    from viz.compare_charts import comparison_charts

    metas = [g.meta for g in cmp.groups]
    subtitle = sorted({m.provenance() for m in metas})
    unfinished = [u for g in cmp.groups for u in g.unfinished]
    if unfinished:
        subtitle.insert(0, "DID NOT FINISH: " + "; ".join(unfinished))
    charts, data = comparison_charts(cmp.groups, cmp.labels, subtitle)
    page = Page.build(charts, [data])
    out = ensure_dir(Path(out_dir))
    written = [write_bytes(out / "compare.json", json.dumps(cmp.to_dict(), indent=2))]
    images = [f for f in formats if f != "html"]
    if images:
        written += write_images(page, out, "compare", images)
    if "html" in formats:
        notes = [
            f"{lab}: {', '.join(r.run.path.name for r in g.reports)} ({g.meta.describe()})"
            for lab, g in zip(cmp.labels, cmp.groups, strict=True)
        ]
        notes = [f"DID NOT FINISH: {u}" for u in unfinished] + notes
        notes += [f"left out: {why}" for why in cmp.skipped]
        page_html = html_page(
            "Comparison: " + " vs ".join(cmp.labels),
            " · ".join(sorted({m.provenance() for m in metas})),
            _html_table(cmp),
            page,
            notes,
        )
        written.append(write_bytes(out / "compare.html", page_html))
    return written
