"""Benchmark: what ``scaler sim serve`` spends on its own, in process (no HTTP, no client).

1. idle CPU: the front's tick (``SimState.sync`` every 0.2 s of wall time) with N pods settled
   and nothing asked of it, as a share of one CPU;
2. relist: a full paged list of N pods (500 a page, as kubectl and the driver page), JSON
   encoded as the front answers it, first page to last.

At 1,000, 5,000 and 20,000 pods (50 MiB runc workloads, 250 pods a worker). Figures only:
no test depends on them.

    python bench/bench_serve.py [--pods 1000,5000,20000] [--ticks 25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scaler.sim import SimModel, load_profile  # noqa: E402
from scaler.simserve.lists import Lister  # noqa: E402
from scaler.simserve.state import SimState  # noqa: E402

PAGE = 500


def deployment(replicas: int) -> dict:
    labels = {"app": "bench"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "bench", "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "workload", "image": "quay.io/example/w:1",
                          "env": [{"name": "MEMORY", "value": "50"},
                                  {"name": "INCREMENT", "value": "50"}]}]}}}}


def settled_state(pods: int) -> SimState:
    workers = max(1, -(-pods // 240))
    model = SimModel(load_profile(None, workers=workers), 0, start=time.time())
    state = SimState(model, speed=1.0)
    state.create_namespace({"metadata": {"name": "bench"}})
    state.put_deployment("bench", deployment(pods), create=True)
    # run the model ahead (not the wall clock) until every pod runs
    for _ in range(600):
        model.advance(5.0)
        if model.counts("bench/bench").running >= pods:
            break
    state._mono0 -= float(model.now) - state._model0  # the wall clock catches up: no backlog
    state.sync()
    return state


def idle_cpu(state: SimState, ticks: int) -> float:
    c0 = time.process_time()
    for _ in range(ticks):
        state._mono0 -= 0.2  # 0.2 s of model time a tick, without sleeping
        state.sync()
    return (time.process_time() - c0) / (ticks * 0.2)


async def relist(lister: Lister) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    token, items, size = None, 0, 0
    while True:
        query = {"limit": str(PAGE), **({"continue": token} if token else {})}
        page = await lister.page("pods", "bench", query)
        body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": page.meta,
                           "items": page.items})
        items += len(page.items)
        size += len(body)
        token = page.meta.get("continue")
        if not token:
            return time.perf_counter() - t0, items, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", default="1000,5000,20000")
    ap.add_argument("--ticks", type=int, default=25)
    args = ap.parse_args()
    for n in (int(x) for x in args.pods.split(",")):
        t0 = time.perf_counter()
        state = settled_state(n)
        setup = time.perf_counter() - t0
        cpu = idle_cpu(state, args.ticks) if n <= 5000 else None
        seconds, items, size = asyncio.run(relist(Lister(state.store)))
        again, _, _ = asyncio.run(relist(Lister(state.store)))
        idle = f"idle tick {cpu * 100:5.1f}% of a CPU" if cpu is not None else "idle tick -"
        print(f"{n:>6} pods ({items} listed, {size / items / 1024:.2f} KiB each): {idle}; "
              f"paged relist {seconds:.2f} s ({seconds / items * 1e6:.0f} us/pod), again "
              f"{again:.2f} s; set-up {setup:.0f} s", flush=True)


if __name__ == "__main__":
    main()
