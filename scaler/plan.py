"""From a request to the list of runs: the runtime x scenario matrix, each run's configuration
and the files it will write. Pure apart from reading the clock and the file system; it creates
nothing, so every run is checked before the first file is touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from scaler.config import RunConfig
from scaler.errors import UserError
from scaler.request import RunRequest
from scaler.workload_spec import scenario


@dataclass(frozen=True)
class PlannedRun:
    """One run to make: its configuration and its run.csv path."""

    config: RunConfig
    path: Path


def configs(request: RunRequest) -> list[RunConfig]:
    """One configuration per (scenario, runtime), scenarios outermost, each checked."""
    out = []
    for sc in request.scenarios:
        for rt in request.runtimes:
            try:
                out.append(replace(request.config, scenario=sc,
                                   workload=request.workload.apply(scenario(sc), rt)))
            except ValueError as e:
                raise UserError(str(e)) from None
    return out


def output_paths(output: str | None, labels: list[str], mode: str,
                 stamp: str | None = None) -> list[Path]:
    """Where each run writes its run.csv. One run: ``-o`` itself (a directory gets
    ``<label>.csv`` inside), else ``runs/<label>-<mode>-<time>.csv``. Several: ``<label>.csv``
    in ``-o`` (a directory), else in ``runs/matrix-<time>/``."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if len(labels) == 1:
        if output:
            p = Path(output)
            return [p / f"{labels[0]}.csv" if p.is_dir() else p]
        return [Path("runs") / f"{labels[0]}-{mode}-{stamp}.csv"]
    base = Path(output) if output else Path("runs") / f"matrix-{stamp}"
    if base.suffix == ".csv":
        raise UserError(f"--output {output!r} names a file, but several runs need a directory")
    return [base / f"{label}.csv" for label in labels]


def plan(request: RunRequest) -> list[PlannedRun]:
    cfgs = configs(request)
    labels = [c.label for c in cfgs]
    paths = output_paths(request.output, labels, request.config.mode)
    return [PlannedRun(c, p) for c, p in zip(cfgs, paths, strict=True)]
