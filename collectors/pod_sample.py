"""The per-pod memory record every source produces (team contract 9), and how sources offer it.

One record for every source, so the recorder derives run.pods.csv columns from its fields (add a
field, get a column) and a figure from the node over SSH sits beside the kubelet's account of the
same pod. Memory is MiB unless a name says otherwise; None means "this source cannot tell",
never "zero": a source that was told 0 writes 0, a source that was told nothing writes None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

SOURCE_SSH = "ssh"
SOURCE_KUBELET = "kubelet"


@dataclass(frozen=True)
class PodMemory:
    """One pod's memory (and CPU) on one node at one instant, as one source saw it.

    Identity and time:

    - ``node``: the node the pod runs on; ``time``: the node's clock (epoch seconds) when the
      figures were taken, so transport delay never shifts the series;
    - ``source``: ``"ssh"`` (read on the node) or ``"kubelet"`` (the Summary API);
    - ``uid``: the pod UID; ``namespace`` and ``pod`` (the name) are None when the source knows
      only the UID (a cgroup path carries the UID, not the name).

    Memory, MiB:

    - ``cgroup_mib``: the pod cgroup's ``memory.current`` (kubelet: ``usageBytes``);
    - ``working_set_mib``: usage minus inactive_file (kubelet: ``workingSetBytes``);
    - ``rss_mib``: anonymous memory (kubelet: ``rssBytes``; ssh: ``anon`` of memory.stat);
    - ``anon_mib``, ``file_mib``, ``shmem_mib``, ``kernel_mib``: memory.stat's breakdown;
    - ``workload_mib``: the workload's own resident set;
    - ``runtime_mib``: host processes of the sandbox outside the workload (VMM, virtiofsd, kata
      shim; conmon + pause for runc), PSS;
    - ``overhead_cgroup_mib``: kata's sandbox overhead cgroup (sandbox_cgroup_only=false puts
      the VMM there, outside the pod cgroup);
    - ``guest_backing_mib``: the VM's memory backing (/dev/shm or hugepages);

    CPU: ``cpu_cores``, CPU in use in cores (1.0 = one CPU busy).

    Work: ``work_rate``, the pod's workload report (team contract 8) in pages/s when it is fresh
    (ssh: read from the report file on the pod's emptyDir volume); None when stale or unseen.
    """

    node: str
    time: float
    source: str
    uid: str
    namespace: str | None = None
    pod: str | None = None
    cgroup_mib: float | None = None
    working_set_mib: float | None = None
    rss_mib: float | None = None
    anon_mib: float | None = None
    file_mib: float | None = None
    shmem_mib: float | None = None
    kernel_mib: float | None = None
    workload_mib: float | None = None
    runtime_mib: float | None = None
    overhead_cgroup_mib: float | None = None
    guest_backing_mib: float | None = None
    cpu_cores: float | None = None
    work_rate: float | None = None


@runtime_checkable
class PodSource(Protocol):
    """A node source that can also see pods: ``drain_pods`` returns every ``PodMemory`` taken since
    the previous call (the engine calls it once per step, beside ``NodeSource.drain``). Sources
    that cannot see pods either lack the method or return []."""

    def drain_pods(self) -> list[PodMemory]: ...
