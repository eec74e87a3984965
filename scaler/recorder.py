"""Writes a run to disk as it happens: run.csv, run.nodes.csv and run.meta.json (design.md §4).

Every row is flushed as soon as it is written, so a crash, Ctrl-C or SIGTERM leaves files whose
every line parses. The metadata is written at the start (end reason ``running``) and replaced
atomically at the end, so there is always a valid sidecar beside the CSV.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from collectors.sample import NodeSample


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


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(name: str, value: object) -> str:
    """One value as written: one rule per kind of column, by name."""
    if value is None:
        return ""
    if name == "time":
        assert isinstance(value, float | int)
        return iso_utc(value)
    if isinstance(value, float):
        if name.endswith("_mib"):
            return f"{value:.1f}"
        if name.endswith("_pct") or name.startswith("load"):
            return f"{value:.2f}"
        return f"{value:.4f}" if value < 10 else f"{value:.3f}"
    return str(value)


def sidecar_paths(csv_path: Path) -> tuple[Path, Path]:
    """runs/kata.csv -> (runs/kata.nodes.csv, runs/kata.meta.json)."""
    stem = csv_path.name[:-4] if csv_path.name.endswith(".csv") else csv_path.name
    return csv_path.with_name(stem + ".nodes.csv"), csv_path.with_name(stem + ".meta.json")


class Recorder:
    """The three files of one run. It remembers what it created (directories included), so a
    discarded run removes exactly that and never a file it did not write."""

    def __init__(self, csv_path: Path | str):
        self.csv_path = Path(csv_path)
        self.nodes_path, self.meta_path = sidecar_paths(self.csv_path)
        self._created: list[Path] = []
        missing = [d for d in (self.csv_path.parent, *self.csv_path.parent.parents)
                   if not d.exists()]
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._created += reversed(missing)
        # newline="" so the csv module controls line ends; line buffering is not enough for
        # csv.writer, so every write is followed by an explicit flush.
        self._run = self._open(self.csv_path)
        self._nodes = self._open(self.nodes_path)
        self._run_w = csv.writer(self._run)
        self._nodes_w = csv.writer(self._nodes)
        self._run_w.writerow(RUN_COLUMNS)
        self._nodes_w.writerow(NODE_COLUMNS)
        self._run.flush()
        self._nodes.flush()
        self.t0: float | None = None
        self.rows = 0
        self.node_rows = 0

    def _open(self, path: Path) -> TextIO:
        f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._created.append(path)
        return f

    def write_step(self, row: StepRow) -> None:
        self._run_w.writerow([_cell(n, getattr(row, n)) for n in RUN_COLUMNS])
        self._run.flush()
        self.rows += 1

    def write_nodes(self, samples: list[NodeSample]) -> None:
        if not samples:
            return
        t0 = self.t0 if self.t0 is not None else samples[0].time
        for s in samples:
            self._nodes_w.writerow([
                _cell(n, s.time - t0 if n == "elapsed_s" else getattr(s, n)) for n in NODE_COLUMNS
            ])
            self.node_rows += 1  # row by row: a stop may cut a batch short, the count stays true
        self._nodes.flush()

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
        for f in (self._run, self._nodes):
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
