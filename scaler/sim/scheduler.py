"""kube-scheduler: pending pods bound to nodes by requests plus RuntimeClass overhead against
allocatable, maxPods, the memory-pressure taint, least-allocated scoring (``policy``), at the
scheduler's throughput. A bound pod goes to its node's kubelet for admission at once."""

from __future__ import annotations

import math

import numpy as np

from scaler.sim import policy
from scaler.sim.controlplane import scheduler_rate
from scaler.sim.kubelet import admit
from scaler.sim.pods import PH_FAILED, PH_PENDING
from scaler.sim.state import SimState, bincount

Requests = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def node_requests(s: SimState) -> Requests:
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
    """Bind pending pods, oldest first, at the scheduler's rate. Pods of one deployment are
    alike, so they are placed together (``place_alike``); a pod the kubelet rejects at admission
    leaves its node as attractive as before, so placement is worked out again after one.

    A deployment whose next pod fit nowhere stays unschedulable until something the scheduler
    looks at changes (``s.sched_gen``: a pod bound, gone or failed, a taint): meanwhile each step
    costs it one attempt of the budget, as kube-scheduler retries its queue, and no search."""
    p = s.table
    pending = _pending(s)
    _refill(s, 1)
    if len(pending) == 0:
        s.stuck.clear()
        return
    reqs = None
    deps = p.dep[pending]
    one = deps[0] == deps[-1] and (deps == deps[0]).all()
    for d in deps[:1] if one else np.unique(deps):
        mine = pending if one else pending[deps == d]
        stuck = s.stuck.get(int(d))
        if stuck is not None and stuck[0] == s.sched_gen:
            if s.sched_budget >= 1:
                s.sched_budget -= 1
                _failed(s, int(d), mine[p.created[mine] > stuck[1]], stuck[2])
                s.stuck[int(d)] = (stuck[0], s.t, stuck[2])
            continue
        s.stuck.pop(int(d), None)
        if reqs is None:
            reqs = node_requests(s)
        while len(mine) and s.sched_budget >= 1:
            want = min(len(mine), int(s.sched_budget))
            plan = place_alike(s, int(mine[0]), want, *reqs)
            k = at = 0
            while k < want and at < len(plan):
                i, node = int(mine[k]), int(plan[at])
                s.sched_budget -= 1
                k += 1
                if bind(s, i, node):
                    _add_requests(s, i, node, reqs)
                    at += 1
                # else: rejected at admission, so the node is as attractive as before and the
                # next pod goes there too, as one-by-one scheduling would send it
            if at == len(plan) < want and k < want:
                # the next pod fits nowhere, nor will the rest this step
                s.sched_budget -= 1
                msg = unschedulable_message(s, reqs[0], reqs[1], reqs[4], int(mine[k]))
                _failed(s, int(d), mine[k:], msg)
                s.stuck[int(d)] = (s.sched_gen, s.t, msg)
                break
            mine = mine[k:]


def _failed(s: SimState, dep: int, pods: np.ndarray, message: str) -> None:
    """Pods that fit no node: each says why, with a FailedScheduling event when it first fits
    nowhere or the reason changes."""
    p = s.table
    d = s.dep_list[dep]
    last, since = d.unschedulable
    fresh = pods if message != last else pods[p.created[pods] >= since]
    d.failed_scheduling += int(np.count_nonzero(p.message[fresh] != message))
    p.message[pods] = message
    d.unschedulable = (message, s.t)


def _pending(s: SimState) -> np.ndarray:
    """Pods waiting for a node, oldest first: slots are in creation order (new pods are
    appended, compaction keeps the order)."""
    p = s.table
    n = p.n
    return np.flatnonzero(p.alive[:n] & (p.node[:n] < 0) & (p.phase[:n] == PH_PENDING)
                          & np.isnan(p.deleted[:n]))


def _refill(s: SimState, ticks: int) -> None:
    rate = scheduler_rate(s.profile.control_plane, s.workers)
    s.sched_budget = min(s.sched_budget + rate * s.dt * ticks, max(1.0, rate * s.dt))


def next_change(s: SimState) -> float:
    """Never while every pending pod belongs to a deployment known not to fit anywhere (and
    nothing the scheduler looks at changed since), else now."""
    deps = {int(d) for d in s.table.dep[_pending(s)]}
    if all((st := s.stuck.get(d)) is not None and st[0] == s.sched_gen for d in deps):
        return math.inf
    return s.t


def skip(s: SimState, ticks: int) -> None:
    """Quiet steps up to now: the budget refills and each stuck deployment's pending pods cost
    it one attempt per step, as ``schedule`` would spend it."""
    stuck = sorted({int(d) for d in s.table.dep[_pending(s)]})
    if not stuck:
        s.stuck.clear()
    for _ in range(min(ticks, 1000)):  # the budget settles long before
        _refill(s, 1)
        for _d in stuck:
            if s.sched_budget >= 1:
                s.sched_budget -= 1
    for d in stuck:
        st = s.stuck[d]
        s.stuck[d] = (st[0], s.t, st[2])


def place_alike(s: SimState, i: int, count: int, req_cpu: np.ndarray, req_mem: np.ndarray,
                nz_cpu: np.ndarray, nz_mem: np.ndarray, pod_count: np.ndarray) -> np.ndarray:
    """Nodes for up to ``count`` pods like pod ``i``, in the order kube-scheduler would pick
    them one by one: each goes to the feasible node with the best least-allocated score after
    placing it (ties broken at random), the node's score dropping with every pod it takes.
    Fewer nodes than ``count`` come back when the rest fit nowhere."""
    p = s.table
    c = s.profile.cluster
    cpu, mem = float(p.req_cpu[i]), float(p.req_mem[i])
    nzc, nzm = float(p.nz_cpu[i]), float(p.nz_mem[i])
    free_cpu = s.alloc_cpu - req_cpu
    free_mem = s.alloc_mem - req_mem
    room = np.where(s.tainted, 0.0, np.maximum(0.0, c.max_pods - pod_count))
    if cpu > 0:
        room = np.minimum(room, np.floor(np.maximum(free_cpu, 0.0) / cpu + 1e-9))
    else:
        room = np.where(free_cpu >= 0, room, 0.0)
    if mem > 0:
        room = np.minimum(room, np.floor(np.maximum(free_mem, 0.0) / mem + 1e-9))
    else:
        room = np.where(free_mem >= 0, room, 0.0)
    room = np.minimum(room, count).astype(np.int64)
    total = int(room.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Every (node, j-th more pod) candidate with the node's score after taking it.
    node = np.repeat(np.arange(len(room)), room)
    j = np.arange(total) - np.repeat(np.cumsum(room) - room, room) + 1
    scores = policy.least_allocated_scores(nz_cpu[node] + (j - 1) * nzc,
                                           nz_mem[node] + (j - 1) * nzm, s.alloc_cpu[node],
                                           s.alloc_mem[node], nzc, nzm)
    # Best first; equal scores in random order (kube-scheduler's tie-break). Only the best
    # ``count`` candidates are sorted.
    key = np.round(scores, 9) + s.rng.random(total) * 1e-10
    if total > count:
        top = np.argpartition(-key, count - 1)[:count]
        return node[top[np.argsort(-key[top], kind="stable")]]
    return node[np.argsort(-key, kind="stable")]


def _add_requests(s: SimState, i: int, node: int, reqs: Requests) -> None:
    p = s.table
    req_cpu, req_mem, nz_cpu, nz_mem, count = reqs
    req_cpu[node] += p.req_cpu[i]
    req_mem[node] += p.req_mem[i]
    nz_cpu[node] += p.nz_cpu[i]
    nz_mem[node] += p.nz_mem[i]
    count[node] += 1


def unschedulable_message(s: SimState, req_cpu: np.ndarray, req_mem: np.ndarray,
                          count: np.ndarray, i: int) -> str:
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
    s.sched_gen += 1
    return admit(s, i) is not False
