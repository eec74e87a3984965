"""`viz report`: the figures of one run, or of every group of repeats among the runs given.

One run file gives that run's report (JSON: ``{"run": ..., "figures": ...}``). A directory or
several files give one report per group of repeats (JSON: ``{"groups": [...]}``), each figure as
median, min-max and, from 5 runs, a 95% confidence interval of the mean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from viz.errors import VizInputError
from viz.groups import Group, expand_paths, group_reports
from viz.read import load_run
from viz.report import analyse_run
from viz.text import format_group_text, format_text

if TYPE_CHECKING:
    from viz.compare import Ratio


def ratio_text(r: Ratio) -> str:
    from viz.compare_text import ratio_value

    return ratio_value(r)


def report_runs(paths: list[Path], free_threshold_mib: float, as_json: bool) -> str:
    files = expand_paths(paths)
    if not files:
        raise VizInputError("report needs at least one run CSV")
    reports = [analyse_run(load_run(p), free_threshold_mib) for p in files]
    if len(paths) == 1 and len(files) == 1 and not Path(paths[0]).is_dir():
        report = reports[0]
        return json.dumps(report.to_dict(), indent=2) if as_json else format_text(report)
    groups = group_reports(reports)
    ratios = runtime_ratios(groups)
    if as_json:
        return json.dumps({"groups": [g.to_dict() for g in groups],
                           "ratios": [r.to_dict() for r in ratios]}, indent=2)  # fmt: skip
    text = "\n\n".join(format_group_text(g) for g in groups)
    if ratios:
        text += "\n\nratios: runtime vs the baseline runtime (same workload; `viz compare` for all)\n"
        width = max(len(r.label) for r in ratios)
        text += "\n".join(f"  {r.label:<{width}}  {ratio_text(r)}" for r in ratios)
    return text


def runtime_ratios(groups: list[Group]) -> list[Ratio]:
    """The runtime-vs-baseline ratios among the groups (MiB per pod, max running, the CPU
    overhead at equal density): what a report of a kata and a runc run is read for."""
    if len(groups) < 2:
        return []
    from viz.compare import Comparison

    return [r for r in Comparison.from_groups(groups).ratios if r.kind == "runtime"]
