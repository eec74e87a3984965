"""The fan-in through a jump host (collectors.jump_pool): a real OpenSSH sshd on loopback is the
jump host, its real ``ssh`` client reaches simulated SSH nodes (scaler.simserve.ssh_nodes)."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from collectors.jump_pool import FANIN_MARKER, JumpFanInPool, fanin_command
from collectors.meminfo import render_meminfo
from collectors.pool import CollectorPool
from collectors.ssh_targets import NodeTarget, SSHOptions
from scaler.simserve.ssh_nodes import start_sim_ssh_nodes
from tests.sshd_support import (
    LoopThread,
    Sshd,
    _descendants,
    have,
    sim_addresses,
    wait_for,
    write_key,
)

IV = 0.3


class ConstModel:
    """Every node the same figures, so the direct and the fan-in path must agree exactly."""

    def node_meminfo(self, name: str) -> str:
        n = int(name.rsplit("-", 1)[1])
        return render_meminfo({"MemTotal": 8_000_000, "MemFree": 1_000_000 + n, "MemAvailable": 2_000_000,
                               "Active": 123, "Inactive": 45, "Shmem": 6, "Cached": 789})

    def node_loadavg(self, name: str) -> str:
        return "0.25 0.05 0.01 1/100 4242\n"


def processes_with(text: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append(int(entry))
    return out


@contextmanager
def fan_in_rig(tmp_path: Path, model, addresses: dict[str, str], **more: Any):
    """A real sshd as the jump host and simulated SSH nodes serving ``model`` at ``addresses``;
    yields the fan-in's options (``more`` added), the targets, the nodes and the jump host."""
    if not have("ssh"):
        pytest.skip("no ssh client")
    key = tmp_path / "id_ed25519"
    write_key(key)
    jump = Sshd(tmp_path / "jump", Path(str(key) + ".pub")).start()
    jump_kh = tmp_path / "known_hosts"
    jump_kh.write_text(jump.known_hosts_line())
    loop = LoopThread()
    nodes = loop.run(start_sim_ssh_nodes(model, addresses, workdir=tmp_path / "nodes"))
    try:
        targets = [NodeTarget(name, a, nodes.port) for name, a in addresses.items()]
        options = SSHOptions(
            user=getpass.getuser(), identity_files=(str(key),), known_hosts=str(jump_kh),
            config_files=(), connect_timeout_s=5.0, jump_host=f"{jump.host}:{jump.port}",
            jump_fan_in=True,
            jump_ssh_options=(f"UserKnownHostsFile={nodes.known_hosts_path}",
                              f"IdentityFile={nodes.client_key_path}", "IdentitiesOnly=yes"),
            **more)
        yield options, targets, nodes, jump
    finally:
        jump.stop()  # the jump host's ssh clients die with it: no node session left open

        async def shut():
            nodes.close()
            await nodes.wait_closed()
            await asyncio.sleep(0.2)  # the node sessions see their clients go

        loop.run(shut())
        loop.close()


@pytest.fixture
def rig(tmp_path):
    with fan_in_rig(tmp_path, ConstModel(), sim_addresses(4, first=40)) as (options, targets,
                                                                         nodes, jump):
        yield options, targets, nodes, tmp_path, jump


def ok_by_node(samples):
    out: dict[str, list] = {}
    for s in samples:
        if s.ok:
            out.setdefault(s.node, []).append(s)
    return out


def test_every_node_arrives_with_the_direct_paths_values_and_stop_leaves_nothing(rig):
    options, targets, nodes, tmp_path, jump = rig
    collected: list = []
    with JumpFanInPool(targets, options, IV) as pool:
        assert wait_for(lambda: (collected.extend(pool.drain()) or True)
                        and all(len(v) >= 3 for v in ok_by_node(collected).values())
                        and len(ok_by_node(collected)) == len(targets), 30)
        assert processes_with(str(nodes.client_key_path))  # the jump host's ssh clients
        stats = pool.stats()
        assert pool.jump_stats.access == {"merge": "python3"}  # this machine has python3
        assert pool.jump_stats.connects == 1 and pool.jump_stats.junk_chars == 0
    fan = ok_by_node(collected)
    assert set(fan) == {t.name for t in targets}
    assert all(s.connects == 1 and s.lost == 0 for s in stats.values())
    # nothing left on the jump host: the script, the nodes' ssh and sed are gone
    assert wait_for(lambda: not processes_with(str(nodes.client_key_path))
                    and not processes_with(FANIN_MARKER + "\0"), 10)

    direct_opts = SSHOptions(user="core", identity_files=(str(nodes.client_key_path),),
                             known_hosts=str(nodes.known_hosts_path), config_files=(),
                             connect_timeout_s=5.0)
    direct: list = []
    with CollectorPool(targets, direct_opts, IV) as pool:
        assert wait_for(lambda: (direct.extend(pool.drain()) or True)
                        and len(ok_by_node(direct)) == len(targets), 20)
    straight = ok_by_node(direct)
    for name in fan:
        a, b = asdict(fan[name][-1]), asdict(straight[name][-1])
        a.pop("time"), b.pop("time")
        assert a == b
        assert a["mem_free_mib"] == (1_000_000 + int(name.rsplit("-", 1)[1])) / 1024


def test_a_killed_node_ssh_is_that_nodes_gap_then_recovers(rig):
    options, targets, nodes, tmp_path, jump = rig
    collected: list = []
    victim = targets[1]
    with JumpFanInPool(targets, options, IV) as pool:
        assert wait_for(lambda: (collected.extend(pool.drain()) or True)
                        and len(ok_by_node(collected)) == len(targets), 30)
        pids = [p for p in processes_with(victim.host) if p in processes_with("ssh\0-T")]
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        mark = len(collected)

        def recovered():
            collected.extend(pool.drain())
            after = collected[mark:]
            gaps = [s for s in after if s.node == victim.name and not s.ok]
            ok = [s for s in after if s.node == victim.name and s.ok
                  and gaps and s.time > gaps[0].time]
            return bool(gaps) and len(ok) >= 2

        assert wait_for(recovered, 20)
        stats = pool.stats()
    after = collected[mark:]
    assert stats[victim.name].connects == 2 and stats[victim.name].failures >= 1
    assert "exited" in (stats[victim.name].last_error or "")
    for t in targets:  # the others never had a gap
        if t != victim:
            assert all(s.ok for s in after if s.node == t.name)
            assert stats[t.name].connects == 1


def test_hostile_hosts_and_users_stay_quoted(rig, tmp_path):
    options, targets, nodes, _, _ = rig
    canary = tmp_path / "pwned"
    hostile = [
        NodeTarget("a", f"$(touch {canary})", nodes.port),
        NodeTarget("b", f"-oProxyCommand=touch {canary}", nodes.port),
        NodeTarget("c", f"x';touch {canary};'", nodes.port),
        NodeTarget("d", f"`touch {canary}`", nodes.port),
    ]
    command = fanin_command([(t.host, t.port, f"u$(touch {canary})") for t in hostile], options, IV)
    assert "touch" in command
    collected: list = []
    with JumpFanInPool(hostile + targets[:1], options, IV) as pool:
        # each hostile address fails in the jump host's ssh (a name lookup may take a while)
        assert wait_for(lambda: all("exited" in (pool.stats()[n].last_error or "") for n in "abcd")
                        and (collected.extend(pool.drain()) or True)
                        and {s.node for s in collected if not s.ok} >= {"a", "b", "c", "d"}
                        and any(s.ok for s in collected if s.node == "node-000"), 60)
    assert not any(s.ok for s in collected if s.node in "abcd")
    # a hostile user: recent OpenSSH refuses it, older ones pass it on quoted; never run
    opts = SSHOptions(**{**vars(options), "user": f"x;touch {canary}"})
    with JumpFanInPool(targets[:1], opts, IV) as pool:
        assert wait_for(lambda: pool.stats()["node-000"].last_error is not None
                        or pool.stats()["node-000"].frames > 0, 30)
    assert not canary.exists()


def test_the_real_bash_loop_through_the_jump_host_samples_on_the_grid(tmp_path):
    """The jump host reaches itself as two nodes (two loopback addresses of one real sshd): the
    real remote loop, aligned, with this machine's /proc figures."""
    if not have("ssh"):
        pytest.skip("no ssh client")
    key = tmp_path / "id_ed25519"
    write_key(key)
    jump = Sshd(tmp_path / "jump", Path(str(key) + ".pub"), host="127.0.0.1").start()
    node = Sshd(tmp_path / "node", Path(str(key) + ".pub"), host="127.0.0.2").start()
    try:
        kh = tmp_path / "known_hosts"
        kh.write_text(jump.known_hosts_line())
        node_kh = tmp_path / "node_known_hosts"
        node_kh.write_text(node.known_hosts_line() + jump.known_hosts_line())
        options = SSHOptions(
            user=getpass.getuser(), identity_files=(str(key),), known_hosts=str(kh), config_files=(),
            connect_timeout_s=5.0, jump_host=f"{jump.host}:{jump.port}", jump_fan_in=True,
            jump_ssh_options=(f"UserKnownHostsFile={node_kh}", f"IdentityFile={key}",
                              "IdentitiesOnly=yes"))
        targets = [NodeTarget("n-a", node.host, node.port), NodeTarget("n-b", jump.host, jump.port)]
        collected: list = []
        with JumpFanInPool(targets, options, IV) as pool:
            assert wait_for(lambda: (collected.extend(pool.drain()) or True)
                            and all(len(v) >= 4 for v in ok_by_node(collected).values())
                            and len(ok_by_node(collected)) == 2, 30)
        with open("/proc/meminfo") as f:
            total_kib = int(f.readline().split()[1])
        for samples in ok_by_node(collected).values():
            assert samples[-1].mem_total_mib == total_kib / 1024
            assert samples[-1].cpu_busy_pct is not None  # /proc/stat read by the real loop
            # aligned: samples near multiples of the interval, so the nodes share one grid (the
            # median, and a third of the interval: generous for a loaded machine)
            errors = sorted(min(p, 1 - p) * IV for p in ((s.time / IV) % 1.0 for s in samples))
            assert errors[len(errors) // 2] < IV / 3, errors
        assert wait_for(lambda: not processes_with(FANIN_MARKER + "\0"), 10)
    finally:
        node.stop()
        jump.stop()


def test_the_session_chooses_the_fan_in_when_asked():
    from scaler.cluster import ClusterInfo
    from scaler.errors import UserError
    from scaler.node_sources import ssh_pool, ssh_problem
    from scaler.request import CollectorChoice

    info = ClusterInfo("openshift", "4.16", ())
    targets = (NodeTarget("w1", "10.0.0.1"),)
    fan = CollectorChoice(options=SSHOptions(jump_host="bastion", jump_fan_in=True), targets=targets)
    assert isinstance(ssh_pool(fan, info), JumpFanInPool)
    assert ssh_problem(fan, info) is None  # the jump host's keys reach the nodes: no local probe
    direct = CollectorChoice(options=SSHOptions(jump_host="bastion"), targets=targets)
    assert isinstance(ssh_pool(direct, info), CollectorPool)
    many = tuple(NodeTarget(f"w{i}", f"10.{i // 62500}.{i // 250 % 250}.{i % 250}") for i in range(3000))
    with pytest.raises(UserError, match="--jump-fan-in: 3000 nodes make a"):
        ssh_pool(CollectorChoice(options=fan.options, targets=many), info)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        JumpFanInPool(list(targets), SSHOptions(jump_host="b", jump_fan_in=True,
                                                jump_ssh_options=("-oProxyCommand=x",)))


def test_the_command_quotes_every_value_and_ends_with_the_marker():
    options = SSHOptions(jump_host="b", jump_fan_in=True, jump_ssh_options=("IdentityFile=/k k",))
    command = fanin_command([("h;rm -rf /", 22, "u$(x)"), ("10.0.0.2", None, "core")], options, 1.0)
    assert command.startswith("exec sh -c ") and command.endswith(" " + FANIN_MARKER)
    import shlex

    script = shlex.split(command)[3]  # exec sh -c SCRIPT MARKER
    assert "n 0 0 -l 'u$(x)' -p 22 -- 'h;rm -rf /' &" in script
    assert "n 1 250000 -l core -- 10.0.0.2 &" in script  # spread over half the interval
    assert "-o 'IdentityFile=/k k'" in script and "-o StrictHostKeyChecking=yes" in script
    insecure = fanin_command([("h", 22, "u")], SSHOptions(jump_host="b", insecure=True), 1.0)
    assert "StrictHostKeyChecking=no" in insecure


def test_losing_the_jump_connection_is_every_nodes_gap_and_leaves_no_orphan(rig):
    """The jump host's sshd session dies (not its listener): every node becomes a gap, the
    pool connects again and starts a new script; the old script's processes end by themselves
    (their channel is gone), none left behind."""
    options, targets, nodes, tmp_path, jump = rig
    collected: list = []
    with JumpFanInPool(targets, options, IV) as pool:
        assert wait_for(lambda: (collected.extend(pool.drain()) or True)
                        and len(ok_by_node(collected)) == len(targets), 30)
        old_clients = set(processes_with(str(nodes.client_key_path)))
        sessions = [p for p in _descendants(jump.proc.pid) if _comm(p).startswith("sshd")]
        assert sessions
        for pid in sessions:
            os.kill(pid, signal.SIGKILL)
        mark = len(collected)

        def all_back():
            collected.extend(pool.drain())
            after = collected[mark:]
            gapped = {s.node for s in after if not s.ok}
            back = {s.node for s in after if s.ok and s.node in gapped}
            return gapped == back == {t.name for t in targets}

        assert wait_for(all_back, 30)
        assert pool.jump_stats.connects == 2 and pool.jump_stats.failures >= 1
        # the first script's ssh clients (and sed, coalescer) ended without being told
        assert wait_for(lambda: not (old_clients & set(processes_with(str(nodes.client_key_path)))), 15)
    assert wait_for(lambda: not processes_with(str(nodes.client_key_path)), 10)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_pod_records_and_work_come_through_the_fan_in(tmp_path):
    """Per-pod sections ride the same channel: the records equal the model's truth."""
    from collectors.remote_pods import PodReading
    from tests.test_ssh_sim_nodes import PodModel

    addresses = {"pods-a": "127.0.0.52", "pods-b": "127.0.0.53"}
    model = PodModel(addresses)
    samples: list = []
    pods: list = []
    with fan_in_rig(tmp_path, model, addresses,
                    reading=PodReading(pod_interval_s=2 * IV)) as (options, targets, _, _):
        with JumpFanInPool(targets, options, IV) as pool:
            def enough():
                samples.extend(pool.drain())
                pods.extend(pool.drain_pods())
                return len({(p.node, p.time) for p in pods}) >= 4
            assert wait_for(enough, 20)
            stats = pool.stats()
    assert {s.node for s in samples if s.ok} == set(addresses)
    assert all(s.work_rate == 3000.0 and s.work_pods == 2 for s in samples if s.ok)
    for name in addresses:
        truth = {p.uid: p for p in model.truth[name]}
        got = [p for p in pods if p.node == name]
        assert got and {p.uid for p in got} == set(truth)
        for p in got:
            assert (p.cgroup_mib, p.anon_mib, p.runtime_mib) == \
                (truth[p.uid].cgroup_mib, truth[p.uid].anon_mib, truth[p.uid].runtime_mib)
        assert stats[name].kata_mode == "sandbox" and stats[name].pod_records >= 6


def test_a_jump_host_without_python3_still_fans_in(tmp_path, rig):
    """No python3 on the jump host: the lines go to sshd unmerged (a warning), samples the same."""
    import shutil

    options, targets, nodes, _, _ = rig
    key = tmp_path / "bare_key"
    write_key(key)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "ssh", "sed", "date", "sleep", "cat"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    bare = Sshd(tmp_path / "bare", Path(str(key) + ".pub"))
    with open(bare.config_path, "a") as f:
        f.write(f"SetEnv PATH={bin_dir}\n")
    bare.start()
    try:
        kh = tmp_path / "bare_known_hosts"
        kh.write_text(bare.known_hosts_line())
        opts = SSHOptions(**{**vars(options), "identity_files": (str(key),), "known_hosts": str(kh),
                             "jump_host": f"{bare.host}:{bare.port}"})
        collected: list = []
        with JumpFanInPool(targets, opts, IV) as pool:
            assert wait_for(lambda: (collected.extend(pool.drain()) or True)
                            and all(len(v) >= 3 for v in ok_by_node(collected).values())
                            and len(ok_by_node(collected)) == len(targets), 30)
            assert pool.jump_stats.access == {"merge": "none"}
            stats = pool.stats()
        assert all(s.lost == 0 and s.bad_frames == 0 for s in stats.values())
    finally:
        bare.stop()
