"""The kubelets: admission, sandbox set-up, containers started, ended and restarted with back-off,
terminating pods gone.

A pod bound to a node is admitted (or, BestEffort on a node under MemoryPressure, rejected as
Failed/Evicted within the kubelet's API rate), its sandbox is set up (slower with other set-ups in
flight, with busy CPUs and on a thrashing node), then it must find its start memory on the node
(``memory.grow`` hands it out) before its container runs. A container that ends restarts after the
back-off of ``policy.next_backoff``, in a new sandbox if its VM died.
"""

from __future__ import annotations

import math

import numpy as np

from scaler.sim import policy
from scaler.sim.pods import (
    CS_BACKOFF,
    CS_CREATING,
    CS_NONE,
    CS_RUNNING,
    PH_FAILED,
    PH_PENDING,
    PH_RUNNING,
    R_EVICTED,
    T_NONE,
)
from scaler.sim.state import SimState, release_workload, vanish
from workload import growth


def admit(s: SimState, i: int) -> bool | None:
    """Kubelet admission: a BestEffort pod on a node under MemoryPressure is rejected as
    Failed/Evicted. Writing that status is an API call, within the kubelet's client rate
    limit; past it the pod waits, bound but not yet admitted (None)."""
    p = s.table
    node = int(p.node[i])
    if s.kubelet_pressure[node] and p.besteffort[i]:
        if s.reject_budget[node] < 1:
            p.cstate[i] = CS_NONE
            p.next_at[i] = np.nan
            s.deferred = True
            return None
        s.reject_budget[node] -= 1
        p.phase[i] = PH_FAILED
        p.reason[i] = R_EVICTED
        p.cstate[i] = CS_NONE
        p.message[i] = "Pod was rejected: The node had condition: [MemoryPressure]. "
        dep = s.dep_list[int(p.dep[i])]
        dep.evicted += 1
        dep.rejected += 1
        return False
    p.cstate[i] = CS_CREATING
    begin_setup(s, i, node, 0.0)
    return True


def begin_setup(s: SimState, i: int, node: int, after: float) -> None:
    """Set pod ``i``'s sandbox up on ``node``, starting ``after`` seconds from now: done when
    ``sandbox_seconds`` have passed at the node's pace, given up at the CRI call's timeout."""
    p = s.table
    p.next_at[i] = s.t + after + sandbox_seconds(s, i, node)
    p.deadline[i] = s.t + after + s.profile.cluster.runtime_request_timeout_s


def sandbox_seconds(s: SimState, i: int, node: int) -> float:
    """Sandbox + container start: slower with other sandboxes in flight on the node and when
    its CPUs are saturated (kata CI start-up figures; reference runs lag under load)."""
    p = s.table
    rt = s.dep_list[int(p.dep[i])].runtime
    in_flight = float(s.creating_count[node])
    s.creating_count[node] += 1
    contention = max(1.0, s.cpu_demand[node] / s.cpus[node])
    base = rt.sandbox_s + rt.sandbox_per_concurrent_s * in_flight + rt.container_start_s
    jitter = 1.0 + 0.1 * (s.rng.random() - 0.5)
    return base * contention * jitter * s.runtime_slowdown[node]


def run_kubelets(s: SimState) -> None:
    """One pass of every kubelet: deferred admissions, set-up timers (slowed on thrashing
    nodes), terminating pods gone, set-ups finished (their start memory is asked for next)."""
    p = s.table
    n = p.n
    t = s.t
    c = s.profile.cluster
    _refill(s, 1)
    if s.deferred:
        waiting = np.flatnonzero(p.alive[:n] & (p.node[:n] >= 0) & (p.phase[:n] == PH_PENDING)
                                 & (p.cstate[:n] == CS_NONE) & np.isnan(p.deleted[:n]))
        s.deferred = False
        for j in waiting:
            admit(s, int(j))
    if (s.progress < 1).any():
        waiting = np.flatnonzero(p.alive[:n] & (p.cstate[:n] == CS_CREATING)
                                 & ~np.isnan(p.next_at[:n]))
        p.next_at[waiting] += setup_lag(s, waiting)
        s.next_evict_check += s.dt * (1.0 - np.maximum(s.progress, c.kubelet_min_progress))
    gone = np.flatnonzero(p.alive[:n] & (p.gone_at[:n] <= t))
    for j in gone:
        vanish(s, int(j))
    late = np.flatnonzero(p.alive[:n] & (p.deadline[:n] <= t) & ~p.sandbox_up[:n]
                          & (~p.starting[:n] | p.vm[:n]) & (p.cstate[:n] == CS_CREATING)
                          & np.isnan(p.deleted[:n]))
    for j in late:
        # Not set up in time (a VM's boot is part of its sandbox's creation; a container's
        # start is a call of its own): the kubelet gives the sandbox up and tries again.
        i = int(j)
        release_workload(s, i, True)
        s.dep_list[int(p.dep[i])].sandbox_failures += 1
        delay, p.backoff[i] = policy.next_backoff(p.backoff[i], 0.0)
        begin_setup(s, i, int(p.node[i]), max(delay, s.dt))
    due = np.flatnonzero(p.alive[:n] & np.isnan(p.deleted[:n]) & (p.next_at[:n] <= t)
                         & ((p.cstate[:n] == CS_CREATING) | (p.cstate[:n] == CS_BACKOFF)))
    for k in due:
        i = int(k)
        if p.sandbox_up[i]:
            start_container(s, i)  # a restart in the existing sandbox
            continue
        node = int(p.node[i])
        if p.shared[i] and s.shm_cap[node] - s.shm_used[node] < p.guest_base[i]:
            # No /dev/shm left for the guest's memory: QEMU fails, the kubelet retries.
            s.dep_list[int(p.dep[i])].sandbox_failures += 1
            delay, p.backoff[i] = policy.next_backoff(p.backoff[i], 0.0)
            begin_setup(s, i, node, max(delay, s.dt))
            continue
        # Set-up done; its memory (shim, pause or VM, the workload's base) must now be found
        # on the node, competing with everything else that wants memory there.
        p.starting[i] = True
        p.next_at[i] = np.nan


def _refill(s: SimState, ticks: int) -> None:
    c = s.profile.cluster
    s.reject_budget = np.minimum(s.reject_budget + c.kubelet_api_qps * s.dt * ticks,
                                 c.kubelet_api_burst)


def next_change(s: SimState) -> float:
    """The next set-up or restart due, or the next terminating pod gone; now while admissions
    wait or a node thrashes (set-ups lose time)."""
    p = s.table
    n = p.n
    if s.deferred or (s.progress < 1).any():
        return s.t
    alive = p.alive[:n]
    mine = alive & np.isnan(p.deleted[:n])
    creating = p.cstate[:n] == CS_CREATING
    times = [p.gone_at[:n][alive],
             p.next_at[:n][mine & (creating | (p.cstate[:n] == CS_BACKOFF))],
             p.deadline[:n][mine & creating & ~p.sandbox_up[:n] & (~p.starting[:n] | p.vm[:n])]]
    return min((float(np.nanmin(x)) for x in times if len(x) and not np.isnan(x).all()),
               default=math.inf)


def skip(s: SimState, ticks: int) -> None:
    _refill(s, ticks)


def setup_lag(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Seconds the sandbox set-ups ``idx`` lose this step: a thrashing node runs its
    runtime at the fraction of memory requests it serves, but each runtime keeps at least
    its own minimum pace (kata's VM launches go on slowly on full nodes, runc's stall)."""
    p = s.table
    c = s.profile.cluster
    floor = np.array([max(c.runtime_min_progress, d.runtime.setup_min_progress)
                      for d in s.dep_list] or [c.runtime_min_progress])
    pace = np.maximum(s.progress[p.node[idx]], floor[p.dep[idx]])
    return s.dt * (1.0 - pace)


def start_need(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Host MiB a new sandbox and its container take before the container runs: shim and
    pause plus the workload's base for runc; what a VM needs to boot for kata (the rest
    of its processes' memory and the guest's comes while it runs)."""
    return s.table.boot[idx]


def start_container(s: SimState, i: int) -> None:
    """Run the container; a new sandbox's memory was granted into ``rss`` beforehand."""
    p = s.table
    t = s.t
    dep = s.dep_list[int(p.dep[i])]
    rss = 0.0
    if not p.sandbox_up[i]:
        # pod_mem already holds what the start was granted (kept in rss meanwhile).
        if p.vm[i]:
            # Booted: QEMU's processes hold their part of the grant, the guest the rest (in
            # /dev/shm); both grow from there while the VM runs.
            p.host_held[i] = min(p.rss[i], p.host_mib[i])
            p.guest_peak[i] = max(0.0, p.rss[i] - p.host_held[i]) / (1 + p.per_mib[i])
            if p.shared[i]:
                s.shm_used[int(p.node[i])] += p.guest_peak[i]
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
    p.held[i] = s.profile.workload.base_rss_mib
    p.rss[i] = rss
    p.inc[i] = float(dep.spec.increment_mib)
    p.loop_next[i] = t + growth.LOOP_S
    if not p.ever_ready[i]:
        p.ever_ready[i] = True
        p.ready_at[i] = t
        dep.startups.append(t - p.created[i])


def end_container(s: SimState, i: int, reason: int, exit_code: int, vm_dies: bool) -> None:
    """The workload ended (OOM kill, VM gone): restart per back-off, in a new VM if the old
    one died."""
    p = s.table
    t = s.t
    node = int(p.node[i])
    release_workload(s, i, vm_dies)
    ran = t - p.started[i] if not math.isnan(p.started[i]) else 0.0
    delay, p.backoff[i] = policy.next_backoff(p.backoff[i], ran)
    p.last_reason[i] = reason
    p.last_exit[i] = exit_code
    p.restarts[i] += 1
    p.loop_next[i] = np.nan
    if vm_dies:
        s.dep_list[int(p.dep[i])].vm_deaths += 1
        p.cstate[i] = CS_CREATING  # a new sandbox (VM) is made; the pod stays Running
        begin_setup(s, i, node, delay)
    else:
        p.cstate[i] = CS_BACKOFF if delay > 0 else CS_CREATING
        p.next_at[i] = t + max(delay, s.dt)
