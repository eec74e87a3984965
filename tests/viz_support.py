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
    # contract 11: work and node CPU. The CPUs do ``cpu_pods`` pods' worth of work; each pod
    # alone does ``work_per_pod`` pages/s; running pods share the CPUs equally past that.
    cpu_pods: int | None = None
    work_per_pod: float = 2.0e6

    def work(self) -> np.ndarray:
        assert self.cpu_pods is not None
        return self.work_per_pod * np.minimum(self.running(), self.cpu_pods)

    def cpu_busy(self) -> np.ndarray:
        assert self.cpu_pods is not None
        return 100.0 * np.minimum(self.running(), self.cpu_pods) / self.cpu_pods

    def cpu_knee(self) -> int:
        """Known answer: work per pod c * cpu_pods / running falls under 95% of c (where the
        walk back from the 90% crossing stops) at the first running count above cpu_pods / 0.95
        (running = step here)."""
        assert self.cpu_pods is not None
        return int(np.floor(self.cpu_pods / 0.95)) + 1

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
    if syn.cpu_pods is not None:
        busy = syn.cpu_busy()
        run = run.with_columns(
            pl.Series("work_rate", syn.work()),
            pl.Series("work_pods", running.astype(int)),
            pl.Series("cpu_busy_pct", busy),
            pl.Series("cpu_busy_cores", busy * syn.nodes * 8 / 100),
            pl.Series("cpu_user_pct", busy * 0.8),
            pl.Series("cpu_system_pct", busy * 0.2),
            pl.Series("cpu_iowait_pct", np.zeros(n)),
            pl.Series("cpu_steal_pct", np.zeros(n)),
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
                    **(
                        {"cpus": np.full(n, 8), "cpu_busy_pct": np.clip(syn.cpu_busy() + 4 * (i - 2), 0, 100)}
                        if syn.cpu_pods is not None
                        else {}
                    ),
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


# run.pods.csv (team contract 10): lifecycle columns, then the measurement's source and the
# PodMemory figures of contract 9 in their order, then work_rate.
POD_COLUMNS = [
    "time", "elapsed_s", "pod", "uid", "node", "runtime", "class", "phase", "restarts",
    "created_s", "scheduled_s", "started_s", "ready_s", "ended_s", "end_reason", "source",
    "cgroup_mib", "working_set_mib", "rss_mib", "anon_mib", "file_mib", "shmem_mib",
    "kernel_mib", "workload_mib", "runtime_mib", "overhead_cgroup_mib", "guest_backing_mib",
    "cpu_cores", "work_rate",
]  # fmt: skip


@dataclass(frozen=True)
class SyntheticPods:
    """Pods whose every cost part is known: pod i (0..pods-1) has host memory workload_mib +
    overhead(i), of which kernel_mib is kernel, cache_mib page cache/shm (file + shmem beyond
    the guest backing) and the rest runtime/VMM. Each pod has ``samples`` running samples
    of which the last holds its values exactly (the earlier ones are off by a few MiB: the
    reader must take the last, as viz.overhead does), one sample while creating (not counted),
    and lifecycle-only rows (no memory)."""

    runtime: str = "kata"
    pods: int = 100
    samples: int = 3
    workload_mib: float = 500.0
    base_overhead_mib: float = 300.0
    step_mib: float = 1.0  # overhead(i) = base + step * i
    kernel_mib: float | None = 20.0
    cache_mib: float | None = 15.0
    guest_backing_mib: float | None = 600.0  # None: not a VM
    source: str = "ssh"

    def overhead(self) -> np.ndarray:
        return self.base_overhead_mib + self.step_mib * np.arange(self.pods)


def pod_rows(syn: SyntheticPods) -> pl.DataFrame:
    """Every row of the file, each pod's in the order taken (pods interleaved as nodes report)."""
    rows: list[dict] = []
    over = syn.overhead()
    vm = syn.guest_backing_mib is not None
    for i in range(syn.pods):
        uid = f"uid-{syn.runtime}-{i:04d}"
        life = {"pod": f"scaler-{i:04d}", "uid": uid, "node": f"worker-{i % 3}", "runtime": syn.runtime,
                "phase": "Running", "restarts": 0, "created_s": 1.0 + i, "scheduled_s": 1.5 + i,
                "started_s": 3.0 + i, "ready_s": 4.0 + i}  # fmt: skip
        rows.append({**life, "class": "pending", "phase": "Pending", "elapsed_s": 1.0 + i})
        rows.append({**life, "class": "creating", "phase": "Pending", "elapsed_s": 2.0 + i,
                     "source": syn.source, "cgroup_mib": 100.0, "workload_mib": 0.0})  # fmt: skip
        rows.append({**life, "class": "running", "elapsed_s": 4.0 + i})
        for k in range(syn.samples):
            # off before the last sample; small enough that host memory stays above the workload
            wiggle = 0.0 if k == syn.samples - 1 else min(10.0, syn.base_overhead_mib / 2) * (k + 1)
            host = syn.workload_mib + over[i] + wiggle
            shmem = None if syn.cache_mib is None else (syn.guest_backing_mib or 0.0) + syn.cache_mib - 5.0
            rows.append({
                **life, "class": "running", "elapsed_s": 5.0 + i + k, "source": syn.source,
                "cgroup_mib": host, "workload_mib": syn.workload_mib, "kernel_mib": syn.kernel_mib,
                "file_mib": None if syn.cache_mib is None else 5.0, "shmem_mib": shmem,
                "guest_backing_mib": syn.guest_backing_mib if vm else None,
                "runtime_mib": over[i] - (syn.kernel_mib or 0) - (syn.cache_mib or 0) + wiggle,
                "work_rate": 1.0e6,
            })  # fmt: skip
    frame = pl.DataFrame(rows, schema={c: (pl.Float64 if c.endswith(("_s", "_mib", "_rate", "_cores"))
                                           else pl.Int64 if c == "restarts" else pl.String)
                                       for c in POD_COLUMNS if c != "time"})  # fmt: skip
    frame = frame.with_columns(pl.lit("2026-11-23T10:00:00.000Z").alias("time")).select(POD_COLUMNS)
    return frame.sort("elapsed_s", maintain_order=True)


def write_pods(run_path: Path, syn: SyntheticPods) -> Path:
    path = run_path.with_name(run_path.stem + ".pods.csv")
    pod_rows(syn).write_csv(path)
    return path


def write_big_pods(path: Path, pods: int = 1000, samples: int = 1000) -> None:
    """A run.pods.csv of pods x samples memory rows (a 1,000-pod, 1,000-step run), fast."""
    n = pods * samples
    i = np.repeat(np.arange(pods), samples)
    k = np.tile(np.arange(samples), pods)
    rng = np.random.default_rng(5)
    workload = 500.0 + rng.normal(0, 2, n)
    over = 300.0 + (i % 97) + rng.normal(0, 5, n)
    pl.DataFrame({
        "time": "2026-11-23T10:00:00.000Z", "elapsed_s": (k * 5.0).round(1),
        "pod": pl.Series(i).cast(pl.String),
        "uid": pl.Series(i).cast(pl.String), "node": pl.Series(i % 8).cast(pl.String),
        "runtime": "kata", "class": np.where(k == 0, "creating", "running"), "phase": "Running",
        "restarts": 0, "created_s": 1.0, "scheduled_s": 1.5, "started_s": 3.0, "ready_s": 4.0,
        "ended_s": None, "end_reason": None, "source": "ssh",
        "cgroup_mib": (workload + over).round(1), "working_set_mib": None, "rss_mib": None,
        "anon_mib": None, "file_mib": 5.0, "shmem_mib": 610.0, "kernel_mib": 20.0,
        "workload_mib": workload.round(1), "runtime_mib": (over - 35).round(1),
        "overhead_cgroup_mib": None, "guest_backing_mib": 600.0, "cpu_cores": None,
        "work_rate": 1.0e6,
    }).select(POD_COLUMNS).write_csv(path)


def render_some(charts: dict, datasets: list, names: list[str], out: Path) -> list[Path]:
    """PNGs of the named charts only (rendering every chart of a page costs seconds a test
    about three of them does not need)."""
    from viz.datasets import with_data
    from viz.export import Page
    from viz.render import write_image

    page = Page.build({n: charts[n] for n in names}, datasets)
    out.mkdir(parents=True, exist_ok=True)
    return [write_image(with_data(spec, page.datasets), out / f"{n}.png", "png")
            for n, spec in page.specs.items()]
