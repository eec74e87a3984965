"""The record every node-memory source produces, and the protocol the engine reads sources by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from collectors.cpustat import CpuPercent
from collectors.meminfo import MemInfo
from collectors.pod_sample import PodMemory

OK = "ok"
RECONNECTING = "reconnecting"


@dataclass(frozen=True)
class NodeSample:
    """One node's memory and CPU at one instant; every field is a run.nodes.csv column.

    ``time`` is the node's own clock (epoch seconds) when it took the sample, so transport delay
    never shifts the series. With ``status == "reconnecting"`` every value is None: a gap is written
    as a gap, never as the last value seen (the weakness of the method this tool descends from).

    Memory comes from /proc/meminfo. ``mem_shmem_mib`` and ``mem_cached_mib`` are where a kata
    guest's RAM shows on the host (a shared mapping in /dev/shm: Shmem, inside Cached), not in
    any process's anonymous memory. CPU comes from /proc/stat (``collectors.cpustat``): percent
    of all ``cpus`` over the interval since the node's previous sample on the same connection,
    so the first sample after a (re)connection has them None; ``cpu_busy_pct`` is user + system
    + steal.

    Work (issue 13): ``work_rate`` is the pages/s summed over the node's fresh workload reports
    (team contract 8, read from the pods' emptyDir volumes on the node; a report older than 3 of
    its periods is stale and not counted), ``work_pods`` how many reports were fresh. None when
    the source cannot read reports (not root on the node, or no kubelet there).
    """

    node: str
    time: float
    status: str = OK
    mem_total_mib: float | None = None
    mem_free_mib: float | None = None
    mem_available_mib: float | None = None
    mem_active_mib: float | None = None
    load1: float | None = None
    mem_inactive_mib: float | None = None
    mem_shmem_mib: float | None = None
    mem_cached_mib: float | None = None
    cpus: int | None = None
    cpu_busy_pct: float | None = None
    cpu_user_pct: float | None = None
    cpu_system_pct: float | None = None
    cpu_iowait_pct: float | None = None
    cpu_steal_pct: float | None = None
    work_rate: float | None = None
    work_pods: int | None = None

    @classmethod
    def from_meminfo(
        cls,
        node: str,
        time: float,
        info: MemInfo,
        load1: float | None = None,
        cpu: CpuPercent | None = None,
        cpus: int | None = None,
        work_rate: float | None = None,
        work_pods: int | None = None,
    ) -> NodeSample:
        return cls(
            node=node,
            time=time,
            status=OK,
            mem_total_mib=info.total_mib,
            mem_free_mib=info.free_mib,
            mem_available_mib=info.available_mib,
            mem_active_mib=info.active_mib,
            load1=load1,
            mem_inactive_mib=info.field_mib("Inactive"),
            mem_shmem_mib=info.field_mib("Shmem"),
            mem_cached_mib=info.field_mib("Cached"),
            cpus=cpus,
            cpu_busy_pct=None if cpu is None else cpu.busy,
            cpu_user_pct=None if cpu is None else cpu.user,
            cpu_system_pct=None if cpu is None else cpu.system,
            cpu_iowait_pct=None if cpu is None else cpu.iowait,
            cpu_steal_pct=None if cpu is None else cpu.steal,
            work_rate=work_rate,
            work_pods=work_pods,
        )

    @classmethod
    def gap(cls, node: str, time: float) -> NodeSample:
        return cls(node=node, time=time, status=RECONNECTING)

    @property
    def ok(self) -> bool:
        return self.status == OK


class NodeSource(Protocol):
    """Where per-node memory comes from: simulated nodes, or SSH collectors on real ones.

    The engine calls ``drain`` once per step: it returns every sample taken since the previous
    call (all of them go to run.nodes.csv), in time order per node. ``latest`` gives the newest
    sample per node for the per-step sums in run.csv.

    A source that can see pods also has ``drain_pods() -> list[PodMemory]`` (every per-pod record
    since the previous call; ``collectors.pod_sample``, team contract 9). It is optional: call it
    through ``drain_pods(source)``, which gives [] for sources without it.
    """

    def start(self) -> None: ...

    def drain(self) -> list[NodeSample]: ...

    def latest(self) -> dict[str, NodeSample]: ...

    def stop(self) -> None: ...


def drain_pods(source: object) -> list[PodMemory]:
    """The per-pod records a node source collected since the previous call; [] when the source
    cannot see pods (it has no ``drain_pods``)."""
    drain = getattr(source, "drain_pods", None)
    return [] if drain is None else list(drain())


def latest_by_node(samples: Iterable[NodeSample], into: dict[str, NodeSample]) -> dict[str, NodeSample]:
    """Fold samples into a node -> newest-sample map (gaps included: a gap is the latest news)."""
    for s in samples:
        prev = into.get(s.node)
        if prev is None or s.time >= prev.time:
            into[s.node] = s
    return into
