"""The published 2021 procedure replayed on the simulator, and the figures compared with the
published runs, both computed from CSVs in the published format.

The procedure (c3d/kata-performance-measurements ``scale.sh``): for I = 1..999, ``oc login``,
``oc scale --replicas=I``, ``sleep 5``, note the elapsed seconds, read the last /proc/meminfo
sample of each worker (streamed every 5 s), then one ``oc get pods`` counted by ``grep`` for
Running, ContainerCreating, Terminating and Evicted. ``replay`` does exactly that on a
``SimulatedCluster`` (each call costs what the control plane model says) and writes the same
CSV columns, so ``figures`` reads both sides the same way: like with like.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

from viz.reference import RUNS, ReferenceRun

J = TypeVar("J")
R = TypeVar("R")

GIB_KIB = 1024 * 1024
HEADER = ["Iteration", "Elapsed", "Running", "Creating", "Terminating", "Evicted",
          "Total Active Memory", "Total Free Memory", " Active", "0", "1", "2", "3", "4",
          "Free", "0", "1", "2", "3", "4"]  # fmt: skip


@dataclass(frozen=True)
class Figures:
    """What the calibration compares, for one run (published or replayed)."""

    max_running: int
    max_running_step: int
    max_evicted: int  # Evicted pods listed at one moment
    max_creating: int
    first_free_under_1gib: int | None  # None: never
    peak_active_gib: float
    active_per_pod_100_mib: float | None  # total Active / running pods at step 100
    active_per_pod_peak_mib: float | None  # ... at the step of the most running pods
    early_iteration_s: float  # seconds per iteration over the first ten
    late_iteration_s: float | None  # ... over the last hundred (None: a run under 200 steps)


FIGURES = [f.name for f in fields(Figures)]


def figures(path: Path) -> Figures:
    """The figures of a run in the published CSV format. A worker written as 0 had no sample
    (reference README): rows missing one are not used for the memory figures."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    active_at = header.index(" Active") + 1
    free_at = header.index("Free") + 1
    steps, running, evicted, creating, active, free, whole = [], [], [], [], [], [], []
    elapsed: list[float] = []
    for r in data:
        steps.append(int(r[col["Iteration"]]))
        elapsed.append(float(r[col["Elapsed"]]))
        running.append(int(r[col["Running"]]))
        evicted.append(int(r[col["Evicted"]]))
        creating.append(int(r[col["Creating"]]))
        active.append(float(r[col["Total Active Memory"]]))
        free.append(float(r[col["Total Free Memory"]]))
        whole.append(all(float(r[k]) > 0 for k in range(active_at, active_at + 5))
                     and all(float(r[k]) > 0 for k in range(free_at, free_at + 5)))
    top = max(running)
    at_top = running.index(top)
    first_free = next((s for s, f, ok in zip(steps, free, whole, strict=True)
                       if ok and f < GIB_KIB), None)

    def per_pod(i: int) -> float | None:
        return active[i] / 1024 / running[i] if whole[i] and running[i] else None

    return Figures(
        max_running=top, max_running_step=steps[at_top], max_evicted=max(evicted),
        max_creating=max(creating), first_free_under_1gib=first_free,
        peak_active_gib=max(a for a, ok in zip(active, whole, strict=True) if ok) / GIB_KIB,
        active_per_pod_100_mib=per_pod(steps.index(100)) if 100 in steps else None,
        active_per_pod_peak_mib=per_pod(at_top),
        early_iteration_s=(elapsed[10] - elapsed[0]) / 10,
        late_iteration_s=(elapsed[-1] - elapsed[-101]) / 100 if len(steps) >= 200 else None,
    )


# -- what ran ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """How to replay one published run: its workload (what Kubernetes applied), the cluster's
    state (a shipped simulator profile), and the procedure's length and pacing."""

    runtime: str
    memory_mib: int
    increment_mib: int
    cluster: str  # shipped profile name (scaler/sim/profiles)
    steps: int = 999
    first: int = 1
    wait_running: bool = False  # the earlier procedure: wait for the pods, then a fixed sleep


def setup(run: ReferenceRun) -> Setup:
    """The replay of a published memory run. Resources written at pod level were dropped by the
    API server (``run.effective``): every one ran BestEffort pods."""
    assert run.kind == "memory" and run.memory_mib is not None and run.increment_mib is not None
    from scaler.sim.profile_file import shipped

    stem = run.name.partition("/")[2]
    # the run's own state when a profile records it, else the state its series shared
    cluster = f"c3d-2021-{stem}"
    if cluster not in shipped():
        cluster = "c3d-2021-capacity"
    if stem == "runc-5pct-500m-fixed-timing":
        return Setup(run.runtime, run.memory_mib, run.increment_mib, cluster, steps=110, first=0,
                     wait_running=True)
    return Setup(run.runtime, run.memory_mib, run.increment_mib, cluster)


def memory_runs() -> list[ReferenceRun]:
    return [r for r in RUNS.values() if r.kind == "memory"]


# -- the replay ----------------------------------------------------------------------------------


WAIT_TIMEOUT_S = 600.0  # the earlier procedure's wait for the pods, at most
WAIT_POLL_S = 5.0


def replay(how: Setup, seed: int, out: Path) -> Path:
    """The published procedure on the simulator; writes ``out`` in the published format."""
    from scaler.sim import DEPLOYMENT_KEY, SimulatedCluster, controlplane, load_profile
    from scaler.workload_spec import WorkloadSpec

    profile = load_profile(how.cluster)
    cluster = SimulatedCluster(profile, seed)
    model = cluster.model
    clock = cluster.clock
    cp = profile.control_plane
    namespace = DEPLOYMENT_KEY.partition("/")[0]
    cluster.prepare(WorkloadSpec(runtime=how.runtime, cpu_percent=5, memory_mib=how.memory_mib,
                                 increment_mib=how.increment_mib))
    start = clock.monotonic()
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(how.first, how.first + how.steps):
            clock.sleep(controlplane.login_seconds(cp, model.state))
            cluster.scale(i)
            if how.wait_running:
                waited = 0.0
                while cluster.observe().running < i and waited < WAIT_TIMEOUT_S:
                    clock.sleep(WAIT_POLL_S)
                    waited += WAIT_POLL_S
                clock.sleep(10.0)
            else:
                clock.sleep(5.0)
            elapsed = int(clock.monotonic() - start)
            memory = model.node_memory()
            active = [m["Active"] for m in memory]
            free = [m["MemFree"] for m in memory]
            cluster.observe()  # what the one `oc get pods` costs
            pods = model.listed(namespace)
            w.writerow([i, elapsed, pods["running"], pods["creating"], pods["terminating"],
                        pods["evicted"], sum(active), sum(free), "", *active, "", *free])
    return out


def replay_figures(args: tuple[Setup, int, str]) -> Figures:
    how, seed, out = args
    return figures(replay(how, seed, Path(out)))


def run_jobs(fn: Callable[[J], R], jobs: list[J]) -> list[R]:
    """``fn`` over ``jobs`` in order: in a process pool when there are cores to spare."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(j) for j in jobs]
    # Forked from a server started clean, not from this process: earlier tests may have left
    # threads here (a fork copies their held locks, and the pool's workers hang on them).
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return list(pool.map(fn, jobs, chunksize=1))


def all_bands(runs: list[ReferenceRun], seeds: range, tmp: Path) -> dict[str, list[Figures]]:
    """The replay's figures for each seed of each run's setup (runs that share a setup share
    its band), every replay in one process pool when there are cores to spare."""
    setups = {r.name: setup(r) for r in runs}
    unique = list(dict.fromkeys(setups.values()))
    jobs = [(how, s, str(tmp / f"{k}-{s}.csv")) for k, how in enumerate(unique) for s in seeds]
    done = run_jobs(replay_figures, jobs)
    per_setup = {how: done[k * len(seeds):(k + 1) * len(seeds)] for k, how in enumerate(unique)}
    return {name: per_setup[how] for name, how in setups.items()}


def within(published: float | None, model: list[float | None], steps: int,
           tolerance: float = 0.25, absolute: float = 0.0) -> bool:
    """The published figure within ``tolerance`` (or ``absolute``) of the model's band over
    seeds. "Never" (None) counts as the step after the last one."""
    never = steps + 1
    v = never if published is None else float(published)
    values = [never if m is None else float(m) for m in model]
    lo, hi = min(values), max(values)
    if lo <= v <= hi:
        return True
    gap = abs(v - (lo if v < lo else hi))
    return gap <= max(tolerance * abs(v), absolute)


def show(value: float | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)
