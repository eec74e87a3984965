"""Figures as text: one value, one run's report, and the header lines that say what a run is."""

from __future__ import annotations

import textwrap

from viz.analysis import Finding
from viz.groups import Group
from viz.pod_report import pooled_verdict
from viz.report import SECTIONS, Report, generic
from viz.run import RunMeta
from viz.stats import CI_METHOD, CI_MIN_RUNS, Spread


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def si(value: float) -> str:
    """3 significant digits with a k/M/G/T prefix: 190,355,000 -> '190M'."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def format_number(value: float, unit: str) -> str:
    if unit == "step":
        return f"step {value:g}"
    if unit == "pods":
        return f"{value:,.0f}"
    if unit == "pages/s":
        return f"{si(value)} pages/s"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "ratio":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}"


def format_value(f: Finding, compact: bool = False) -> str:
    """'76 at step 85 (443 s)'; compact (for tables of several runs): '76 at step 85'."""
    if f.value is None:
        return "—" if f.recorded else "not recorded"
    if compact and f.unit == "MiB":
        text = f"{f.value:,.0f} MiB"
    else:
        text = format_number(f.value, f.unit)
    if f.step is not None and f.unit != "step":
        text += f" at step {f.step:g}"
    if f.elapsed_s is not None and not compact:
        text += f" ({f.elapsed_s:,.0f} s)"
    return text


def status_line(meta: RunMeta) -> str | None:
    """The warning every output of an unfinished run carries."""
    if meta.abnormal is None:
        return None
    return f"RUN DID NOT FINISH ({meta.abnormal}): figures cover the part recorded"


def header_lines(meta: RunMeta, path: str, steps: int, used_method: str) -> list[str]:
    lines = [
        f"{path}: {meta.describe()}",
        f"  {meta.provenance()}; {plural(steps, 'step')}; used memory = {used_method}",
    ]
    if meta.workload and meta.scenario != "custom":
        lines.append(f"  workload: {meta.workload}")
    warning = status_line(meta)
    if warning:
        lines.append(f"  {warning}")
    elif meta.end_reason:
        lines.append(f"  ended: {meta.end_reason}")
    lines += [f"  note: {note}" for note in meta.notes]
    return lines


#: Figures read from the metadata, not measured: a section is "not recorded" without them.
METADATA_FIGURES = ("declared_overhead", "vm_memory")


def unrecorded_section(figures: dict[str, Finding], labels: dict[str, str]) -> bool:
    """Every measured figure of a section is missing from the file (a memory run's CPU
    section, an old run's per-pod cost)."""
    return all(not figures[k].recorded for k in labels if k not in METADATA_FIGURES)


def unrecorded_why(figures: dict[str, Finding], labels: dict[str, str]) -> str:
    """Why a section is not recorded, from its first figure's closing note."""
    key = next(k for k in labels if k not in METADATA_FIGURES)
    method = figures[key].method
    note = method[len(generic(method)):].strip().removeprefix("(").removesuffix(")")
    if not note or note.startswith("not recorded"):
        return "not recorded in this file"
    return f"not recorded ({note})"


def _known_metadata(figures: dict[str, Finding], labels: dict[str, str]) -> str:
    known = [f"{labels[k]}: {format_value(figures[k], compact=True)}" for k in labels
             if k in METADATA_FIGURES and figures[k].value is not None]  # fmt: skip
    return f" ({'; '.join(known)})" if known else ""


def wrapped(prefix: str, text: str, width: int = 100) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=prefix, subsequent_indent=" " * len(prefix))


def format_text(report: Report) -> str:
    run = report.run
    lines = header_lines(run.meta, str(run.path), run.steps.height, run.used_method)
    width = max(len(v) for sec in SECTIONS.values() for v in sec.values())
    for section, labels in SECTIONS.items():
        if unrecorded_section(report.figures, labels):
            lines.append(f"  -- {section}: {unrecorded_why(report.figures, labels)}"
                         + _known_metadata(report.figures, labels))  # fmt: skip
            continue
        lines.append(f"  -- {section}")
        for key, label in labels.items():
            f = report.figures[key]
            lines.append(f"  {label:<{width}}  {format_value(f)}")
            if f.recorded:
                lines.append(f"  {'':<{width}}    ({f.method})")
        if section == "per-pod cost" and report.verdict:
            lines += wrapped("  verdict: ", report.verdict)
    return "\n".join(lines)


def _bare(value: float, unit: str, extra: int = 0) -> str:
    """A number without its unit, as precise as the figure deserves (``extra`` decimals more
    for a mean's interval of whole counts)."""
    if unit in ("step", "pods"):
        return f"{value:,.{extra}f}"
    if unit == "pages/s":
        return si(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def format_spread(s: Spread, f: Finding, compact: bool = False) -> str:
    """'median [min–max]', and the 95% CI of the mean when there are enough runs; a figure of
    one run is written as for a single run."""
    if s.n == 1:
        return format_value(f, compact)
    if s.median is None:
        return "not recorded" if not f.recorded else f"— (in none of {s.n} runs)"
    assert s.low is not None and s.high is not None
    if f.unit == "step":
        text = f"step {_bare(s.median, f.unit)}"
    else:
        text = f"{_bare(s.median, f.unit)} {f.unit}" if f.unit != "pods" else _bare(s.median, f.unit)
    if s.low == s.high:
        text += f" in all {s.reached}"
    else:
        text += f" [{_bare(s.low, f.unit)}–{_bare(s.high, f.unit)}]"
    if s.reached < s.n:
        text += f", reached in {s.reached} of {s.n}"
    if s.ci95 and s.low != s.high:
        text += f"; 95% CI {_bare(s.ci95[0], f.unit, 1)}–{_bare(s.ci95[1], f.unit, 1)}"
    return text


def spread_legend(n: int) -> str:
    if n == 1:
        return ""
    text = f"median [min–max] over {n} runs"
    if n >= CI_MIN_RUNS:
        text += f"; {CI_METHOD}"
    return text


def format_group_text(group: Group) -> str:
    if group.n == 1:
        return format_text(group.first)
    run = group.first.run
    names = ", ".join(r.run.path.name for r in group.reports)
    lines = header_lines(run.meta, f"{group.name} ({group.n} runs)", run.steps.height,
                         run.used_method)  # fmt: skip
    lines[1] = lines[1].split("; ")[0] + f"; used memory = {run.used_method}"
    lines.insert(1, f"  runs: {names}")
    lines += [f"  DID NOT FINISH: {u}" for u in group.unfinished]
    lines.append(f"  values: {spread_legend(group.n)}")
    width = max(len(v) for sec in SECTIONS.values() for v in sec.values())
    for section, labels in SECTIONS.items():
        if all(unrecorded_section(r.figures, labels) for r in group.reports):
            lines.append(f"  -- {section}: not recorded in these files"
                         + _known_metadata(group.first.figures, labels))  # fmt: skip
            continue
        lines.append(f"  -- {section}")
        for key, label in labels.items():
            f = group.first.figures[key]
            lines.append(f"  {label:<{width}}  {format_spread(group.figures[key], f)}")
            if f.recorded:
                lines.append(f"  {'':<{width}}    ({generic(f.method)})")
        verdict = pooled_verdict(group.reports) if section == "per-pod cost" else None
        if verdict:
            lines += wrapped("  verdict (every pod of the runs): ", verdict)
    return "\n".join(lines)
