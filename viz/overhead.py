"""Measured vs declared pod overhead (issue 14.4): what a pod costs its node beyond its workload's
own resident set, per pod, against the RuntimeClass's ``overhead.podFixed``.

Pure (numpy only, no I/O, no scaler import): the engine feeds it run.pods.csv's rows as it writes
them (summary and status line), ``viz report`` feeds it the file's rows, and both get the same
figures. One definition each:

- a pod's **host memory** is its pod cgroup (``cgroup_mib``) plus kata's sandbox overhead cgroup
  when the runtime puts the VMM there (``overhead_cgroup_mib``, sandbox_cgroup_only=false): all
  the node's memory charged to the pod. The VM's guest memory (``guest_backing_mib``) is charged
  to the process that touched it, the VMM, so it is inside one of the two already;
- its **overhead** is host memory minus the workload's own resident set (``workload_mib``);
- each pod counts once, with its **last measurement while running** (class ``running``): a pod
  starting, being evicted or OOM-killed is not at its steady cost; a long-lived pod weighs no
  more than a short one;
- the **distribution** is over pods: median, 90th percentile, maximum;
- the declared overhead is **under-stated** when the measured median exceeds it (no verdict
  when nothing is declared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RUNNING = "running"


def host_mib(cgroup_mib: float | None, overhead_cgroup_mib: float | None) -> float | None:
    """All the node memory charged to a pod (see above); None when the pod cgroup is unknown."""
    if cgroup_mib is None:
        return None
    return cgroup_mib + (overhead_cgroup_mib or 0.0)


def pod_overhead(cgroup_mib: float | None, overhead_cgroup_mib: float | None,
                 workload_mib: float | None) -> float | None:
    """Host memory minus the workload's resident set; None when either is unknown."""
    host = host_mib(cgroup_mib, overhead_cgroup_mib)
    if host is None or workload_mib is None or math.isnan(host) or math.isnan(workload_mib):
        return None
    return host - workload_mib


@dataclass(frozen=True)
class OverheadStats:
    """The distribution of the per-pod overhead, MiB, over ``pods`` pods."""

    pods: int
    median_mib: float
    p90_mib: float
    max_mib: float

    def exceeds(self, declared_mib: float | None) -> bool | None:
        """The measured median is above the declared overhead; None when nothing is declared
        (the default runtime has no RuntimeClass, so no podFixed to hold it against)."""
        return None if declared_mib is None else self.median_mib > declared_mib


def overhead_stats(values: np.ndarray | list[float]) -> OverheadStats | None:
    """Median, 90th percentile and maximum of per-pod overheads; None without any."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    return OverheadStats(pods=int(v.size), median_mib=float(np.median(v)),
                         p90_mib=float(np.percentile(v, 90)), max_mib=float(v.max()))


def covering(values: np.ndarray | list[float], percentile: float = 90.0) -> float | None:
    """The overhead that covers ``percentile`` % of the pods (a podFixed to suggest)."""
    v = np.asarray(values, dtype=float)
    return float(np.percentile(v, percentile)) if v.size else None


class PodOverheads:
    """Each pod's overhead, from its measurements in the order they were taken (run.pods.csv's
    rows): the last one while running wins."""

    def __init__(self) -> None:
        self._by_pod: dict[str, float] = {}
        self._stats: OverheadStats | None = None
        self._dirty = False

    def add(self, uid: str, pod_class: str, cgroup_mib: float | None,
            overhead_cgroup_mib: float | None, workload_mib: float | None) -> None:
        if pod_class != RUNNING:
            return
        value = pod_overhead(cgroup_mib, overhead_cgroup_mib, workload_mib)
        if value is not None:
            self._by_pod[uid] = value
            self._dirty = True

    def values(self) -> np.ndarray:
        return np.fromiter(self._by_pod.values(), dtype=float, count=len(self._by_pod))

    def stats(self) -> OverheadStats | None:
        if self._dirty:
            self._stats, self._dirty = overhead_stats(self.values()), False
        return self._stats
