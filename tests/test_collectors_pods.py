"""Per-pod sections of the remote loop, run by real shells on trees of real-format cgroup files.

cgroup v2's memory controller is not available on this machine (v2 is mounted without it), so
v2 is read here from directory trees of files in the kernel's format; real v1 cgroups with real
processes are in tests/test_ssh_pods.py.
"""

import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from collectors.pod_frames import (
    PodRecords,
    PodSectionRenderer,
    parse_access,
    parse_pods,
    parse_work,
)
from collectors.pod_sample import PodMemory
from collectors.remote_pods import PodReading, bash_pods
from collectors.remote_stream import SUDO_REFUSED, FrameParser, render_frame
from collectors.sample import drain_pods
from tests.pods_support import (
    V2_KEYS,
    V2_KEYS_5_15,
    LocalLoop,
    cgroupfs_pod_dir,
    frames_of,
    now_us,
    systemd_pod_dir,
    v2_stat,
    world_readable_dir,
    write_report,
)

MEMINFO = "MemTotal: 1000 kB\nMemFree: 500 kB\n"
MIB = 1024 * 1024


def reading(tmp_path, **kw):
    base = dict(pod_interval_s=0.2, cgroup_root=str(tmp_path / "cg"),
                kubelet_root=str(tmp_path / "kubelet"), sudo="never")
    base.update(kw)
    return PodReading(**base)


def records(frames, node="n"):
    tracker = PodRecords(node)
    out = []
    for f in frames:
        parsed = parse_pods(f.sections.get("pods"))
        assert parsed is not None, f.sections
        out.append({p.uid: p for p in tracker.records(f.time, parsed[1])})
    return out


# -- the wire format ----------------------------------------------------------------------------


def test_render_then_parse_gives_the_models_figures_back():
    runc = PodMemory("n", 0.0, "ssh", str(uuid.uuid4()), cgroup_mib=510.0, working_set_mib=500.0,
                     rss_mib=490.0, anon_mib=490.0, file_mib=15.0, shmem_mib=0.5, kernel_mib=4.0,
                     workload_mib=495.0, runtime_mib=3.25, cpu_cores=0.2, work_rate=1500.0)
    kata = PodMemory("n", 0.0, "ssh", str(uuid.uuid4()), cgroup_mib=40.0, working_set_mib=40.0,
                     anon_mib=30.0, file_mib=2.0, shmem_mib=0.0, kernel_mib=8.0, workload_mib=450.0,
                     runtime_mib=60.0, overhead_cgroup_mib=70.0, guest_backing_mib=700.0,
                     cpu_cores=0.5, work_rate=900.0)
    stale_kata = PodMemory("n", 0.0, "ssh", str(uuid.uuid4()), cgroup_mib=900.0,
                           runtime_mib=61.0, guest_backing_mib=800.0, workload_mib=400.0)
    renderer = PodSectionRenderer()
    parser, tracker = FrameParser(), PodRecords("n")
    got = []
    for seq, t in enumerate((100.0, 102.0)):
        sections = renderer.render(t, [runc, kata, stale_kata], with_pods=True, with_work=True)
        [frame] = parser.feed(render_frame(seq, t, MEMINFO, "0 0 0 1/1 1", None, sections))
        header, lines = parse_pods(frame.sections["pods"])
        got.append({p.uid: p for p in tracker.records(frame.time, lines)})
        assert parse_work(frame.sections["work"]) == (2400.0, 2, 0, 0, "ok")
        assert parse_access(frame.sections["access"])["via"] == "sim"
    assert header.kata_mode == "overhead" and header.pods == 3
    first, second = got
    r = second[runc.uid]
    assert (r.cgroup_mib, r.working_set_mib, r.rss_mib, r.anon_mib, r.file_mib, r.shmem_mib,
            r.kernel_mib, r.workload_mib, r.runtime_mib, r.work_rate) == (
        510.0, 500.0, 490.0, 490.0, 15.0, 0.5, 4.0, 495.0, 3.25, 1500.0)
    assert r.overhead_cgroup_mib is None and r.guest_backing_mib is None and r.source == "ssh"
    assert first[runc.uid].cpu_cores is None and r.cpu_cores == pytest.approx(0.2)
    k = second[kata.uid]
    assert (k.workload_mib, k.runtime_mib, k.overhead_cgroup_mib, k.guest_backing_mib) == (
        450.0, 60.0, 70.0, 700.0)  # the workload of a VM: the report's resident set
    assert k.cpu_cores == pytest.approx(0.5)
    s = second[stale_kata.uid]
    assert s.work_rate is None and s.workload_mib is None  # inside a VM, no fresh report: unknown
    assert s.guest_backing_mib == 800.0 and s.working_set_mib is None


def test_sections_must_be_whole_lines_that_do_not_end_the_frame():
    with pytest.raises(ValueError):
        render_frame(0, 1.0, MEMINFO, "0", None, "@@work 1 1 0 0 ok")  # no newline
    with pytest.raises(ValueError):
        render_frame(0, 1.0, MEMINFO, "0", None, "@@work 1 1 0 0 ok\n@@end 0\n")
    with pytest.raises(ValueError):
        bash_pods(volume="x/../y")


def test_drain_pods_of_a_source_that_cannot_see_pods_is_empty():
    class NodesOnly:
        def drain(self):
            return []

    assert drain_pods(NodesOnly()) == []


# -- cgroup v2, both kubelet drivers --------------------------------------------------------------


def v2_tree(tmp_path, layout=systemd_pod_dir, keys=None):
    cg = tmp_path / "cg"
    cg.mkdir()
    (cg / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    pods = {}
    for i, qos in enumerate(("guaranteed", "burstable", "besteffort")):
        uid = str(uuid.uuid4())
        d = layout(cg, qos, uid)
        d.mkdir(parents=True)
        values = dict(anon=(100 + i) * MIB, file=(20 + i) * MIB, kernel=(3 + i) * MIB,
                      shmem=(1 + i) * MIB, inactive_file=(5 + i) * MIB,
                      kernel_stack=MIB, pagetables=2 * MIB, percpu=4096, sock=0, slab=3 * MIB)
        (d / "memory.stat").write_text(v2_stat(keys or V2_KEYS, **values))
        (d / "memory.current").write_text(f"{(130 + i) * MIB + 123}\n")
        (d / "cpu.stat").write_text(f"usage_usec {1_000_000 * (i + 1)}\nuser_usec 1\nsystem_usec 2\n"
                                    "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
        pods[uid] = (i, qos)
    return pods


@pytest.mark.parametrize("layout, driver", [(systemd_pod_dir, "systemd"),
                                            (cgroupfs_pod_dir, "cgroupfs")])
def test_v2_pod_cgroups_in_either_kubelet_layout(tmp_path, layout, driver):
    pods = v2_tree(tmp_path, layout)
    frames = frames_of(reading(tmp_path), 2)
    header, lines = parse_pods(frames[0].sections["pods"])
    assert (header.cgroup, header.driver, header.kata_mode, header.pods) == ("v2", driver, "-", 3)
    assert {p.uid: p.qos for p in lines} == {
        uid: {"guaranteed": "g", "burstable": "b", "besteffort": "e"}[q] for uid, (_, q) in pods.items()}
    first, second = records(frames)
    for uid, (i, _) in pods.items():
        p = first[uid]
        assert p.cgroup_mib == ((130 + i) * MIB + 123) // 1024 / 1024
        assert (p.anon_mib, p.rss_mib, p.file_mib, p.shmem_mib, p.kernel_mib) == (
            100 + i, 100 + i, 20 + i, 1 + i, 3 + i)
        assert p.working_set_mib == pytest.approx(p.cgroup_mib - (5 + i))
        assert p.cpu_cores is None and second[uid].cpu_cores == 0.0  # usage did not move
        assert (p.runtime_mib, p.workload_mib, p.overhead_cgroup_mib, p.guest_backing_mib,
                p.work_rate) == (None, None, None, None, None)  # no such processes, no reports
    assert parse_work(frames[0].sections["work"]).kubelet == "absent"
    access = parse_access(frames[0].sections["access"])
    assert access == {"euid": str(os.geteuid()), "via": "user", "cgroup": "v2", "pods": driver,
                      "smaps": "-", "kubelet": "absent"}


def test_v2_before_linux_5_18_sums_the_kernel_parts(tmp_path):
    """memory.stat had no "kernel" line before 5.18: stacks + page tables + percpu + sock + slab."""
    pods = v2_tree(tmp_path, systemd_pod_dir, keys=V2_KEYS_5_15)
    [got] = records(frames_of(reading(tmp_path), 1))
    for uid in pods:
        assert got[uid].kernel_mib == (MIB + 2 * MIB + 4096 + 0 + 3 * MIB) // 1024 / 1024
        assert got[uid].anon_mib is not None


def test_v1_hierarchical_figures_and_kmem(tmp_path):
    """v1 (memory controller at <root>/memory): total_* of memory.stat, kmem usage, cpuacct."""
    cg = tmp_path / "cg"
    (cg / "memory").mkdir(parents=True)
    (cg / "memory" / "memory.stat").write_text("cache 1\nrss 2\n")
    uid = str(uuid.uuid4())
    rel = cgroupfs_pod_dir(Path("."), "burstable", uid)
    d = cg / "memory" / rel
    d.mkdir(parents=True)
    (d / "memory.usage_in_bytes").write_text(f"{300 * MIB}\n")
    (d / "memory.kmem.usage_in_bytes").write_text(f"{6 * MIB}\n")
    (d / "memory.stat").write_text(
        f"cache {MIB}\nrss {MIB}\nshmem 0\nmapped_file 0\ninactive_file 0\n"
        f"total_cache {40 * MIB}\ntotal_rss {250 * MIB}\ntotal_rss_huge 0\n"
        f"total_shmem {2 * MIB}\ntotal_mapped_file {MIB}\ntotal_inactive_file {30 * MIB}\n")
    (cg / "cpuacct" / rel).mkdir(parents=True)
    (cg / "cpuacct" / "cpuacct.usage").write_text("1\n")
    (cg / "cpuacct" / rel / "cpuacct.usage").write_text("5000000000\n")
    frames = frames_of(reading(tmp_path), 1)
    assert frames[0].sections["pods"].startswith("v1 cgroupfs - 1\n")
    p = records(frames)[0][uid]
    assert (p.cgroup_mib, p.anon_mib, p.file_mib, p.shmem_mib, p.kernel_mib, p.working_set_mib) == (
        300.0, 250.0, 40.0, 2.0, 6.0, 270.0)
    assert frames[0].sections["pods"].split("\n")[1].split()[8] == "5000000"  # cpu usec


def test_no_kubepods_no_pods_and_a_missing_root_is_not_an_error(tmp_path):
    (tmp_path / "cg").mkdir()
    [frame] = frames_of(reading(tmp_path), 1)
    assert frame.sections["pods"] == "none none - 0"
    assert frame.meminfo.total_kib > 0  # the node's own figures still flow


# -- work reports -------------------------------------------------------------------------------


def test_fresh_stale_and_future_reports(tmp_path):
    kubelet = tmp_path / "kubelet"
    period = 10_000_000  # 10 s periods: fresh for 30 s, however slow this machine is today
    now = now_us()
    fresh = [write_report(kubelet, str(uuid.uuid4()), now, 1200, period),
             write_report(kubelet, str(uuid.uuid4()), now + period, 34, period)]  # slightly ahead
    write_report(kubelet, str(uuid.uuid4()), now - 10 * period, 999, period)  # stopped long ago
    write_report(kubelet, str(uuid.uuid4()), now + 10 * period, 777, period)  # far in the future
    bad = write_report(kubelet, str(uuid.uuid4()), now, 5, period)
    bad.write_text("scaler-work 2 1 2 3 4 5 6\n")  # another version of the format: skipped
    (kubelet / "pods" / str(uuid.uuid4())).mkdir()  # a pod without the volume
    [frame] = frames_of(reading(tmp_path, pod_interval_s=0), 1)
    assert parse_work(frame.sections["work"]) == (1234.0, 2, 2, 0, "ok")
    assert "pods" not in frame.sections  # pods off: work alone
    assert len(fresh) == 2


def test_a_guest_clock_off_by_more_than_three_periods_still_counts_while_it_writes(tmp_path):
    """Under kata the report's timestamp is the guest's clock: one that is far behind the node's
    fails the age test, but a report whose timestamp changed since the loop's previous look was
    written after that look, by the node's own clock: fresh until 3 periods after that look."""
    kubelet = tmp_path / "kubelet"
    uid = str(uuid.uuid4())
    period = 1_000_000
    behind = now_us() - 3600 * period  # an hour behind
    write_report(kubelet, uid, behind, 500, period)
    with LocalLoop(reading(tmp_path, pod_interval_s=0.2), 0.2) as loop:
        before = [parse_work(loop.next().sections["work"]) for _ in range(2)]
        write_report(kubelet, uid, behind + 1, 600, period)  # the guest wrote again
        seen, pod = [], None
        while True:  # fresh from the first look after the write, stale 3 periods later
            f = loop.next()
            seen.append(parse_work(f.sections["work"]))
            if seen[-1].pods:
                pod = parse_pods(f.sections["pods"])[1]
            elif pod is not None:
                break
    stale = (0.0, 0, 1, 0, "ok")
    assert all(w == stale for w in before)
    first = next(i for i, w in enumerate(seen) if w.pods)
    assert all(w == stale for w in seen[:first])  # looks the loop took before the write
    assert all(w == (600.0, 1, 0, 1, "ok") for w in seen[first:-1])  # counted as skewed
    assert seen[-1] == stale
    assert [(p.uid, p.work_rate, p.work_rss) for p in pod] == [(uid, 600, 1000)]


def test_reports_unreadable_without_root_are_unknown_not_zero():
    base = world_readable_dir("scaler-kubelet-")
    try:
        (base / "kubelet" / "pods").mkdir(parents=True)
        (base / "kubelet" / "pods").chmod(0o700)  # as the kubelet makes it: root only
        nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        [frame] = frames_of(reading(base, pod_interval_s=0), 1, argv_prefix=nobody, cwd="/")
    finally:
        shutil.rmtree(base)
    work = parse_work(frame.sections["work"])
    assert work.kubelet == "denied" and work.rate is None and work.pods is None


# -- how the loop starts: sudo ----------------------------------------------------------------------


def fake_bin(tmp_path, uid: int, sudo: str | None) -> dict[str, str]:
    """A PATH with an ``id`` saying ``uid`` and, if given, a ``sudo`` script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    if sudo is not None:
        (bin_dir / "sudo").write_text("#!/bin/sh\n" + sudo)
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}


PASSWORDLESS = '[ "$1" = -n ] || exit 2\nshift\necho sudo-used >> "$(dirname "$0")/log"\nexec "$@"\n'
ASKS_PASSWORD = 'echo "sudo: a password is required" >&2\nexit 1\n'


@pytest.mark.parametrize("policy, uid, sudo, via", [
    ("auto", 1000, PASSWORDLESS, "sudo"),
    ("auto", 1000, ASKS_PASSWORD, "refused"),
    ("auto", 1000, None, "nosudo"),
    ("auto", 0, PASSWORDLESS, "user"),  # root already: no sudo
    ("never", 1000, PASSWORDLESS, "user"),
    ("always", 1000, PASSWORDLESS, "sudo"),
    ("always", 0, None, "user"),
])
def test_sudo_policy(tmp_path, policy, uid, sudo, via):
    env = fake_bin(tmp_path, uid, sudo)
    (tmp_path / "cg").mkdir()
    [frame] = frames_of(reading(tmp_path, sudo=policy), 1, env=env)
    assert parse_access(frame.sections["access"])["via"] == via
    used = (tmp_path / "bin" / "log").exists()
    assert used == (via == "sudo")  # one sudo for the whole stream, not one per sample


def test_sudo_always_refuses_to_run_without_it(tmp_path):
    env = fake_bin(tmp_path, 1000, ASKS_PASSWORD)
    loop = LocalLoop(reading(tmp_path, sudo="always"), 0.2, 1, env=env)
    out, err = loop.proc.communicate(timeout=10)
    assert loop.proc.returncode == 126 and out == ""
    assert err.strip() == SUDO_REFUSED
