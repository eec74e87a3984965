"""kube-scheduler: pending pods bound to nodes by requests plus RuntimeClass overhead against
allocatable, maxPods, the memory-pressure taint, least-allocated scoring (``policy``), at the
scheduler's throughput. A bound pod goes to its node's kubelet for admission at once."""

from __future__ import annotations

import numpy as np

from scaler.sim import policy
from scaler.sim.kubelet import admit
from scaler.sim.pods import PH_FAILED, PH_PENDING
from scaler.sim.state import SimState, bincount


def node_requests(s: SimState):
    """Requests and pod counts per node: infrastructure plus bound, non-terminal pods."""
    c = s.profile.cluster
    p = s.table
    n = p.n
    w = s.workers
    bound = p.alive[:n] & (p.node[:n] >= 0) & (p.phase[:n] != PH_FAILED)
    nodes = p.node[:n][bound]
    req_cpu = bincount(nodes, p.req_cpu[:n][bound], minlength=w) + s.infra_cpu_req
    req_mem = bincount(nodes, p.req_mem[:n][bound], minlength=w) + s.infra_mem_req
    nz_cpu = bincount(nodes, p.nz_cpu[:n][bound], minlength=w) + s.infra_cpu_req
    nz_mem = bincount(nodes, p.nz_mem[:n][bound], minlength=w) + s.infra_mem_req
    count = bincount(nodes, minlength=w) + c.infra_pods
    return req_cpu, req_mem, nz_cpu, nz_mem, count


def schedule(s: SimState) -> None:
    cp = s.profile.control_plane
    p = s.table
    n = p.n
    pending = np.flatnonzero(p.alive[:n] & (p.node[:n] < 0) & (p.phase[:n] == PH_PENDING)
                             & np.isnan(p.deleted[:n]))
    s.sched_budget = min(s.sched_budget + cp.scheduler_pods_per_s * s.dt,
                         max(1.0, cp.scheduler_pods_per_s * s.dt))
    if len(pending) == 0:
        return
    pending = pending[np.argsort(p.created[pending], kind="stable")]
    req_cpu, req_mem, nz_cpu, nz_mem, count = node_requests(s)
    max_pods = s.profile.cluster.max_pods
    deps = p.dep[pending]
    for d in np.unique(deps):
        # Pods of one deployment are alike: once one does not fit, none of the rest does.
        mine = pending[deps == d]
        for k, i in enumerate(mine):
            if s.sched_budget < 1:
                return
            s.sched_budget -= 1
            fits = policy.feasible_nodes(s.alloc_cpu - req_cpu, s.alloc_mem - req_mem,
                                         count, max_pods, s.tainted, p.req_cpu[i], p.req_mem[i])
            scores = policy.least_allocated_scores(nz_cpu, nz_mem, s.alloc_cpu, s.alloc_mem,
                                                   p.nz_cpu[i], p.nz_mem[i])
            node = policy.pick_node(scores, fits, s.rng)
            if node < 0:
                p.message[mine[k:]] = unschedulable_message(s, req_cpu, req_mem, count, i)
                break
            if bind(s, int(i), node):
                req_cpu[node] += p.req_cpu[i]
                req_mem[node] += p.req_mem[i]
                nz_cpu[node] += p.nz_cpu[i]
                nz_mem[node] += p.nz_mem[i]
                count[node] += 1


def unschedulable_message(s: SimState, req_cpu, req_mem, count, i) -> str:
    p = s.table
    max_pods = s.profile.cluster.max_pods
    why = []
    if s.tainted.any():
        why.append(f"{int(s.tainted.sum())} node(s) had untolerated taint "
                   "{node.kubernetes.io/memory-pressure: }")
    if (count >= max_pods).any():
        why.append(f"{int((count >= max_pods).sum())} Too many pods")
    if (s.alloc_cpu - req_cpu < p.req_cpu[i]).any():
        why.append(f"{int((s.alloc_cpu - req_cpu < p.req_cpu[i]).sum())} Insufficient cpu")
    if (s.alloc_mem - req_mem < p.req_mem[i]).any():
        why.append(f"{int((s.alloc_mem - req_mem < p.req_mem[i]).sum())} Insufficient memory")
    return f"0/{s.workers} nodes are available: " + ", ".join(why) + "."


def bind(s: SimState, i: int, node: int) -> bool:
    """Bind pod ``i`` to ``node`` and hand it to that node's kubelet. False if the kubelet
    rejected it (it no longer counts against the node)."""
    p = s.table
    p.node[i] = node
    p.scheduled[i] = s.t
    p.message[i] = None
    return admit(s, i) is not False
