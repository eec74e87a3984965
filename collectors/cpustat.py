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
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuTimes:
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
        return (self.user + self.nice + self.system + self.idle + self.iowait + self.irq
                + self.softirq + self.steal)


@dataclass(frozen=True)
class CpuPercent:
    busy: float
    user: float
    system: float
    iowait: float
    steal: float


def parse_cpu_fields(fields: Sequence[str]) -> CpuTimes | None:
    """The numbers after ``cpu`` on /proc/stat's first line; None unless at least the first
    four (user, nice, system, idle) are there and all are counters."""
    if len(fields) < 4 or not all(f.isdigit() for f in fields):
        return None
    values = [int(f) for f in fields[:8]]
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
    deltas = [a - b for a, b in zip(_values(after), _values(before), strict=True)]
    if any(d < 0 for d in deltas):
        return None
    user, nice, system, _idle, iowait, irq, softirq, steal = deltas
    total = sum(deltas)
    if total <= 0:
        return None
    scale = 100.0 / total
    u, s, st = (user + nice) * scale, (system + irq + softirq) * scale, steal * scale
    busy = min(100.0, u + s + st)  # the sum of three roundings may pass 100 by 1e-14
    return CpuPercent(busy=busy, user=u, system=s, iowait=iowait * scale, steal=st)


def _values(t: CpuTimes) -> tuple[int, ...]:
    return (t.user, t.nice, t.system, t.idle, t.iowait, t.irq, t.softirq, t.steal)
