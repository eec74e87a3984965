"""Benchmark: ``scaler sim serve`` through HTTP, as a separate process, at 1k / 5k / 20k pods (and 150k if asked): the front's idle
CPU and a full paged relist, each against the 1k-pod run of the same invocation.

For each size, a fresh ``sim serve --no-ssh`` (250 pods per worker, fast controller and
scheduler, 1 MiB workloads so nothing is evicted and the model goes quiet once they run) gets a
Deployment of that many replicas through its API and is left until every pod runs. Then:

- idle CPU: the front's own CPU (utime + stime from /proc) over --idle seconds while nobody
  talks to it, in % of one core. It syncs the model into the API objects every --tick;
- relist: every pod of the namespace listed as kubectl and the driver list them (JSON pages of
  ``limit=500`` with continue tokens), --repeats times: wall seconds (this client's parsing
  included), the front's CPU seconds, and seconds per page; every pod must come back exactly
  once.

Ratios are against the first (smallest) size of the run: idle CPU per 1,000 pods, relist
seconds (and front CPU seconds) per pod; a page costing the same at every size gives a per-page
ratio of 1. The first page (the list sorted) is shown alone.

    python bench/bench_serve_front.py                          # 1k, 5k, 20k (a few minutes)
    python bench/bench_serve_front.py --sizes 1000,5000,20000,150000
    python bench/bench_serve_front.py --tree ../other-checkout # the same, served by another tree
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scaler.kube_objects import build  # noqa: E402
from scaler.workload_spec import WorkloadSpec  # noqa: E402

NAMESPACE = "bench"
PODS_PER_NODE = 250
PAGE = 500


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Front:
    def __init__(self, tree: Path, work: Path, pods: int, speed: float, tick: float) -> None:
        workers = max(1, -(-pods * 5 // (PODS_PER_NODE * 4)))  # 25% room
        profile = work / "profile.json"
        profile.write_text(json.dumps({
            "cluster": {"max_pods": PODS_PER_NODE},
            "control_plane": {"controller_pods_per_s": 5000.0, "scheduler_pods_per_s": 5000.0}}))
        env = dict(os.environ, HOME=str(work / "home"),
                   PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve", "--no-ssh",
             "--workers", str(workers), "--worker-memory", "64Gi", "--worker-cpus", "64",
             "--sim-profile", str(profile), "--speed", str(speed), "--tick", str(tick),
             "--workdir", str(work), "--kubeconfig", str(work / "kubeconfig")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tree)
        self.workers = workers
        lines: list[str] = []
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if line.startswith("ready"):
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(300) or self.proc.poll() is not None:
            self.proc.kill()
            sys.exit("bench_serve: sim serve did not start:\n" + "".join(lines))
        self.url = next(ln.split()[2] for ln in lines if "Kubernetes API:" in ln)

    def request(self, path: str, body: dict | None = None, timeout: float = 600) -> dict:
        req = urllib.request.Request(self.url + path, method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def relist(front: Front, repeats: int) -> dict:
    """Every pod of the namespace ``repeats`` times: the median list, every page's median, the
    front's CPU per list."""
    runs = [relist_once(front) for _ in range(repeats)]
    return {"relist_s": statistics.median(r["relist_s"] for r in runs),
            "relist_cpu_s": statistics.median(r["relist_cpu_s"] for r in runs),
            "page_s": statistics.median(p for r in runs for p in r["pages"]),
            "first_page_s": statistics.median(r["pages"][0] for r in runs),
            "pages": len(runs[0]["pages"]), "listed": min(r["listed"] for r in runs),
            "unique": min(r["unique"] for r in runs)}


def relist_once(front: Front) -> dict:
    """Every pod of the namespace, paged as kubectl pages (limit=500, continue tokens)."""
    names: list[str] = []
    pages: list[float] = []
    token = None
    c0 = cpu_seconds(front.proc.pid)
    t0 = time.perf_counter()
    while True:
        q = {"limit": PAGE, **({"continue": token} if token else {})}
        p0 = time.perf_counter()
        doc = front.request(f"/api/v1/namespaces/{NAMESPACE}/pods?{urllib.parse.urlencode(q)}")
        pages.append(time.perf_counter() - p0)
        names += [o["metadata"]["name"] for o in doc["items"]]
        token = doc["metadata"].get("continue")
        if not token:
            break
    return {"relist_s": time.perf_counter() - t0,
            "relist_cpu_s": cpu_seconds(front.proc.pid) - c0, "listed": len(names),
            "unique": len(set(names)), "pages": pages}


def measure(tree: Path, pods: int, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    front = Front(tree, work, pods, args.speed, args.tick)
    try:
        m = build(WorkloadSpec(memory_mib=1, increment_mib=1), namespace=NAMESPACE,
                  deployment="scaler-workload", run_id="bench", replicas=pods)
        front.request("/api/v1/namespaces", m.namespace)
        front.request(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", m.deployment)
        t0 = time.monotonic()
        while True:
            t = front.request("/simserve/stats")["truth"]
            print(f"\r  {pods:,} pods on {front.workers} workers: {time.monotonic() - t0:5.0f} s, "
                  f"{t['pods']:,} pods, {t['running']:,} running", end="", file=sys.stderr,
                  flush=True)
            if t["running"] >= pods and t["pods"] == pods:
                break
            if time.monotonic() - t0 > args.ramp_timeout:
                sys.exit(f"\nbench_serve: {pods} pods not running after {args.ramp_timeout} s")
            time.sleep(2)
        ramp_s = time.monotonic() - t0
        print(file=sys.stderr)
        time.sleep(args.settle)  # the last pods' events out, the model quiet
        c0, w0 = cpu_seconds(front.proc.pid), time.monotonic()
        time.sleep(args.idle)
        idle = 100 * (cpu_seconds(front.proc.pid) - c0) / (time.monotonic() - w0)
        listed = relist(front, args.repeats)
        if listed["listed"] != pods or listed["unique"] != pods:
            print(f"  WARNING: listed {listed['listed']} pods, {listed['unique']} distinct, "
                  f"of {pods}", file=sys.stderr)
        return {"pods": pods, "ramp_s": ramp_s, "idle_cpu_pct": idle,
                "rss_mib": rss_mib(front.proc.pid), **listed}
    finally:
        front.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,20000",
                    help="pod counts, comma-separated; the first is the baseline")
    ap.add_argument("--tree", type=Path, default=REPO, help="the checkout whose sim serve runs")
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--tick", type=float, default=0.2, help="sim serve --tick (its default)")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3, help="relists per size (medians)")
    ap.add_argument("--ramp-timeout", type=float, default=3600.0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for pods in sizes:
        r = measure(args.tree.resolve(), pods, args)
        rows.append(r)
        print(json.dumps(r), file=sys.stderr, flush=True)
    base = rows[0]
    k = base["pods"] / 1000
    print(f"sim serve ({args.tree.name}), --tick {args.tick:g}, --speed {args.speed:g}; ratios "
          f"against {base['pods']:,} pods")
    print(f"{'pods':>8} {'ramp s':>7} {'idle CPU %':>10} {'x/1k pods':>9} {'relist s':>9} "
          f"{'x/pod':>6} {'front CPU s':>11} {'x/pod':>6} {'page ms':>8} {'x':>5} "
          f"{'1st page ms':>11} {'RSS MiB':>8}")
    for r in rows:
        n = r["pods"] / 1000
        # below the clock's resolution (10 ms in --idle seconds) a ratio says nothing
        floor = 100 * 2 / os.sysconf("SC_CLK_TCK") / args.idle
        idle_ratio = (f"{(r['idle_cpu_pct'] / n) / (base['idle_cpu_pct'] / k):>9.2f}"
                      if base["idle_cpu_pct"] >= floor else f"{'-':>9}")
        relist_ratio = (r["relist_s"] / r["pods"]) / (base["relist_s"] / base["pods"])
        cpu_ratio = (r["relist_cpu_s"] / r["pods"]) / max(base["relist_cpu_s"] / base["pods"], 1e-9)
        print(f"{r['pods']:>8,} {r['ramp_s']:>7.0f} {r['idle_cpu_pct']:>10.1f} {idle_ratio} "
              f"{r['relist_s']:>9.2f} {relist_ratio:>6.2f} {r['relist_cpu_s']:>11.2f} "
              f"{cpu_ratio:>6.2f} {1000 * r['page_s']:>8.1f} {r['page_s'] / base['page_s']:>5.2f} "
              f"{1000 * r['first_page_s']:>11.1f} {r['rss_mib']:>8.0f}"
              + ("" if r["listed"] == r["unique"] == r["pods"] else
                 f"  (listed {r['listed']}, {r['unique']} distinct)"))


if __name__ == "__main__":
    main()
