"""The published CPU runs of 2021 replayed on the simulator (``calibration_support``'s procedure,
with the work columns), and the figures the CPU calibration compares, both sides computed from
CSVs in the published CPU format by the same code: ``calibration_support.figures`` for the pod
counts, ``viz.cpu_report.cpu_figures`` (the CPU knee, the work level and plateau) for the work.

The workload of those runs is the C program (github c3d/workload) at CPU=10..100 percent with a
small memory that was not published: 16 MiB here (the ``cpu`` scenario's, which keeps their
~1,000-pod density). Their cluster is the series' (``c3d-2021``: 5 workers x 8 vCPU x 16 GiB,
kata with the 250m RuntimeClass overhead, whose bound of 134 pods the kata CPU runs' 136-140
running pods match).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from tests.calibration_support import HEADER, run_jobs
from tests.calibration_support import figures as pod_figures
from viz.reference import RUNS, ReferenceRun

CPU_HEADER = HEADER[:2] + ["WorkUnits", "WorkCount"] + HEADER[2:]
CLUSTER = "c3d-2021"
MEMORY_MIB = 16


@dataclass(frozen=True)
class CpuFigures:
    """What the CPU calibration compares, for one run (published or replayed)."""

    max_running: int
    max_evicted: int
    cpu_knee: float | None  # step where work per running pod starts to fall
    work_plateau_pods: float | None  # total work where it stopped growing, in pods' worth
    work_peak_pods: float | None  # highest 10-step median of the total work, in pods' worth


FIGURES = ("max_running", "max_evicted", "cpu_knee", "work_plateau_pods", "work_peak_pods")


def cpu_figures(path: Path) -> CpuFigures:
    from viz.cpu_report import cpu_figures as work_figures
    from viz.read import load_run

    pods = pod_figures(path)
    work = work_figures(load_run(path))
    return CpuFigures(max_running=pods.max_running, max_evicted=pods.max_evicted,
                      cpu_knee=work["cpu_knee"].value,
                      work_plateau_pods=work["work_plateau_pods"].value,
                      work_peak_pods=work["work_peak_pods"].value)


def cpu_runs() -> list[ReferenceRun]:
    return [r for r in RUNS.values() if r.kind == "cpu"]


def replay(run: ReferenceRun, seed: int, out: Path, steps: int = 999) -> Path:
    """The published procedure (``calibration_support.replay``) on the simulator with the run's
    CPU percent and runtime; WorkUnits is the number of fresh reports, WorkCount their pages/s."""
    from scaler.sim import DEPLOYMENT_KEY, SimulatedCluster, controlplane, load_profile
    from scaler.workload_spec import WorkloadSpec

    profile = load_profile(CLUSTER)
    cluster = SimulatedCluster(profile, seed)
    model = cluster.model
    clock = cluster.clock
    cp = profile.control_plane
    namespace = DEPLOYMENT_KEY.partition("/")[0]
    cluster.prepare(WorkloadSpec(runtime=run.runtime, cpu_percent=run.cpu_percent,
                                 memory_mib=MEMORY_MIB, increment_mib=MEMORY_MIB))
    start = clock.monotonic()
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CPU_HEADER)
        for i in range(1, steps + 1):
            clock.sleep(controlplane.login_seconds(cp, model.state))
            cluster.scale(i)
            clock.sleep(5.0)
            elapsed = int(clock.monotonic() - start)
            memory = model.node_memory()
            active = [m["Active"] for m in memory]
            free = [m["MemFree"] for m in memory]
            units, count = int(model.cpu.work_pods.sum()), float(model.cpu.node_work.sum())
            cluster.observe()
            pods = model.listed(namespace)
            w.writerow([i, elapsed, units, f"{count:g}", pods["running"], pods["creating"],
                        pods["terminating"], pods["evicted"], sum(active), sum(free), "",
                        *active, "", *free])
    return out


def _one(args: tuple[str, int, str, int]) -> CpuFigures:
    name, seed, out, steps = args
    return cpu_figures(replay(RUNS[name], seed, Path(out), steps))


def all_bands(runs: list[ReferenceRun], seeds: range, tmp: Path,
              steps: int = 999) -> dict[str, list[CpuFigures]]:
    """Each run's replayed figures over ``seeds``, in a process pool when cores are spare."""
    jobs = [(r.name, s, str(tmp / f"{r.name.replace('/', '-')}-{s}.csv"), steps)
            for r in runs for s in seeds]
    done = run_jobs(_one, jobs)
    k = len(seeds)
    return {r.name: done[i * k:(i + 1) * k] for i, r in enumerate(runs)}
