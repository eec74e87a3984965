"""How far two node sources disagree (``--node-source both``, issue 14.2): the kubelet's account
(cAdvisor) beside the node's own (SSH), on the same nodes and pods at nearly the same time.

Two figures, each paired with the primary source's nearest measurement of the same node or pod
within a window (the sources sample on their own schedules):

- **node available memory**: the kubelet's ``memory.available`` eviction signal against
  /proc/meminfo's MemAvailable (they are defined differently: collectors.kubelet_summary);
- **pod memory**: each pod's host memory (``viz.overhead.host_mib``: pod cgroup plus kata's
  overhead cgroup), where cAdvisor's known blind spot for kata pods shows (kata-containers
  #12216): the VMM outside the pod cgroup, or no figure at all.

For each: the pairs, the median and maximum of |secondary - primary| / primary, and the signed
median (which way the secondary leans).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample
from viz.overhead import host_mib

KEEP = 64  # primary measurements kept per node or pod, to pair the secondary's with


class _Pairs:
    """Primary values by key and time; secondary values paired with the nearest one."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._primary: dict[str, deque[tuple[float, float]]] = {}
        self.rel: list[float] = []

    def primary(self, key: str, t: float, value: float | None) -> None:
        if value is not None:
            self._primary.setdefault(key, deque(maxlen=KEEP)).append((t, value))

    def secondary(self, key: str, t: float, value: float | None) -> None:
        seen = self._primary.get(key)
        if value is None or not seen:
            return
        times = [x[0] for x in seen]
        i = bisect.bisect_left(times, t)
        near = [seen[j] for j in (i - 1, i) if 0 <= j < len(seen)]
        pt, pv = min(near, key=lambda x: abs(x[0] - t))
        if abs(pt - t) <= self.window_s and pv > 0:
            self.rel.append((value - pv) / pv)

    def summary(self) -> dict[str, Any]:
        rel = np.asarray(self.rel, dtype=float)
        if rel.size == 0:
            return {"pairs": 0, "median_rel_diff": None, "max_rel_diff": None,
                    "median_signed_rel_diff": None}
        return {"pairs": int(rel.size),
                "median_rel_diff": round(float(np.median(np.abs(rel))), 4),
                "max_rel_diff": round(float(np.abs(rel).max()), 4),
                "median_signed_rel_diff": round(float(np.median(rel)), 4)}


class SourceAgreement:
    """Fed every sample and pod record of both sources, as the engine records them."""

    def __init__(self, primary: str, secondary: str, *, node_window_s: float,
                 pod_window_s: float) -> None:
        self.primary, self.secondary = primary, secondary
        self.nodes = _Pairs(node_window_s)
        self.pods = _Pairs(pod_window_s)

    def add_nodes(self, source: str, samples: Iterable[NodeSample]) -> None:
        pairs = self.nodes
        add = pairs.primary if source == self.primary else pairs.secondary
        if source not in (self.primary, self.secondary):
            return
        for s in sorted(samples, key=lambda s: s.time):
            if s.ok:
                add(s.node, s.time, s.mem_available_mib)

    def add_pods(self, records: Iterable[PodMemory]) -> None:
        ordered = sorted(records, key=lambda r: (r.source != self.primary, r.time))
        for r in ordered:
            value = host_mib(r.cgroup_mib, r.overhead_cgroup_mib)
            if r.source == self.primary:
                self.pods.primary(r.uid, r.time, value)
            elif r.source == self.secondary:
                self.pods.secondary(r.uid, r.time, value)

    def summary(self) -> dict[str, Any]:
        return {"primary": self.primary, "secondary": self.secondary,
                "node_available_mib": self.nodes.summary(),
                "pod_memory_mib": self.pods.summary()}
