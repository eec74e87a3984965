"""Many in-process asyncssh nodes (scaler.simserve.ssh_nodes) sampled by one CollectorPool."""

import time
from collections import defaultdict

import asyncssh
import pytest

from collectors.pod_sample import PodMemory
from collectors.pool import CollectorPool
from collectors.remote_pods import PodReading
from collectors.remote_stream import FrameParser, collect_command
from collectors.ssh_targets import NodeTarget, SSHOptions
from scaler.simserve.ssh_nodes import start_sim_ssh_nodes
from tests.sshd_support import FakeNodeModel, LoopThread, sim_addresses

IV = 0.25


class PerNodeModel(FakeNodeModel):
    """Each node reports its own MemTotal, so a sample shows which node answered."""

    def node_meminfo(self, name):
        text = super().node_meminfo(name)
        index = int(name.split("-")[1])
        return text.replace(f"{self.total_kib:>8d}", f"{self.total_kib + 1024 * index:>8d}", 1)


@pytest.fixture
def served(tmp_path):
    nodes = sim_addresses(50)
    model = PerNodeModel(nodes)
    loop = LoopThread()
    server = loop.run(start_sim_ssh_nodes(model, nodes, workdir=tmp_path))
    yield nodes, model, server, loop
    loop.shut(server)
    loop.close()


def options(server, **extra):
    return SSHOptions(user="core", identity_files=(str(server.client_key_path),), port=server.port,
                      known_hosts=str(server.known_hosts_path), config_files=(), **extra)


def test_fifty_nodes_no_sample_lost_monotonic_per_node(served):
    nodes, model, server, _ = served
    pool = CollectorPool([NodeTarget(n, a) for n, a in nodes.items()], options(server), IV)
    pool.start()
    try:
        time.sleep(3.0)
        first = pool.drain()
        time.sleep(1.0)
    finally:
        started = time.monotonic()
        pool.stop()
        stop_s = time.monotonic() - started
    samples = first + pool.drain()
    by_node = defaultdict(list)
    for s in samples:
        by_node[s.node].append(s)
    assert set(by_node) == set(nodes)
    stats = pool.stats()
    for name, series in by_node.items():
        assert all(s.ok for s in series), name
        times = [s.time for s in series]
        assert times == sorted(times) and len(set(times)) == len(times), name
        index = int(name.split("-")[1])
        assert {s.mem_total_mib for s in series} == {16 * 1024 + index}, name  # the right node
        # MemFree falls 1 MiB per rendering: every rendered sample arrived, in order, once
        frees = [s.mem_free_mib for s in series]
        assert all(round(a - b) == 1 for a, b in zip(frees, frees[1:], strict=False)), name
        assert len(series) == model.calls[name] or len(series) == model.calls[name] - 1
        assert stats[name].lost == 0 and stats[name].bad_frames == 0 and stats[name].gaps == 0
        assert stats[name].connects == 1
        assert len(series) >= 3.0 / IV  # sampled at the interval throughout
        assert all(s.cpus is None and s.cpu_busy_pct is None for s in series)  # model has no node_stat
    assert stop_s < 3.0  # prompt: connections closed, thread joined


def test_server_serves_the_collector_and_allowed_commands_with_verified_keys(served):
    nodes, _, server, loop = served
    name, address = next(iter(nodes.items()))

    async def run(command):
        async with asyncssh.connect(address, server.port, username="core",
                                    client_keys=[str(server.client_key_path)],
                                    known_hosts=str(server.known_hosts_path), config=()) as conn:
            return await conn.run(command, check=False)

    other = loop.run(run("cat /etc/shadow"))
    assert other.exit_status == 127 and "command not allowed" in other.stderr
    sample = loop.run(run("cat /proc/meminfo"))  # a script's read-only command is answered
    assert sample.exit_status == 0 and sample.stdout.startswith("MemTotal:")
    one = loop.run(run(collect_command(0.5, count=2)))
    frames = FrameParser().feed(one.stdout)
    assert [f.seq for f in frames] == [0, 1] and one.exit_status == 0
    assert frames[1].time - frames[0].time == pytest.approx(0.5, abs=0.2)
    kh = server.known_hosts_path.read_text().splitlines()
    assert len(kh) == len(nodes) and kh[0].startswith(f"[{address}]:{server.port} ssh-ed25519 ")


def test_model_failure_is_a_visible_gap_not_a_dead_collector(served):
    nodes, model, server, _ = served
    name, address = next(iter(nodes.items()))
    del model.calls[name]  # the model no longer knows this node: node_meminfo raises
    pool = CollectorPool([NodeTarget(name, address)], options(server), IV, stall_after_s=IV,
                         backoff_max_s=0.5)
    with pool:
        time.sleep(6 * IV)
    samples = pool.drain()
    assert samples and all(not s.ok for s in samples)
    assert name in pool.stats()[name].last_error  # the node's stderr line reached the stats


def test_the_simulator_model_over_ssh(tmp_path):
    """scaler.sim.SimModel's nodes, served over SSH and sampled by the real collectors."""
    from collectors.meminfo import parse_meminfo
    from scaler.sim.model import SimModel
    from scaler.sim.profile import load_profile

    model = SimModel(load_profile(None, workers=3))
    nodes = {name: f"127.0.0.{20 + i}" for i, name in enumerate(model.node_names)}
    loop = LoopThread()
    server = loop.run(start_sim_ssh_nodes(model, nodes, workdir=tmp_path))
    try:
        with CollectorPool([NodeTarget(n, a) for n, a in nodes.items()], options(server), IV) as pool:
            deadline = time.monotonic() + 10
            while len(pool.latest()) < len(nodes) and time.monotonic() < deadline:
                time.sleep(0.05)
            latest = pool.latest()
    finally:
        loop.shut(server)
        loop.close()
    assert set(latest) == set(model.node_names)
    for name, sample in latest.items():
        expected = parse_meminfo(model.node_meminfo(name))
        assert sample.ok and sample.mem_total_mib == pytest.approx(expected.total_mib)
        assert sample.load1 == pytest.approx(float(model.node_loadavg(name).split()[0]))


def test_frames_carry_the_given_clock(tmp_path):
    nodes = {"solo": "127.0.0.30"}
    loop = LoopThread()
    server = loop.run(start_sim_ssh_nodes(FakeNodeModel(nodes), nodes, workdir=tmp_path,
                                          clock=lambda: 1234.5))

    async def one():
        async with asyncssh.connect("127.0.0.30", server.port, username="core",
                                    client_keys=[str(server.client_key_path)],
                                    known_hosts=str(server.known_hosts_path), config=()) as conn:
            return await conn.run(collect_command(1.0, count=1), check=False)

    try:
        [frame] = FrameParser().feed(loop.run(one()).stdout)
    finally:
        loop.shut(server)
        loop.close()
    assert frame.time == 1234.5


class CpuModel(FakeNodeModel):
    """Adds /proc/stat: 4 CPUs, each rendering 100 ticks later with 30 user, 10 system, 5 steal."""

    def node_stat(self, name):
        k = self.calls[name]  # node_meminfo is rendered first, so k counts frames
        cpus = "".join(f"cpu{i} 0 0 0 0 0 0 0 0 0 0\n" for i in range(4))
        return f"cpu  {30 * k} 0 {10 * k} {55 * k} 0 0 0 {5 * k} 0 0\n{cpus}intr 0\nctxt 0\n"


def test_node_cpu_from_a_model_with_node_stat(tmp_path):
    nodes = {"cpu-node": "127.0.0.31"}
    loop = LoopThread()
    server = loop.run(start_sim_ssh_nodes(CpuModel(nodes), nodes, workdir=tmp_path))
    try:
        with CollectorPool([NodeTarget(n, a) for n, a in nodes.items()], options(server), IV) as pool:
            deadline = time.monotonic() + 10
            samples = []
            while len(samples) < 3 and time.monotonic() < deadline:
                samples += pool.drain()
                time.sleep(0.05)
    finally:
        loop.shut(server)
        loop.close()
    assert len(samples) >= 3 and all(s.ok and s.cpus == 4 for s in samples)
    assert samples[0].cpu_busy_pct is None
    for s in samples[1:]:
        assert (s.cpu_user_pct, s.cpu_system_pct, s.cpu_steal_pct) == pytest.approx((30.0, 10.0, 5.0))
        assert s.cpu_busy_pct == pytest.approx(45.0) and s.cpu_iowait_pct == 0.0


class PodModel(FakeNodeModel):
    """Adds ``node_pods``: each node's pods as the model's truth (contract 9 records)."""

    def __init__(self, names):
        super().__init__(names)
        self.truth = {
            name: [
                PodMemory(name, 0.0, "ssh", f"{i:08d}-0000-4000-8000-{len(name):012d}",
                          cgroup_mib=100.0 + i, working_set_mib=90.0 + i, anon_mib=80.0 + i,
                          file_mib=10.0, shmem_mib=1.0, kernel_mib=2.5, workload_mib=60.0,
                          runtime_mib=40.0 if i else 3.0, overhead_cgroup_mib=None,
                          guest_backing_mib=700.0 if i else None, cpu_cores=0.25,
                          work_rate=1000.0 * (i + 1) if i < 2 else None)
                for i in range(3)
            ]
            for name in names
        }

    def node_pods(self, name):
        return self.truth[name]


def test_pods_and_work_from_a_model_with_node_pods(tmp_path):
    nodes = {"pods-a": "127.0.0.32", "pods-b": "127.0.0.33"}
    model = PodModel(nodes)
    loop = LoopThread()
    server = loop.run(start_sim_ssh_nodes(model, nodes, workdir=tmp_path))
    reading = PodReading(pod_interval_s=2 * IV)
    try:
        with CollectorPool([NodeTarget(n, a) for n, a in nodes.items()],
                           options(server, reading=reading), IV) as pool:
            deadline = time.monotonic() + 15
            samples, pods = [], []
            while time.monotonic() < deadline and len({(p.node, p.time) for p in pods}) < 4:
                samples += pool.drain()
                pods += pool.drain_pods()
                time.sleep(0.05)
            stats = pool.stats()
    finally:
        loop.shut(server)
        loop.close()
    assert {s.node for s in samples} == set(nodes)
    assert all(s.work_rate == 3000.0 and s.work_pods == 2 for s in samples)  # every frame
    times = {name: sorted({p.time for p in pods if p.node == name}) for name in nodes}
    for name in nodes:
        assert len(times[name]) >= 2
        frames = sorted(s.time for s in samples if s.node == name)
        assert times[name][1] == frames[frames.index(times[name][0]) + 2]  # every 2nd frame
        got = [p for p in pods if p.node == name and p.time == times[name][1]]
        truth = {p.uid: p for p in model.truth[name]}
        assert len(got) == 3
        for p in got:
            t = truth[p.uid]
            for field in ("cgroup_mib", "working_set_mib", "anon_mib", "file_mib", "shmem_mib",
                          "kernel_mib", "runtime_mib", "overhead_cgroup_mib", "guest_backing_mib",
                          "work_rate"):
                assert getattr(p, field) == getattr(t, field), (field, p, t)
            # the workload: seen on the host without a VM, through a fresh report inside one
            assert p.workload_mib == (60.0 if t.guest_backing_mib is None or t.work_rate else None)
            assert p.cpu_cores == pytest.approx(0.25, rel=0.01)
        assert stats[name].kata_mode == "sandbox" and stats[name].access["via"] == "sim"
