"""Benchmark: watch-based observation vs listing every pod at every step, at 1,000 pods.

Starts ``scaler sim serve`` (5 workers, runc, 50 MiB workloads so 1,000 pods fit and settle),
scales a Deployment from 0 to --pods in --steps steps, then holds it for --hold steps. At every
step it observes the pods twice, through the same client binary (kubectl) and transport:

1. ``watch``: the driver's PodWatcher (one paged list, then one long watch stream); the cost of
   a step is what the stream carried since the previous step;
2. ``list``: the naive alternative, ``GET .../pods?labelSelector=...`` (paged by 500, as kubectl
   pages) at every step.

Reported per phase (ramp, plateau) and overall: API requests and response bytes per step for
each, the list/watch ratios, and the wall time one observation takes each way.

    python bench/bench_observe.py [--pods 1000] [--steps 20] [--hold 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scaler.kube_objects import NAME_LABEL, build  # noqa: E402
from scaler.openshift.client import KubeClient  # noqa: E402
from scaler.openshift.watch import LIST_PAGE, PodWatcher  # noqa: E402
from scaler.workload_spec import WorkloadSpec  # noqa: E402

NAMESPACE = "bench"
DEPLOYMENT = "scaler-workload"


def start_server(workdir: Path, env: dict, speed: float) -> tuple[subprocess.Popen, Path]:
    kubeconfig = workdir / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve", "--no-ssh",
         "--speed", str(speed), "--workdir", str(workdir), "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            if line.startswith("ready"):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60) or proc.poll() is not None:
        proc.kill()
        sys.exit("bench_observe: sim serve did not start")
    return proc, kubeconfig


def list_every_step(client: KubeClient, selector: str) -> tuple[int, int, float, int]:
    """(requests, bytes, seconds, pods) of one full paged list."""
    requests = nbytes = pods = 0
    token = None
    t0 = time.monotonic()
    while True:
        q = {"labelSelector": selector, "limit": LIST_PAGE}
        if token:
            q["continue"] = token
        out = client._run_subprocess(
            ["get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods?" + urllib.parse.urlencode(q)],
            60, None)
        if not out.ok:
            raise SystemExit(f"bench_observe: list failed: {out.stderr.strip()}")
        requests += 1
        nbytes += len(out.stdout)
        doc = json.loads(out.stdout)
        pods += len(doc["items"])
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return requests, nbytes, time.monotonic() - t0, pods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20, help="steps from 0 to --pods")
    ap.add_argument("--hold", type=int, default=20, help="steps at --pods")
    ap.add_argument("--interval", type=float, default=1.0, help="wall seconds per step")
    ap.add_argument("--speed", type=float, default=5.0, help="model seconds per wall second")
    ap.add_argument("--client", default="kubectl")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-observe-"))
    env = dict(os.environ, HOME=str(work / "home"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    os.environ["HOME"] = env["HOME"]
    server, kubeconfig = start_server(work, env, args.speed)
    client = KubeClient(args.client, kubeconfig=str(kubeconfig), context=None, op_timeout_s=60)
    watch_client = KubeClient(args.client, kubeconfig=str(kubeconfig), context=None,
                              op_timeout_s=60)
    try:
        m = build(WorkloadSpec(memory_mib=50, increment_mib=25), namespace=NAMESPACE,
                  deployment=DEPLOYMENT, run_id="bench")
        for doc in (m.namespace, m.deployment):
            client.call(["apply", "-f", "-"], purpose="setup", stdin=json.dumps(doc), timed=True)
        selector = f"{NAME_LABEL}={DEPLOYMENT}"
        watcher = PodWatcher(watch_client, NAMESPACE, selector)
        watcher.start()
        watcher.synced.wait(60)
        rows = []
        prev_req = prev_bytes = 0
        total = args.steps + args.hold
        for step in range(1, total + 1):
            replicas = min(args.pods, round(args.pods * step / args.steps))
            client.call(["scale", f"deployment/{DEPLOYMENT}", f"--replicas={replicas}",
                         "-n", NAMESPACE], purpose="scale", timed=True)
            time.sleep(args.interval)
            t0 = time.monotonic()
            counts = watcher.counts(0)
            watch_s = time.monotonic() - t0
            c = watch_client.counters
            with c.lock:
                req, nbytes = c.requests.get("observe", 0), c.bytes.get("observe", 0)
            l_req, l_bytes, list_s, listed = list_every_step(client, selector)
            rows.append({"step": step, "replicas": replicas, "pods": listed,
                         "running": counts.running, "watch_requests": req - prev_req,
                         "watch_bytes": nbytes - prev_bytes, "watch_s": watch_s,
                         "list_requests": l_req, "list_bytes": l_bytes, "list_s": list_s})
            prev_req, prev_bytes = req, nbytes
            print(f"step {step:3d} replicas {replicas:5d} pods {listed:5d} running "
                  f"{counts.running:5d}  watch {rows[-1]['watch_requests']} req "
                  f"{rows[-1]['watch_bytes']:>9,d} B  list {l_req} req {l_bytes:>10,d} B "
                  f"{list_s * 1000:6.0f} ms", flush=True)
        watcher.stop()
    finally:
        server.terminate()
        server.wait(15)

    def summary(name: str, part: list[dict]) -> None:
        n = len(part)
        wr = sum(r["watch_requests"] for r in part) / n
        wb = sum(r["watch_bytes"] for r in part) / n
        lr = sum(r["list_requests"] for r in part) / n
        lb = sum(r["list_bytes"] for r in part) / n
        ws = sorted(r["watch_s"] for r in part)[n // 2]
        ls = sorted(r["list_s"] for r in part)[n // 2]
        req_ratio = f"x{lr / wr:,.1f}" if wr else "all (the watch made none)"
        print(f"{name:<9} {n:3d} steps | per step: watch {wr:5.2f} req {wb:>11,.0f} B, "
              f"list {lr:5.2f} req {lb:>12,.0f} B | list/watch: bytes x{lb / max(wb, 1):,.1f}, "
              f"requests {req_ratio} | median observe: watch {ws * 1e6:,.0f} us, "
              f"list {ls * 1000:,.0f} ms")

    print()
    summary("ramp", rows[: args.steps])
    summary("plateau", rows[args.steps:])
    summary("all", rows)


if __name__ == "__main__":
    main()
