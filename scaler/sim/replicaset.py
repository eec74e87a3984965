"""The ReplicaSet controller (and the pod garbage collector): pods created or deleted towards
each deployment's replicas at the controller's rate; Failed/Evicted pods do not count as
replicas, so they are replaced, and are kept until the terminated-pod GC threshold."""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

from scaler.sim import policy
from scaler.sim.pods import CS_NONE, CS_RUNNING, PH_FAILED, PH_PENDING, T_NONE
from scaler.sim.state import Deployment, SimState, bincount, delete_slot, vanish
from scaler.workload_spec import WorkloadSpec
from workload import growth

# Terminated pods are garbage-collected only above this many (kube-controller-manager
# --terminated-pod-gc-threshold default 12500).
TERMINATED_POD_GC_THRESHOLD = 12_500

NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generated-name alphabet


def reconcile(s: SimState) -> None:
    cp = s.profile.control_plane
    s.create_budget = min(s.create_budget + cp.controller_pods_per_s * s.dt,
                          max(1.0, cp.controller_pods_per_s * s.dt))
    p = s.table
    n = p.n
    active = p.alive[:n] & np.isnan(p.deleted[:n]) & (p.phase[:n] != PH_FAILED)
    per_dep = bincount(p.dep[:n][active], minlength=len(s.dep_list))
    terminal = p.alive[:n] & (p.phase[:n] == PH_FAILED)
    if terminal.sum() > TERMINATED_POD_GC_THRESHOLD:
        excess = int(terminal.sum()) - TERMINATED_POD_GC_THRESHOLD
        for i in np.flatnonzero(terminal)[:excess]:
            vanish(s, int(i))
    for dep in s.dep_list:
        if dep.deleted:
            continue
        have = int(per_dep[dep.index]) if dep.index < len(per_dep) else 0
        if have < dep.replicas:
            make = min(dep.replicas - have, int(s.create_budget))
            for _ in range(make):
                new_pod(s, dep)
            s.create_budget -= make
        elif have > dep.replicas:
            scale_down(s, dep, have - dep.replicas)


def scale_down(s: SimState, dep: Deployment, count: int) -> None:
    """Delete ``count`` pods, least valuable first: unscheduled, then not running, then
    newest (ReplicaSet getPodsToDelete ranking, simplified)."""
    p = s.table
    idx = s.pods_of(dep.index, active_only=True)
    if len(idx) == 0:
        return
    order = np.lexsort((-p.created[idx], p.cstate[idx] == CS_RUNNING, p.node[idx] >= 0))
    for i in idx[order[:count]]:
        delete_slot(s, int(i))


def new_pod(s: SimState, dep: Deployment) -> int:
    p = s.table
    i = p.add()
    spec, rt = dep.spec, dep.runtime
    suffix = "".join(NAME_CHARS[k] for k in s.rng.integers(len(NAME_CHARS), size=5))
    name = f"{dep.key.partition('/')[2] or dep.key}-{dep.template_hash}-{suffix}"
    p.name[i] = name
    p.uid[i] = str(uuid.UUID(bytes=s.rng.bytes(16), version=4))
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
    p.created[i] = s.t
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
    p.adj[i] = policy.oom_score_adj(dep.qos, req_mem, float(s.mem_total[0]))
    p.teardown[i] = s.profile.cluster.termination_s + rt.teardown_s
    p.sandbox_up[i] = False
    p.ever_ready[i] = False
    return i


def template_hash(key: str, spec: WorkloadSpec) -> str:
    h = hashlib.sha1(f"{key}/{sorted(spec.to_dict().items())}".encode()).hexdigest()
    return "".join(NAME_CHARS[int(h[k: k + 2], 16) % len(NAME_CHARS)] for k in range(0, 20, 2))
