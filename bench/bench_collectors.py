"""Benchmark: persistent SSH collectors at scale, against a new SSH connection per sample.

Simulated SSH nodes (``scaler.simserve.ssh_nodes``: in-process asyncssh servers, one loopback
address per node) are served from several child processes, so the server side's own latency does
not pass for the collector's; this process only collects. Phases, one after another in one run:

1. ``persistent``: CollectorPool as shipped (AES-GCM preferred, keepalive only after a silent
   stretch, frames of the fields used plus the /proc/stat cpu line);
2. ``chacha20``: the same with chacha20-poly1305 (asyncssh's default first cipher), for the
   cipher's share of the per-sample cost (``--no-cipher-compare`` skips it);
3. ``before``: the settings of the previous version, on today's parser and watchdog: keepalive
   every sampling interval, chacha20-poly1305, frames with the whole /proc/meminfo;
4. ``multiplexed`` (only with ``--multiplex-estimate``): an estimate for a design not built, one
   stream carrying every node's frames (as a fan-in on a jump host would send them): one server
   writes all nodes' frames each tick on one channel, and this process parses them and builds the
   same NodeSample per frame, so the per-packet SSH cost is shared by many samples;
5. ``jump`` (with ``--jump`` or ``--only-jump``): the fan-in as built (``collectors.jump_pool``,
   ``scaler run --jump-fan-in``): a real OpenSSH sshd on loopback is the jump host, its ``ssh``
   clients reach the simulated nodes, all frames come back on one channel. This process's CPU is
   the collector's; the jump host's (sshd session, sh, the nodes' ssh and sed, the coalescer) is
   printed apart, as it would run on another machine;
6. ``per-sample``: the naive pattern, a fresh connection (handshake, auth, one sample, close) per
   node per tick. It cannot keep pace with hundreds of nodes on a small machine, and a sample that
   times out costs CPU without arriving, so it runs on ``--baseline-nodes`` nodes (a rate the
   machine sustains) to price one sample fairly.

Figures per phase: collector CPU per sample (this process's user+system time over the window /
samples received), samples lost (samples the nodes numbered but never delivered, plus
reconnection gaps), p99 delivery lag (receive time minus the node's timestamp: both clocks are
this machine's) and p99 lateness (the node's timestamp against its own 1-per-interval grid: how
late samples were taken, which on a loaded machine is mostly the rig), and the nodes' CPU per
sample. The closing lines give each target as a ratio.

Two rig details keep the served nodes like real ones: every server process accepts this run's
one client key (so a connection costs one signature, as with a real node), and the servers drop
the SSH_MSG_IGNORE that asyncssh sends before every packet (OpenSSH's sshd does not: it sends
them only to hide keystroke timing on a terminal), so the collector decrypts one packet per
sample, as it would from a node's sshd.

    python bench/bench_collectors.py [--nodes 200] [--seconds 20] [--interval 1] [--servers K]
    python bench/bench_collectors.py --nodes 1000 --no-cipher-compare --no-before
    python bench/bench_collectors.py --nodes 200 --jump --no-cipher-compare --no-before --servers 4

Recorded for the fan-in (``--jump``; 2 shared cores, load average 5-14 from other work, so the
lateness is mostly the rig: the simulated nodes and the jump host's 200-1,000 ssh clients run on
the same two cores as the collector): 200 nodes 0.078-0.083 ms per sample, 37.7-52.6x a new
connection per sample, 2.7-3.8x below one connection per node, 0 lost, p99 lateness 4.8-62.6 ms;
500 nodes 0.051 ms, 55.3x, 0 lost, 29.9 ms; 1,000 nodes 0.072 ms, 45.7x, 0 lost, 27.4 ms. The
jump host's own CPU: 0.09-0.14 ms per sample (3-14% of a core).

Recorded before this version (issue figures, quiet machine, old code path): 200 nodes 0.47 ms
per sample vs 5.3 ms for a connection per sample (11.6x), 0 lost, p99 lateness 1.6 ms quiet /
58 ms under load; 1,000 nodes 10.6% lost, p99 lateness 477 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.meminfo import render_meminfo  # noqa: E402
from collectors.pool import CollectorPool  # noqa: E402
from collectors.remote_stream import END, HEADER, FrameParser, collect_command  # noqa: E402
from collectors.ssh_connect import Connector  # noqa: E402
from collectors.ssh_targets import NodeTarget, SSHOptions  # noqa: E402

CHACHA = ("chacha20-poly1305@openssh.com",)
TARGET_RATIO, TARGET_P99_MS = 20.0, 50.0
RECORDED = {200: "0.47 ms/sample, 11.6x, 0 lost, p99 lateness 1.6 ms quiet / 58 ms loaded",
            1000: "10.6% lost, p99 lateness 477 ms"}


def node_addresses(n: int) -> dict[str, str]:
    """node name -> 127.<1 + i // 62500>.<i // 250 % 250 + 1>.<i % 250 + 1>: one address per node."""
    return {f"bench-{i:04d}": f"127.{1 + i // 62500}.{i // 250 % 250 + 1}.{i % 250 + 1}" for i in range(n)}


class BenchModel:
    """Node text as a simulator renders it: a full-size meminfo whose MemFree moves, and CPUs."""

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

    def node_stat(self, name: str) -> str:
        k = self.calls
        return (f"cpu  {400 * k} 0 {100 * k} {1500 * k} 3 0 1 0 0 0\n"
                + "".join(f"cpu{i} 0 0 0 0 0 0 0 0 0 0\n" for i in range(8)) + "intr 1 2 3\nctxt 4\n")


def _old_frame(seq: int, time_s: float, meminfo_text: str, loadavg_text: str,
               stat_text: str | None = None) -> str:
    """The previous version's frame: the whole /proc/meminfo and loadavg, no CPU."""
    load = loadavg_text.strip().splitlines()[0]
    return f"{HEADER}{seq} {int(round(time_s * 1e6))}\n{meminfo_text}@@loadavg {load}\n{END}{seq}\n"


def serve(first: int, count: int, total: int, workdir: Path, client_pub: str, old_frames: bool) -> None:
    """Child process: serve nodes [first, first + count) of ``total`` until stdin closes."""
    import asyncssh
    import asyncssh.connection as connection
    from asyncssh.constants import MSG_IGNORE

    import scaler.simserve.ssh_nodes as ssh_nodes

    send_packet = connection.SSHConnection.send_packet

    def sshd_like(self, pkttype, *args, handler=None):  # see the module doc
        if pkttype != MSG_IGNORE:
            send_packet(self, pkttype, *args, handler=handler)

    connection.SSHConnection.send_packet = sshd_like
    own_keys = asyncssh.import_authorized_keys
    ssh_nodes.asyncssh.import_authorized_keys = lambda text: own_keys(text + "\n" + client_pub)
    if old_frames:
        ssh_nodes.render_frame = _old_frame

    async def main() -> None:
        nodes = dict(list(node_addresses(total).items())[first : first + count])
        server = await ssh_nodes.start_sim_ssh_nodes(BenchModel(), nodes, workdir=workdir)
        print(json.dumps({"port": server.port, "known_hosts": str(server.known_hosts_path),
                          "nodes": nodes}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


class Servers:
    """K child processes serving n nodes between them."""

    def __init__(self, n: int, k: int, workdir: Path, key_path: Path, old_frames: bool = False) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.targets: list[NodeTarget] = []
        known_hosts = ""
        per = math.ceil(n / k)
        pub = Path(str(key_path) + ".pub").read_text().strip()
        for j in range(k):
            first, count = j * per, min(per, n - j * per)
            if count <= 0:
                break
            wd = workdir / f"server-{j}{'-old' if old_frames else ''}"
            argv = [sys.executable, __file__, "--serve", f"{first},{count},{n}", "--workdir", str(wd),
                    "--client-pub", pub] + (["--old-frames"] if old_frames else [])
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            known_hosts += Path(info["known_hosts"]).read_text()
            self.targets += [NodeTarget(name, a, info["port"]) for name, a in info["nodes"].items()]
        self.known_hosts = workdir / ("known_hosts-old" if old_frames else "known_hosts")
        self.known_hosts.write_text(known_hosts)

    def cpu(self) -> float:
        return sum(cpu_of(p.pid) for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.close()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def serve_batch(n: int, client_pub: str) -> None:
    """Child process for the multiplex estimate: one SSH server whose collector command prints
    n nodes' frames per tick in one write."""
    import asyncssh
    import asyncssh.connection as connection
    from asyncssh.constants import MSG_IGNORE

    from collectors.remote_stream import parse_collect_command, render_frame

    send_packet = connection.SSHConnection.send_packet

    def sshd_like(self, pkttype, *args, handler=None):
        if pkttype != MSG_IGNORE:
            send_packet(self, pkttype, *args, handler=handler)

    connection.SSHConnection.send_packet = sshd_like
    model = BenchModel()

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        interval, _ = parse_collect_command(process.command) or (1.0, 0)
        loop = asyncio.get_running_loop()
        due, seq = loop.time(), 0
        try:
            while not process.stdin.at_eof():
                process.stdout.write("".join(
                    render_frame(seq, time.time(), model.node_meminfo(str(i)), model.node_loadavg(str(i)),
                                 model.node_stat(str(i))) for i in range(n)))
                seq += 1
                due += interval
                await asyncio.sleep(max(0.0, due - loop.time()))
        except (OSError, asyncssh.Error):
            pass

    async def main() -> None:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        server = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[host_key],
                                       authorized_client_keys=asyncssh.import_authorized_keys(client_pub),
                                       process_factory=handle)
        print(json.dumps({"port": server.get_port(),
                          "host_key": host_key.export_public_key().decode().strip()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


def run_multiplexed(n: int, key_path: Path, workdir: Path, interval: float, seconds: float) -> Phase:
    import asyncssh

    from collectors.cpustat import cpu_percent
    from collectors.sample import NodeSample

    pub = Path(str(key_path) + ".pub").read_text().strip()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-batch", str(n), "--client-pub", pub],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    info = json.loads(proc.stdout.readline())
    kh = workdir / "known_hosts-batch"
    kh.write_text(f"[127.0.0.1]:{info['port']} {info['host_key']}\n")
    samples: list[tuple[float, float]] = []

    class Session(asyncssh.SSHClientSession[str]):
        def __init__(self) -> None:
            self.parser = FrameParser()
            self.prev: dict[int, object] = {}
            self.k = 0

        def data_received(self, data: str, datatype: asyncssh.DataType) -> None:
            for frame in self.parser.feed(data):  # the per-frame work of NodeCollector._on_frame
                node = self.k % n
                self.k += 1
                prev = self.prev.get(node)
                cpu = cpu_percent(prev, frame.cpu) if prev is not None and frame.cpu else None
                self.prev[node] = frame.cpu
                NodeSample.from_meminfo(str(node), frame.time, frame.meminfo, frame.load1, cpu=cpu,
                                        cpus=frame.cpus)
                samples.append((frame.time, time.time()))

    async def main() -> tuple[float, int, list[tuple[float, float]]]:
        async with asyncssh.connect("127.0.0.1", info["port"], username="core", client_keys=[str(key_path)],
                                    known_hosts=str(kh), config=(),
                                    encryption_algs=["aes128-gcm@openssh.com"]) as conn:
            await conn.create_session(Session, collect_command(interval))
            await asyncio.sleep(2 * interval)
            start = len(samples)
            cpu0 = time.process_time()
            await asyncio.sleep(seconds)
            return time.process_time() - cpu0, start, list(samples[start:])

    node0 = cpu_of(proc.pid)
    try:
        cpu, _, window = asyncio.run(main())
        node_cpu = cpu_of(proc.pid) - node0
    finally:
        proc.stdin.close()
        proc.wait(10)
    expected = int(round(seconds / interval)) * n
    return Phase("multiplexed", n, len(window), expected, max(0, expected - len(window)), cpu,
                 node_cpu, np.array([r - t for t, r in window]), np.array([]))


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (a node-side server)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    name: str
    nodes: int
    samples: int
    expected: int
    lost: int
    cpu_s: float
    node_cpu_s: float
    lag_s: np.ndarray
    late_s: np.ndarray
    side_cpu_s: float = 0.0  # the jump host's processes (jump phase)

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s / max(self.samples, 1) * 1000

    def p99_ms(self, a: np.ndarray) -> float:
        return float(np.percentile(a, 99)) * 1000 if len(a) else float("nan")

    def row(self) -> str:
        return (f"{self.name:<11} {self.nodes:>6d} {self.samples:>8d} {self.expected:>8d} {self.lost:>6d} "
                f"{self.cpu_s:>7.2f} {self.cpu_ms:>12.3f} "
                f"{self.node_cpu_s / max(self.samples, 1) * 1000:>12.3f} "
                f"{self.p99_ms(self.lag_s):>10.1f} {self.p99_ms(self.late_s):>11.1f}")


HEADER_ROW = (f"{'phase':<11} {'nodes':>6} {'samples':>8} {'expected':>8} {'lost':>6} {'cpu_s':>7} "
              f"{'cpu_ms/smpl':>12} {'node_ms/smpl':>12} {'lag_p99ms':>10} {'late_p99ms':>11}")


def run_persistent(name: str, servers: Servers, options: SSHOptions, interval: float,
                   seconds: float, pool_class: type = CollectorPool,
                   side_cpu: Callable[[], float] | None = None) -> Phase:
    """``side_cpu``: CPU seconds of a further process tree (the jump host), reported apart."""
    targets = servers.targets
    arrivals: list[tuple[str, float, float]] = []
    pool = pool_class(targets, options, interval,
                      on_sample=lambda s: arrivals.append((s.node, s.time, time.time())) if s.ok else None)
    started = time.monotonic()
    pool.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # every node streaming (a gap is news too: not enough)
            if sum(s.ok for s in pool.latest().values()) == len(targets):
                break
            time.sleep(0.1)
        connected_s = time.monotonic() - started
        time.sleep(2 * interval)  # settle: every node on its schedule
        start_index = len(arrivals)
        before = pool.stats()
        side0 = side_cpu() if side_cpu is not None else 0.0
        t0, cpu0, node0 = time.time(), time.process_time(), servers.cpu()
        time.sleep(seconds)
        t1, cpu1, node1 = time.time(), time.process_time(), servers.cpu()
        side1 = side_cpu() if side_cpu is not None else 0.0
        after = pool.stats()
        window = [a for a in arrivals[start_index:] if t0 <= a[1] < t1]
    finally:
        pool.stop()
    print(f"  {name}: {len(targets)} nodes connected in {connected_s:.1f} s", flush=True)
    lost = sum(after[n].lost - before[n].lost + after[n].gaps - before[n].gaps for n in after)
    # lateness: each node's samples against that node's own grid (its first sample + k * interval)
    first: dict[str, float] = {}
    late = []
    for node, t, _ in window:
        origin = first.setdefault(node, t)
        late.append(t - (origin + round((t - origin) / interval) * interval))
    expected = int(round(seconds / interval)) * len(targets)
    return Phase(name, len(targets), len(window), expected, lost, cpu1 - cpu0, node1 - node0,
                 np.array([r - t for _, t, r in window]), np.abs(np.array(late)), side1 - side0)


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (each one's own user + system)."""
    from tests.sshd_support import _descendants

    total = 0.0
    for p in [pid, *_descendants(pid)]:
        try:
            total += cpu_of(p)
        except (OSError, IndexError):
            pass  # gone meanwhile
    return total


def run_jump(servers: Servers, key_path: Path, workdir: Path, interval: float, seconds: float) -> Phase:
    """The fan-in through a jump host (``collectors.jump_pool``): a real OpenSSH sshd on loopback
    is the jump host, its ``ssh`` reaches the simulated nodes. This process's CPU is the
    collector's; the jump host's (sshd session, sh, the nodes' ssh and sed) is reported apart."""
    from collectors.jump_pool import JumpFanInPool
    from tests.sshd_support import Sshd

    jump = Sshd(workdir / "jump", Path(str(key_path) + ".pub")).start()
    try:
        kh = workdir / "known_hosts-jump"
        kh.write_text(jump.known_hosts_line())
        options = SSHOptions(
            user="core", identity_files=(str(key_path),), known_hosts=str(kh), config_files=(),
            connect_timeout_s=10, jump_host=f"{getpass.getuser()}@{jump.host}:{jump.port}",
            jump_fan_in=True,
            jump_ssh_options=(f"UserKnownHostsFile={servers.known_hosts}", f"IdentityFile={key_path}",
                              "IdentitiesOnly=yes"))
        assert jump.proc is not None
        pid = jump.proc.pid
        return run_persistent("jump", servers, options, interval, seconds, JumpFanInPool,
                              side_cpu=lambda: tree_cpu(pid))
    finally:
        jump.stop()


def run_per_sample(servers: Servers, options: SSHOptions, interval: float, seconds: float,
                   nodes: int) -> Phase:
    """One fresh connection per node per tick; a sample not in by the next tick is lost."""
    command = collect_command(interval, count=1)
    targets = servers.targets[:nodes]

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
        start = loop.time()
        for k in range(int(seconds / interval)):
            await asyncio.sleep(max(0.0, start + k * interval - loop.time()))
            due = time.time()
            tasks += [loop.create_task(one(connector, t, due, out)) for t in targets]
        await asyncio.gather(*tasks)
        return out

    cpu0, node0 = time.process_time(), servers.cpu()
    out = asyncio.run(main())
    cpu1, node1 = time.process_time(), servers.cpu()
    expected = int(seconds / interval) * len(targets)
    return Phase("per-sample", len(targets), len(out), expected, expected - len(out), cpu1 - cpu0,
                 node1 - node0, np.array([r - t for t, r, _ in out]), np.array([t - d for t, _, d in out]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--servers", type=int, default=None,
                    help="server processes for the nodes [default: one per 250 nodes, at least 2]")
    ap.add_argument("--baseline-nodes", type=int, default=50,
                    help="nodes sampled by a new connection per sample [default: 50]")
    ap.add_argument("--no-cipher-compare", action="store_true", help="skip the chacha20 phase")
    ap.add_argument("--no-before", action="store_true", help="skip the previous version's settings")
    ap.add_argument("--multiplex-estimate", action="store_true",
                    help="also estimate one multiplexed stream for all nodes (a design not built)")
    ap.add_argument("--jump", action="store_true",
                    help="also measure the fan-in through a jump host (a real sshd on loopback, "
                         "its ssh clients reaching the nodes)")
    ap.add_argument("--only-jump", action="store_true",
                    help="of the persistent phases, run only the fan-in (with the per-sample "
                         "baseline; implies --jump --no-cipher-compare --no-before)")
    ap.add_argument("--serve-batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--client-pub", help=argparse.SUPPRESS)
    ap.add_argument("--old-frames", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_batch:
        serve_batch(args.serve_batch, args.client_pub)
        return 0
    if args.serve:
        first, count, total = (int(x) for x in args.serve.split(","))
        serve(first, count, total, Path(args.workdir), args.client_pub, args.old_frames)
        return 0
    if args.nodes < 1 or args.seconds <= 0 or args.interval <= 0 or args.baseline_nodes < 1:
        print("bench_collectors: --nodes, --seconds, --interval, --baseline-nodes must be positive",
              file=sys.stderr)
        return 2
    if args.only_jump:
        args.jump = args.no_cipher_compare = args.no_before = True
    k = args.servers or max(2, math.ceil(args.nodes / 250))
    import asyncssh

    with tempfile.TemporaryDirectory(prefix="bench-collectors-") as tmp:
        workdir = Path(tmp)
        key_path = workdir / "id_ed25519"
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key_path))
        os.chmod(key_path, 0o600)
        asyncssh.read_private_key(str(key_path)).write_public_key(str(key_path) + ".pub")
        print(f"{args.nodes} simulated SSH nodes served by {k} processes, {1 / args.interval:g} Hz, "
              f"{args.seconds:g} s per phase (python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at start)", flush=True)
        phases: list[Phase] = []
        servers = Servers(args.nodes, k, workdir, key_path)
        try:
            base = SSHOptions(user="core", identity_files=(str(key_path),), known_hosts=str(servers.known_hosts),
                              config_files=(), connect_timeout_s=10)
            if not args.only_jump:
                phases.append(run_persistent("persistent", servers, base, args.interval, args.seconds))
            if not args.no_cipher_compare:
                chacha = SSHOptions(**{**vars(base), "ciphers": CHACHA})
                phases.append(run_persistent("chacha20", servers, chacha, args.interval, args.seconds))
            if args.jump:
                phases.append(run_jump(servers, key_path, workdir, args.interval, args.seconds))
            phases.append(run_per_sample(servers, base, args.interval, args.seconds,
                                         min(args.baseline_nodes, args.nodes)))
        finally:
            servers.close()
        if args.multiplex_estimate:
            phases.append(run_multiplexed(args.nodes, key_path, workdir, args.interval, args.seconds))
        if not args.no_before:
            old = Servers(args.nodes, k, workdir, key_path, old_frames=True)
            try:
                before = SSHOptions(user="core", identity_files=(str(key_path),), known_hosts=str(old.known_hosts),
                                    config_files=(), connect_timeout_s=10, ciphers=CHACHA,
                                    keepalive_interval_s=args.interval)
                phases.append(run_persistent("before", old, before, args.interval, args.seconds))
            finally:
                old.close()
    print(HEADER_ROW)
    for p in phases:
        print(p.row())
    by = {p.name: p for p in phases}
    naive = by["per-sample"]
    if "jump" in by:
        j = by["jump"]
        print(f"fan-in through a jump host: {j.cpu_ms:.3f} ms collector CPU per sample = "
              f"{naive.cpu_ms / j.cpu_ms:.1f}x vs per-sample (target >= {TARGET_RATIO:g}x), "
              f"{j.lost} lost of {j.expected}, p99 lateness {j.p99_ms(j.late_s):.1f} ms, "
              f"p99 delivery lag {j.p99_ms(j.lag_s):.1f} ms")
        print(f"  the jump host's own CPU (sshd session, sh, {j.nodes} ssh clients and sed): "
              f"{j.side_cpu_s / max(j.samples, 1) * 1000:.3f} ms per sample, "
              f"{j.side_cpu_s / args.seconds * 100:.0f}% of a core")
        if "persistent" in by:
            print(f"  persistent / fan-in collector CPU per sample = "
                  f"{by['persistent'].cpu_ms / j.cpu_ms:.1f}x")
    if "persistent" not in by:
        return 0
    now = by["persistent"]
    print(f"load average {os.getloadavg()[0]:.1f} at the end (2 cores shared: figures are noisy)")
    print(f"target CPU per sample, new connection per sample / persistent: "
          f"{naive.cpu_ms / now.cpu_ms:.1f}x (target >= {TARGET_RATIO:g}x)")
    if naive.lost:  # its CPU then also went to samples that never arrived: the fair figure lies between
        due_ms = naive.cpu_s / max(naive.expected, 1) * 1000
        print(f"  (counting the per-sample pattern's CPU over the samples due, lost included: "
              f"{due_ms / now.cpu_ms:.1f}x)")
    print(f"target lost at {now.nodes} nodes: {now.lost} of {now.expected} (target 0)")
    print(f"target p99 lateness at {now.nodes} nodes: {now.p99_ms(now.late_s):.1f} ms = "
          f"{now.p99_ms(now.late_s) / TARGET_P99_MS:.2f} of the {TARGET_P99_MS:g} ms target "
          f"(p99 delivery lag {now.p99_ms(now.lag_s):.1f} ms)")
    if "chacha20" in by:
        print(f"cipher: chacha20-poly1305 / aes128-gcm CPU per sample = "
              f"{by['chacha20'].cpu_ms / now.cpu_ms:.2f}x")
    if "before" in by:
        b = by["before"]
        print(f"before (previous settings) / now CPU per sample = {b.cpu_ms / now.cpu_ms:.2f}x; "
              f"before: {naive.cpu_ms / b.cpu_ms:.1f}x vs per-sample, {b.lost} lost, "
              f"p99 lateness {b.p99_ms(b.late_s):.1f} ms")
    if "multiplexed" in by:
        m = by["multiplexed"]
        print(f"estimate, one multiplexed stream: {m.cpu_ms:.3f} ms per sample = "
              f"{naive.cpu_ms / m.cpu_ms:.0f}x vs per-sample ({now.cpu_ms / m.cpu_ms:.1f}x below persistent)")
    if args.nodes in RECORDED:
        print(f"recorded before this version at {args.nodes} nodes (old code, quiet machine): "
              f"{RECORDED[args.nodes]}")
    if naive.lost:
        print(f"per-sample connections lost {naive.lost} of {naive.expected} samples at "
              f"{naive.nodes} nodes: its CPU per sample counts only those that arrived")
    return 0


if __name__ == "__main__":
    sys.exit(main())
