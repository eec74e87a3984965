"""The simulated cluster itself: nodes, pods, controllers and kubelets stepped in virtual time.

State lives in numpy arrays (``state.SimState``), so a step is a handful of vectorised passes;
only events that are rare by nature (a pod bound, a VM dying, an eviction) are handled one at a
time. Nothing here knows about the CLI or the engine.

One step (``tick_s`` of virtual time) runs, in order, one module per mechanism:

1. ``replicaset.reconcile``: create or delete pods towards the wanted replicas, at the
   controller's rate;
2. ``scheduler.schedule``: bind pending pods by requests + RuntimeClass overhead, maxPods,
   least-allocated; the kubelet admits them (or rejects a BestEffort pod on a node under
   MemoryPressure);
3. ``kubelet.run_kubelets``: sandboxes set up, containers (re)started with back-off,
   terminating pods gone;
4. ``memory.grow``: node memory handed to what asks for it (workloads growing by
   workload.growth, new sandboxes; /dev/shm for VM guests; page cache reclaimed first; on a node
   that cannot serve everyone, everyone stalls and the kernel OOM killer acts after a while);
5. ``eviction.evict``: the eviction managers (one pod per pass, ranked by usage above request);
6. ``nodestatus``: node status posts (the taint the scheduler sees) and load averages.

What comes out (pods that fit, evictions, OOM kills, free memory) is not written anywhere: it
follows from these rules and the profile's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from collectors.pod_sample import PodMemory
from scaler.cluster import NodeInfo, PodCounts
from scaler.sim import (
    controlplane,
    cpu,
    eviction,
    kubelet,
    memory,
    nodestatus,
    policy,
    replicaset,
    scheduler,
    views,
)
from scaler.sim.pods import CS_RUNNING, PH_FAILED, PodTable
from scaler.sim.profile import SimProfile
from scaler.sim.state import Deployment, SimState, delete_slot, pod_usage, vanish
from scaler.sim.views import DeploymentView, PodView
from scaler.workload_spec import WorkloadSpec

#: Virtual time starts here unless told otherwise: 2026-01-01T00:00:00Z, so runs are repeatable.
DEFAULT_START = 1_767_225_600.0

Listener = Callable[["SimModel"], None]
#: ``due(until)``: the earliest virtual time at which a listener must see the model when it is
#: about to run until ``until``.
Due = Callable[[float], float]

# How often a busy model looks for a quiet period again: after 1 step, doubling up to this.
_MAX_CHECK_GAP = 16


class SimModel:
    """A Kubernetes cluster with ``profile.cluster.workers`` workers, in virtual time.

    The node arrays of the state (``kubelet_pressure``, ``tainted``, ``mem_total``, ...) read
    as attributes of the model, for tests and the API front."""

    def __init__(self, profile: SimProfile, seed: int = 0, *, start: float = DEFAULT_START,
                 skip_quiet: bool = True) -> None:
        self.profile = profile
        self.seed = seed
        self.start = float(start)
        self.state = SimState(profile, seed, self.start)
        self._next_tick = self.state.t + self.state.dt
        self._listeners: list[tuple[Listener, Due | None]] = []
        # Quiet periods: nothing can change until ``_quiet_end`` but timers, budgets, page
        # cache and load averages, which ``_skip`` moves on without a full step.
        self.skip_quiet = skip_quiet
        self._quiet_end = -math.inf
        self._check_at = -math.inf
        self._check_gap = 1
        self.skipped_ticks = 0
        replicaset.leave_stuck_pods(self.state)
        memory.update_page_cache(self.state)
        self.cpu = cpu.CpuAccount(self.state)  # node CPU, per-pod CPU and work (scaler.sim.cpu)
        self.state.pod_cpu = self.cpu.pods  # what the workloads' loops run at

    def __getattr__(self, name: str) -> Any:
        # Only called for names the model itself lacks: the state's arrays and counters.
        if name == "state":
            raise AttributeError(name)
        return getattr(self.state, name)

    @property
    def table(self) -> PodTable:
        return self.state.table

    @property
    def rng(self) -> np.random.Generator:
        return self.state.rng

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        return self.state.t

    def advance(self, dt: float) -> None:
        if dt > 0:
            self.advance_to(self.state.t + dt)

    def advance_to(self, t: float) -> None:
        """Run every step due up to ``t``; virtual time never goes back.

        Quiet steps (nothing can change but timers, budgets, page cache and load averages) are
        not stepped through: each is moved on by ``_skip`` at a fraction of a step's cost, with
        the same result, and a stretch of them no listener needs to see is jumped over at once
        (a closed form: equal to stepping up to rounding in the load averages, the page cache
        refill and the timers' phase)."""
        s = self.state
        while self._next_tick <= t + 1e-9:
            if self.skip_quiet and self._next_tick >= self._quiet_end \
                    and self._next_tick >= self._check_at:
                self._quiet_end = self._quiet_until()
                if self._quiet_end > self._next_tick:
                    self._check_gap = 1
                else:
                    self._check_at = self._next_tick + self._check_gap * s.dt
                    self._check_gap = min(2 * self._check_gap, _MAX_CHECK_GAP)
            if self._next_tick < self._quiet_end:
                self._skip(self._quiet_ticks(t))
                continue
            s.t = self._next_tick
            self._step()
            self._next_tick += s.dt
        s.t = max(s.t, float(t))

    def add_listener(self, fn: Listener, due: Due | None = None) -> None:
        """``fn(model)`` after every step; with ``due``, only from the time ``due(until)`` says
        on (the simulated node source samples this way)."""
        self._listeners.append((fn, due))

    def remove_listener(self, fn: Listener) -> None:
        self._listeners = [(f, d) for f, d in self._listeners if f != fn]

    def _quiet_until(self) -> float:
        """The earliest time any mechanism would change the state on its own (now or before:
        the model is busy)."""
        s = self.state
        now, s.t = s.t, self._next_tick
        end = math.inf
        for mechanism in (replicaset, scheduler, kubelet, memory, eviction, nodestatus):
            end = min(end, mechanism.next_change(s))
            if end <= s.t:
                break
        s.t = now
        return end

    def _quiet_ticks(self, until: float) -> int:
        """How many quiet steps to take at once: up to the end of the quiet period and to
        ``until``, and no further than the first step a listener needs to see."""
        s = self.state
        first = self._next_tick
        last = min(until + 1e-9, self._quiet_end - 1e-9)
        k = int((last - first) // s.dt) + 1
        for _fn, due in self._listeners:
            if due is None:
                return 1
            k = min(k, max(1, int(math.ceil((due(until) - first) / s.dt - 1e-9)) + 1))
        return max(1, k)

    def _skip(self, ticks: int) -> None:
        s = self.state
        s.t = self._next_tick if ticks == 1 else self._next_tick + (ticks - 1) * s.dt
        s.ticks += ticks
        s.pod_ticks += ticks * int(s.table.alive[: s.table.n].sum())
        self.skipped_ticks += ticks
        for mechanism in (replicaset, scheduler, kubelet, memory, eviction, nodestatus):
            mechanism.skip(s, ticks)
        self.cpu.skip(s, ticks)
        self._next_tick = self._next_tick + s.dt if ticks == 1 else s.t + s.dt
        for fn, _due in list(self._listeners):
            fn(self)

    def _changed(self) -> None:
        """Something outside the model's own mechanisms changed it: look for quiet anew."""
        self._quiet_end = -math.inf
        self._check_at = -math.inf

    def _step(self) -> None:
        s = self.state
        s.ticks += 1
        replicaset.reconcile(s)
        scheduler.schedule(s)
        kubelet.run_kubelets(s)
        memory.grow(s)
        eviction.evict(s)
        nodestatus.post_status(s)
        nodestatus.update_load(s)
        self.cpu.account(s)
        p = s.table
        s.pod_ticks += int(p.alive[: p.n].sum())
        if p.n > 2048:
            p.compact()
        for fn, _due in list(self._listeners):
            fn(self)

    # ------------------------------------------------------------------ deployments

    def apply_deployment(self, key: str, spec: WorkloadSpec, replicas: int,
                         labels: dict[str, str] | None = None) -> None:
        """Create or update the Deployment ``key`` ("namespace/name")."""
        s = self.state
        runtime = self.profile.runtime(spec.runtime)  # UnknownRuntime names the known ones
        self._changed()
        qos = policy.qos_class(spec.request_mib, spec.limit_mib, spec.cpu_request_m,
                               spec.cpu_limit_m)
        dep = s.deps.get(key)
        thash = replicaset.template_hash(key, spec)
        if dep is None or dep.deleted:
            dep = Deployment(key=key, spec=spec, runtime=runtime, replicas=max(0, int(replicas)),
                             labels=dict(labels or {}), index=len(s.dep_list),
                             template_hash=thash, qos=qos)
            s.deps[key] = dep
            s.dep_list.append(dep)
            return
        if spec != dep.spec:
            # A new template: the old pods are replaced (Recreate-like, enough for this tool).
            dep.spec, dep.runtime, dep.qos, dep.template_hash = spec, runtime, qos, thash
            s.stuck.pop(dep.index, None)
            for i in s.pods_of(dep.index, active_only=True):
                delete_slot(s, int(i))
        dep.replicas = max(0, int(replicas))
        if labels is not None:
            dep.labels = dict(labels)

    def set_replicas(self, key: str, n: int) -> None:
        self._dep(key).replicas = max(0, int(n))
        self._changed()

    def delete_deployment(self, key: str) -> None:
        """The Deployment goes at once; its pods terminate (background cascading deletion)."""
        s = self.state
        dep = self._dep(key)
        dep.replicas = 0
        dep.deleted = True
        self._changed()
        del s.deps[key]
        p = s.table
        for i in s.pods_of(dep.index, active_only=False):
            i = int(i)
            if p.phase[i] == PH_FAILED:
                vanish(s, i)  # a terminal pod has nothing to stop
            else:
                delete_slot(s, i)

    def delete_pod(self, name: str) -> bool:
        """Delete one pod object; False when no such pod. Its ReplicaSet replaces it if wanted."""
        s = self.state
        p = s.table
        self._changed()
        hits = np.flatnonzero((p.name[: p.n] == name) & p.alive[: p.n])
        if len(hits) == 0:
            return False
        i = int(hits[0])
        if p.phase[i] == PH_FAILED or p.node[i] < 0:
            vanish(s, i)
        elif np.isnan(p.deleted[i]):
            delete_slot(s, i)
        return True

    def deployments(self) -> list[DeploymentView]:
        return views.deployment_views(self.state)

    # ------------------------------------------------------------------ views

    def nodes(self) -> list[NodeInfo]:
        s = self.state
        c = self.profile.cluster
        return [
            NodeInfo(name=name, address=None, cpu_millis=int(s.cpus[i] * 1000),
                     memory_mib=float(s.mem_total[i]),
                     allocatable_cpu_millis=int(s.alloc_cpu[i]),
                     allocatable_memory_mib=float(s.alloc_mem[i]), max_pods=c.max_pods)
            for i, name in enumerate(s.node_names)
        ]

    def pods(self, key: str | None = None) -> list[PodView]:
        """Every pod object (of deployment ``key`` if given), in creation order."""
        s = self.state
        p = s.table
        mask = p.alive[: p.n]
        if key is not None:
            dep = s.deps.get(key)
            if dep is None:
                return []
            mask = mask & (p.dep[: p.n] == dep.index)
        return [views.pod_view(s, int(i)) for i in np.flatnonzero(mask)]

    def pod_slots(self, key: str) -> np.ndarray:
        """The pod table slots of deployment ``key``'s pods, in creation order: the per-pod
        columns ``scaler.sim.pod_records`` reads (one pass over arrays, no view per pod)."""
        s = self.state
        dep = s.deps.get(key)
        p = s.table
        if dep is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(p.alive[: p.n] & (p.dep[: p.n] == dep.index))

    def pod_usage_mib(self, idx: np.ndarray) -> np.ndarray:
        """Host memory charged to each pod's cgroup now (table slots ``idx``)."""
        return pod_usage(self.state, idx)

    def node_meminfo(self, name: str) -> str:
        """The node's /proc/meminfo, in kB as the kernel writes it."""
        return views.node_meminfo(self.state, self._node_index(name))

    def node_memory(self) -> list[dict[str, int]]:
        """Every node's /proc/meminfo fields in kB (what ``node_meminfo`` renders as text)."""
        return views.meminfo_kib(self.state)

    def node_load1(self, name: str) -> float:
        """The 1-minute load average as ``node_loadavg`` shows it."""
        return views.load1(self.state, self._node_index(name))

    def node_loadavg(self, name: str) -> str:
        return views.node_loadavg(self.state, self._node_index(name))

    def node_stat(self, name: str) -> str:
        """The node's /proc/stat: cumulative CPU ticks, all CPUs and each (``scaler.sim.cpu``)."""
        return cpu.node_stat(self.state, self.cpu, self._node_index(name))

    def node_pods(self, name: str) -> list[PodMemory]:
        """The pods with a sandbox on node ``name`` as its cgroups and their workloads' reports
        show them (``scaler.sim.pod_records.pod_memory``): memory, CPU cores, work."""
        from scaler.sim.pod_records import pod_memory

        return pod_memory(self, self._node_index(name))

    def counts(self, key: str) -> PodCounts:
        """The pods of ``key`` as ``scaler.pod_state.classify`` sorts them (``views.counts``)."""
        s = self.state
        dep = s.deps.get(key) or next((d for d in s.dep_list if d.key == key), None)
        if dep is None:
            return PodCounts()
        return views.counts(s, dep)

    def listed(self, namespace: str) -> dict[str, int]:
        """The pods of ``namespace`` by class (``scaler.pod_state.PodClass`` values), as
        ``oc get pods`` lists them now: pods left stuck by an earlier run included when the
        cluster profile puts them there."""
        s = self.state
        listed = self.profile.cluster.stuck_pods_listed
        deps = [d.index for d in s.dep_list if d.key.partition("/")[0] == namespace
                or (d.key == replicaset.STUCK_KEY and listed)]
        p = s.table
        mine = np.flatnonzero(p.alive[: p.n] & np.isin(p.dep[: p.n], deps))
        return {str(k): v for k, v in views.classes(s, mine).items()}

    def failure_counts(self, key: str) -> dict[str, int]:
        """What went wrong with the pods of ``key`` (team contract 3, the names of
        ``scaler.cluster.PodCounts``' failure fields): Evicted pods listed now, and cumulative
        sandbox (VM) deaths, FailedCreate (never, in this model), FailedScheduling events and
        failed sandbox creations."""
        s = self.state
        dep = s.deps.get(key) or next((d for d in s.dep_list if d.key == key), None)
        if dep is None:
            return dict.fromkeys(views.FAILURE_FIELDS, 0)
        return views.failure_counts(s, dep)

    def take_startups(self, key: str) -> tuple[float, ...]:
        """Creation-to-Ready seconds of pods of ``key`` that became Ready since the last call."""
        dep = self.state.deps.get(key)
        if dep is None:
            return ()
        out = tuple(dep.startups)
        dep.startups.clear()
        return out

    def ground_truth(self, key: str) -> dict[str, Any]:
        """What the model knows and no API shows: memory per pod, nodes thrashing, and so on."""
        s = self.state
        dep = s.deps.get(key)
        p = s.table
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
            "pod_memory_mib": s.pod_mem.tolist(),
            "shm_mib": s.shm_used.tolist(),
            "free_mib": s.free.tolist(),
            "cache_mib": s.cache.tolist(),
            "available_mib": memory.available(s).tolist(),
            "thrashing": s.thrashing.tolist(),
            "memory_pressure": s.kubelet_pressure.tolist(),
            "tainted": s.tainted.tolist(),
            "cpu_demand": s.cpu_demand.tolist(),
        }

    def object_count(self) -> int:
        """Pod objects in existence (Failed/Evicted included): what a LIST has to return."""
        return controlplane.object_count(self.state)

    # ------------------------------------------------------------------ helpers

    def _dep(self, key: str) -> Deployment:
        try:
            return self.state.deps[key]
        except KeyError:
            raise KeyError(f"no deployment {key!r}") from None

    def _node_index(self, name: str) -> int:
        try:
            return self.state.node_names.index(name)
        except ValueError:
            raise KeyError(f"no node {name!r}") from None
