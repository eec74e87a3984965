"""Simulator speed: pod-ticks per second at 50 workers x 10,000 pods and 500 workers x 150,000
pods, each against a 5-worker, 1,000-pod baseline run in the same process; and an idle wait
jumped over against the same wait stepped through.

A pod-tick is one pod object stepped through one model tick (1 s of virtual time). Each run asks
for all replicas at once (capacity scenario: 500 MiB workloads, no requests), so it goes through
every path: scheduling at the scheduler's rate, sandbox set-up, growth, memory pressure,
evictions and OOM kills. Target: >= 1e7 pod-ticks/s at 50 x 10,000. Run by hand:

    python bench/bench_sim.py                 # all of it (about a minute)
    python bench/bench_sim.py --no-large      # without the 150,000-pod run
    python bench/bench_sim.py --seconds 300 --pods 10000 --workers 50

Last, the CPU model's cost (scaler.sim.cpu): the baseline and the 50-worker run again with its
accounting left out and kept (--no-cpu-cost skips it).
"""

from __future__ import annotations

import argparse
import time

from scaler.sim import SimModel, load_profile
from scaler.workload_spec import SCENARIOS

KEY = "bench/workload"
TARGET = 1e7


def run(workers: int, pods: int, seconds: float, seed: int = 0) -> dict:
    profile = load_profile(None, workers=workers)
    model = SimModel(profile, seed)
    model.apply_deployment(KEY, SCENARIOS["capacity"], pods)
    t0, c0 = time.perf_counter(), time.process_time()
    model.advance(seconds)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    counts = model.counts(KEY)
    return {
        "workers": workers, "pods": pods, "virtual_s": seconds, "wall_s": wall,
        "ticks": model.ticks, "pod_ticks": model.pod_ticks,
        "pod_ticks_per_s": model.pod_ticks / wall,
        "pod_ticks_per_cpu_s": model.pod_ticks / max(cpu, 1e-9), "objects": model.object_count(),
        "running": counts.running, "evicted": counts.evicted, "oom_killed": counts.oom_killed,
    }


def show(r: dict, base: dict | None = None) -> None:
    ratio = "" if base is None else (
        f"; {r['pod_ticks_per_s'] / base['pod_ticks_per_s']:.2f}x the baseline's rate for "
        f"{r['pods'] / base['pods']:.0f}x the pods")
    print(f"{r['workers']:>3} workers {r['pods']:>7} pods: {r['virtual_s']:.0f} s virtual in "
          f"{r['wall_s']:.2f} s wall, {r['pod_ticks']:,} pod-ticks, "
          f"{r['pod_ticks_per_s']:,.0f} pod-ticks/s ({r['pod_ticks_per_cpu_s']:,.0f} per CPU "
          f"second){ratio} "
          f"(objects {r['objects']}, running {r['running']}, evicted {r['evicted']}, "
          f"OOM kills {r['oom_killed']})")


def idle_wait(hours: float, probe_s: float = 3600.0) -> None:
    """Three pods at their target, then a wait of ``hours``: jumped over, against stepping
    through ``probe_s`` of the same wait (extrapolated)."""
    def model(skip: bool) -> SimModel:
        m = SimModel(load_profile(None), 0, skip_quiet=skip)
        m.apply_deployment(KEY, SCENARIOS["capacity"], 3)
        m.advance(60)
        return m

    m = model(False)
    t0 = time.perf_counter()
    m.advance(probe_s)
    stepped = (time.perf_counter() - t0) * hours * 3600 / probe_s
    m = model(True)
    t0 = time.perf_counter()
    m.advance(hours * 3600)
    jumped = time.perf_counter() - t0
    print(f"idle wait of {hours:g} h (3 pods at target): jumped over in {jumped * 1e3:.1f} ms "
          f"({m.skipped_ticks:,} of {m.ticks:,} ticks skipped); stepping through it would take "
          f"about {stepped:,.0f} s ({stepped / max(jumped, 1e-9):,.0f}x)")


def cpu_model_cost(workers: int, pods: int, seconds: float, reps: int = 5) -> None:
    """The CPU model's share of a step (scaler.sim.cpu): the same run with its accounting left
    out and kept, interleaved, best of ``reps`` each, in CPU seconds (steadier than wall time
    on a busy machine). Its figures are outputs only, so both runs step the same pods."""
    best: dict[bool, float] = {}
    for _ in range(reps):
        for on in (False, True):
            model = SimModel(load_profile(None, workers=workers), 0)
            if not on:
                model.cpu.account = lambda s: None  # type: ignore[method-assign]
                model.cpu.skip = lambda s, ticks: None  # type: ignore[method-assign]
            model.apply_deployment(KEY, SCENARIOS["capacity"], pods)
            c0 = time.process_time()
            model.advance(seconds)
            rate = model.pod_ticks / max(time.process_time() - c0, 1e-9)
            best[on] = max(best.get(on, 0.0), rate)
    print(f"CPU model at {workers} x {pods}: {best[False]:,.0f} pod-ticks per CPU second without "
          f"it, {best[True]:,.0f} with it ({(best[False] / best[True] - 1) * 100:+.1f}% time)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=1800.0, help="virtual seconds to run")
    ap.add_argument("--baseline-pods", type=int, default=1_000)
    ap.add_argument("--baseline-workers", type=int, default=5)
    ap.add_argument("--no-large", action="store_true", help="skip the 500 x 150,000 run")
    ap.add_argument("--no-cpu-cost", action="store_true",
                    help="skip measuring the CPU model's share of a step")
    args = ap.parse_args()
    base = run(args.baseline_workers, args.baseline_pods, args.seconds)
    show(base)
    big = run(args.workers, args.pods, args.seconds)
    show(big, base)
    verdict = "met" if big["pod_ticks_per_s"] >= TARGET else "NOT met"
    print(f"target >= {TARGET:,.0f} pod-ticks/s at {args.workers} x {args.pods}: {verdict} "
          f"(wall time {big['wall_s'] / base['wall_s']:.1f}x the baseline's; on a busy machine "
          "the per-CPU-second figure is the steadier one)")
    if not args.no_large:
        show(run(500, 150_000, args.seconds), base)
    idle_wait(99_999)
    if not args.no_cpu_cost:
        cpu_model_cost(args.baseline_workers, args.baseline_pods, 900.0)
        cpu_model_cost(args.workers, args.pods, 600.0)


if __name__ == "__main__":
    main()
