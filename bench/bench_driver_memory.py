"""Benchmark: the driver's own memory while it observes N pods, on the watch path and through a
forced relist, page by page (now) vs every page kept until the list ends (before).

Starts ``scaler sim serve`` with enough workers for --pods (250 pods each, fast controller and
scheduler, 1 MiB workloads so nothing is evicted), creates a Deployment of --pods replicas and
waits until the model has them all. Then, in a fresh interpreter per mode (so peak RSS is that
mode's alone), the driver's pod watcher:

1. lists every pod (paged by 500, as the driver does) and follows the watch;
2. keeps watching while 10% of the pods are deleted and replaced (events flow);
3. is forced to list again (what 410 Gone or an outage does), with the old table still live.

Reported per mode: RSS after the first list (steady watch path), peak RSS (VmHWM) on the watch
path and through the relist, each as KiB per pod above the interpreter's RSS before listing.
Modes: ``paged`` (the driver: each page reduced to small records as it arrives, then dropped)
and ``held`` (the previous driver's way: every raw page kept until the list ends, then
reduced), measured in the same run for the ratio. kubectl's own memory is not counted (it is
another process, one page at a time).

    python bench/bench_driver_memory.py [--pods 20000] [--speed 50]   (50,000: about 10 minutes here)
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
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scaler.kube_objects import NAME_LABEL, build  # noqa: E402
from scaler.openshift.client import KubeClient  # noqa: E402
from scaler.workload_spec import WorkloadSpec  # noqa: E402

NAMESPACE = "bench"
DEPLOYMENT = "scaler-workload"
PODS_PER_NODE = 250


def proc_status(field: str) -> int:
    """A /proc/self/status memory field, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# -- the measured process -------------------------------------------------------------------------


def held_list(w) -> None:
    """The previous driver's list: every page's raw objects kept until the list ends."""
    import urllib.parse

    items: list[dict] = []
    token = None
    while True:
        q = {"labelSelector": w.selector, "limit": w.page}
        if token:
            q["continue"] = token
        out = w.client._run_subprocess(["get", "--raw", f"{w.path}?{urllib.parse.urlencode(q)}"],
                                       w.client.op_timeout_s, None)
        doc = json.loads(out.stdout)
        items.extend(doc.get("items") or [])
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            break
    with w.lock:
        w.sink.replace(items)
        w.rv = doc["metadata"]["resourceVersion"]


def child(args) -> None:
    from scaler.openshift.watch import PodWatcher

    client = KubeClient(args.client, kubeconfig=args.kubeconfig, context=None, op_timeout_s=600)
    base = proc_status("VmRSS")
    w = PodWatcher(client, NAMESPACE, f"{NAME_LABEL}={DEPLOYMENT}")
    if args.mode == "held":
        w._list = lambda: held_list(w)  # type: ignore[method-assign]
    t0 = time.monotonic()
    w.start()
    w.synced.wait(1800)
    listed_s = time.monotonic() - t0
    pods = len(w.table.pods)
    out = {"mode": args.mode, "pods": pods, "base_kib": base, "list_s": listed_s,
           "after_list_kib": proc_status("VmRSS"), "hwm_list_kib": proc_status("VmHWM")}
    print("ready", flush=True)
    sys.stdin.readline()  # the parent churns pods meanwhile, then says go on
    out["watch_events"] = w.events
    out["after_watch_kib"] = proc_status("VmRSS")
    out["hwm_watch_kib"] = proc_status("VmHWM")
    t0 = time.monotonic()
    w.resyncs += 1
    w._list()  # a forced relist, the old table live meanwhile (as after 410 Gone)
    out["relist_s"] = time.monotonic() - t0
    out["after_relist_kib"] = proc_status("VmRSS")
    out["hwm_relist_kib"] = proc_status("VmHWM")
    out["pods_after"] = len(w.table.pods)
    w.stop()
    print(json.dumps(out), flush=True)


# -- the driver of the benchmark ----------------------------------------------------------------


def start_server(work: Path, env: dict, pods: int, speed: float) -> tuple[subprocess.Popen, Path, str]:
    workers = max(1, -(-pods * 5 // (PODS_PER_NODE * 4)))  # 25% room: spreading is not perfect
    profile = work / "profile.json"
    profile.write_text(json.dumps({
        "cluster": {"max_pods": PODS_PER_NODE},
        "control_plane": {"controller_pods_per_s": 5000.0, "scheduler_pods_per_s": 5000.0}}))
    kubeconfig = work / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve", "--no-ssh",
         "--workers", str(workers), "--worker-memory", "64Gi", "--worker-cpus", "64",
         "--sim-profile", str(profile), "--speed", str(speed), "--workdir", str(work),
         "--kubeconfig", str(kubeconfig), "--tick", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    lines: list[str] = []
    ready = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready"):
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(120) or proc.poll() is not None:
        proc.kill()
        sys.exit("bench_driver_memory: sim serve did not start:\n" + "".join(lines))
    url = next(ln.split()[2] for ln in lines if "Kubernetes API:" in ln)
    return proc, kubeconfig, url


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/simserve/stats", timeout=60) as r:
        return json.load(r)


def measure(mode: str, kubeconfig: Path, env: dict, client: KubeClient, pods: int,
            churn: int, binary: str) -> dict:
    p = subprocess.Popen([sys.executable, __file__, "--child", mode, "--kubeconfig",
                          str(kubeconfig), "--client", binary],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None and p.stdin is not None
    if p.stdout.readline().strip() != "ready":
        sys.exit(f"bench_driver_memory: the {mode} child failed")
    # churn: scale down by some pods and back up, the watch carries it all
    for replicas in (pods - churn, pods):
        client._run_subprocess(["scale", f"deployment/{DEPLOYMENT}", f"--replicas={replicas}",
                                "-n", NAMESPACE], 600, None)
        time.sleep(5)
    time.sleep(5)
    p.stdin.write("go\n")
    p.stdin.flush()
    result = json.loads(p.stdout.readline())
    p.wait(60)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=20000)
    ap.add_argument("--speed", type=float, default=50.0)
    ap.add_argument("--client", default="kubectl")
    ap.add_argument("--child", choices=["paged", "held"])
    ap.add_argument("--kubeconfig")
    args = ap.parse_args()
    if args.child:
        args.mode = args.child
        child(args)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-drvmem-"))
    env = dict(os.environ, HOME=str(work / "home"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    os.environ["HOME"] = env["HOME"]
    server, kubeconfig, url = start_server(work, env, args.pods, args.speed)
    client = KubeClient(args.client, kubeconfig=str(kubeconfig), context=None, op_timeout_s=600)
    try:
        m = build(WorkloadSpec(memory_mib=1, increment_mib=1), namespace=NAMESPACE,
                  deployment=DEPLOYMENT, run_id="bench", replicas=args.pods)
        for doc in (m.namespace, m.deployment):
            client.call(["apply", "-f", "-"], purpose="setup", stdin=json.dumps(doc), timed=True)
        t0 = time.monotonic()
        while True:
            s = stats(url)
            print(f"\r{time.monotonic() - t0:6.0f} s: {s['truth']['pods']:,} pods, "
                  f"{s['truth']['running']:,} running", end="", flush=True)
            if s["truth"]["pods"] >= args.pods:
                break
            time.sleep(5)
        print()
        results = [measure(mode, kubeconfig, env, client, args.pods, args.pods // 10,
                           args.client) for mode in ("held", "paged")]
    finally:
        server.terminate()
        server.wait(60)

    print(f"\ndriver memory observing {results[0]['pods']:,} pods "
          f"(RSS above the interpreter's {results[0]['base_kib'] / 1024:.0f} MiB; KiB per pod):")
    print(f"{'mode':<7} {'list s':>7} {'after list':>11} {'peak, watch':>12} "
          f"{'peak, relist':>13} {'relist s':>9}")
    per_pod = {}
    for r in results:
        n = r["pods"]

        def kib(key: str, r=r, n=n) -> float:
            return (r[key] - r["base_kib"]) / n

        per_pod[r["mode"]] = (kib("hwm_watch_kib"), kib("hwm_relist_kib"))
        print(f"{r['mode']:<7} {r['list_s']:7.1f} {kib('after_list_kib'):8.2f} KiB "
              f"{kib('hwm_watch_kib'):8.2f} KiB {kib('hwm_relist_kib'):9.2f} KiB "
              f"{r['relist_s']:9.1f}   ({r['watch_events']:,} watch events, "
              f"peak {r['hwm_relist_kib'] / 1024:,.0f} MiB)")
    (hw, hr), (pw, pr) = per_pod["held"], per_pod["paged"]
    print(f"\npaged vs held: peak on the watch path x{hw / pw:.1f} smaller, through a relist "
          f"x{hr / pr:.1f}; at 150,000 pods the paged driver would peak near "
          f"{(pr * 150000 + results[1]['base_kib']) / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
