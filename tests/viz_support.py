"""Synthetic runs in the exact data contract, with answers known by construction (viz tests)."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from viz.reference import dataset_dir

REFERENCE = dataset_dir("c3d-2021")  # the published runs, shipped with viz
RUN_COLUMNS = [
    "time", "elapsed_s", "step", "runtime", "scenario", "mode", "requested", "running",
    "pending", "creating", "terminating", "evicted", "oom_killed", "failed", "restarts",
    "api_errors", "scale_s", "observe_s", "step_s", "mem_total_mib", "mem_free_mib",
    "mem_available_mib", "mem_active_mib", "nodes_sampled", "startup_p50_s", "startup_p99_s",
]  # fmt: skip
NODE_COLUMNS = [
    "time", "elapsed_s", "node", "mem_total_mib", "mem_free_mib", "mem_available_mib",
    "mem_active_mib", "load1", "status",
]  # fmt: skip
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Synthetic:
    """Parameters of a synthetic capacity run; every figure viz reports follows from them."""

    steps: int = 200
    capacity: int = 120  # running = min(requested, capacity)
    mib_per_pod: float = 480.0
    base_used_mib: float = 4000.0  # used memory with no pod
    nodes: int = 5
    node_mib: float = 16384.0
    evict_from: int | None = 150  # evicted grows by 1 per step from here
    knee: int = 100  # step duration slope changes here
    runtime: str = "runc"
    scenario: str = "capacity"
    mode: str = "no-wait"
    kind: str = "simulated"
    handler: str | None = None  # metadata runtime_handler (contract 2)
    simulated: bool | None = None  # metadata cluster.simulated (contract 5)
    workload_label: str | None = None  # metadata workload_label (contract 5)
    end_reason: str = "max-replicas"
    failures: bool = False  # write the per-step failure columns of contract 3
    restarts_from: int | None = None  # restarts grow by 2 per step from here

    @property
    def total_mib(self) -> float:
        return self.nodes * self.node_mib

    def running(self) -> np.ndarray:
        return np.minimum(np.arange(1, self.steps + 1), self.capacity).astype(float)

    def used(self) -> np.ndarray:
        return self.base_used_mib + self.mib_per_pod * self.running()

    def step_s(self) -> np.ndarray:
        s = np.arange(1, self.steps + 1, dtype=float)
        return 1.0 + 0.001 * s + np.where(s >= self.knee, 0.05 * (s - self.knee), 0.0)

    def first_free_below(self, threshold: float = 1024.0) -> int | None:
        free = self.total_mib - self.used()
        hit = np.flatnonzero(free < threshold)
        return int(hit[0]) + 1 if hit.size else None


def write_run(
    directory: Path,
    syn: Synthetic,
    name: str | None = None,
    meta: bool = True,
    extra_meta: dict | None = None,
) -> Path:
    """Write <name>.csv, <name>.nodes.csv (one sample per node per step), <name>.meta.json."""
    directory.mkdir(parents=True, exist_ok=True)
    name = name or syn.runtime
    n = syn.steps
    step = np.arange(1, n + 1)
    running = syn.running()
    used = syn.used()
    step_s = syn.step_s()
    elapsed = np.cumsum(step_s)
    evicted = np.zeros(n) if syn.evict_from is None else np.maximum(0, step - syn.evict_from + 1)
    times = [f"2026-11-23T10:{int(e) // 60 % 60:02d}:{int(e) % 60:02d}Z" for e in elapsed]
    total = np.full(n, syn.total_mib)
    free = total - used
    run = pl.DataFrame(
        {
            "time": times,
            "elapsed_s": elapsed,
            "step": step,
            "runtime": syn.runtime,
            "scenario": syn.scenario,
            "mode": syn.mode,
            "requested": step,
            "running": running.astype(int),
            "pending": (step - running).astype(int),
            "creating": np.zeros(n, dtype=int),
            "terminating": np.zeros(n, dtype=int),
            "evicted": evicted.astype(int),
            "oom_killed": np.zeros(n, dtype=int),
            "failed": np.zeros(n, dtype=int),
            "restarts": np.zeros(n, dtype=int),
            "api_errors": np.zeros(n, dtype=int),
            "scale_s": step_s * 0.3,
            "observe_s": step_s * 0.6,
            "step_s": step_s,
            "mem_total_mib": total,
            "mem_free_mib": free,
            "mem_available_mib": free + 100.0,
            "mem_active_mib": used * 0.9,
            "nodes_sampled": np.full(n, syn.nodes),
            "startup_p50_s": np.full(n, 1.5),
            "startup_p99_s": np.full(n, 3.0),
        }
    )
    if syn.restarts_from is not None:
        restarts = np.maximum(0, 2 * (step - syn.restarts_from + 1))
        run = run.with_columns(pl.Series("restarts", restarts.astype(int)))
    if syn.failures:
        # contract 3: listed Evicted pods (garbage-collected every 20 steps) and cumulative counts
        run = run.with_columns(
            pl.Series("evicted_listed", (evicted % 20).astype(int)),
            pl.Series("sandbox_deaths", np.maximum(0, step - 170).astype(int)),
            pl.Series("failed_create", np.zeros(n, dtype=int)),
            pl.Series("failed_scheduling", np.maximum(0, step - syn.capacity).astype(int)),
            pl.Series("sandbox_failures", (np.maximum(0, step - 180) // 2).astype(int)),
        )
    path = directory / f"{name}.csv"
    run.write_csv(path)
    rows = []
    for i in range(syn.nodes):
        rows.append(
            pl.DataFrame(
                {
                    "time": times,
                    "elapsed_s": elapsed + 0.1 * i,
                    "node": f"worker-{i}",
                    "mem_total_mib": np.full(n, syn.node_mib),
                    "mem_free_mib": free / syn.nodes,
                    "mem_available_mib": free / syn.nodes + 20.0,
                    "mem_active_mib": used * 0.9 / syn.nodes,
                    "load1": np.full(n, 1.0),
                    "status": "ok",
                }
            )
        )
    pl.concat(rows).write_csv(directory / f"{name}.nodes.csv")
    if meta:
        data = {
            "tool": "scaler",
            "version": "0.0-test",
            "runtime": syn.runtime,
            "scenario": syn.scenario,
            "mode": syn.mode,
            "cluster": {"kind": syn.kind, "version": "test", "nodes": []},
            "started": "2026-11-23T10:00:00Z",
            "ended": "2026-11-23T11:00:00Z",
            "end_reason": syn.end_reason,
            "steps": n,
            "workload": {"cpu_percent": 5, "memory_mib": 500, "increment_mib": 256},
        }
        if syn.handler is not None:
            data["runtime_handler"] = syn.handler
        if syn.simulated is not None:
            data["cluster"]["simulated"] = syn.simulated
        if syn.workload_label is not None:
            data["workload_label"] = syn.workload_label
        data.update(extra_meta or {})
        (directory / f"{name}.meta.json").write_text(json.dumps(data))
    return path


def write_repeats(directory: Path, runs: list[Synthetic], group: str) -> list[Path]:
    """A `scaler run --repeat N` directory (contract 7): <group>-r<k>.csv with group/repeat meta."""
    width = len(str(len(runs)))
    return [
        write_run(
            directory, syn, name=f"{group}-r{k:0{width}d}",
            extra_meta={"group": group, "repeat": {"index": k, "count": len(runs), "seed": k - 1}},
        )  # fmt: skip
        for k, syn in enumerate(runs, start=1)
    ]


def write_big_nodes(path: Path, rows: int, nodes: int = 5) -> None:
    """A node-sample file of ``rows`` rows (several seconds of 1-s samples per node, with gaps)."""
    per = rows // nodes
    rng = np.random.default_rng(1)
    t = np.arange(per, dtype=float) * 0.5
    frames = []
    for i in range(nodes):
        free = 12000.0 - t * 0.02 + rng.normal(0, 30, per)
        status = np.where(np.arange(per) % 1000 == 999, "reconnecting", "ok")
        gap = status == "reconnecting"
        frames.append(
            pl.DataFrame(
                {
                    "time": "2026-11-23T10:00:00Z",
                    "elapsed_s": t,
                    "node": f"worker-{i}",
                    "mem_total_mib": np.where(gap, np.nan, 16384.0),
                    "mem_free_mib": np.where(gap, np.nan, free),
                    "mem_available_mib": np.where(gap, np.nan, free + 50),
                    "mem_active_mib": np.where(gap, np.nan, 16384.0 - free - 2000),
                    "load1": 1.0,
                    "status": status,
                }
            ).with_columns(pl.col(pl.Float64).fill_nan(None).round(1))
        )
    pl.concat(frames).write_csv(path)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; asserts the file really is a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_self_contained_html(path: Path) -> str:
    """The page must open offline: no external script or stylesheet, no CDN, bundle inline."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text), "external script"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", text), "external stylesheet"
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs"):
        assert cdn not in text, f"{path} loads from {cdn}"
    assert "window.vegaEmbed=" in text  # the embedded Vega/Vega-Lite/vega-embed bundle
    assert text.count('vegaEmbed("#chart') >= 1
    return text


_LABEL = re.compile(
    r'<text[^>]*?text-anchor="(\w+)"[^>]*?transform="translate\(([-\d.]+),([-\d.]+)\)"'
    r'[^>]*?font-size="([\d.]+)px"[^>]*?opacity="([\d.]+)"[^>]*>([^<]*)</text>'
)


def overlapping_axis_labels(svg: str) -> list[tuple[str, str]]:
    """Pairs of visible axis labels (horizontal axes) whose text boxes overlap in a rendered
    SVG: the width of a digit of a 10 px sans-serif font is about 0.56 em."""
    clashes = []
    for group in re.findall(r'role-axis-label"[^>]*>(.*?)</g>', svg, re.S):
        labels = [m for m in _LABEL.findall(group) if float(m[4]) > 0]
        if len({m[2] for m in labels}) != 1:
            continue  # a vertical axis: labels stacked, one per line
        boxes = []
        for anchor, x, _y, size, _op, text in labels:
            width = 0.56 * float(size) * len(text)
            left = float(x) - {"start": 0.0, "middle": width / 2, "end": width}[anchor]
            boxes.append((left, left + width, text))
        boxes.sort()
        clashes += [(a[2], b[2]) for a, b in zip(boxes, boxes[1:], strict=False) if b[0] < a[1]]
    return clashes
