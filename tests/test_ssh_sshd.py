"""Collectors against a real OpenSSH sshd on loopback, sampling this machine's /proc/meminfo."""

import getpass
import io
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectors.meminfo import parse_meminfo
from collectors.node_collector import keepalive_after_silence
from collectors.pool import CollectorPool
from collectors.probe import probe
from collectors.remote_stream import MARKER
from collectors.ssh_connect import INSECURE_WARNING
from collectors.ssh_targets import NodeTarget, SSHOptions
from scaler.cli_nodes import nodes as nodes_group
from tests.sshd_support import Sshd, _descendants, free_port, wait_for, write_key

IV = 0.3  # sampling interval of these tests


@pytest.fixture
def client_key(tmp_path):
    path = tmp_path / "id_ed25519"
    write_key(path)
    return path


@pytest.fixture
def sshd(tmp_path, client_key):
    server = Sshd(tmp_path / "sshd", Path(str(client_key) + ".pub")).start()
    yield server
    server.stop()


def options_for(client_key, known_hosts_text, tmp_path, **extra):
    kh = tmp_path / "known_hosts"
    kh.write_text(known_hosts_text)
    base = dict(user=getpass.getuser(), identity_files=(str(client_key),), port=None,
                known_hosts=str(kh), config_files=(), connect_timeout_s=5.0)
    base.update(extra)
    return SSHOptions(**base)


class Collected:
    """Drains a pool into one list (as the engine would, once per step)."""

    def __init__(self, pool):
        self.pool, self.samples = pool, []

    def __call__(self):
        self.samples += self.pool.drain()
        return self.samples

    def ok_after(self, t):
        return [s for s in self() if s.ok and s.time > t]


def machine_mem_total_kib():
    with open("/proc/meminfo") as f:
        return parse_meminfo(f.read()).total_kib


def machine_cgroup():
    """Where this machine's memory controller is, as the remote loop names it."""
    unified = Path("/sys/fs/cgroup/cgroup.controllers")
    if unified.exists() and "memory" in unified.read_text().split():
        return "v2"
    return "v1" if Path("/sys/fs/cgroup/memory/memory.stat").exists() else "none"


def machine_cpus():
    with open("/proc/stat") as f:
        return sum(line.split()[0][3:].isdigit() for line in f if line.startswith("cpu"))


def test_collects_this_machines_meminfo(sshd, client_key, tmp_path):
    opts = options_for(client_key, sshd.known_hosts_line(), tmp_path)
    with CollectorPool([NodeTarget("here", "127.0.0.1", sshd.port)], opts, IV) as pool:
        got = Collected(pool)
        assert wait_for(lambda: len(got()) >= 5, 10)
        latest = pool.latest()["here"]
    samples = got()
    assert all(s.ok and s.node == "here" for s in samples)
    assert samples[0].mem_total_mib == pytest.approx(machine_mem_total_kib() / 1024)
    assert all(0 < s.mem_free_mib <= s.mem_total_mib for s in samples)
    assert all(s.load1 is not None and s.mem_available_mib is not None for s in samples)
    steps = [b.time - a.time for a, b in zip(samples, samples[1:], strict=False)]
    assert all(IV * 0.5 < d < IV * 1.5 for d in steps), steps  # the node's schedule, no drift
    assert abs(samples[-1].time - time.time()) < 2  # the node's clock (this machine's)
    assert latest.time >= samples[3].time
    # node CPU from /proc/stat in the same stream: from the second sample of the connection on
    assert all(s.cpus == machine_cpus() for s in samples)
    assert samples[0].cpu_busy_pct is None
    for s in samples[1:]:
        parts = (s.cpu_user_pct, s.cpu_system_pct, s.cpu_steal_pct)
        assert 0.0 <= s.cpu_busy_pct <= 100.0 and s.cpu_busy_pct == pytest.approx(sum(parts))
        assert 0.0 <= s.cpu_iowait_pct <= 100.0
    assert all(s.mem_shmem_mib is not None and s.mem_cached_mib is not None
               and s.mem_inactive_mib is not None for s in samples)
    stats = pool.stats()["here"]
    assert stats.connects == 1 and stats.lost == 0 and stats.bad_frames == 0


def remote_loops(sshd):
    """PIDs of collector loops under this test's sshd (the node, here): only its descendants,
    so loops of any other sshd on the machine do not count."""
    pids = []
    for pid in _descendants(sshd.proc.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == b"bash" and MARKER.encode() in argv:
            pids.append(pid)
    return pids


def test_one_lasting_remote_loop_per_node_gone_after_stop(sshd, client_key, tmp_path):
    opts = options_for(client_key, sshd.known_hosts_line(), tmp_path)
    before = set(remote_loops(sshd))
    # 0.3 s: a slow enough beat that a loaded machine does not make the collector give up on
    # the stream (3 intervals + 0.5 s) and start a second loop, which is right but not this test.
    with CollectorPool([NodeTarget("here", "127.0.0.1", sshd.port)], opts, 0.3) as pool:
        assert wait_for(lambda: len(pool.drain()) >= 1, 10)
        seen = set()
        for _ in range(10):  # the same single process across samples: no process per sample
            seen.add(tuple(sorted(set(remote_loops(sshd)) - before)))
            time.sleep(0.3)
        assert len(pool.drain()) >= 5
        assert len(seen) == 1 and len(next(iter(seen))) == 1, (seen, pool.stats())
    # stdin of the loop closes with the channel: the loop ends, no orphan left on the node
    assert wait_for(lambda: not set(remote_loops(sshd)) - before, 5)


def test_killed_node_reconnecting_within_3_intervals_then_resumes(sshd, client_key, tmp_path):
    opts = options_for(client_key, sshd.known_hosts_line(), tmp_path)
    pool = CollectorPool([NodeTarget("n1", "127.0.0.1", sshd.port)], opts, IV, backoff_max_s=1.0)
    got = Collected(pool)
    with pool:
        assert wait_for(lambda: len(got()) >= 3, 10)
        killed_at = time.time()
        sshd.kill()
        assert wait_for(lambda: any(not s.ok for s in got()), 3 * IV + 1)
        time.sleep(4 * IV)  # stays down a while: one gap per interval, values never repeated
        sshd.start()
        restarted_at = time.time()
        assert wait_for(lambda: len(got.ok_after(restarted_at)) >= 2, 8)
    samples = got()
    after = [s for s in samples if s.time > killed_at]
    first_gap = next(s for s in after if not s.ok)
    assert first_gap.time - killed_at <= 3 * IV
    before_restart = [s for s in after if s.time < restarted_at]
    assert before_restart and all(not s.ok for s in before_restart)  # nothing stale reported
    gaps = [s for s in samples if not s.ok]
    assert all(s.mem_free_mib is None and s.mem_total_mib is None and s.load1 is None for s in gaps)
    assert len(gaps) >= 4
    spacing = [b.time - a.time for a, b in zip(gaps, gaps[1:], strict=False)]
    assert min(spacing) >= 0.5 * IV  # once per interval, not a burst
    resumed = [s for s in samples if s.ok and s.time > restarted_at]
    assert resumed[0].cpu_busy_pct is None and resumed[1].cpu_busy_pct is not None  # no CPU across a gap
    statuses = "".join("o" if s.ok else "r" for s in samples)
    assert statuses.strip("o").strip("r") == "", statuses  # ok..., reconnecting..., ok...
    assert statuses.startswith("o") and statuses.endswith("o") and "r" in statuses
    times = [s.time for s in samples]
    assert times == sorted(times)
    assert pool.stats()["n1"].connects == 2


def test_silent_hang_detected(sshd, client_key, tmp_path):
    opts = options_for(client_key, sshd.known_hosts_line(), tmp_path, keepalive_count_max=2)
    pool = CollectorPool([NodeTarget("n1", "127.0.0.1", sshd.port)], opts, IV, backoff_max_s=1.0)
    got = Collected(pool)
    with pool:
        assert wait_for(lambda: len(got()) >= 2, 10)
        hung_at = time.time()
        sshd.pause()  # TCP stays up, nothing answers
        try:
            assert wait_for(lambda: any(not s.ok for s in got()), 10)
        finally:
            sshd.resume()
        resumed_at = time.time()
        assert wait_for(lambda: len(got.ok_after(resumed_at)) >= 1, 8)
    first_gap = next(s for s in got() if not s.ok)
    # no sample for 3 intervals (+ 0.5 s) is a lost stream, whether or not keepalives are due yet
    assert first_gap.time - hung_at <= 4 * IV + 0.5


def test_host_key_mismatch_refused_unless_insecure(sshd, client_key, tmp_path):
    impostor = write_key(tmp_path / "other_host_key")
    wrong = f"[127.0.0.1]:{sshd.port} {impostor.export_public_key().decode().strip()}\n"
    opts = options_for(client_key, wrong, tmp_path)
    target = NodeTarget("n1", "127.0.0.1", sshd.port)

    [result] = probe([target], opts, timeout_s=10)
    assert not result.reachable and "host key" in result.error

    pool = CollectorPool([target], opts, IV, stall_after_s=IV)
    got = Collected(pool)
    with pool:
        assert wait_for(lambda: sum(not s.ok for s in got()) >= 2, 5)
    assert not any(s.ok for s in got())
    assert "host key" in pool.stats()["n1"].last_error

    warned = io.StringIO()
    insecure = SSHOptions(**{**vars(opts), "insecure": True})
    [result] = probe([target], insecure, timeout_s=10, warn_to=warned)
    assert result.reachable and result.mem_total_mib == pytest.approx(machine_mem_total_kib() / 1024)
    assert warned.getvalue().strip() == INSECURE_WARNING


def test_jump_host_option(tmp_path, client_key):
    pub = Path(str(client_key) + ".pub")
    node = Sshd(tmp_path / "node", pub, host="127.0.0.2").start()
    jump = Sshd(tmp_path / "jump", pub, host="127.0.0.1", log_level="DEBUG1").start()
    try:
        opts = options_for(client_key, node.known_hosts_line() + jump.known_hosts_line(), tmp_path,
                           jump_host=f"{getpass.getuser()}@127.0.0.1:{jump.port}")
        targets = [NodeTarget("n1", "127.0.0.2", node.port), NodeTarget("n2", "127.0.0.2", node.port)]
        with CollectorPool(targets, opts, IV) as pool:
            got = Collected(pool)
            assert wait_for(lambda: {s.node for s in got() if s.ok} == {"n1", "n2"}, 10)
        log = jump.log_path.read_text()
        # both nodes went through the jump host's direct-tcpip, over one jump connection
        assert log.count(f"target 127.0.0.2 port {node.port}") == 2, log[-2000:]
        assert log.count("Accepted publickey") == 1
    finally:
        node.stop()
        jump.stop()


def test_proxyjump_from_ssh_config(tmp_path, client_key):
    pub = Path(str(client_key) + ".pub")
    node = Sshd(tmp_path / "node", pub, host="127.0.0.3").start()
    jump = Sshd(tmp_path / "jump", pub, host="127.0.0.1", log_level="DEBUG1").start()
    try:
        kh = tmp_path / "kh_all"
        kh.write_text(node.known_hosts_line() + jump.known_hosts_line())
        config = tmp_path / "ssh_config"
        config.write_text(
            f"Host 127.0.0.3\n  ProxyJump {getpass.getuser()}@127.0.0.1:{jump.port}\n"
            f"Host *\n  IdentityFile {client_key}\n  UserKnownHostsFile {kh}\n"
            f"  User {getpass.getuser()}\n"
        )
        opts = SSHOptions(user=None, port=None, config_files=(str(config),), connect_timeout_s=5.0)
        [result] = probe([NodeTarget("n1", "127.0.0.3", node.port)], opts, timeout_s=10)
        assert result.reachable, result.error
        assert f"target 127.0.0.3 port {node.port}" in jump.log_path.read_text()
    finally:
        node.stop()
        jump.stop()


def test_nodes_probe_command(sshd, client_key, tmp_path):
    kh = tmp_path / "kh"
    kh.write_text(sshd.known_hosts_line())
    dead_port = free_port()
    common = ["probe", "--ssh-user", getpass.getuser(), "-i", str(client_key),
              "--ssh-known-hosts", str(kh), "--timeout", "5s"]
    env = {"HOME": str(tmp_path)}  # no ~/.ssh/config of this machine's user
    r = CliRunner().invoke(nodes_group, [*common, "--node", f"w1=127.0.0.1:{sshd.port}"], env=env)
    assert r.exit_code == 0, r.output
    header, row = r.output.splitlines()
    assert header.split() == ["NODE", "ADDRESS", "REACHABLE", "LATENCY_MS", "MEMTOTAL_MIB", "CPUS",
                              "PODS", "ACCESS", "ERROR"]
    assert row.split()[:3] == ["w1", f"127.0.0.1:{sshd.port}", "yes"]
    assert int(row.split()[4]) == round(machine_mem_total_kib() / 1024)
    assert int(row.split()[5]) == machine_cpus()
    # no kubelet here: no pods, no reports; as this test's login user, without sudo
    pods, access = row.split()[6:]
    access = dict(word.split("=") for word in access.split(","))
    assert pods == "0" and access["uid"] == str(os.geteuid())
    assert access["via"] == "user" if os.geteuid() == 0 else access["via"] in ("nosudo", "refused")
    assert (access["cgroup"], access["pss"], access["reports"]) == (f"{machine_cgroup()}/none", "-",
                                                                     "absent")

    r = CliRunner().invoke(nodes_group, [*common, "--node", f"w1=127.0.0.1:{sshd.port}",
                                         "--node", f"w2=127.0.0.1:{dead_port}"], env=env)
    assert r.exit_code == 1
    rows = {line.split()[0]: line for line in r.output.splitlines()[1:]}
    assert rows["w1"].split()[2] == "yes" and rows["w2"].split()[2] == "no"
    assert "refused" in rows["w2"].lower() or "failed" in rows["w2"].lower()

    r = CliRunner().invoke(nodes_group, ["probe"], env=env)
    assert r.exit_code == 2 and "--node" in r.output


def test_probe_names_a_host_that_does_not_resolve(tmp_path):
    r = CliRunner().invoke(nodes_group, ["probe", "--node", "w1=no-such-node.invalid", "--timeout", "20s",
                                         "--ssh-known-hosts", "/dev/null"],
                           env={"HOME": str(tmp_path)})
    assert r.exit_code == 1, r.output
    row = r.output.splitlines()[1]
    assert "cannot resolve host 'no-such-node.invalid' (" in row and "Unknown error" not in row, row


@pytest.fixture
def logged_sshd(tmp_path, client_key):
    server = Sshd(tmp_path / "sshd", Path(str(client_key) + ".pub"), log_level="INFO").start()
    yield server
    server.stop()


def test_ssh_config_user_and_port_in_openssh_order(logged_sshd, client_key, tmp_path):
    """Command line, then ~/.ssh/config, then core: what OpenSSH does, with the real sshd."""
    sshd, me = logged_sshd, getpass.getuser()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
    config = home / ".ssh" / "config"

    def probe_row(*args, host="127.0.0.1"):
        r = CliRunner().invoke(nodes_group, ["probe", "-i", str(client_key), "--timeout", "10s",
                                             "--node", f"w1={host}", *args], env={"HOME": str(home)})
        return r.exit_code, r.output.splitlines()[-1].split()

    def log_grows(action):
        before = sshd.log_path.read_text()
        result = action()
        return result, sshd.log_path.read_text()[len(before):]

    # the config names user and port: both honoured (the defaults, core and 22, would fail)
    config.write_text(f"Host 127.0.0.1\n  User {me}\n  Port {sshd.port}\nHost *\n  User nobody-else\n")
    (code, row), log = log_grows(probe_row)
    assert code == 0 and row[1] == f"127.0.0.1:{sshd.port}" and row[2] == "yes", row
    assert f"Accepted publickey for {me} " in log

    # the command line wins over the config, for the user and for the port
    config.write_text(f"Host 127.0.0.1\n  User nobody-else\n  Port {free_port()}\n")
    (code, row), log = log_grows(lambda: probe_row("--ssh-user", me, "--ssh-port", str(sshd.port)))
    assert code == 0 and row[2] == "yes", row
    assert f"Accepted publickey for {me} " in log
    (code, row), _ = log_grows(lambda: probe_row("--ssh-user", me, host=f"127.0.0.1:{sshd.port}"))
    assert code == 0 and row[1] == f"127.0.0.1:{sshd.port}", row

    # neither names a user: core, the login user of OpenShift nodes (unknown to this sshd)
    config.write_text(f"Host 127.0.0.1\n  Port {sshd.port}\n")
    (code, row), log = log_grows(probe_row)
    assert code == 1 and row[2] == "no", row
    assert "Invalid user core " in log and f"for {me} " not in log


def test_no_keepalive_while_samples_flow(tmp_path, client_key):
    """asyncssh restarts its keepalive timer on every packet received, and the collectors' timer
    is longer than the sampling interval: a flowing stream costs no keepalive round trips."""
    sshd = Sshd(tmp_path / "sshd", Path(str(client_key) + ".pub"), log_level="DEBUG1").start()
    try:
        opts = options_for(client_key, sshd.known_hosts_line(), tmp_path)
        arrivals = []
        pool = CollectorPool([NodeTarget("n", "127.0.0.1", sshd.port)], opts, IV,
                             on_sample=lambda s: arrivals.append(time.monotonic()) if s.ok else None)
        with pool:
            assert wait_for(lambda: len(arrivals) >= 8, 15)
    finally:
        sshd.stop()
    keepalives = sshd.log_path.read_text().count("rtype keepalive@openssh.com")
    silence = keepalive_after_silence(IV)
    longest_wait = max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False))
    if longest_wait < silence:  # the stream never paused that long (on a loaded machine it may)
        assert keepalives == 0, keepalives
    assert silence > IV
