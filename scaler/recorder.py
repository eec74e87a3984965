"""Writes a run to disk as it happens: run.csv, run.nodes.csv, run.pods.csv and run.meta.json
(design.md §4).

Every row is flushed as soon as it is written, so a crash, Ctrl-C or SIGTERM leaves files whose
every line parses. The metadata is written at the start (end reason ``running``) and replaced
atomically at the end, so there is always a valid sidecar beside the CSV.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

from collectors.sample import NodeSample
from scaler.cells import cell as _cell
from scaler.cells import iso_utc
from scaler.pod_rows import POD_COLUMNS, PodCells, PodRow


@dataclass(frozen=True)
class StepRow:
    """One line of run.csv. Memory sums are None when no node had a fresh sample."""

    time: float
    elapsed_s: float
    step: int
    runtime: str
    scenario: str
    mode: str
    requested: int
    running: int
    pending: int
    creating: int
    terminating: int
    evicted: int
    oom_killed: int
    failed: int
    restarts: int
    scale_s: float
    observe_s: float
    step_s: float
    mem_total_mib: float | None
    mem_free_mib: float | None
    mem_available_mib: float | None
    mem_active_mib: float | None
    nodes_sampled: int
    startup_p50_s: float | None
    startup_p99_s: float | None
    # Added after the original contract (extra columns are allowed, never renamed):
    api_errors: int = 0
    # Failure modes (scaler.cluster.PodCounts, same names and meaning):
    evicted_listed: int = 0
    sandbox_deaths: int = 0
    failed_create: int = 0
    failed_scheduling: int = 0
    sandbox_failures: int = 0
    # Work and CPU over the freshly sampled nodes (team contract 11; scaler.node_sums):
    work_rate: float | None = None  # pages/s summed over fresh workload reports, all nodes
    work_pods: int | None = None  # pods with a fresh report
    cpu_busy_pct: float | None = None  # mean over nodes of NodeSample.cpu_busy_pct
    cpu_busy_cores: float | None = None  # sum over nodes of busy% x cpus / 100
    cpu_user_pct: float | None = None  # means, as cpu_busy_pct
    cpu_system_pct: float | None = None
    cpu_iowait_pct: float | None = None
    cpu_steal_pct: float | None = None


# Columns are the records' fields: add a field, get a column (design.md section 4).
RUN_COLUMNS = tuple(f.name for f in fields(StepRow))
# run.nodes.csv: when and where (``elapsed_s`` is the sample's time since the run began), then
# the ``NodeSample`` fields in their order, except that ``status`` keeps its place at the end of
# the original contract's columns, after ``load1``; fields added later follow it.
_NODE_LEAD = ("time", "elapsed_s", "node")
_NODE_MEASURED = [f.name for f in fields(NodeSample) if f.name not in (*_NODE_LEAD, "status")]
_ORIGINAL_END = _NODE_MEASURED.index("load1") + 1
NODE_COLUMNS = (*_NODE_LEAD, *_NODE_MEASURED[:_ORIGINAL_END], "status",
                *_NODE_MEASURED[_ORIGINAL_END:])
# ... and which source took the sample (``ssh``, ``kubelet``, ``sim``): with --node-source both
# every node is sampled twice.
NODE_COLUMNS = (*NODE_COLUMNS, "source")
# run.pods.csv: scaler.pod_rows.POD_COLUMNS.
__all__ = ["NODE_COLUMNS", "POD_COLUMNS", "RUN_COLUMNS", "PodRow", "Recorder", "StepRow",
           "iso_utc", "sidecar_paths"]


def sidecar_paths(csv_path: Path) -> tuple[Path, Path, Path]:
    """runs/kata.csv -> (runs/kata.nodes.csv, runs/kata.meta.json, runs/kata.pods.csv)."""
    stem = csv_path.name[:-4] if csv_path.name.endswith(".csv") else csv_path.name
    return (csv_path.with_name(stem + ".nodes.csv"), csv_path.with_name(stem + ".meta.json"),
            csv_path.with_name(stem + ".pods.csv"))


class Recorder:
    """The four files of one run. It remembers what it created (directories included), so a
    discarded run removes exactly that and never a file it did not write."""

    def __init__(self, csv_path: Path | str):
        self.csv_path = Path(csv_path)
        self.nodes_path, self.meta_path, self.pods_path = sidecar_paths(self.csv_path)
        self._created: list[Path] = []
        missing = [d for d in (self.csv_path.parent, *self.csv_path.parent.parents)
                   if not d.exists()]
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._created += reversed(missing)
        # newline="" so the csv module controls line ends; line buffering is not enough for
        # csv.writer, so every write is followed by an explicit flush.
        self._run = self._open(self.csv_path)
        self._nodes = self._open(self.nodes_path)
        self._pods = self._open(self.pods_path)
        self._run_w = csv.writer(self._run)
        self._nodes_w = csv.writer(self._nodes)
        self._pods_w = csv.writer(self._pods)
        for f, w, columns in ((self._run, self._run_w, RUN_COLUMNS),
                              (self._nodes, self._nodes_w, NODE_COLUMNS),
                              (self._pods, self._pods_w, POD_COLUMNS)):
            w.writerow(columns)
            f.flush()
        self.t0: float | None = None
        self.rows = 0
        self.node_rows = 0
        self.pod_rows = 0
        self._pod_cells = PodCells()

    def _open(self, path: Path) -> TextIO:
        f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._created.append(path)
        return f

    def write_step(self, row: StepRow) -> None:
        self._run_w.writerow([_cell(n, getattr(row, n)) for n in RUN_COLUMNS])
        self._run.flush()
        self.rows += 1

    def write_nodes(self, samples: list[NodeSample], source: str = "") -> None:
        if not samples:
            return
        t0 = self.t0 if self.t0 is not None else samples[0].time
        for s in samples:
            self._nodes_w.writerow([
                *(_cell(n, s.time - t0 if n == "elapsed_s" else getattr(s, n))
                  for n in NODE_COLUMNS[:-1]), source])
            self.node_rows += 1  # row by row: a stop may cut a batch short, the count stays true
        self._nodes.flush()

    def write_pods(self, rows: list[PodRow]) -> None:
        if not rows:
            return
        for row in rows:
            self._pods_w.writerow(self._pod_cells(row))
            self.pod_rows += 1
        self._pods.flush()

    def write_meta(self, meta: dict[str, Any]) -> None:
        tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.meta_path)
        if self.meta_path not in self._created:
            self._created.append(self.meta_path)

    def close(self) -> None:
        for f in (self._run, self._nodes, self._pods):
            if not f.closed:
                f.flush()
                f.close()

    def discard(self) -> None:
        """Close and remove what this recorder created: for a run refused before it measured
        anything (the cluster refused the set-up), where empty files would only mislead."""
        self.close()
        for p in reversed(self._created):
            try:
                p.rmdir() if p.is_dir() else p.unlink(missing_ok=True)
            except OSError:  # a directory someone else has put files in meanwhile stays
                pass
        self._created = []
