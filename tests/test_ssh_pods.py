"""Per-pod memory and work through the real sshd, from REAL cgroup v1 files and REAL processes.

A miniature node: test cgroups under this machine's cgroup v1 memory (and cpuacct) controllers,
laid out as the kubelet's cgroupfs driver does (``kubepods/<qos>/pod<uid>/<container>``, seen
through a cgroup root of symlinks), with the processes a node would have in them:

- a runc pod: the real workload in its container cgroup, ``pause`` in the sandbox's, ``conmon``
  in the pod cgroup, and a ``containerd-shim-runc-v2 -id <sandbox id>`` outside every pod cgroup
  (found through the id in its command line);
- a kata pod with ``sandbox_cgroup_only=false``: ``qemu-kvm`` (holding 12 MiB of an unlinked
  /dev/shm file, as QEMU's memory-backend-file does), ``virtiofsd`` and the kata shim in
  ``kata_overhead/<sandbox id>``; its workload runs "in the guest": a real workload outside any
  pod cgroup writing the pod's report file;
- a kata pod with ``sandbox_cgroup_only=true``: its VMM in ``kata_<id>`` under the pod cgroup;
- report files written by hand: one fresh with a fixed rate, one stale.

Every figure collected is compared with what the test reads itself from the same /proc and
cgroup files. cgroup v2 (not available here with its memory controller) is covered in
tests/test_collectors_pods.py on trees of real-format files.
"""

import getpass
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from collectors.pod_frames import parse_access, parse_pods, parse_work
from collectors.pool import CollectorPool
from collectors.remote_pods import PodReading
from collectors.ssh_targets import NodeTarget, SSHOptions
from tests.pods_support import (
    ROOT,
    LocalLoop,
    V1Node,
    now_us,
    proc_status_kib,
    report_path,
    smaps_rollup_kib,
    v1_cgroups_or_skip,
    workload_argv,
    world_readable_dir,
    write_report,
)
from tests.sshd_support import Sshd, write_key

IV = 0.3
SHM_MIB = 12
VMM = f"""
import mmap, os, sys, time
path = "/dev/shm/scaler-test-vmm-%d" % os.getpid()
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
os.unlink(path)  # as QEMU does with a memory-backend-file in a directory
os.ftruncate(fd, 32 << 20)
ram = mmap.mmap(fd, 32 << 20, mmap.MAP_SHARED)
for i in range(0, {SHM_MIB} << 20, 4096):
    ram[i] = 1
print("ready", flush=True)
time.sleep(600)
"""
SLEEP = ["sleep", "600"]


def sid() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, like a sandbox or container id


class Node:
    """The miniature node (see the module doc) and the pids of what runs on it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.kubelet = base / "kubelet"
        (self.kubelet / "pods").mkdir(parents=True)
        (self.kubelet / "pods").chmod(0o700)  # root only, as on a node
        (base / "cg").mkdir()
        self.v1 = V1Node(base / "cg")
        self.runc, self.kata_o, self.kata_s = (str(uuid.uuid4()) for _ in range(3))
        self.fixed, self.stale = str(uuid.uuid4()), str(uuid.uuid4())
        sr, cr, sk, sk2 = sid(), sid(), sid(), sid()
        v = self.v1
        runc_pod = f"kubepods/besteffort/pod{self.runc}"
        for uid in (self.runc, self.kata_o):
            report_path(self.kubelet, uid).parent.mkdir(parents=True)
        self.workload = v.start(workload_argv(report_path(self.kubelet, self.runc), 24, 10),
                                f"{runc_pod}/{cr}", cwd=ROOT)
        self.pause = v.start(SLEEP, f"{runc_pod}/{sr}", argv0="pause")
        self.conmon = v.start(SLEEP, runc_pod, argv0="conmon")
        self.runc_shim = v.start([sys.executable, "-c", "import time; time.sleep(600)", "-namespace",
                                  "k8s.io", "-id", sr], "system.slice/containerd.service",
                                 argv0="containerd-shim-runc-v2")
        kata_pod = f"kubepods/burstable/pod{self.kata_o}"
        v.cgroup(f"{kata_pod}/kata_{sk}")  # the sandbox cgroup: only vCPU threads in this mode
        overhead = f"kata_overhead/{sk}"
        self.qemu = v.start([sys.executable, "-c", VMM, "-name", f"sandbox-{sk}"], overhead,
                            argv0="qemu-kvm", stdout=-1)
        self.virtiofsd = v.start(SLEEP, overhead, argv0="virtiofsd")
        self.kata_shim = v.start(SLEEP, overhead, argv0="containerd-shim-kata-v2")
        self.guest = v.start(workload_argv(report_path(self.kubelet, self.kata_o), 20, 5),
                             "scaler-elsewhere", cwd=ROOT)  # "inside the VM": no pod cgroup
        self.qemu2 = v.start([sys.executable, "-c", VMM], f"kubepods/pod{self.kata_s}/kata_{sk2}",
                             argv0="qemu-system-x86_64", stdout=-1)
        for vmm in (self.qemu, self.qemu2):
            assert vmm.stdout.readline() == b"ready\n"
        write_report(self.kubelet, self.fixed, now_us(), 4321, period_us=3600_000_000)
        write_report(self.kubelet, self.stale, now_us() - 3600_000_000, 99)
        self.overhead_cgroup = v.memory / overhead
        self.pod_cgroups = {self.runc: v.memory / runc_pod, self.kata_o: v.memory / kata_pod,
                            self.kata_s: v.memory / f"kubepods/pod{self.kata_s}"}

    def reading(self, **kw) -> PodReading:
        return PodReading(pod_interval_s=IV, cgroup_root=str(self.base / "cg"),
                          kubelet_root=str(self.kubelet), sudo="never", **kw)

    def close(self) -> None:
        self.v1.close()


@pytest.fixture(scope="module")
def node():
    v1_cgroups_or_skip()
    base = world_readable_dir("scaler-node-")
    n = None
    try:
        n = Node(base)
        yield n
    finally:
        if n is not None:
            n.close()
        shutil.rmtree(base)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sshd")
    key = tmp / "id_ed25519"
    write_key(key)
    server = Sshd(tmp / "server", Path(str(key) + ".pub")).start()
    yield server, key
    server.stop()


def kib(path: Path) -> int:
    return int(path.read_text()) // 1024


def v1_stat(cgroup: Path) -> dict[str, int]:
    return {k: int(v) // 1024 for k, v in (line.split() for line in
                                         (cgroup / "memory.stat").read_text().splitlines())}


def runtime_kib(*procs, pss=True) -> int:
    """RssAnon + the process's share of file pages (Pss_File; RssFile without PSS)."""
    total = 0
    for p in procs:
        status = proc_status_kib(p.pid)
        total += status["RssAnon"] + (smaps_rollup_kib(p.pid)["Pss_File"] if pss else status["RssFile"])
    return total


def approx_mib(kib_value: int, rel: float = 0.1, abs_mib: float = 0.5):
    return pytest.approx(kib_value / 1024, rel=rel, abs=abs_mib)


def collect(node, sshd, until, timeout_s=30.0):
    """Sample the node through the real sshd until ``until(samples, pods)`` holds."""
    server, key = sshd
    kh = node.base / "known_hosts"
    kh.write_text(server.known_hosts_line())
    opts = SSHOptions(user=getpass.getuser(), identity_files=(str(key),), known_hosts=str(kh),
                      config_files=(), connect_timeout_s=5.0, reading=node.reading())
    samples, pods = [], []
    with CollectorPool([NodeTarget("n", "127.0.0.1", server.port)], opts, IV) as pool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            samples += pool.drain()
            pods += pool.drain_pods()
            if until(samples, pods):
                return samples, pods, pool.stats()["n"]
            time.sleep(0.05)
        raise AssertionError(f"not collected in {timeout_s}s: {pool.stats()}, {pods[-3:]}")


def last_sample(pods):
    """The newest pod sample: every record of the newest time."""
    t = max(p.time for p in pods)
    return {p.uid: p for p in pods if p.time == t}


def test_pods_memory_and_work_through_sshd_match_what_the_node_shows(node, sshd):
    def ready(samples, pods):
        if not pods:
            return False
        got = last_sample(pods)
        r, k = got.get(node.runc), got.get(node.kata_o)
        return (r is not None and k is not None and r.workload_mib and r.workload_mib >= 0.95 * 24
                and r.cpu_cores is not None and k.workload_mib and k.workload_mib >= 0.95 * 20
                and r.work_rate and k.work_rate)  # both workloads at their targets and reporting

    samples, pods, stats = collect(node, sshd, ready)
    got = last_sample(pods)
    t = next(iter(got.values())).time
    [sample] = [s for s in samples if s.time == t]  # the same frame: the same look at the reports

    # the runc pod: cgroup figures, the workload's own RSS, the runtime's processes (PSS)
    r = got[node.runc]
    cg = node.pod_cgroups[node.runc]
    st = v1_stat(cg)
    assert r.cgroup_mib == approx_mib(kib(cg / "memory.usage_in_bytes"))
    assert r.anon_mib == r.rss_mib == approx_mib(st["total_rss"])
    assert r.file_mib == approx_mib(st["total_cache"], abs_mib=1)
    assert r.kernel_mib == approx_mib(kib(cg / "memory.kmem.usage_in_bytes"), abs_mib=1)
    assert r.working_set_mib == approx_mib(kib(cg / "memory.usage_in_bytes") - st["total_inactive_file"])
    assert r.workload_mib == approx_mib(proc_status_kib(node.workload.pid)["VmRSS"], rel=0.02)
    assert r.runtime_mib == approx_mib(runtime_kib(node.pause, node.conmon, node.runc_shim))
    assert r.overhead_cgroup_mib is None and r.guest_backing_mib is None
    assert 0.0 <= r.cpu_cores <= 2.0  # a 10 % workload (cores, not percent nor microseconds)

    # kata, sandbox_cgroup_only=false: VMM, virtiofsd and shim in the overhead cgroup
    k = got[node.kata_o]
    assert k.guest_backing_mib == approx_mib(proc_status_kib(node.qemu.pid)["RssShmem"], rel=0.01)
    assert k.guest_backing_mib >= SHM_MIB
    assert k.runtime_mib == approx_mib(runtime_kib(node.qemu, node.virtiofsd, node.kata_shim))
    assert k.overhead_cgroup_mib == approx_mib(kib(node.overhead_cgroup / "memory.usage_in_bytes"))
    assert k.overhead_cgroup_mib >= SHM_MIB  # the guest's pages are charged where QEMU runs
    # its workload runs in the guest: the host sees its resident set only in its report
    assert k.workload_mib == approx_mib(proc_status_kib(node.guest.pid)["VmRSS"], rel=0.02)
    assert k.cgroup_mib < SHM_MIB  # the pod cgroup holds none of it (only vCPU threads would)

    # kata, sandbox_cgroup_only=true: the VMM inside the pod cgroup
    s = got[node.kata_s]
    assert s.guest_backing_mib == approx_mib(proc_status_kib(node.qemu2.pid)["RssShmem"], rel=0.01)
    assert s.runtime_mib == approx_mib(runtime_kib(node.qemu2))
    assert s.cgroup_mib >= SHM_MIB and s.overhead_cgroup_mib is None

    # work: the same frame's fresh reports, the stale one left out
    f = got[node.fixed]
    assert f.work_rate == 4321.0 and f.cgroup_mib is None  # a report, no cgroup seen
    assert node.stale not in got
    assert sample.work_pods == 3
    assert sample.work_rate == r.work_rate + k.work_rate + 4321.0
    assert stats.work_stale == 1 and stats.work_skewed == 0
    assert all(p.source == "ssh" and p.node == "n" and p.pod is None for p in got.values())

    assert stats.pods_layout == "v1 cgroupfs" and stats.kata_mode == "overhead"
    assert stats.access == {"euid": "0", "via": "user", "cgroup": "v1", "pods": "cgroupfs",
                            "smaps": "ok", "kubelet": "ok"}
    assert stats.bad_frames == 0 and stats.pod_samples >= 2


def test_a_stopped_workloads_report_goes_stale(node, sshd):
    node.workload.send_signal(signal.SIGTERM)
    assert node.workload.wait(10) == 0
    # its last report ages out after 3 periods (3 s): then only two fresh reports are left
    samples, _, stats = collect(node, sshd, lambda s, p: any(x.work_pods == 2 for x in s))
    assert stats.work_stale == 2


def test_what_an_unprivileged_user_reads(node):
    """As nobody: cgroup files and /proc/<pid>/status are world-readable, other users'
    smaps_rollup and the kubelet's pods directory are not; the access line says so."""
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    with LocalLoop(node.reading(), IV, argv_prefix=nobody, cwd="/") as loop:
        frame = loop.next()
        while "pods" not in frame.sections:
            frame = loop.next()
    access = parse_access(frame.sections["access"])
    assert access["euid"] == "65534" and access["smaps"] == "denied" and access["kubelet"] == "denied"
    work = parse_work(frame.sections["work"])
    assert work.rate is None and work.kubelet == "denied"
    header, lines = parse_pods(frame.sections["pods"])
    assert header.kata_mode == "overhead"
    by_uid = {p.uid: p for p in lines}
    assert by_uid[node.kata_o].vmm == "o" and by_uid[node.kata_s].vmm == "p"
    assert by_uid[node.runc].vmm == "-"
    # without PSS the runtime figure falls back to RssFile, an upper bound of the shared part
    k = by_uid[node.kata_s]
    assert (k.rt_anon + k.rt_file) / 1024 == approx_mib(runtime_kib(node.qemu2, pss=False))
    assert k.guest / 1024 == approx_mib(proc_status_kib(node.qemu2.pid)["RssShmem"], rel=0.01)
    assert k.cur is not None and k.anon is not None  # cgroup files are world-readable
