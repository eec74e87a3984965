"""Repeats of one configuration gathered into a group, with every figure as a distribution.

`scaler run --repeat N` writes ``<dir>/<group>-r<k>.csv`` with ``"group"`` and
``"repeat": {"index": k, "count": N, "seed": s}`` in the metadata (contract 7 of the project's
notes). A run without repeats is a group of one. Runs are grouped by directory and group name,
and only when they ran the same thing (runtime, workload, cluster kind), so two unrelated
``kata.csv`` in different folders are never averaged together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viz.errors import VizInputError
from viz.report import FIGURE_LABELS, Report, generic
from viz.run import RunMeta
from viz.stats import Spread, spread


@dataclass(frozen=True)
class Group:
    name: str
    reports: tuple[Report, ...]  # ordered by repeat index, then file name
    figures: dict[str, Spread]

    @property
    def meta(self) -> RunMeta:
        return self.reports[0].run.meta

    @property
    def n(self) -> int:
        return len(self.reports)

    @property
    def first(self) -> Report:
        return self.reports[0]

    @property
    def unfinished(self) -> list[str]:
        """One phrase per run that did not end as planned (interrupted, failed, incomplete)."""
        return [
            f"{r.run.name}: {r.run.meta.abnormal}" for r in self.reports if r.run.meta.abnormal
        ]

    def to_dict(self) -> dict[str, Any]:
        first = self.first.to_dict()["run"]
        return {
            "group": self.name,
            "n": self.n,
            "runs": [str(r.run.path) for r in self.reports],
            "run": {k: v for k, v in first.items() if k not in ("path", "repeat", "steps")},
            "unfinished": self.unfinished,
            "figures": {
                key: {
                    **self.figures[key].to_dict(),
                    "unit": self.first.figures[key].unit,
                    "method": generic(self.first.figures[key].method),
                }
                for key in FIGURE_LABELS
            },
        }


def _key(report: Report) -> tuple[object, ...]:
    m = report.run.meta
    parent = report.run.path.parent.resolve()
    return (parent, m.group or report.run.name, m.runtime_key, m.workload_key, m.simulated, m.mode)


def make_group(reports: Iterable[Report]) -> Group:
    ordered = sorted(reports, key=lambda r: (r.run.meta.repeat_index or 0,
                                                 natural_key(r.run.name)))
    if not ordered:
        raise VizInputError("a group needs at least one run")
    figures = {key: spread([r.figures[key].value for r in ordered]) for key in FIGURE_LABELS}
    name = ordered[0].run.meta.group or ordered[0].run.name
    return Group(name, tuple(ordered), figures)


def group_reports(reports: list[Report]) -> list[Group]:
    """Groups in the order their first run was given."""
    buckets: dict[tuple[object, ...], list[Report]] = {}
    for r in reports:
        buckets.setdefault(_key(r), []).append(r)
    return [make_group(b) for b in buckets.values()]


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Names in the order a reader expects: numbers by value ("cpu10" < "cpu50" < "cpu100")."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.split(r"(\d+)", name) if part)


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Run CSVs named directly, or every run CSV in a named directory (a matrix or a
    --repeat run's output), a directory's in natural order of their names."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted((f for f in p.glob("*.csv")
                            if not f.name.endswith((".nodes.csv", ".pods.csv"))),  # a run's sidecars
                           key=lambda f: natural_key(f.name))
            if not found:
                raise VizInputError(f"{p}: directory holds no run CSV")
            out += found
        else:
            out.append(p)
    return out
