"""The simulated cluster itself: nodes, pods, controllers and kubelets stepped in virtual time.

State lives in numpy arrays (``PodTable`` for pods, one array per node attribute), so a step is a
handful of vectorised passes; only events that are rare by nature (a pod bound, a VM dying, an
eviction) are handled one at a time. Nothing here knows about the CLI or the engine.

One step (``tick_s`` of virtual time) runs, in order: the ReplicaSet controller (create or delete
pods towards the wanted replicas, at the controller's rate), the scheduler (bind pending pods by
requests + RuntimeClass overhead, maxPods, least-allocated; the kubelet rejects a BestEffort pod
on a node under MemoryPressure), the kubelets (sandboxes set up, containers (re)started with
back-off, terminating pods gone), node memory handed to what asks for it (workloads growing by
workload.growth, new sandboxes; /dev/shm for VM guests; page cache reclaimed first; on a node
that cannot serve everyone, everyone stalls and the kernel OOM killer acts after a while), the
eviction managers (one pod per pass, ranked by usage above request), and node status posts
(the taint the scheduler sees).

What comes out (pods that fit, evictions, OOM kills, free memory) is not written anywhere: it
follows from these rules and the profile's parameters.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

import numpy as np

from collectors.meminfo import render_meminfo
from scaler.cluster import NodeInfo, PodCounts
from scaler.pod_state import PodClass, classify
from scaler.sim import policy
from scaler.sim.pods import (
    CS_BACKOFF,
    CS_CREATING,
    CS_NONE,
    CS_RUNNING,
    CS_TERMINATED,
    PH_FAILED,
    PH_PENDING,
    PH_RUNNING,
    PHASES,
    R_EVICTED,
    T_ERROR,
    T_NONE,
    T_OOM,
    TERM_REASONS,
    PodTable,
    status_codes,
    status_of_code,
)
from scaler.sim.profile import RuntimeProfile, SimProfile
from scaler.sim.views import DeploymentView, PodView
from scaler.workload_spec import WorkloadSpec
from workload import growth

#: Virtual time starts here unless told otherwise: 2026-01-01T00:00:00Z, so runs are repeatable.
DEFAULT_START = 1_767_225_600.0

# Terminated pods are garbage-collected only above this many (kube-controller-manager
# --terminated-pod-gc-threshold default 12500).
TERMINATED_POD_GC_THRESHOLD = 12_500

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generated-name alphabet


@dataclass
class _Deployment:
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
    deleted: bool = False
    startups: list[float] = field(default_factory=list)


class SimModel:
    """A Kubernetes cluster with ``profile.cluster.workers`` workers, in virtual time."""

    def __init__(self, profile: SimProfile, seed: int = 0, *, start: float = DEFAULT_START) -> None:
        self.profile = profile
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        c = profile.cluster
        self._t = float(start)
        self.start = float(start)
        self._dt = float(c.tick_s)
        self._next_tick = self._t + self._dt
        self._listeners: list = []
        self._deps: dict[str, _Deployment] = {}
        self._dep_list: list[_Deployment] = []
        self.table = PodTable()
        self._create_budget = 0.0
        self._sched_budget = 0.0
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
        self.infra_used = _cycled(c.infra_used_mib, w)
        self.infra_cpu_req = _cycled(c.infra_cpu_request_m, w)
        self.infra_mem_req = _cycled(c.infra_memory_request_mib, w)
        self.cache_max = _cycled(c.page_cache_mib, w)
        self.cache = self.cache_max.copy()
        # Node aggregates recomputed every step.
        self.pod_mem = np.zeros(w)  # host memory of workload pods
        self.shm_used = np.zeros(w)
        self.free = np.zeros(w)
        self.thrashing = np.zeros(w, dtype=bool)
        # Fraction of memory requests a node served in the last step (1 unless thrashing). Every
        # process on a thrashing node stalls in reclaim, the kubelet and the runtime included, so
        # their timers (sandbox set-up, eviction passes) advance only at this rate.
        self.progress = np.ones(w)
        self.thrash_since = np.full(w, np.nan)
        self.cpu_demand = np.zeros(w)
        self.creating_count = np.zeros(w)  # sandboxes being created per node
        self.load = np.zeros((w, 3))  # 1, 5, 15-minute load averages
        # Kubelet eviction manager and node status, staggered across nodes.
        self.next_evict_check = self._t + self.rng.uniform(0, c.eviction_interval_s, w)
        self.next_status = self._t + self.rng.uniform(0, c.node_status_interval_s, w)
        self.last_signal = np.full(w, np.nan)
        self.kubelet_pressure = np.zeros(w, dtype=bool)
        self.tainted = np.zeros(w, dtype=bool)
        self.reject_budget = np.full(w, float(c.kubelet_api_burst))
        self._deferred = False
        self._update_memory()

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        return self._t

    def advance(self, dt: float) -> None:
        if dt > 0:
            self.advance_to(self._t + dt)

    def advance_to(self, t: float) -> None:
        """Run every step due up to ``t``; virtual time never goes back."""
        while self._next_tick <= t + 1e-9:
            self._t = self._next_tick
            self._step()
            self._next_tick += self._dt
        self._t = max(self._t, float(t))

    def add_listener(self, fn) -> None:
        """``fn(model)`` after every step (the simulated node source samples this way)."""
        self._listeners.append(fn)

    def remove_listener(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    # ------------------------------------------------------------------ deployments

    def apply_deployment(self, key: str, spec: WorkloadSpec, replicas: int,
                         labels: dict[str, str] | None = None) -> None:
        """Create or update the Deployment ``key`` ("namespace/name")."""
        runtime = self.profile.runtime(spec.runtime)  # KeyError names the known runtimes
        qos = policy.qos_class(spec.request_mib, spec.limit_mib, spec.cpu_request_m,
                               spec.cpu_limit_m)
        dep = self._deps.get(key)
        thash = _template_hash(key, spec)
        if dep is None or dep.deleted:
            dep = _Deployment(key=key, spec=spec, runtime=runtime, replicas=max(0, int(replicas)),
                              labels=dict(labels or {}), index=len(self._dep_list),
                              template_hash=thash, qos=qos)
            self._deps[key] = dep
            self._dep_list.append(dep)
            return
        if spec != dep.spec:
            # A new template: the old pods are replaced (Recreate-like, enough for this tool).
            dep.spec, dep.runtime, dep.qos, dep.template_hash = spec, runtime, qos, thash
            for i in self._pods_of(dep.index, active_only=True):
                self._delete_slot(i)
        dep.replicas = max(0, int(replicas))
        if labels is not None:
            dep.labels = dict(labels)

    def set_replicas(self, key: str, n: int) -> None:
        dep = self._dep(key)
        dep.replicas = max(0, int(n))

    def delete_deployment(self, key: str) -> None:
        """The Deployment goes at once; its pods terminate (background cascading deletion)."""
        dep = self._dep(key)
        dep.replicas = 0
        dep.deleted = True
        del self._deps[key]
        p = self.table
        for i in self._pods_of(dep.index, active_only=False):
            i = int(i)
            if p.phase[i] == PH_FAILED:
                self._vanish(i)  # a terminal pod has nothing to stop
            else:
                self._delete_slot(i)

    def delete_pod(self, name: str) -> bool:
        """Delete one pod object; False when no such pod. Its ReplicaSet replaces it if wanted."""
        p = self.table
        hits = np.flatnonzero((p.name[: p.n] == name) & p.alive[: p.n])
        if len(hits) == 0:
            return False
        i = int(hits[0])
        if p.phase[i] == PH_FAILED or p.node[i] < 0:
            self._vanish(i)
        elif math.isnan(p.deleted[i]):
            self._delete_slot(i)
        return True

    def deployments(self) -> list[DeploymentView]:
        out = []
        p = self.table
        for dep in self._dep_list:
            if dep.deleted:
                continue
            mine = p.alive[: p.n] & (p.dep[: p.n] == dep.index)
            ready = mine & (p.cstate[: p.n] == CS_RUNNING) & np.isnan(p.deleted[: p.n])
            out.append(DeploymentView(key=dep.key, replicas=dep.replicas, runtime=dep.spec.runtime,
                                      labels=dict(dep.labels), pods=int(mine.sum()),
                                      ready=int(ready.sum())))
        return out

    # ------------------------------------------------------------------ views

    def nodes(self) -> list[NodeInfo]:
        c = self.profile.cluster
        return [
            NodeInfo(name=name, address=None, cpu_millis=int(self.cpus[i] * 1000),
                     memory_mib=float(self.mem_total[i]),
                     allocatable_cpu_millis=int(self.alloc_cpu[i]),
                     allocatable_memory_mib=float(self.alloc_mem[i]), max_pods=c.max_pods)
            for i, name in enumerate(self.node_names)
        ]

    def pods(self, key: str | None = None) -> list[PodView]:
        """Every pod object (of deployment ``key`` if given), in creation order."""
        p = self.table
        mask = p.alive[: p.n]
        if key is not None:
            dep = self._deps.get(key)
            if dep is None:
                return []
            mask = mask & (p.dep[: p.n] == dep.index)
        return [self._view(int(i)) for i in np.flatnonzero(mask)]

    def pod_slots(self, key: str) -> np.ndarray:
        """The pod table slots of deployment ``key``'s pods, in creation order: the per-pod
        columns ``scaler.sim.pod_records`` reads (one pass over arrays, no view per pod)."""
        dep = self._deps.get(key)
        p = self.table
        if dep is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(p.alive[: p.n] & (p.dep[: p.n] == dep.index))

    def pod_usage_mib(self, idx: np.ndarray) -> np.ndarray:
        """Host memory charged to each pod's cgroup now (table slots ``idx``)."""
        return self._pod_usage(idx)

    def node_meminfo(self, name: str) -> str:
        """The node's /proc/meminfo, in kB as the kernel writes it."""
        n = self._node_index(name)
        c = self.profile.cluster
        total = self.mem_total[n]
        free = self.free[n]
        cache = self.cache[n]
        shm = self.shm_used[n]
        reclaimable = max(0.0, cache - c.page_cache_min_mib)
        anon = self.sys_used[n] * 0.6 + self.infra_used[n] + (self.pod_mem[n] - shm)
        slab = self.sys_used[n] * 0.4
        active_file = c.page_cache_min_mib + 0.5 * reclaimable
        fields_mib = {
            "MemTotal": total, "MemFree": free,
            "MemAvailable": max(0.0, free - c.free_floor_mib + reclaimable),
            "Buffers": 0.02 * cache, "Cached": 0.98 * cache + shm, "SwapCached": 0.0,
            "Active": anon + shm + active_file, "Inactive": cache - active_file,
            "Active(anon)": anon + shm, "Inactive(anon)": 0.0,
            "Active(file)": active_file, "Inactive(file)": cache - active_file,
            "Unevictable": 0.0, "Mlocked": 0.0, "SwapTotal": 0.0, "SwapFree": 0.0,
            "Dirty": 0.0, "Writeback": 0.0, "AnonPages": anon, "Mapped": 0.3 * cache,
            "Shmem": shm, "KReclaimable": slab * 0.3, "Slab": slab, "SReclaimable": slab * 0.3,
            "SUnreclaim": slab * 0.7,
        }
        return render_meminfo({k: int(round(max(0.0, v) * 1024)) for k, v in fields_mib.items()})

    def node_loadavg(self, name: str) -> str:
        n = self._node_index(name)
        l1, l5, l15 = self.load[n]
        running = max(1, int(round(min(self.cpu_demand[n], self.cpus[n]))))
        threads = 400 + int(np.count_nonzero(self.table.alive[: self.table.n]
                                             & (self.table.node[: self.table.n] == n))) * 12
        return f"{l1:.2f} {l5:.2f} {l15:.2f} {running}/{threads} {10_000 + self.ticks}\n"

    def counts(self, key: str) -> PodCounts:
        """The pods of ``key`` classified by ``scaler.pod_state.classify``, the rule the real
        cluster's pod table uses too. evicted (evicted or rejected at admission) and oom_killed
        (container OOM kills) are cumulative over the deployment's life; restarts sums the live
        pods' restart counts."""
        dep = self._deps.get(key) or next((d for d in self._dep_list if d.key == key), None)
        if dep is None:
            return PodCounts()
        p = self.table
        n = p.n
        mine = np.flatnonzero(p.alive[:n] & (p.dep[:n] == dep.index))
        codes, per_code = np.unique(status_codes(p, mine), return_counts=True)
        by_class = dict.fromkeys(PodClass, 0)
        for code, k in zip(codes, per_code, strict=True):
            by_class[classify(status_of_code(code))] += int(k)
        return PodCounts(
            running=by_class[PodClass.RUNNING], pending=by_class[PodClass.PENDING],
            creating=by_class[PodClass.CREATING], terminating=by_class[PodClass.TERMINATING],
            evicted=dep.evicted, oom_killed=dep.oom_killed, failed=by_class[PodClass.FAILED],
            restarts=int(p.restarts[mine].sum()),
        )

    def take_startups(self, key: str) -> tuple[float, ...]:
        """Creation-to-Ready seconds of pods of ``key`` that became Ready since the last call."""
        dep = self._deps.get(key)
        if dep is None:
            return ()
        out = tuple(dep.startups)
        dep.startups.clear()
        return out

    def ground_truth(self, key: str) -> dict:
        """What the model knows and no API shows: memory per pod, nodes thrashing, and so on."""
        dep = self._deps.get(key)
        p = self.table
        n = p.n
        mine = p.alive[:n] & (p.dep[:n] == (dep.index if dep else -2))
        running = mine & (p.cstate[:n] == CS_RUNNING)
        return {
            "running": int(running.sum()),
            "pods": int(mine.sum()),
            "evicted": dep.evicted if dep else 0,
            "rejected": dep.rejected if dep else 0,
            "vm_deaths": dep.vm_deaths if dep else 0,
            "oom_killed": dep.oom_killed if dep else 0,
            "workload_mib": float(np.nansum(np.where(running, p.rss[:n], 0.0))),
            "pod_memory_mib": self.pod_mem.tolist(),
            "shm_mib": self.shm_used.tolist(),
            "free_mib": self.free.tolist(),
            "cache_mib": self.cache.tolist(),
            "available_mib": self._available().tolist(),
            "thrashing": self.thrashing.tolist(),
            "memory_pressure": self.kubelet_pressure.tolist(),
            "tainted": self.tainted.tolist(),
            "cpu_demand": self.cpu_demand.tolist(),
        }

    def object_count(self) -> int:
        """Pod objects in existence (Failed/Evicted included): what a LIST has to return."""
        return int(self.table.alive[: self.table.n].sum())

    # ------------------------------------------------------------------ one step

    def _step(self) -> None:
        self.ticks += 1
        self._reconcile()
        self._schedule()
        self._kubelets()
        self._grow()
        self._evict()
        self._post_status()
        self._update_load()
        p = self.table
        self.pod_ticks += int(p.alive[: p.n].sum())
        if p.n > 2048:
            p.compact()
        for fn in list(self._listeners):
            fn(self)

    # ReplicaSet controller ------------------------------------------------------------------

    def _reconcile(self) -> None:
        cp = self.profile.control_plane
        self._create_budget = min(self._create_budget + cp.controller_pods_per_s * self._dt,
                                  max(1.0, cp.controller_pods_per_s * self._dt))
        p = self.table
        n = p.n
        active = p.alive[:n] & np.isnan(p.deleted[:n]) & (p.phase[:n] != PH_FAILED)
        per_dep = _bincount(p.dep[:n][active], minlength=len(self._dep_list))
        terminal = p.alive[:n] & (p.phase[:n] == PH_FAILED)
        if terminal.sum() > TERMINATED_POD_GC_THRESHOLD:
            excess = int(terminal.sum()) - TERMINATED_POD_GC_THRESHOLD
            for i in np.flatnonzero(terminal)[:excess]:
                self._vanish(int(i))
        for dep in self._dep_list:
            if dep.deleted:
                continue
            have = int(per_dep[dep.index]) if dep.index < len(per_dep) else 0
            if have < dep.replicas:
                make = min(dep.replicas - have, int(self._create_budget))
                for _ in range(make):
                    self._new_pod(dep)
                self._create_budget -= make
            elif have > dep.replicas:
                self._scale_down(dep, have - dep.replicas)

    def _scale_down(self, dep: _Deployment, count: int) -> None:
        """Delete ``count`` pods, least valuable first: unscheduled, then not running, then
        newest (ReplicaSet getPodsToDelete ranking, simplified)."""
        p = self.table
        idx = self._pods_of(dep.index, active_only=True)
        if len(idx) == 0:
            return
        order = np.lexsort((-p.created[idx], p.cstate[idx] == CS_RUNNING, p.node[idx] >= 0))
        for i in idx[order[:count]]:
            self._delete_slot(int(i))

    def _new_pod(self, dep: _Deployment) -> int:
        p = self.table
        i = p.add()
        spec, rt = dep.spec, dep.runtime
        suffix = "".join(_NAME_CHARS[k] for k in self.rng.integers(len(_NAME_CHARS), size=5))
        name = f"{dep.key.partition('/')[2] or dep.key}-{dep.template_hash}-{suffix}"
        p.name[i] = name
        p.uid[i] = str(uuid.UUID(bytes=self.rng.bytes(16), version=4))
        p.message[i] = None
        p.alive[i] = True
        p.dep[i] = dep.index
        p.node[i] = -1
        p.phase[i] = PH_PENDING
        p.cstate[i] = CS_NONE
        p.reason[i] = 0
        p.term_reason[i] = T_NONE
        p.last_reason[i] = T_NONE
        p.term_exit[i] = -1
        p.last_exit[i] = -1
        p.restarts[i] = 0
        p.created[i] = self._t
        for col in ("scheduled", "started", "ready_at", "deleted", "gone_at", "next_at",
                    "loop_next"):
            getattr(p, col)[i] = np.nan
        p.backoff[i] = 0.0
        p.held[i] = 0.0
        p.rss[i] = 0.0
        p.guest_peak[i] = 0.0
        p.inc[i] = float(spec.increment_mib)
        p.target[i] = float(spec.memory_mib)
        p.limit[i] = float(spec.limit_mib or 0.0)
        p.vm[i] = rt.vm
        p.host_mib[i] = rt.host_mib
        p.host_held[i] = 0.0
        p.boot[i] = (min(rt.boot_mib, rt.host_mib) if rt.vm and rt.boot_mib > 0
                     else rt.host_mib + (rt.guest_base_mib * (1 + rt.per_mib_overhead)
                                         if rt.vm else growth.BASE_RSS_MIB))
        p.guest_base[i] = rt.guest_base_mib if rt.vm else 0.0
        p.per_mib[i] = rt.per_mib_overhead
        p.vm_size[i] = rt.vm_memory_mib + (spec.limit_mib or 0.0) if rt.vm else np.inf
        p.cpu_frac[i] = spec.cpu_percent / 100.0
        req_mem = float(spec.request_mib if spec.request_mib is not None else (spec.limit_mib or 0))
        req_cpu = float(spec.cpu_request_m if spec.cpu_request_m is not None
                        else (spec.cpu_limit_m or 0))
        p.req_mem[i] = req_mem + rt.overhead_mib
        p.req_cpu[i] = req_cpu + rt.overhead_cpu_m
        p.nz_mem[i] = (req_mem or policy.DEFAULT_MEMORY_REQUEST_MIB) + rt.overhead_mib
        p.nz_cpu[i] = (req_cpu or policy.DEFAULT_CPU_REQUEST_M) + rt.overhead_cpu_m
        p.besteffort[i] = dep.qos == "BestEffort"
        p.adj[i] = policy.oom_score_adj(dep.qos, req_mem, float(self.mem_total[0]))
        p.teardown[i] = self.profile.cluster.termination_s + rt.teardown_s
        p.sandbox_up[i] = False
        p.ever_ready[i] = False
        return i

    # Scheduler ------------------------------------------------------------------------------

    def _node_requests(self):
        """Requests and pod counts per node: infrastructure plus bound, non-terminal pods."""
        c = self.profile.cluster
        p = self.table
        n = p.n
        w = len(self.node_names)
        bound = p.alive[:n] & (p.node[:n] >= 0) & (p.phase[:n] != PH_FAILED)
        nodes = p.node[:n][bound]
        req_cpu = _bincount(nodes, p.req_cpu[:n][bound], minlength=w) + self.infra_cpu_req
        req_mem = _bincount(nodes, p.req_mem[:n][bound], minlength=w) + self.infra_mem_req
        nz_cpu = _bincount(nodes, p.nz_cpu[:n][bound], minlength=w) + self.infra_cpu_req
        nz_mem = _bincount(nodes, p.nz_mem[:n][bound], minlength=w) + self.infra_mem_req
        count = _bincount(nodes, minlength=w) + c.infra_pods
        return req_cpu, req_mem, nz_cpu, nz_mem, count

    def _schedule(self) -> None:
        cp = self.profile.control_plane
        p = self.table
        n = p.n
        pending = np.flatnonzero(p.alive[:n] & (p.node[:n] < 0) & (p.phase[:n] == PH_PENDING)
                                 & np.isnan(p.deleted[:n]))
        self._sched_budget = min(self._sched_budget + cp.scheduler_pods_per_s * self._dt,
                                 max(1.0, cp.scheduler_pods_per_s * self._dt))
        if len(pending) == 0:
            return
        pending = pending[np.argsort(p.created[pending], kind="stable")]
        req_cpu, req_mem, nz_cpu, nz_mem, count = self._node_requests()
        max_pods = self.profile.cluster.max_pods
        deps = p.dep[pending]
        for d in np.unique(deps):
            # Pods of one deployment are alike: once one does not fit, none of the rest does.
            mine = pending[deps == d]
            for k, i in enumerate(mine):
                if self._sched_budget < 1:
                    return
                self._sched_budget -= 1
                fits = policy.feasible_nodes(self.alloc_cpu - req_cpu, self.alloc_mem - req_mem,
                                             count, max_pods, self.tainted, p.req_cpu[i],
                                             p.req_mem[i])
                scores = policy.least_allocated_scores(nz_cpu, nz_mem, self.alloc_cpu,
                                                       self.alloc_mem, p.nz_cpu[i], p.nz_mem[i])
                node = policy.pick_node(scores, fits, self.rng)
                if node < 0:
                    p.message[mine[k:]] = self._unschedulable_message(req_cpu, req_mem, count, i)
                    break
                if self._bind(int(i), node):
                    req_cpu[node] += p.req_cpu[i]
                    req_mem[node] += p.req_mem[i]
                    nz_cpu[node] += p.nz_cpu[i]
                    nz_mem[node] += p.nz_mem[i]
                    count[node] += 1

    def _unschedulable_message(self, req_cpu, req_mem, count, i) -> str:
        p = self.table
        w = len(self.node_names)
        why = []
        if self.tainted.any():
            why.append(f"{int(self.tainted.sum())} node(s) had untolerated taint "
                       "{node.kubernetes.io/memory-pressure: }")
        if (count >= self.profile.cluster.max_pods).any():
            why.append(f"{int((count >= self.profile.cluster.max_pods).sum())} Too many pods")
        if (self.alloc_cpu - req_cpu < p.req_cpu[i]).any():
            why.append(f"{int((self.alloc_cpu - req_cpu < p.req_cpu[i]).sum())} Insufficient cpu")
        if (self.alloc_mem - req_mem < p.req_mem[i]).any():
            why.append(f"{int((self.alloc_mem - req_mem < p.req_mem[i]).sum())} "
                       "Insufficient memory")
        return f"0/{w} nodes are available: " + ", ".join(why) + "."

    def _bind(self, i: int, node: int) -> bool:
        """Bind pod ``i`` to ``node`` and hand it to that node's kubelet. False if the kubelet
        rejected it (it no longer counts against the node)."""
        p = self.table
        p.node[i] = node
        p.scheduled[i] = self._t
        p.message[i] = None
        return self._admit(i) is not False

    def _admit(self, i: int) -> bool | None:
        """Kubelet admission: a BestEffort pod on a node under MemoryPressure is rejected as
        Failed/Evicted. Writing that status is an API call, within the kubelet's client rate
        limit; past it the pod waits, bound but not yet admitted (None)."""
        p = self.table
        node = int(p.node[i])
        if self.kubelet_pressure[node] and p.besteffort[i]:
            if self.reject_budget[node] < 1:
                p.cstate[i] = CS_NONE
                p.next_at[i] = np.nan
                self._deferred = True
                return None
            self.reject_budget[node] -= 1
            p.phase[i] = PH_FAILED
            p.reason[i] = R_EVICTED
            p.cstate[i] = CS_NONE
            p.message[i] = "Pod was rejected: The node had condition: [MemoryPressure]. "
            dep = self._dep_list[int(p.dep[i])]
            dep.evicted += 1
            dep.rejected += 1
            return False
        p.cstate[i] = CS_CREATING
        p.next_at[i] = self._t + self._sandbox_seconds(i, node)
        return True

    def _sandbox_seconds(self, i: int, node: int) -> float:
        """Sandbox + container start: slower with other sandboxes in flight on the node and when
        its CPUs are saturated (kata CI start-up figures; reference runs lag under load)."""
        p = self.table
        rt = self._dep_list[int(p.dep[i])].runtime
        in_flight = float(self.creating_count[node])
        self.creating_count[node] += 1
        contention = max(1.0, self.cpu_demand[node] / self.cpus[node])
        base = rt.sandbox_s + rt.sandbox_per_concurrent_s * in_flight + rt.container_start_s
        jitter = 1.0 + 0.1 * (self.rng.random() - 0.5)
        return base * contention * jitter

    # Kubelets -------------------------------------------------------------------------------

    def _kubelets(self) -> None:
        p = self.table
        n = p.n
        t = self._t
        c = self.profile.cluster
        self.reject_budget = np.minimum(self.reject_budget + c.kubelet_api_qps * self._dt,
                                        c.kubelet_api_burst)
        if self._deferred:
            waiting = np.flatnonzero(p.alive[:n] & (p.node[:n] >= 0) & (p.phase[:n] == PH_PENDING)
                                     & (p.cstate[:n] == CS_NONE) & np.isnan(p.deleted[:n]))
            self._deferred = False
            for i in waiting:
                self._admit(int(i))
        if (self.progress < 1).any():
            waiting = np.flatnonzero(p.alive[:n] & (p.cstate[:n] == CS_CREATING)
                                     & ~np.isnan(p.next_at[:n]))
            p.next_at[waiting] += self._setup_lag(waiting)
            self.next_evict_check += self._dt * (1.0 - np.maximum(self.progress,
                                                                  c.kubelet_min_progress))
        gone = np.flatnonzero(p.alive[:n] & (p.gone_at[:n] <= t))
        for i in gone:
            self._vanish(int(i))
        due = np.flatnonzero(p.alive[:n] & np.isnan(p.deleted[:n]) & (p.next_at[:n] <= t)
                             & ((p.cstate[:n] == CS_CREATING) | (p.cstate[:n] == CS_BACKOFF)))
        for i in due:
            i = int(i)
            if p.sandbox_up[i]:
                self._start_container(i)  # a restart in the existing sandbox
                continue
            node = int(p.node[i])
            if p.vm[i] and self.shm_cap[node] - self.shm_used[node] < p.guest_base[i]:
                # No /dev/shm left for the guest's memory: QEMU fails, the kubelet retries.
                delay, p.backoff[i] = policy.next_backoff(p.backoff[i], 0.0)
                p.next_at[i] = t + max(delay, self._dt) + self._sandbox_seconds(i, node)
                continue
            # Set-up done; its memory (shim, pause or VM, the workload's base) must now be found
            # on the node, competing with everything else that wants memory there.
            p.starting[i] = True
            p.next_at[i] = np.nan

    def _setup_lag(self, idx: np.ndarray) -> np.ndarray:
        """Seconds the sandbox set-ups ``idx`` lose this step: a thrashing node runs its
        runtime at the fraction of memory requests it serves, but each runtime keeps at least
        its own minimum pace (kata's VM launches go on slowly on full nodes, runc's stall)."""
        p = self.table
        c = self.profile.cluster
        floor = np.array([max(c.runtime_min_progress, d.runtime.setup_min_progress)
                          for d in self._dep_list] or [c.runtime_min_progress])
        pace = np.maximum(self.progress[p.node[idx]], floor[p.dep[idx]])
        return self._dt * (1.0 - pace)

    def _start_need(self, idx: np.ndarray) -> np.ndarray:
        """Host MiB a new sandbox and its container take before the container runs: shim and
        pause plus the workload's base for runc; what a VM needs to boot for kata (the rest
        of its processes' memory and the guest's comes while it runs)."""
        return self.table.boot[idx]

    def _start_container(self, i: int) -> None:
        """Run the container; a new sandbox's memory was granted into ``rss`` beforehand."""
        p = self.table
        t = self._t
        dep = self._dep_list[int(p.dep[i])]
        rss = 0.0
        if not p.sandbox_up[i]:
            # pod_mem already holds what the start was granted (kept in rss meanwhile).
            if p.vm[i]:
                # Booted: QEMU's processes hold their part of the grant, the guest the rest (in
                # /dev/shm); both grow from there while the VM runs.
                p.host_held[i] = min(p.rss[i], p.host_mib[i])
                p.guest_peak[i] = max(0.0, p.rss[i] - p.host_held[i]) / (1 + p.per_mib[i])
                self.shm_used[int(p.node[i])] += p.guest_peak[i]
            else:
                p.host_held[i] = p.host_mib[i]
                rss = max(0.0, p.rss[i] - p.host_mib[i])
            p.sandbox_up[i] = True
            p.starting[i] = False
        p.phase[i] = PH_RUNNING
        p.cstate[i] = CS_RUNNING
        p.term_reason[i] = T_NONE
        p.term_exit[i] = -1
        p.started[i] = t
        p.next_at[i] = np.nan
        p.held[i] = growth.BASE_RSS_MIB
        p.rss[i] = rss
        p.inc[i] = float(dep.spec.increment_mib)
        p.loop_next[i] = t + growth.LOOP_S
        if not p.ever_ready[i]:
            p.ever_ready[i] = True
            p.ready_at[i] = t
            dep.startups.append(t - p.created[i])

    def _end_container(self, i: int, reason: int, exit_code: int, vm_dies: bool) -> None:
        """The workload ended (OOM kill, VM gone): restart per back-off, in a new VM if the old
        one died."""
        p = self.table
        t = self._t
        node = int(p.node[i])
        self._release_workload(i, vm_dies)
        ran = t - p.started[i] if not math.isnan(p.started[i]) else 0.0
        delay, p.backoff[i] = policy.next_backoff(p.backoff[i], ran)
        p.last_reason[i] = reason
        p.last_exit[i] = exit_code
        p.restarts[i] += 1
        p.loop_next[i] = np.nan
        if vm_dies:
            self._dep_list[int(p.dep[i])].vm_deaths += 1
            p.cstate[i] = CS_CREATING  # a new sandbox (VM) is made; the pod stays Running
            p.next_at[i] = t + delay + self._sandbox_seconds(i, node)
        else:
            p.cstate[i] = CS_BACKOFF if delay > 0 else CS_CREATING
            p.next_at[i] = t + max(delay, self._dt)

    def _release_workload(self, i: int, whole_sandbox: bool) -> None:
        p = self.table
        node = int(p.node[i])
        if node < 0:
            return
        if not p.sandbox_up[i]:
            self.pod_mem[node] -= p.rss[i]  # memory granted to a start still in progress
            p.starting[i] = False
        elif p.vm[i]:
            if whole_sandbox:
                self.pod_mem[node] -= p.guest_peak[i] * (1 + p.per_mib[i]) + p.host_held[i]
                self.shm_used[node] -= p.guest_peak[i]
                p.guest_peak[i] = 0.0
                p.host_held[i] = 0.0
                p.sandbox_up[i] = False
            # Otherwise the guest keeps its pages: no free-page reporting by default.
        else:
            self.pod_mem[node] -= p.rss[i]
            if whole_sandbox:
                self.pod_mem[node] -= p.host_held[i]
                p.host_held[i] = 0.0
                p.sandbox_up[i] = False
        p.rss[i] = 0.0
        p.held[i] = 0.0

    def _delete_slot(self, i: int) -> None:
        """Start deleting pod ``i``: Terminating until its containers and sandbox are gone."""
        p = self.table
        if not math.isnan(p.deleted[i]):
            return
        p.deleted[i] = self._t
        if p.node[i] < 0:
            self._vanish(i)
            return
        p.gone_at[i] = self._t + p.teardown[i]

    def _vanish(self, i: int) -> None:
        p = self.table
        if not p.alive[i]:
            return
        self._release_workload(i, True)
        p.alive[i] = False

    # Workload growth and node memory ------------------------------------------------------------

    def _grow(self) -> None:
        """Hand node memory to what wants it: workloads touching what they allocated, VMs'
        processes and guests, and new sandboxes. When a node has not enough for all, everyone
        gets memory at the same rate (the rest stalls in reclaim); with no page cache left to
        drop, the node is thrashing."""
        c = self.profile.cluster
        p = self.table
        n = p.n
        t = self._t
        w = len(self.node_names)
        live = p.alive[:n] & np.isnan(p.deleted[:n])
        run = np.flatnonzero(live & (p.cstate[:n] == CS_RUNNING))
        contention = np.maximum(1.0, self.cpu_demand / self.cpus)
        if len(run):
            # Loops that finished touching what they hold take their next growth step.
            due = run[(p.loop_next[run] <= t) & (p.rss[run] >= p.held[run] - 1e-6)]
            if len(due):
                self._loop(due, contention)
            want_ws = p.held[run] - p.rss[run]  # workload MiB still to touch
            growing = (((want_ws > 1e-9) | (p.host_held[run] < p.host_mib[run] - 1e-9))
                       & (p.cstate[run] == CS_RUNNING))
            run, want_ws = run[growing], want_ws[growing]
        else:
            want_ws = np.zeros(0)
        vm = p.vm[run]
        nodes = p.node[run]
        # Host MiB needed: a VM only needs new host pages above its guest's high-water mark.
        guest_need = np.where(vm, np.maximum(0.0, p.guest_base[run] + p.rss[run] + want_ws
                                             - p.guest_peak[run]), 0.0)
        # A booted VM's processes still grow to their working size (QEMU, virtiofsd, shim).
        ov_want = np.where(vm, np.maximum(0.0, p.host_mib[run] - p.host_held[run]), 0.0)
        host_want = np.where(vm, guest_need * (1 + p.per_mib[run]) + ov_want, want_ws)
        if vm.any():
            self._shm_limit(run, nodes, guest_need, host_want)
            ok = p.cstate[run] == CS_RUNNING
            run, nodes, vm = run[ok], nodes[ok], vm[ok]
            want_ws, guest_need, host_want = want_ws[ok], guest_need[ok], host_want[ok]
            ov_want = ov_want[ok]
        starters = np.flatnonzero(live & p.starting[:n])
        s_nodes = p.node[starters]
        s_want = np.maximum(0.0, self._start_need(starters) - p.rss[starters])
        above_floor = np.maximum(0.0, self.free - c.free_floor_mib)
        reclaimable = np.maximum(0.0, self.cache - c.page_cache_min_mib)
        headroom = np.minimum(
            above_floor + np.minimum(reclaimable, c.reclaim_mib_s * self._dt),
            self.cgroup_cap - self.infra_used - self.pod_mem,
        )
        need = _bincount(nodes, host_want, minlength=w) + _bincount(s_nodes, s_want, minlength=w)
        frac = np.where(need > 0, np.clip(headroom / np.maximum(need, 1e-9), 0.0, 1.0), 1.0)
        # Thrashing: asked for more than the node can give with no page cache left to drop.
        self.thrashing = (need > np.maximum(headroom, 0.0) + 1e-6) & (
            reclaimable <= c.reclaim_mib_s * self._dt)
        self.progress = frac
        grants = _water_fill(np.concatenate([nodes, s_nodes]),
                             np.concatenate([host_want, s_want]), headroom, need)
        g_run, g_start = grants[: len(run)], grants[len(run):]
        if len(run):
            # A VM's own processes take their share first, then its guest grows.
            ov_got = np.minimum(ov_want, g_run)
            p.host_held[run] += ov_got
            g_guest = g_run - ov_got
            # Free guest pages (below the high-water mark) cost the host nothing.
            free_guest = np.where(vm, np.maximum(0.0, p.guest_peak[run] - p.guest_base[run]
                                                 - p.rss[run]), want_ws)
            got_ws = np.where(vm, np.minimum(want_ws, np.maximum(
                0.0, free_guest + g_guest / (1 + p.per_mib[run]) - np.maximum(
                    0.0, p.guest_base[run] - p.guest_peak[run]))), g_run)
            p.rss[run] += got_ws
            host_got = np.where(vm, ov_got, got_ws)
            if vm.any():
                # the guest's own base comes first, then the workload's pages
                base_fill = np.where(vm, np.minimum(np.maximum(0.0, p.guest_base[run]
                                                               - p.guest_peak[run]),
                                                    g_guest / (1 + p.per_mib[run])), 0.0)
                new_peak = np.maximum(p.guest_peak[run] + base_fill,
                                      np.where(vm, p.guest_base[run] + p.rss[run], 0.0))
                grown = np.where(vm, new_peak - p.guest_peak[run], 0.0)
                p.guest_peak[run] = np.where(vm, new_peak, p.guest_peak[run])
                self.shm_used += _bincount(nodes, grown, minlength=w)
                host_got = host_got + grown * (1 + p.per_mib[run])
            self.pod_mem += _bincount(nodes, host_got, minlength=w)
        if len(starters):
            p.rss[starters] += g_start
            self.pod_mem += _bincount(s_nodes, g_start, minlength=w)
            for i in starters[g_start >= s_want - 1e-6]:
                self._start_container(int(i))
        self._oom_killer()
        self._update_memory()

    def _loop(self, due: np.ndarray, contention: np.ndarray) -> None:
        """One workload loop for each pod in ``due``: the next growth step of workload.growth,
        refused above a container limit (OOMKilled) or beyond the VM's memory (the allocation
        fails in the guest and the increment halves)."""
        p = self.table
        t = self._t
        step = growth.step_size(p.held[due], p.target[due], p.inc[due])
        new = p.held[due] + step
        limited = (p.limit[due] > 0) & (new > p.limit[due])
        guest_room = p.vm_size[due] - p.guest_base[due]
        refused = ~limited & (new > guest_room) & (step > 0)
        ok = ~limited & ~refused
        p.held[due[ok]] = new[ok]
        p.inc[due[refused]] = growth.increment_after_failure(p.inc[due[refused]])
        f = p.cpu_frac[due]
        c = contention[p.node[due]]
        p.loop_next[due] = t + growth.LOOP_S * (1.0 - f + f * c)
        for i in due[limited]:
            # The cgroup limit stops it: the container is OOM-killed (exit 137).
            self._dep_list[int(p.dep[i])].oom_killed += 1
            self._end_container(int(i), T_OOM, 137, vm_dies=False)

    def _shm_limit(self, run, nodes, guest_need, host_want) -> None:
        """VMs whose new guest pages do not fit in /dev/shm die (QEMU gets SIGBUS), freeing
        their memory for the others (kata runtime#2766)."""
        p = self.table
        w = len(self.node_names)
        need = _bincount(nodes, guest_need, minlength=w)
        room = self.shm_cap - self.shm_used
        for node in np.flatnonzero(need > room + 1e-6):
            members = np.flatnonzero((nodes == node) & (guest_need > 0))
            members = members[self.rng.permutation(len(members))]
            left = float(room[node])
            for k in members:
                i = int(run[k])
                if guest_need[k] <= left:
                    left -= guest_need[k]
                    continue
                left += p.guest_peak[i]
                self._end_container(i, T_ERROR, 135, vm_dies=True)
                p.message[i] = None

    def _oom_killer(self) -> None:
        """A node that thrashes for ``oom_delay_s`` gets one kernel OOM kill: the process with
        the largest badness among pods (BestEffort first)."""
        c = self.profile.cluster
        p = self.table
        n = p.n
        t = self._t
        started = self.thrashing & np.isnan(self.thrash_since)
        self.thrash_since[started] = t
        self.thrash_since[~self.thrashing] = np.nan
        due = np.flatnonzero(self.thrashing & (t - self.thrash_since >= c.oom_delay_s))
        if len(due) == 0:
            return
        cand_mask = p.alive[:n] & p.sandbox_up[:n] & np.isnan(p.deleted[:n]) & (
            p.cstate[:n] == CS_RUNNING)
        for node in due:
            cand = np.flatnonzero(cand_mask & (p.node[:n] == node))
            self.thrash_since[node] = t
            if len(cand) == 0:
                continue
            usage = self._pod_usage(cand)
            k = cand[policy.oom_victim(usage, p.adj[cand], float(self.mem_total[node]))]
            k = int(k)
            if p.vm[k]:
                self._end_container(k, T_ERROR, 137, vm_dies=True)  # QEMU killed: the VM is gone
            else:
                self._dep_list[int(p.dep[k])].oom_killed += 1
                self._end_container(k, T_OOM, 137, vm_dies=False)

    def _pod_usage(self, idx: np.ndarray) -> np.ndarray:
        """Host memory charged to each pod's cgroup now."""
        p = self.table
        return np.where(p.sandbox_up[idx],
                        p.host_held[idx] + np.where(p.vm[idx],
                                                    p.guest_peak[idx] * (1 + p.per_mib[idx]),
                                                    p.rss[idx]),
                        0.0)

    def _update_memory(self) -> None:
        """Page cache gives way to anonymous memory, keeping MemFree at the kernel's watermark,
        and refills slowly when memory is freed."""
        c = self.profile.cluster
        used = self.sys_used + self.infra_used + self.pod_mem
        room = self.mem_total - used - c.free_floor_mib  # cache that leaves MemFree at the floor
        refilled = np.minimum(np.minimum(self.cache + c.page_cache_refill_mib_s * self._dt,
                                         self.cache_max), room)
        self.cache = np.where(self.cache > room, room, np.maximum(self.cache, refilled))
        self.cache = np.maximum(self.cache, c.page_cache_min_mib)
        self.free = np.maximum(0.0, self.mem_total - used - self.cache)

    def _available(self) -> np.ndarray:
        """memory.available as the eviction manager sees it, taken as the kernel's MemAvailable:
        free memory above the watermark plus page cache that can be dropped without thrashing."""
        c = self.profile.cluster
        return (self.mem_total - self.sys_used - self.infra_used - self.pod_mem
                - c.page_cache_min_mib - c.free_floor_mib)

    # Eviction manager and node status -----------------------------------------------------------

    def _evict(self) -> None:
        c = self.profile.cluster
        t = self._t
        due = np.flatnonzero(self.next_evict_check <= t)
        if len(due) == 0:
            return
        self.next_evict_check[due] += c.eviction_interval_s
        available = self._available()
        p = self.table
        n = p.n
        blind = self._stats_missing()
        for node in due:
            if blind[node]:
                continue  # no summary stats: the pass fails before looking at any signal
            # The condition is the kubelet's own view, updated only when its manager runs.
            signal = available[node] < c.eviction_threshold_mib
            if signal:
                self.last_signal[node] = t
            self.kubelet_pressure[node] = signal or (
                t - self.last_signal[node] < c.pressure_transition_s)
            if not signal:
                continue
            cand = np.flatnonzero(p.alive[:n] & (p.node[:n] == node) & np.isnan(p.deleted[:n])
                                  & (p.phase[:n] != PH_FAILED))
            if len(cand) == 0:
                continue
            usage = self._pod_usage(cand)
            k = int(cand[policy.eviction_order(usage, p.req_mem[cand])[0]])
            self._release_workload(k, True)
            p.phase[k] = PH_FAILED
            p.reason[k] = R_EVICTED
            if p.cstate[k] in (CS_RUNNING, CS_BACKOFF):
                p.term_reason[k] = T_ERROR
                p.term_exit[k] = 137
            p.cstate[k] = CS_TERMINATED
            p.message[k] = (
                "The node was low on resource: memory. Threshold quantity: "
                f"{c.eviction_threshold_mib:g}Mi, available: {int(max(available[node], 0) * 1024)}Ki. "
            )
            self._dep_list[int(p.dep[k])].evicted += 1
            self.next_evict_check[node] = t + c.eviction_cleanup_s

    def _stats_missing(self) -> np.ndarray:
        """Nodes hosting a pod whose runtime gives the kubelet no pod stats."""
        w = len(self.node_names)
        blind_deps = [d.index for d in self._dep_list if not d.runtime.pod_stats]
        if not blind_deps:
            return np.zeros(w, dtype=bool)
        p = self.table
        n = p.n
        mask = p.alive[:n] & (p.node[:n] >= 0) & p.sandbox_up[:n] & np.isin(p.dep[:n], blind_deps)
        return _bincount(p.node[:n][mask], minlength=w) > 0

    def _post_status(self) -> None:
        c = self.profile.cluster
        due = self.next_status <= self._t
        if due.any():
            self.tainted = np.where(due, self.kubelet_pressure, self.tainted)
            self.next_status[due] += c.node_status_interval_s

    def _update_load(self) -> None:
        c = self.profile.cluster
        p = self.table
        n = p.n
        w = len(self.node_names)
        run = p.alive[:n] & (p.cstate[:n] == CS_RUNNING) & (p.node[:n] >= 0)
        creating = p.alive[:n] & (p.cstate[:n] == CS_CREATING) & (p.node[:n] >= 0)
        demand = _bincount(p.node[:n][run], p.cpu_frac[:n][run], minlength=w)
        self.creating_count = _bincount(p.node[:n][creating], minlength=w).astype(float)
        sandbox_cpus = np.array([d.runtime.sandbox_cpus for d in self._dep_list] or [0.0])
        if creating.any():
            demand += _bincount(p.node[:n][creating], sandbox_cpus[p.dep[:n][creating]],
                                  minlength=w)
        demand += np.where(self.thrashing, c.thrash_cpus, 0.0) + 0.5
        self.cpu_demand = demand
        for k, minutes in enumerate((1, 5, 15)):
            decay = math.exp(-self._dt / (60.0 * minutes))
            self.load[:, k] = self.load[:, k] * decay + demand * (1 - decay)

    # ------------------------------------------------------------------ helpers

    def _dep(self, key: str) -> _Deployment:
        try:
            return self._deps[key]
        except KeyError:
            raise KeyError(f"no deployment {key!r}") from None

    def _pods_of(self, dep_index: int, *, active_only: bool) -> np.ndarray:
        p = self.table
        n = p.n
        mask = p.alive[:n] & (p.dep[:n] == dep_index)
        if active_only:
            mask &= np.isnan(p.deleted[:n]) & (p.phase[:n] != PH_FAILED)
        return np.flatnonzero(mask)

    def _node_index(self, name: str) -> int:
        try:
            return self.node_names.index(name)
        except ValueError:
            raise KeyError(f"no node {name!r}") from None

    def _view(self, i: int) -> PodView:
        p = self.table
        dep = self._dep_list[int(p.dep[i])]
        node = int(p.node[i])
        cs = int(p.cstate[i])
        state, creason, cexit = "waiting", None, None
        if cs == CS_CREATING:
            creason = "ContainerCreating"
        elif cs == CS_BACKOFF:
            creason = "CrashLoopBackOff"
        elif cs == CS_RUNNING:
            state = "running"
        elif cs == CS_TERMINATED:
            state = "terminated"
            creason = TERM_REASONS[int(p.term_reason[i])] or "Error"
            cexit = int(p.term_exit[i]) if p.term_exit[i] >= 0 else 137
        deleted = p.deleted[i]
        usage = float(self._pod_usage(np.array([i]))[0])
        return PodView(
            name=str(p.name[i]), uid=str(p.uid[i]), deployment=dep.key,
            node=self.node_names[node] if node >= 0 else None,
            phase=PHASES[int(p.phase[i])],
            reason="Evicted" if p.reason[i] == R_EVICTED else None,
            message=p.message[i],
            ready=cs == CS_RUNNING and math.isnan(deleted),
            container_state=state, container_reason=creason, container_exit_code=cexit,
            last_terminated_reason=TERM_REASONS[int(p.last_reason[i])],
            last_exit_code=int(p.last_exit[i]) if p.last_exit[i] >= 0 else None,
            restarts=int(p.restarts[i]),
            created=float(p.created[i]),
            scheduled=_opt(p.scheduled[i]), started=_opt(p.started[i]),
            ready_at=_opt(p.ready_at[i]), deleted=_opt(deleted),
            runtime_class=dep.spec.runtime_class, labels=dict(dep.labels),
            qos_class=dep.qos, memory_mib=usage,
        )


def _water_fill(nodes: np.ndarray, wants: np.ndarray, headroom: np.ndarray,
                need: np.ndarray) -> np.ndarray:
    """Share each node's headroom among what asks for memory there, every requester at the same
    rate (page faults are served one by one, whoever takes them): small requests are met in full,
    large ones get the same amount as each other. Nodes with enough give everyone all."""
    grants = wants.copy()
    short = np.flatnonzero(need > np.maximum(headroom, 0.0) + 1e-9)
    for node in short:
        mine = np.flatnonzero(nodes == node)
        room = max(0.0, float(headroom[node]))
        w = np.sort(wants[mine])
        # level L with sum(min(w, L)) == room
        below = np.concatenate([[0.0], np.cumsum(w)])
        k = len(w)
        level = 0.0
        for j in range(k):
            # with the j smallest fully served, the rest share what is left equally
            rest = (room - below[j]) / (k - j)
            if rest <= w[j]:
                level = rest
                break
        else:
            level = w[-1]
        grants[mine] = np.minimum(wants[mine], max(level, 0.0))
    return grants


def _cycled(values, n: int) -> np.ndarray:
    """Per-node values from a profile list, repeated over the workers."""
    return np.array([float(values[i % len(values)]) for i in range(n)])


def _bincount(idx, weights=None, minlength: int = 0) -> np.ndarray:
    """np.bincount that always returns floats (an empty input gives ints otherwise)."""
    return np.bincount(idx, weights, minlength=minlength).astype(np.float64, copy=False)


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _template_hash(key: str, spec: WorkloadSpec) -> str:
    import hashlib

    h = hashlib.sha1(f"{key}/{sorted(spec.to_dict().items())}".encode()).hexdigest()
    return "".join(_NAME_CHARS[int(h[k: k + 2], 16) % len(_NAME_CHARS)] for k in range(0, 20, 2))
