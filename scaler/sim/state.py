"""The simulated cluster's state: the pod table, one array per node attribute, the deployments,
and the few bookkeeping operations that keep the nodes' sums true to the pods' columns.

Every mechanism module (replicaset, scheduler, kubelet, memory, eviction, nodestatus) is a set of
functions over one ``SimState``; only ``model.SimModel`` steps them in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from scaler.sim.pods import PH_FAILED, PodTable
from scaler.sim.profile import RuntimeProfile, SimProfile
from scaler.workload_spec import WorkloadSpec

PodCpu = Callable[["SimState", np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Deployment:
    key: str
    spec: WorkloadSpec
    runtime: RuntimeProfile
    replicas: int
    labels: dict[str, str]
    index: int
    template_hash: str
    qos: str
    evicted: int = 0  # pod objects evicted: by the eviction manager or rejected at admission
    rejected: int = 0  # of which rejected at admission (BestEffort on a MemoryPressure node)
    oom_killed: int = 0
    vm_deaths: int = 0  # sandboxes (VMs) lost: /dev/shm full or killed by the host OOM killer
    failed_scheduling: int = 0  # pods found to fit no node (a FailedScheduling event each)
    sandbox_failures: int = 0  # sandbox creations that failed and were retried
    # the last reason its pods fit no node, and since when
    unschedulable: tuple[str | None, float] = (None, 0.0)
    deleted: bool = False
    startups: list[float] = field(default_factory=list)


class SimState:
    """Everything the mechanisms read and write. Node arrays are indexed by node number."""

    def __init__(self, profile: SimProfile, seed: int, start: float) -> None:
        self.profile = profile
        self.rng = np.random.default_rng(seed)
        # Pod names and UIDs come from their own stream, so how pods are named never changes
        # what happens to them.
        self.names_rng = np.random.default_rng((seed, 1))
        self.names: set[str] = set()  # names of the pod objects in existence
        c = profile.cluster
        self.t = float(start)
        self.dt = float(c.tick_s)
        self.table = PodTable()
        self.deps: dict[str, Deployment] = {}
        self.dep_list: list[Deployment] = []
        self.create_budget = 0.0
        self.sched_budget = 0.0
        self.deferred = False  # pods bound but not yet admitted (kubelet API rate)
        # Bumped whenever what the scheduler sees changes (a pod bound, gone or failed, a
        # taint); deployment index -> (generation, time, message) of its last failed placement.
        self.sched_gen = 0
        self.stuck: dict[int, tuple[int, float, str]] = {}
        self.ticks = 0
        self.pod_ticks = 0

        w = c.workers
        self.node_names = [f"worker-{i}" for i in range(w)]
        self.mem_total = np.full(w, float(c.worker_memory_mib) - c.kernel_reserved_mib)
        self.cpus = np.full(w, float(c.worker_cpus))
        self.alloc_cpu = self.cpus * 1000.0 - c.system_reserved_cpu_m
        self.alloc_mem = self.mem_total - c.system_reserved_memory_mib - c.eviction_threshold_mib
        self.cgroup_cap = self.alloc_mem + c.eviction_threshold_mib  # kubepods memory.max
        self.shm_cap = self.mem_total * c.shm_fraction
        self.sys_used = np.full(w, c.system_used_mib)
        self.infra_used = cycled(c.infra_used_mib, w)
        self.infra_cpu_req = cycled(c.infra_cpu_request_m, w)
        self.infra_mem_req = cycled(c.infra_memory_request_mib, w)
        self.runtime_slowdown = cycled(c.runtime_slowdown, w)
        self.cache_max = cycled(c.page_cache_mib, w)
        self.cache = self.cache_max + cycled(c.leftover_cache_mib, w)
        # Node aggregates recomputed every step.
        # Host memory of pods (what earlier runs left included) and the part of it in /dev/shm
        # (VM guests).
        self.pod_mem = cycled(c.leftover_active_mib, w)
        self.shm_used = np.zeros(w)
        self.free = np.zeros(w)
        self.thrashing = np.zeros(w, dtype=bool)
        # Fraction of memory requests a node served in the last step (1 unless thrashing). Every
        # process on a thrashing node stalls in reclaim, the kubelet and the runtime included, so
        # their timers (sandbox set-up, eviction passes) advance only at this rate.
        self.progress = np.ones(w)
        self.thrash_since = np.full(w, np.nan)
        self.cpu_demand = np.zeros(w)
        # How many times slower than alone the node's services run (the CPU account's level 1,
        # scaler.sim.cpu.system_slowdown): sandbox set-ups go at their pace.
        self.system_slowdown = np.ones(w)
        self.creating_count = np.zeros(w)  # sandboxes being created per node
        self.setup_cpu = np.zeros(w)  # cores the set-ups under way burn per node (kubelet.setup_cpus)
        self.load = np.zeros((w, 3))  # 1, 5, 15-minute load averages
        self.thrash_avg = 0.0  # share of workers thrashing, averaged over a minute
        # Kubelet eviction manager and node status, staggered across nodes.
        self.next_evict_check = self.t + self.rng.uniform(0, c.eviction_interval_s, w)
        self.next_status = self.t + self.rng.uniform(0, c.node_status_interval_s, w)
        self.last_signal = np.full(w, np.nan)
        self.kubelet_pressure = np.zeros(w, dtype=bool)
        self.tainted = np.zeros(w, dtype=bool)
        self.reject_budget = np.full(w, float(c.kubelet_api_burst))
        # The CPU account's view of running pods, (cores, pages/s) by slot, set by the model
        # (scaler.sim.cpu CpuAccount.pods): what the workloads' loops run at.
        self.pod_cpu: PodCpu | None = None

    @property
    def workers(self) -> int:
        return len(self.node_names)

    def pods_of(self, dep_index: int, *, active_only: bool) -> np.ndarray:
        p = self.table
        n = p.n
        mask = p.alive[:n] & (p.dep[:n] == dep_index)
        if active_only:
            mask &= np.isnan(p.deleted[:n]) & (p.phase[:n] != PH_FAILED)
        return np.flatnonzero(mask)


# Bookkeeping shared by the mechanisms ---------------------------------------------------------


def pod_usage(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Host memory charged to each pod's cgroup now."""
    p = s.table
    return np.where(p.sandbox_up[idx],
                    p.host_held[idx] + np.where(p.vm[idx],
                                                p.guest_peak[idx] * (1 + p.per_mib[idx]),
                                                p.rss[idx]),
                    0.0)


def release_workload(s: SimState, i: int, whole_sandbox: bool) -> None:
    """The workload's memory goes back to its node; with ``whole_sandbox`` the sandbox's too
    (a VM's guest pages stay otherwise: no free-page reporting by default)."""
    p = s.table
    node = int(p.node[i])
    if node < 0:
        return
    if not p.sandbox_up[i]:
        s.pod_mem[node] -= p.rss[i]  # memory granted to a start still in progress
        p.starting[i] = False
    elif p.vm[i]:
        if whole_sandbox:
            s.pod_mem[node] -= p.guest_peak[i] * (1 + p.per_mib[i]) + p.host_held[i]
            if p.shared[i]:
                s.shm_used[node] -= p.guest_peak[i]
            p.guest_peak[i] = 0.0
            p.host_held[i] = 0.0
            p.sandbox_up[i] = False
            p.paused[i] = False
    else:
        s.pod_mem[node] -= p.rss[i]
        if whole_sandbox:
            s.pod_mem[node] -= p.host_held[i]
            p.host_held[i] = 0.0
            p.sandbox_up[i] = False
    p.rss[i] = 0.0
    p.held[i] = 0.0


def delete_slot(s: SimState, i: int) -> None:
    """Start deleting pod ``i``: Terminating until its containers and sandbox are gone."""
    p = s.table
    if not math.isnan(p.deleted[i]):
        return
    p.deleted[i] = s.t
    if p.node[i] < 0:
        vanish(s, i)
        return
    p.gone_at[i] = s.t + p.teardown[i]


def vanish(s: SimState, i: int) -> None:
    """The pod object is gone from the API; whatever it held on its node is freed."""
    p = s.table
    if not p.alive[i]:
        return
    release_workload(s, i, True)
    p.alive[i] = False
    s.sched_gen += 1
    s.names.discard(p.name[i])


# Small array helpers --------------------------------------------------------------------------


def cycled(values: Sequence[float], n: int) -> np.ndarray:
    """Per-node values from a profile list, repeated over the workers."""
    return np.array([float(values[i % len(values)]) for i in range(n)])


def bincount(idx: np.ndarray, weights: np.ndarray | None = None, minlength: int = 0) -> np.ndarray:
    """np.bincount that always returns floats (an empty input gives ints otherwise)."""
    return np.bincount(idx, weights, minlength=minlength).astype(np.float64, copy=False)


def advance_timer(due_at: np.ndarray, t: float, interval: float) -> np.ndarray:
    """A periodic timer after the passes due up to ``t``: one interval per pass (what a pass
    every step would have done, for timers never more than one interval late)."""
    late = due_at <= t
    if not late.any():
        return due_at
    passes = np.floor((t - due_at) / interval) + 1
    return np.where(late, due_at + passes * interval, due_at)


def opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
