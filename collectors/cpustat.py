"""Node CPU from the aggregate ``cpu`` line of /proc/stat: counters in, percentages out.

proc(5): the line holds the time all CPUs together spent in each state since boot, in USER_HZ
ticks: user, nice, system, idle, iowait (since Linux 2.5.41), irq, softirq (2.6.0), steal
(2.6.11), guest (2.6.24), guest_nice (2.6.33). guest and guest_nice are already counted inside
user and nice, so they are not added again. Percentages are over the interval between two
samples and over all CPUs (100 = every CPU busy):

- user = user + nice (includes the guest time of VMs such as kata's);
- system = system + irq + softirq;
- iowait and steal as they are (steal: time the hypervisor gave to someone else);
- busy = user + system + steal, i.e. everything but idle and iowait (iowait is idle time with
  I/O outstanding, not work).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

# NamedTuples, not dataclasses: one of each per node per sample, on the collectors' hot path
# (a tuple is built in one step, a frozen dataclass one attribute at a time).


class CpuTimes(NamedTuple):
    """Cumulative ticks of all CPUs (fields a kernel does not report are 0)."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: int = 0
    irq: int = 0
    softirq: int = 0
    steal: int = 0

    @property
    def total(self) -> int:
        return sum(self)


class CpuPercent(NamedTuple):
    busy: float
    user: float
    system: float
    iowait: float
    steal: float


def parse_cpu_fields(fields: Sequence[str]) -> CpuTimes | None:
    """The numbers after ``cpu`` on /proc/stat's first line; None unless at least the first
    four (user, nice, system, idle) are there and all are counters."""
    if len(fields) < 4:
        return None
    try:
        values = [int(f) for f in fields[:8]]
    except ValueError:
        return None
    if min(values) < 0:
        return None
    return CpuTimes(*values)


def parse_proc_stat(text: str) -> CpuTimes | None:
    """The aggregate line of /proc/stat text (for tests and simulated nodes)."""
    first = text.split("\n", 1)[0].split()
    if not first or first[0] != "cpu":
        return None
    return parse_cpu_fields(first[1:])


def cpu_percent(before: CpuTimes, after: CpuTimes) -> CpuPercent | None:
    """Percent of all CPUs per state between two samples; None when no tick passed or a counter
    went backwards (the node rebooted: the two samples are from different boots)."""
    # spelled out rather than zipped: this runs once per node per sample
    user, nice, system = after[0] - before[0], after[1] - before[1], after[2] - before[2]
    idle, iowait, irq = after[3] - before[3], after[4] - before[4], after[5] - before[5]
    softirq, steal = after[6] - before[6], after[7] - before[7]
    if min(user, nice, system, idle, iowait, irq, softirq, steal) < 0:
        return None
    total = user + nice + system + idle + iowait + irq + softirq + steal
    if total <= 0:
        return None
    scale = 100.0 / total
    u, s, st = (user + nice) * scale, (system + irq + softirq) * scale, steal * scale
    busy = min(100.0, u + s + st)  # the sum of three roundings may pass 100 by 1e-14
    return CpuPercent(busy=busy, user=u, system=s, iowait=iowait * scale, steal=st)
