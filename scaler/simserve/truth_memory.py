"""The model's memory ground truth beside ``sim serve --truth FILE``: what each pod really costs
its node and what each node's /proc/meminfo says, so an end-to-end test can check what a node
source (SSH or the kubelet Summary) recorded in run.pods.csv and run.nodes.csv.

Two files next to FILE (``truth.csv`` -> ``truth.pods.csv``, ``truth.nodes.csv``), one row per
pod (per node) each time its figures change, stamped with the wall clock and the model's clock
(the front's API and kubelet stamp with the model's clock, the SSH nodes' collectors with the
wall clock: a test matches each source on its own clock):

- pods: ``pod_records.pod_memory`` (``cgroup_mib`` the host memory charged to the pod,
  ``workload_mib`` the workload's resident set, ``runtime_mib`` the sandbox's host processes,
  ``guest_backing_mib`` a VM's guest memory on the host);
- nodes: the meminfo fields a node source turns into its node figures, MiB.

Written at every sync of the front (what changed since the last row only), so every state a node
could have been read in is in the file: a throttle would drop states the SSH nodes and the
kubelet serve between two writes. The cost is a pass over the model's pods per sync (about a
millisecond at a few hundred pods): meant for tests, like ``--truth``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from scaler.sim.pod_records import pod_memory

POD_HEADER = ("wall_time,model_time,node,uid,pod,cgroup_mib,workload_mib,runtime_mib,"
              "guest_backing_mib\n")
NODE_HEADER = ("wall_time,model_time,node,mem_total_mib,mem_free_mib,mem_available_mib,"
               "inactive_file_mib\n")
_NODE_FIELDS = ("MemTotal", "MemFree", "MemAvailable", "Inactive(file)")


def sibling(truth: Path, kind: str) -> Path:
    """``truth.csv`` -> ``truth.<kind>.csv``."""
    return truth.with_name(f"{truth.stem}.{kind}{truth.suffix or '.csv'}")


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


class MemoryTruth:
    def __init__(self, truth: Path) -> None:
        self._pods: TextIO = open(sibling(truth, "pods"), "w")  # noqa: SIM115
        self._nodes: TextIO = open(sibling(truth, "nodes"), "w")  # noqa: SIM115
        self._pods.write(POD_HEADER)
        self._nodes.write(NODE_HEADER)
        self._last_pod: dict[str, str] = {}
        self._last_node: dict[str, str] = {}

    def write(self, model: Any) -> None:
        wall = time.time()
        stamp = f"{wall:.3f},{float(model.now):.3f}"
        for p in pod_memory(model):
            figures = ",".join(_fmt(x) for x in (p.cgroup_mib, p.workload_mib, p.runtime_mib,
                                                 p.guest_backing_mib))
            key = f"{p.node},{p.uid},{p.pod}"
            if self._last_pod.get(key) != figures:
                self._last_pod[key] = figures
                self._pods.write(f"{stamp},{key},{figures}\n")
        for info, mem in zip(model.nodes(), model.node_memory(), strict=True):
            figures = ",".join(f"{mem.get(f, 0) / 1024:.1f}" for f in _NODE_FIELDS)
            if self._last_node.get(info.name) != figures:
                self._last_node[info.name] = figures
                self._nodes.write(f"{stamp},{info.name},{figures}\n")
        self._pods.flush()
        self._nodes.flush()

    def close(self) -> None:
        self._pods.close()
        self._nodes.close()
