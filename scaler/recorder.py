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

from collectors.sample import NodeSample

NODE_EXTRA_COLUMNS = (
    "mem_inactive_mib", "mem_shmem_mib", "mem_cached_mib", "cpus", "cpu_busy_pct",
    "cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "cpu_steal_pct",
)
RUN_COLUMNS = (
    "time", "elapsed_s", "step", "runtime", "scenario", "mode", "requested", "running",
    "pending", "creating", "terminating", "evicted", "oom_killed", "failed", "restarts",
    "scale_s", "observe_s", "step_s", "mem_total_mib", "mem_free_mib", "mem_available_mib",
    "mem_active_mib", "nodes_sampled", "startup_p50_s", "startup_p99_s",
    # Added after the original contract (extra columns are allowed, never renamed):
    "api_errors",
)
NODE_COLUMNS = (
    "time", "elapsed_s", "node", "mem_total_mib", "mem_free_mib", "mem_available_mib",
    "mem_active_mib", "load1", "status",
    # Added after the original contract: the later NodeSample fields, in their order.
    *NODE_EXTRA_COLUMNS,
)


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
    api_errors: int = 0


assert tuple(f.name for f in fields(StepRow)) == RUN_COLUMNS


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(name: str, value) -> str:
    if value is None:
        return ""
    if name == "time":
        return iso_utc(value)
    if isinstance(value, float):
        if name.endswith("_mib"):
            return f"{value:.1f}"
        return f"{value:.4f}" if value < 10 else f"{value:.3f}"
    return str(value)


def _node_cell(name: str, value: object) -> str:
    if isinstance(value, float) and name.endswith("_pct"):
        return f"{value:.2f}"
    return _cell(name, value)


def sidecar_paths(csv_path: Path) -> tuple[Path, Path]:
    """runs/kata.csv -> (runs/kata.nodes.csv, runs/kata.meta.json)."""
    stem = csv_path.name[:-4] if csv_path.name.endswith(".csv") else csv_path.name
    return csv_path.with_name(stem + ".nodes.csv"), csv_path.with_name(stem + ".meta.json")


class Recorder:
    def __init__(self, csv_path: Path | str):
        self.csv_path = Path(csv_path)
        self.nodes_path, self.meta_path = sidecar_paths(self.csv_path)
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        # newline="" so the csv module controls line ends; line buffering is not enough for
        # csv.writer, so every write is followed by an explicit flush.
        self._run = open(self.csv_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._nodes = open(self.nodes_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._run_w = csv.writer(self._run)
        self._nodes_w = csv.writer(self._nodes)
        self._run_w.writerow(RUN_COLUMNS)
        self._nodes_w.writerow(NODE_COLUMNS)
        self._run.flush()
        self._nodes.flush()
        self.t0: float | None = None
        self.rows = 0
        self.node_rows = 0

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
                iso_utc(s.time), _cell("elapsed_s", s.time - t0), s.node,
                _cell("mem_total_mib", s.mem_total_mib), _cell("mem_free_mib", s.mem_free_mib),
                _cell("mem_available_mib", s.mem_available_mib),
                _cell("mem_active_mib", s.mem_active_mib),
                "" if s.load1 is None else f"{s.load1:.2f}", s.status,
                *(_node_cell(n, getattr(s, n)) for n in NODE_EXTRA_COLUMNS),
            ])
        self._nodes.flush()
        self.node_rows += len(samples)

    def write_meta(self, meta: dict) -> None:
        tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.meta_path)

    def close(self) -> None:
        for f in (self._run, self._nodes):
            if not f.closed:
                f.flush()
                f.close()

    def discard(self) -> None:
        """Close and remove the files: for a run refused before it measured anything (a bad
        profile, an unreachable cluster), where empty files would only mislead."""
        self.close()
        for p in (self.csv_path, self.nodes_path, self.meta_path):
            p.unlink(missing_ok=True)
