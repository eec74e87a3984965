"""The cluster-wide node figures of one step (run.csv): memory, work and CPU over the nodes whose
newest sample is fresh and ok (team contracts 3, 11). Pure: samples in, figures out.

Two rules, each written once here:

- a **sum** (memory, work, busy cores) is empty unless every fresh node gave its part: a total
  over some of the nodes would read as a drop in the cluster's figure, not as missing data;
- a **mean** (CPU percentages) is over the fresh nodes that gave the figure: a node whose first
  sample after a (re)connection has no CPU percent yet does not empty the column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collectors.sample import NodeSample

MEMORY_SUMS = ("mem_total_mib", "mem_free_mib", "mem_available_mib", "mem_active_mib")
# NodeSample fields averaged over the nodes (percent of each node's CPUs).
CPU_MEANS = ("cpu_busy_pct", "cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "cpu_steal_pct")


@dataclass(frozen=True)
class NodeSums:
    """One step's node figures; None where the rule above leaves them empty."""

    nodes_sampled: int = 0
    mem_total_mib: float | None = None
    mem_free_mib: float | None = None
    mem_available_mib: float | None = None
    mem_active_mib: float | None = None
    # Work (team contract 8/11): pages/s summed over the fresh workload reports, and how many.
    work_rate: float | None = None
    work_pods: int | None = None
    cpu_busy_pct: float | None = None
    cpu_busy_cores: float | None = None  # sum over nodes of busy% x CPUs / 100
    cpu_user_pct: float | None = None
    cpu_system_pct: float | None = None
    cpu_iowait_pct: float | None = None
    cpu_steal_pct: float | None = None


def fresh_samples(latest: Iterable[NodeSample], now: float, stale_s: float) -> list[NodeSample]:
    """The newest samples that are ok and at most ``stale_s`` old at ``now``."""
    return [s for s in latest if s.ok and now - s.time <= stale_s]


def _value(s: NodeSample, name: str) -> float | None:
    v = getattr(s, name)
    return None if v is None else float(v)


def _total(fresh: list[NodeSample], name: str) -> float | None:
    vals = [_value(s, name) for s in fresh]
    if not vals or any(v is None for v in vals):
        return None
    return float(sum(v for v in vals if v is not None))


def _mean(fresh: list[NodeSample], name: str) -> float | None:
    vals = [v for s in fresh if (v := _value(s, name)) is not None]
    return sum(vals) / len(vals) if vals else None


def _busy_cores(s: NodeSample) -> float | None:
    busy, cpus = _value(s, "cpu_busy_pct"), _value(s, "cpus")
    return None if busy is None or cpus is None else busy * cpus / 100.0


def node_sums(fresh: list[NodeSample]) -> NodeSums:
    """The step's figures over ``fresh`` (see ``fresh_samples``)."""
    if not fresh:
        return NodeSums()
    cores = [_busy_cores(s) for s in fresh]
    work_pods = _total(fresh, "work_pods")
    return NodeSums(
        nodes_sampled=len(fresh),
        **{name: _total(fresh, name) for name in MEMORY_SUMS},
        work_rate=_total(fresh, "work_rate"),
        work_pods=None if work_pods is None else int(work_pods),
        cpu_busy_cores=None if any(c is None for c in cores) else sum(
            c for c in cores if c is not None),
        **{name: _mean(fresh, name) for name in CPU_MEANS},
    )
