"""Simulator speed: pod-ticks per second for a 50-worker, 10,000-pod run, and a 1,000-pod baseline.

A pod-tick is one pod object stepped through one model tick (1 s of virtual time). The run asks
for all replicas at once (capacity scenario: 500 MiB workloads, no requests), so it goes through
every path: scheduling at the scheduler's rate, sandbox set-up, growth, memory pressure,
evictions and OOM kills. Run by hand:

    python bench/bench_sim.py            # both sizes
    python bench/bench_sim.py --seconds 300 --pods 10000 --workers 50
"""

from __future__ import annotations

import argparse
import time

from scaler.sim import SimModel, load_profile
from scaler.workload_spec import SCENARIOS

KEY = "bench/workload"


def run(workers: int, pods: int, seconds: float, seed: int = 0) -> dict:
    profile = load_profile(None, workers=workers)
    model = SimModel(profile, seed)
    model.apply_deployment(KEY, SCENARIOS["capacity"], pods)
    t0 = time.perf_counter()
    model.advance(seconds)
    wall = time.perf_counter() - t0
    counts = model.counts(KEY)
    return {
        "workers": workers, "pods": pods, "virtual_s": seconds, "wall_s": wall,
        "ticks": model.ticks, "pod_ticks": model.pod_ticks,
        "pod_ticks_per_s": model.pod_ticks / wall, "objects": model.object_count(),
        "running": counts.running, "evicted": counts.evicted, "oom_killed": counts.oom_killed,
    }


def show(r: dict) -> None:
    print(f"{r['workers']:>3} workers {r['pods']:>6} pods: {r['virtual_s']:.0f} s virtual in "
          f"{r['wall_s']:.2f} s wall, {r['pod_ticks']:,} pod-ticks, "
          f"{r['pod_ticks_per_s']:,.0f} pod-ticks/s "
          f"(objects {r['objects']}, running {r['running']}, evicted {r['evicted']}, "
          f"OOM kills {r['oom_killed']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=1800.0, help="virtual seconds to run")
    ap.add_argument("--baseline-pods", type=int, default=1_000)
    ap.add_argument("--baseline-workers", type=int, default=5)
    args = ap.parse_args()
    base = run(args.baseline_workers, args.baseline_pods, args.seconds)
    show(base)
    big = run(args.workers, args.pods, args.seconds)
    show(big)
    print(f"ratio: {big['pod_ticks_per_s'] / base['pod_ticks_per_s']:.2f}x the baseline's "
          f"pod-ticks/s for {big['pods'] / base['pods']:.0f}x the pods; wall time "
          f"{big['wall_s'] / base['wall_s']:.1f}x")


if __name__ == "__main__":
    main()
