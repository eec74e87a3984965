"""From a request to the list of runs: the runtime x scenario matrix, each configuration repeated
(``--repeat``), each run's configuration and the files it will write.

Nothing here creates or removes a file: every run is checked (its configuration, and that its
files can be written without destroying an earlier run) before the first file is touched.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scaler.config import RunConfig, limit_problem
from scaler.errors import UserError
from scaler.recorder import sidecar_paths
from scaler.request import RunRequest
from scaler.workload_spec import scenario


@dataclass(frozen=True)
class PlannedRun:
    """One run to make: its configuration, its run.csv path, its group (the configuration's
    label) and, with --repeat, which repeat it is (1-based) of how many."""

    config: RunConfig
    path: Path
    group: str
    repeat: int | None = None
    repeats: int | None = None

    def meta(self) -> dict[str, Any]:
        """What the metadata says of the run's place in the plan (team contract 7)."""
        if self.repeat is None:
            return {}
        return {"group": self.group,
                "repeat": {"index": self.repeat, "count": self.repeats, "seed": self.config.seed}}


def configs(request: RunRequest) -> list[RunConfig]:
    """One configuration per (scenario, CPU percent, runtime), scenarios outermost and runtimes
    innermost (the runs a comparison pairs come one after another), each checked."""
    out = []
    sweep = len(request.cpus) > 1
    for sc in request.scenarios:
        for cpu in request.cpus or (None,):
            for rt in request.runtimes:
                try:
                    spec = request.workload.apply(scenario(sc), rt)
                    if cpu is not None:
                        spec = replace(spec, cpu_percent=cpu)
                    out.append(replace(request.config, scenario=sc, workload=spec,
                                       cpu_sweep=sweep))
                except ValueError as e:
                    raise UserError(str(e)) from None
    return out


def output_paths(output: str | None, names: list[str], groups: set[str], mode: str, *,
                 stamp: str | None = None) -> list[Path]:
    """Where each run writes its run.csv. One run: ``-o`` itself (a directory gets
    ``<name>.csv`` inside), else ``runs/<name>-<mode>-<time>.csv``. Several runs (a matrix, or
    repeats): ``<name>.csv`` in ``-o`` (a directory), else in ``runs/matrix-<time>/`` (or
    ``runs/<name>-<mode>-<time>/`` for the repeats of one configuration)."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if len(names) == 1:
        if output:
            p = Path(output)
            return [p / f"{names[0]}.csv" if p.is_dir() else p]
        return [Path("runs") / f"{names[0]}-{mode}-{stamp}.csv"]
    if output:
        base = Path(output)
        if base.suffix == ".csv":
            raise UserError(f"--output {output!r} names a file, but several runs need a "
                            "directory")
    else:
        base = Path("runs") / (f"{next(iter(groups))}-{mode}-{stamp}" if len(groups) == 1
                               else f"matrix-{stamp}")
    return [base / f"{name}.csv" for name in names]


def plan(request: RunRequest) -> list[PlannedRun]:
    cfgs = configs(request)
    n = request.repeat
    simulated = request.cluster.simulated
    runs: list[tuple[RunConfig, str, int | None]] = []
    for cfg in cfgs:
        if n is None:
            runs.append((cfg, cfg.label, None))
            continue
        for k in range(1, n + 1):
            # Simulated repeats differ by seed (seed, seed+1, ...); a real cluster's by itself.
            seed = cfg.seed + k - 1 if simulated else cfg.seed
            problem = limit_problem("--seed", seed)
            if problem:
                raise UserError(f"{problem}: --seed plus --repeat goes past it")
            runs.append((replace(cfg, seed=seed), cfg.label, k))
    width = len(str(n or 1))
    names = [group if k is None else f"{group}-r{k:0{width}d}" for _, group, k in runs]
    paths = output_paths(request.output, names, {g for _, g, _ in runs}, request.config.mode)
    planned = [PlannedRun(cfg, path, group, k, n)
               for (cfg, group, k), path in zip(runs, paths, strict=True)]
    check_outputs([p.path for p in planned], force=request.force)
    return planned


def check_outputs(paths: list[Path], *, force: bool) -> None:
    """Refuse, before anything is written, outputs that cannot be written or that would replace
    an earlier run (unless ``force``): one line naming the file."""
    existing: list[Path] = []
    for csv_path in paths:
        for p in (csv_path, *sidecar_paths(csv_path)):
            if p.exists() or p.is_symlink():
                if not p.is_file():
                    raise UserError(f"{p} exists and is not a regular file: give --output a "
                                    "file name or a directory")
                existing.append(p)
        _check_writable_parent(csv_path)
    if existing and not force:
        more = f" (and {len(existing) - 1} more file(s) of this run)" if len(existing) > 1 else ""
        raise UserError(f"{existing[0]} already exists{more}: choose another --output, or pass "
                        "--force to overwrite it")


def _check_writable_parent(path: Path) -> None:
    """The nearest existing ancestor of ``path`` must be a directory we may create files in."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link: mkdir would fail on it
            raise UserError(f"cannot write {path}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: {parent} is not writable")
