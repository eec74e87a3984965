"""Node CPU from /proc/stat: counters to percentages, and the collector's per-stream memory."""

import asyncio
import time
from pathlib import Path

import pytest

from collectors.cpustat import CpuTimes, cpu_percent, parse_cpu_fields, parse_proc_stat
from collectors.meminfo import parse_meminfo, render_meminfo
from collectors.node_collector import NodeCollector
from collectors.remote_stream import Frame
from collectors.ssh_connect import Connector
from collectors.ssh_targets import NodeTarget, SSHOptions


def test_percentages_over_the_interval_of_all_cpus():
    before = CpuTimes(user=100, nice=0, system=50, idle=800, iowait=10, irq=0, softirq=0, steal=0)
    # 200 ticks later: 60 user + 20 nice, 30 system + 5 irq + 5 softirq, 60 idle, 10 iowait, 10 steal
    after = CpuTimes(user=160, nice=20, system=80, idle=860, iowait=20, irq=5, softirq=5, steal=10)
    p = cpu_percent(before, after)
    assert p.user == pytest.approx(40.0) and p.system == pytest.approx(20.0)
    assert p.iowait == pytest.approx(5.0) and p.steal == pytest.approx(5.0)
    assert p.busy == pytest.approx(65.0)  # everything but idle and iowait
    assert cpu_percent(after, after) is None  # no tick passed: unknown, not 0 %
    assert cpu_percent(after, before) is None  # counters went back (a reboot): unknown


def test_parsing_is_strict_and_old_kernels_lack_fields():
    assert parse_cpu_fields("1 2 3 4".split()) == CpuTimes(1, 2, 3, 4)
    assert parse_cpu_fields("1 2 3".split()) is None
    assert parse_cpu_fields("1 2 x 4".split()) is None
    assert parse_proc_stat("cpu0 1 2 3 4\n") is None  # a per-CPU line is not the aggregate


def test_this_machines_proc_stat():
    t = parse_proc_stat(Path("/proc/stat").read_text())
    assert t is not None and t.total > 0 and t.idle > 0


def test_collector_reports_cpu_from_the_second_sample_of_each_connection():
    emitted = []
    info = parse_meminfo(render_meminfo({"MemTotal": 1000, "MemFree": 500, "Shmem": 256,
                                         "Cached": 512, "Inactive": 128}))
    t0 = CpuTimes(100, 0, 100, 800)
    t1 = CpuTimes(150, 0, 150, 900)  # 200 ticks: 25 % user, 25 % system

    async def scenario():
        c = NodeCollector(NodeTarget("n", "h"), Connector(SSHOptions(config_files=())), 1.0, emitted.append)
        c._on_frame(Frame(seq=0, time=time.time(), meminfo=info, load1=0.1, cpu=t0, cpus=4))
        c._on_frame(Frame(seq=1, time=time.time() + 1, meminfo=info, load1=0.1, cpu=t1, cpus=4))
        c._prev_cpu = None  # what a new connection does
        c._on_frame(Frame(seq=0, time=time.time() + 2, meminfo=info, load1=0.1, cpu=t1, cpus=4))

    asyncio.run(scenario())
    first, second, after_reconnect = emitted
    assert first.cpus == 4 and first.cpu_busy_pct is None and first.cpu_user_pct is None
    assert second.cpu_busy_pct == pytest.approx(50.0) and second.cpu_user_pct == pytest.approx(25.0)
    assert second.cpu_system_pct == pytest.approx(25.0) and second.cpu_steal_pct == 0.0
    assert after_reconnect.cpu_busy_pct is None  # never a percentage across a gap
    assert (second.mem_shmem_mib, second.mem_cached_mib, second.mem_inactive_mib) == (0.25, 0.5, 0.125)
