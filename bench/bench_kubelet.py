"""Benchmark: what the kubelet stats source costs per node per poll, at 250 pods per node.

A Kubernetes API on loopback (``tests.kubelet_support``, in a process of its own) serves Summary
payloads for --nodes nodes of --pods pods, written as the kubelet writes them. The source polls
them every --interval for --duration, twice: asking ``?only_cpu_and_memory=true`` (what the
source asks) and, as the baseline, the full Summary. With --proxy the requests go through a
real ``kubectl proxy`` as in a run (its CPU is reported too).

Reported per configuration: requests, bytes per request, this process's CPU per request (the
HTTP client, the parse and the records), request latency mean and p99, and the full/cpu-memory
ratios. Figures on a shared 2-core machine are noisy.

    python bench/bench_kubelet.py [--nodes 5] [--pods 250] [--interval 1] [--duration 15] [--proxy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collectors.kubelet_source import KubeletSource  # noqa: E402
from scaler.openshift.kubectl_proxy import KubectlProxy  # noqa: E402
from tests.kubelet_support import write_kubeconfig  # noqa: E402


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(url: str, nodes: list[str], interval: float, duration: float, full: bool,
        proxy_pid: int | None) -> dict[str, float]:
    src = KubeletSource(url, nodes, interval_s=interval, namespaces={"scaler"})
    if full:
        src.query = {}
    cpu0, proxy0 = time.process_time(), proc_cpu_s(proxy_pid) if proxy_pid else 0.0
    with src:
        end = time.monotonic() + duration
        samples = pods = 0
        while time.monotonic() < end:
            time.sleep(0.2)
            samples += len(src.drain())
            pods += len(src.drain_pods())
    cpu = time.process_time() - cpu0
    proxy_cpu = (proc_cpu_s(proxy_pid) - proxy0) if proxy_pid else 0.0
    t = src.totals()
    n = max(int(t["answers"] or 0), 1)
    return {"requests": float(t["requests"] or 0), "errors": float(t["errors"] or 0),
            "bytes_per_request": float(t["bytes"] or 0) / n, "cpu_ms_per_request": 1000 * cpu / n,
            "proxy_cpu_ms_per_request": 1000 * proxy_cpu / n,
            "latency_mean_ms": float(t["latency_mean_ms"] or 0),
            "latency_p99_ms": float(t["latency_p99_ms"] or 0),
            "samples": float(samples), "pod_records": float(pods)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--pods", type=int, default=250)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--proxy", action="store_true", help="go through a real kubectl proxy")
    a = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tests.kubelet_support import serve; "
                               "serve(int(sys.argv[1]), int(sys.argv[2]))", str(a.nodes),
         str(a.pods)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert server.stdout is not None and server.stdin is not None
    url = server.stdout.readline().strip()
    nodes = [f"worker-{i}" for i in range(a.nodes)]
    proxy = None
    try:
        if a.proxy:
            home = Path(tempfile.mkdtemp())
            write_kubeconfig(home / "kubeconfig", url)
            proxy = KubectlProxy(shutil.which("kubectl") or "kubectl",
                                 kubeconfig=str(home / "kubeconfig"),
                                 env={**os.environ, "HOME": str(home)})
            url = proxy.start()
        pid = proxy.proc.pid if proxy and proxy.proc else None
        print(f"{a.nodes} nodes x {a.pods} pods, one request per node every {a.interval:g} s "
              f"for {a.duration:g} s{' through kubectl proxy' if pid else ''}")
        results = {}
        for full in (True, False):
            results[full] = r = run(url, nodes, a.interval, a.duration, full, pid)
            print(f"  {'full Summary (baseline)' if full else 'only_cpu_and_memory':24s} "
                  f"{r['requests']:5.0f} requests, {r['errors']:.0f} errors, "
                  f"{r['bytes_per_request'] / 1000:7.1f} kB/request, "
                  f"{r['cpu_ms_per_request']:5.1f} ms CPU/request here"
                  + (f" + {r['proxy_cpu_ms_per_request']:.1f} ms in kubectl proxy" if pid else "")
                  + f", latency mean {r['latency_mean_ms']:.1f} ms p99 "
                    f"{r['latency_p99_ms']:.1f} ms; {r['samples']:.0f} node samples, "
                    f"{r['pod_records']:.0f} pod records")
        f, c = results[True], results[False]
        ratio_bytes = f["bytes_per_request"] / c["bytes_per_request"]
        ratio_cpu = f["cpu_ms_per_request"] / max(c["cpu_ms_per_request"], 1e-9)
        print(f"  full / only_cpu_and_memory: bytes {ratio_bytes:.2f}x, CPU {ratio_cpu:.2f}x")
        per_s = c["bytes_per_request"] * a.nodes / a.interval
        per_10 = c["bytes_per_request"] * a.nodes / 10.0
        print(f"  cost of the source: {c['bytes_per_request'] / 1000:.0f} kB and "
              f"{c['cpu_ms_per_request']:.1f} ms CPU per node per poll; "
              f"{per_s / 1000:.0f} kB/s for {a.nodes} nodes every {a.interval:g} s "
              f"({per_10 / 1000:.0f} kB/s every 10 s, the kubelet's own refresh period)")
    finally:
        if proxy is not None:
            proxy.stop()
        server.stdin.close()
        server.wait(10)


if __name__ == "__main__":
    main()
