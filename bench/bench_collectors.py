"""Benchmark: persistent SSH collectors vs a new SSH connection per sample.

200 simulated SSH nodes (in-process asyncssh servers, one loopback address each, served from a
child process so the collector's CPU is measured alone) are sampled at 1 Hz from one process:

1. ``persistent``: CollectorPool, one connection and one long-lived remote loop per node;
2. ``per-sample``: the naive alternative, a fresh connection (handshake, auth, one
   sample, close) per node per tick, on one asyncio loop with the same connection options.

Reported per phase: collector CPU seconds per sample (this process's user+system time over the
measured window / samples received, and / samples due), samples lost (expected ticks without
a sample), p99 delivery lag (local receive time minus the node's timestamp: both clocks are this machine's)
and p99 lateness (node timestamp minus the tick it was due at), plus the node side's CPU per sample. The
closing lines give the per-sample/persistent CPU ratios. When the per-sample pattern cannot keep
up, most of its CPU goes to attempts that time out, so the per-received ratio overstates and the
per-due ratio understates what a sample costs it; both are printed.

    python bench/bench_collectors.py [--nodes 200] [--seconds 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.meminfo import render_meminfo  # noqa: E402
from collectors.pool import CollectorPool  # noqa: E402
from collectors.remote_stream import FrameParser, collect_command  # noqa: E402
from collectors.ssh_connect import Connector  # noqa: E402
from collectors.ssh_targets import NodeTarget, SSHOptions  # noqa: E402


def node_addresses(n: int) -> dict[str, str]:
    """node name -> 127.0.<1 + i // 250>.<1 + i % 250>: one loopback address per node."""
    return {f"bench-{i:03d}": f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(n)}


class BenchModel:
    """Node text as a simulator renders it: a full-size meminfo whose MemFree moves."""

    def __init__(self) -> None:
        with open("/proc/meminfo") as f:
            self.base = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split()[1:2]}
        self.calls = 0

    def node_meminfo(self, name: str) -> str:
        self.calls += 1
        fields = dict(self.base)
        fields["MemFree"] = max(0, fields["MemFree"] - self.calls % 4096)
        return render_meminfo(fields)

    def node_loadavg(self, name: str) -> str:
        return "0.42 0.40 0.38 3/512 4242\n"


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (the node-side server)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(n: int, workdir: Path) -> None:
    """Child process: serve n nodes until stdin closes; print the connection details first."""
    from scaler.simserve.ssh_nodes import start_sim_ssh_nodes

    async def main() -> None:
        nodes = node_addresses(n)
        server = await start_sim_ssh_nodes(BenchModel(), nodes, workdir=workdir)
        print(json.dumps({"port": server.port, "known_hosts": str(server.known_hosts_path),
                          "key": str(server.client_key_path), "nodes": nodes}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


@dataclass
class Phase:
    name: str
    samples: int
    expected: int
    cpu_s: float
    node_cpu_s: float
    lag_s: np.ndarray
    late_s: np.ndarray
    wall_s: float

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.samples)

    def row(self) -> str:
        p99 = lambda a: float(np.percentile(a, 99)) * 1000 if len(a) else float("nan")  # noqa: E731
        return (f"{self.name:<11} {self.samples:>8d} {self.expected:>8d} {self.lost:>6d} "
                f"{self.cpu_s:>8.2f} {self.cpu_s / max(self.samples, 1) * 1000:>12.3f} "
                f"{self.cpu_s / max(self.expected, 1) * 1000:>11.3f} "
                f"{self.node_cpu_s / max(self.samples, 1) * 1000:>12.3f} "
                f"{p99(self.lag_s):>10.1f} {p99(self.late_s):>11.1f}")


HEADER = (f"{'phase':<11} {'samples':>8} {'expected':>8} {'lost':>6} {'cpu_s':>8} "
          f"{'cpu_ms/smpl':>12} {'cpu_ms/tick':>11} {'node_ms/smpl':>12} {'lag_p99ms':>10} {'late_p99ms':>11}")


def run_persistent(targets, options, interval, seconds, server_pid) -> Phase:
    arrivals: list[tuple[str, float, float]] = []
    pool = CollectorPool(targets, options, interval,
                         on_sample=lambda s: arrivals.append((s.node, s.time, time.time())) if s.ok else None)
    pool.start()
    try:
        deadline = time.monotonic() + 60
        while len(pool.latest()) < len(targets) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(interval)
        pool.drain()
        start_index = len(arrivals)
        t0, cpu0, node0 = time.time(), time.process_time(), cpu_of(server_pid)
        time.sleep(seconds)
        t1, cpu1, node1 = time.time(), time.process_time(), cpu_of(server_pid)
        window = [a for a in arrivals[start_index:] if t0 <= a[1] < t1]
    finally:
        pool.stop()
    # lateness: each node's samples against that node's own grid (its first sample + k * interval)
    first: dict[str, float] = {}
    late = []
    for node, t, _ in window:
        origin = first.setdefault(node, t)
        late.append(t - (origin + round((t - origin) / interval) * interval))
    ticks = int(seconds / interval)
    return Phase("persistent", len(window), ticks * len(targets), cpu1 - cpu0, node1 - node0,
                 np.array([r - t for _, t, r in window]), np.abs(np.array(late)), t1 - t0)


def run_per_sample(targets, options, interval, seconds, server_pid) -> Phase:
    """One fresh connection per node per tick; a tick whose sample is not in by the next is lost."""
    command = collect_command(interval, count=1)

    async def one(connector, target, due, out):
        try:
            async with asyncio.timeout(interval):
                async with await connector.connect(target) as conn:
                    result = await conn.run(command, check=False)
            frames = FrameParser().feed(result.stdout if isinstance(result.stdout, str) else "")
            if frames:
                out.append((frames[0].time, time.time(), due))
        except Exception:  # a failed or late sample is a lost sample
            pass

    async def main():
        connector = Connector(options)
        out: list[tuple[float, float, float]] = []
        loop = asyncio.get_running_loop()
        tasks = []
        t0 = time.time()
        start = loop.time()
        for k in range(int(seconds / interval)):
            await asyncio.sleep(max(0.0, start + k * interval - loop.time()))
            due = time.time()
            tasks += [loop.create_task(one(connector, t, due, out)) for t in targets]
        await asyncio.gather(*tasks)
        return out, t0

    cpu0, node0 = time.process_time(), cpu_of(server_pid)
    out, t0 = asyncio.run(main())
    cpu1, node1, t1 = time.process_time(), cpu_of(server_pid), time.time()
    ticks = int(seconds / interval)
    return Phase("per-sample", len(out), ticks * len(targets), cpu1 - cpu0, node1 - node0,
                 np.array([r - t for t, r, _ in out]), np.array([t - d for t, _, d in out]), t1 - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, Path(args.workdir))
        return 0
    if args.nodes < 1 or args.seconds <= 0 or args.interval <= 0:
        print("bench_collectors: --nodes, --seconds and --interval must be positive", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-collectors-") as workdir:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(args.nodes), "--workdir", workdir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            info = json.loads(server.stdout.readline())
            options = SSHOptions(user="core", identity_files=(info["key"],), port=info["port"],
                                 known_hosts=info["known_hosts"], config_files=(), connect_timeout_s=10)
            targets = [NodeTarget(n, a) for n, a in info["nodes"].items()]
            print(f"{args.nodes} simulated SSH nodes, {1 / args.interval:g} Hz, {args.seconds:g} s per phase "
                  f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)", flush=True)
            persistent = run_persistent(targets, options, args.interval, args.seconds, server.pid)
            per_sample = run_per_sample(targets, options, args.interval, args.seconds, server.pid)
        finally:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(HEADER)
    print(persistent.row())
    print(per_sample.row())
    a = persistent.cpu_s / max(persistent.samples, 1)
    b = per_sample.cpu_s / max(per_sample.samples, 1)
    c = persistent.cpu_s / max(persistent.expected, 1)
    d = per_sample.cpu_s / max(per_sample.expected, 1)
    print(f"collector CPU per sample received: per-sample connections / persistent = {b / a:.1f}x")
    print(f"collector CPU per sample due (tick): per-sample connections / persistent = {d / c:.1f}x")
    if per_sample.lost:
        print(f"per-sample connections lost {per_sample.lost} of {per_sample.expected} samples "
              f"({per_sample.lost / per_sample.expected:.0%}): it cannot keep this pace here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
