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
from viz.run import RunMeta
from viz.stats import CI_METHOD, CI_MIN_RUNS
from viz.text import METADATA_FIGURES, format_number, format_spread, wrapped

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


NOT_RECORDED = "not recorded in any run"


def _unrecorded(cmp: Comparison, key: str) -> bool:
    return all(not r.figures[key].recorded for g in cmp.groups for r in g.reports)


def _cells(cmp: Comparison, key: str) -> list[str]:
    return [format_spread(g.figures[key], g.first.figures[key], compact=True) for g in cmp.groups]


def figure_rows(cmp: Comparison) -> list[tuple[str, str, list[str]]]:
    """(section, figure label, one cell per group). A section none of whose measured figures
    any run recorded is one row saying so (with the figures read from the metadata, if any
    run has them); figures left out otherwise are named by ``left_out``."""
    out = []
    for section, labels in SECTIONS.items():
        measured = [k for k in labels if k not in METADATA_FIGURES]
        if all(_unrecorded(cmp, k) for k in measured):
            out.append((section, NOT_RECORDED, ["" for _ in cmp.groups]))
            out += [(section, labels[k], _cells(cmp, k)) for k in labels if k in METADATA_FIGURES
                    and any(g.first.figures[k].value is not None for g in cmp.groups)]  # fmt: skip
            continue
        for key, label in labels.items():
            if section != "capacity" and _unrecorded(cmp, key):
                continue
            quiet = all(not v for g in cmp.groups for v in g.figures[key].values)
            if section == "failure modes" and quiet:
                continue  # nothing happened (or nothing recorded) in any run: one line says so
            out.append((section, label, _cells(cmp, key)))
    return out


def left_out(cmp: Comparison, section: str, rows: list[tuple[str, str, list[str]]]) -> str | None:
    """The line naming a section's figures that are not in the table (a failure that never
    happened; a figure no file has), or None."""
    shown = {label for sec, label, _ in rows if sec == section}
    if section == "capacity" or NOT_RECORDED in shown:
        return None
    names = [label.strip() for label in SECTIONS[section].values() if label not in shown]
    if not names:
        return None
    why = "none in any run, or not recorded" if section == "failure modes" else NOT_RECORDED
    return f"   ({why}: {', '.join(names)})"


def ratio_value(r: Ratio) -> str:
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
    for sec in SECTIONS:
        mine = [(label, cells) for s, label, cells in rows if s == sec]
        if mine and mine[0][0] == NOT_RECORDED:
            out.append(f"-- {sec}: {NOT_RECORDED}")
            mine = mine[1:]
        else:
            out.append(f"-- {sec}")
        out += [line(label, cells) for label, cells in mine]
        quiet = left_out(cmp, sec, rows)
        if quiet:
            out.append(quiet)
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
            out.append(f"  {r.label:<{w}}  {ratio_value(r)}")
        if any(r.spread.pairs > 1 for r in ratios):
            out.append(f"  ({ratios[0].method})")
    verdicts = pod_verdicts(cmp)
    if verdicts:
        out.append("per-pod cost: measured vs declared overhead")
        for label, text in verdicts:
            out += wrapped(f"  {label}: ", text)
    if not cmp.ratios and len(cmp.groups) > 1:
        out.append("ratios: none (no two runs differ only in runtime, scenario, or model vs measurement)")
    out += [f"left out: {why}" for why in cmp.skipped]
    return "\n".join(out)


def pod_verdicts(cmp: Comparison) -> list[tuple[str, str]]:
    """(group label, verdict) for every group, when any group's runs measured an overhead: a
    group without one says why (a kubelet-only kata run: cAdvisor's blind spot), never silence
    beside the others' verdicts. Groups measured by different node sources name theirs: the
    kubelet sees a runc pod's overhead as its pause container only, SSH as conmon + pause."""
    from viz.compare_pods import group_sources, group_verdict, why_no_verdict

    found = [(label, g, group_verdict(g)) for label, g in zip(cmp.labels, cmp.groups, strict=True)]
    if all(text is None for _, _, text in found):
        return []
    sources = {label: group_sources(g) for label, g, _ in found}
    differ = len({s for s in sources.values() if s}) > 1
    out = []
    for label, g, text in found:
        if text is None:
            text = why_no_verdict(g)
        elif differ:
            text += f" (measured by: {', '.join(sources[label])})"
        out.append((label, text))
    return out


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
        how = html.escape(methods[keys[label]]) if label in keys else ""
        body.append(f'<tr><td>{html.escape(label)}<div class="how">{how}</div></td>{tds}</tr>')
    parts = [f"<h2>figures</h2><table><tr><th>figure</th>{head}</tr>{''.join(body)}</table>"]
    for kind, title in KIND_TITLES.items():
        ratios = [r for r in cmp.ratios if r.kind == kind]
        if not ratios:
            continue
        rows = "".join(
            f'<tr><td>{html.escape(r.label)}{"" if kind != "measured" else " · " + html.escape(r.name)}'
            f'</td><td class="num">'
            f"{html.escape(_measured_value(cmp, r) if kind == 'measured' else ratio_value(r))}"
            f'</td><td class="how">{html.escape(r.method)}</td></tr>'
            for r in ratios
        )
        parts.append(
            f"<h2>ratios: {html.escape(title)}</h2>"
            f"<table><tr><th>ratio</th><th>value</th><th>how</th></tr>{rows}</table>"
        )
    verdicts = pod_verdicts(cmp)
    if verdicts:
        items = "".join(f"<li><b>{html.escape(lab)}</b>: {html.escape(text)}</li>" for lab, text in verdicts)
        parts.append(f"<h2>per-pod cost: measured vs declared overhead</h2><ul>{items}</ul>")
    return "".join(parts)


def provenance_lines(metas: list[RunMeta]) -> list[str]:
    """Where the runs come from, one line per kind: published runs share one line naming them
    (four lines alike but for the name crowd the plot out)."""
    published = sorted({m.reference for m in metas if m.reference and not m.simulated})
    lines = sorted({m.provenance() for m in metas if not (m.reference and not m.simulated)})
    if len(published) == 1:
        lines.insert(0, next(m.provenance() for m in metas if m.reference == published[0]))
    elif published:
        lines.insert(0, f"published measurements {', '.join(published)} (real clusters, original method)")
    return lines


def write_comparison(cmp: Comparison, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    from viz.compare_charts import comparison_charts

    metas = [g.meta for g in cmp.groups]
    subtitle = provenance_lines(metas)
    unfinished = [u for g in cmp.groups for u in g.unfinished]
    if unfinished:
        subtitle.insert(0, "DID NOT FINISH: " + "; ".join(unfinished))
    charts, datasets = comparison_charts(cmp.groups, cmp.labels, subtitle, cmp.pairs)
    from viz.charts_pods import pod_cost_charts
    from viz.compare_pods import cost_rows

    rows = cost_rows(cmp.groups, cmp.labels)
    if rows:
        pod_charts, pod_data = pod_cost_charts(rows, subtitle)
        charts = {**charts, **pod_charts}  # type: ignore[dict-item]
        datasets += pod_data
    page = Page.build(charts, datasets)
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
