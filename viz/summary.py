"""`viz report`: the figures of one run, or of every group of repeats among the runs given.

One run file gives that run's report (JSON: ``{"run": ..., "figures": ...}``). A directory or
several files give one report per group of repeats (JSON: ``{"groups": [...]}``), each figure as
median, min-max and, from 5 runs, a 95% confidence interval of the mean.
"""

from __future__ import annotations

import json
from pathlib import Path

from viz.errors import VizInputError
from viz.groups import expand_paths, group_reports
from viz.read import load_run
from viz.report import analyse_run
from viz.text import format_group_text, format_text


def report_runs(paths: list[Path], free_threshold_mib: float, as_json: bool) -> str:
    files = expand_paths(paths)
    if not files:
        raise VizInputError("report needs at least one run CSV")
    reports = [analyse_run(load_run(p), free_threshold_mib) for p in files]
    if len(paths) == 1 and len(files) == 1 and not Path(paths[0]).is_dir():
        report = reports[0]
        return json.dumps(report.to_dict(), indent=2) if as_json else format_text(report)
    groups = group_reports(reports)
    if as_json:
        return json.dumps({"groups": [g.to_dict() for g in groups]}, indent=2)
    return "\n\n".join(format_group_text(g) for g in groups)
