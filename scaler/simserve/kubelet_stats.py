"""The kubelet Summary API (``stats/v1alpha1.Summary``) of a simulated node, from the model.

Served where the API server proxies to a kubelet: ``GET /api/v1/nodes/{node}/proxy/stats/summary``
(RBAC: ``get`` on ``nodes/proxy``). The fields are the kubelet's
(k8s.io/kubelet/pkg/apis/stats/v1alpha1/types.go) and mean what they mean there
(pkg/kubelet/stats/helper.go):

- node memory: ``usageBytes`` is the root cgroup's usage (anon + file: MemTotal - MemFree of
  the model's /proc/meminfo), ``workingSetBytes`` = usage - inactive_file, ``availableBytes``
  = capacity - working set, ``rssBytes`` the anonymous memory;
- node CPU: from the model's CPU account (``scaler.sim.cpu``), the same counters the node's
  /proc/stat shows over SSH: ``usageNanoCores`` the cores busy now (user + system + steal),
  ``usageCoreNanoSeconds`` their cumulative seconds;
- pods: the pod cgroup's memory (the model's host cost of the pod: workload plus runtime, the
  VM for kata) and CPU (the cores the pod's cgroup gets, ``SimModel.node_pods``, as the SSH
  source reads them);
  containers: the workload's working set for runc; for kata, the placeholder the kubelet
  writes when cAdvisor sees no container cgroup on the host (kata's known blind spot:
  ``{"time": ..., "workingSetBytes": 0}``).
"""

from __future__ import annotations

from typing import Any

from scaler.sim.cpu import STEAL, SYSTEM, USER
from scaler.simserve.render import timestamp

MIB = 1024 * 1024
KIB = 1024
PAUSE_MIB = 0.6  # the pause container's share of a runc pod cgroup


class NodeStats:
    """Summary payloads for the model's nodes."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._started = float(model.now)

    def _node_index(self, name: str) -> int | None:
        names = [n.name for n in self.model.nodes()]
        return names.index(name) if name in names else None

    def _cpu(self, i: int) -> tuple[float, float]:
        """(cores busy now, busy core-seconds so far) of node ``i``, as its /proc/stat counts."""
        account = self.model.cpu
        busy = (USER, SYSTEM, STEAL)
        return (float(account.rates[i, busy].sum()), float(account.seconds[i, busy].sum()))

    def summary(self, node: str) -> dict[str, Any] | None:
        """The Summary of ``node`` (None: no such node)."""
        i = self._node_index(node)
        if i is None:
            return None
        now = float(self.model.now)
        stamp = timestamp(now)
        mem = self.model.node_memory()[i]  # kB, as /proc/meminfo
        total = mem["MemTotal"] * KIB
        usage = (mem["MemTotal"] - mem["MemFree"]) * KIB
        working = max(0, usage - mem.get("Inactive(file)", 0) * KIB)
        anon = (mem.get("Active(anon)", 0) + mem.get("Inactive(anon)", 0)) * KIB
        busy, busy_s = self._cpu(i)
        cores_of = {p.uid: p.cpu_cores or 0.0 for p in self.model.node_pods(node)}
        pods = []
        for v in self.model.pods():
            if v.node != node or v.container_state != "running":
                continue
            pod_bytes = int(float(v.memory_mib) * MIB)
            cores = cores_of.get(v.uid, 0.0)
            started = v.started if v.started is not None else v.created
            cpu = {"time": stamp, "usageNanoCores": int(cores * 1e9),
                   "usageCoreNanoSeconds": int(cores * max(0.0, now - started) * 1e9)}
            pod_mem = {"time": stamp, "usageBytes": pod_bytes, "workingSetBytes": pod_bytes,
                       "rssBytes": pod_bytes, "pageFaults": 0, "majorPageFaults": 0}
            runtime = v.runtime_class or "runc"
            if runtime in ("runc", "default"):
                wl = max(0, int((float(v.memory_mib) - PAUSE_MIB) * MIB))
                cmem = {"time": stamp, "usageBytes": wl, "workingSetBytes": wl, "rssBytes": wl,
                        "pageFaults": 0, "majorPageFaults": 0}
                ccpu = cpu
            else:  # no container cgroups on the host for cAdvisor to read
                cmem = {"time": stamp, "workingSetBytes": 0}
                ccpu = {"time": stamp, "usageNanoCores": 0, "usageCoreNanoSeconds": 0}
            namespace, _, _ = str(v.deployment).partition("/")
            pods.append({"podRef": {"name": v.name, "namespace": namespace, "uid": v.uid},
                         "startTime": timestamp(v.created),
                         "containers": [{"name": "workload", "startTime": timestamp(started),
                                         "cpu": ccpu, "memory": cmem}],
                         "cpu": cpu, "memory": pod_mem})
        return {"node": {"nodeName": node,
                         "systemContainers": [{"name": "kubelet",
                                               "startTime": timestamp(self._started)}],
                         "startTime": timestamp(self._started),
                         "cpu": {"time": stamp, "usageNanoCores": int(busy * 1e9),
                                 "usageCoreNanoSeconds": int(busy_s * 1e9)},
                         "memory": {"time": stamp, "availableBytes": max(0, total - working),
                                    "usageBytes": usage, "workingSetBytes": working,
                                    "rssBytes": anon, "pageFaults": 0, "majorPageFaults": 0}},
                "pods": pods}

