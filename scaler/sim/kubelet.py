"""The kubelets: admission, sandbox set-up, containers started, ended and restarted with back-off,
terminating pods gone.

A pod bound to a node is admitted (or, BestEffort on a node under MemoryPressure, rejected as
Failed/Evicted within the kubelet's API rate), its sandbox is set up (slower with other set-ups in
flight, at the CPU the node's services get and on a thrashing node), then it must find its start
memory on the node (``memory.grow`` hands it out) before its container runs. A container that ends restarts after the
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
    F_NO_SHM,
    F_TIMEOUT,
    PH_FAILED,
    PH_PENDING,
    PH_RUNNING,
    R_EVICTED,
    T_NONE,
)
from scaler.sim.state import SimState, bincount, release_workload, vanish
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
    """Sandbox + container start: slower with other sandboxes in flight on the node and at the
    pace its services get CPU (kata CI start-up figures; reference runs lag under load)."""
    p = s.table
    rt = s.dep_list[int(p.dep[i])].runtime
    in_flight = float(s.creating_count[node])
    s.creating_count[node] += 1
    base = rt.sandbox_s + rt.sandbox_per_concurrent_s * in_flight + rt.container_start_s
    jitter = 1.0 + 0.1 * (s.rng.random() - 0.5)
    return float(base * services_slowdown(s)[node] * jitter * s.runtime_slowdown[node])


def services_slowdown(s: SimState) -> np.ndarray:
    """Per node, how many times slower than alone its services run (set-ups are their work):
    the CPU account's ``scaler.sim.cpu.system_slowdown`` of the last step."""
    slow = getattr(s, "system_slowdown", None)  # None in a state saved before it existed
    return np.ones(s.workers) if slow is None else np.asarray(slow)


def setup_cpus(s: SimState, idx: np.ndarray) -> np.ndarray:
    """CPU cores each ContainerCreating pod of ``idx`` takes: a set-up does a fixed amount of
    work (``sandbox_cpus`` for its nominal ``sandbox_s + container_start_s``), spread over the
    time it actually takes; waiting its turn behind the other set-ups (the runtime serialises
    part of the work), waiting out the back-off after a failed set-up, or waiting for memory,
    it takes none. (The 2021 reference cluster's physical host showed a load average of about
    50 for 64 CPUs at the end of kata.csv, with hundreds of pods ContainerCreating.)"""
    p = s.table
    out = np.zeros(len(idx))
    begun = p.deadline[idx] - s.profile.cluster.runtime_request_timeout_s
    at = np.flatnonzero(begun <= s.t)  # NaN (no set-up under way) compares False
    if len(at) == 0:
        return out
    k = idx[at]
    took = p.next_at[k] - begun[at]
    if len(s.dep_list) == 1:
        rt = s.dep_list[0].runtime
        cpus, nominal = rt.sandbox_cpus, rt.sandbox_s + rt.container_start_s
    else:
        rts = [d.runtime for d in s.dep_list]
        deps = p.dep[k]
        cpus = np.array([r.sandbox_cpus for r in rts])[deps]
        nominal = np.array([r.sandbox_s + r.container_start_s for r in rts])[deps]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[at] = np.where(took > 0, cpus * np.minimum(1.0, nominal / took), 0.0)
    return out


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
        waiting = np.flatnonzero(~np.isnan(p.next_at[:n]))
        waiting = waiting[p.alive[waiting] & (p.cstate[waiting] == CS_CREATING)]
        p.next_at[waiting] += setup_lag(s, waiting)
        s.next_evict_check += s.dt * (1.0 - np.maximum(s.progress, c.kubelet_min_progress))
    gone = np.flatnonzero(p.gone_at[:n] <= t)
    gone = gone[p.alive[gone]]
    for j in gone:
        vanish(s, int(j))
    late = np.flatnonzero(p.deadline[:n] <= t)  # cleared once a set-up is through
    late = late[p.alive[late] & ~p.sandbox_up[late] & (~p.starting[late] | p.vm[late])
                & (p.cstate[late] == CS_CREATING) & np.isnan(p.deleted[late])]
    if len(late):
        give_up(s, late)
    due = np.flatnonzero(p.next_at[:n] <= t)
    due = due[p.alive[due] & np.isnan(p.deleted[due])
              & ((p.cstate[due] == CS_CREATING) | (p.cstate[due] == CS_BACKOFF))]
    for k in due:
        i = int(k)
        if p.sandbox_up[i]:
            start_container(s, i)  # a restart in the existing sandbox
            continue
        node = int(p.node[i])
        if p.shared[i] and s.shm_cap[node] - s.shm_used[node] < p.guest_base[i]:
            # No /dev/shm left for the guest's memory: QEMU fails, the kubelet retries.
            s.dep_list[int(p.dep[i])].sandbox_failures += 1
            p.sandbox_fails[i] += 1
            p.fail_cause[i] = F_NO_SHM
            delay, p.backoff[i] = policy.next_backoff(p.backoff[i], 0.0)
            begin_setup(s, i, node, max(delay, s.dt))
            continue
        # Set-up done; its memory (shim, pause or VM, the workload's base) must now be found
        # on the node, competing with everything else that wants memory there. A VM's boot is
        # still part of its sandbox's creation: its deadline holds until it runs.
        p.starting[i] = True
        p.next_at[i] = np.nan
        if not p.vm[i]:
            p.deadline[i] = np.nan


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


def give_up(s: SimState, idx: np.ndarray) -> None:
    """Set-ups not done in time (a VM's boot is part of its sandbox's creation; a container's
    start is a call of its own): the kubelet gives the sandboxes up and tries again after the
    back-off (``policy.next_backoff``, for a container that never ran), all at once."""
    p = s.table
    nodes = p.node[idx]
    s.pod_mem -= bincount(nodes, p.rss[idx], minlength=s.workers)  # a VM's boot memory
    p.starting[idx] = False
    p.rss[idx] = 0.0
    p.held[idx] = 0.0
    p.sandbox_fails[idx] += 1
    p.fail_cause[idx] = F_TIMEOUT
    deps, per_dep = np.unique(p.dep[idx], return_counts=True)
    for d, k in zip(deps, per_dep, strict=True):
        s.dep_list[int(d)].sandbox_failures += int(k)
    backoff = p.backoff[idx]
    tried = backoff > 0
    delay = np.where(tried, backoff, 0.0)
    p.backoff[idx] = np.where(tried, np.minimum(backoff * 2.0, policy.BACKOFF_MAX_S),
                              policy.BACKOFF_INITIAL_S)
    after = np.maximum(delay, s.dt)
    p.next_at[idx] = s.t + after + sandbox_seconds_many(s, idx, nodes)
    p.deadline[idx] = s.t + after + s.profile.cluster.runtime_request_timeout_s


def sandbox_seconds_many(s: SimState, idx: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """``sandbox_seconds`` for the pods ``idx`` starting their set-ups together, in order: each
    counts those before it on its node as in flight."""
    p = s.table
    order = np.argsort(nodes, kind="stable")
    sorted_nodes = nodes[order]
    first = np.searchsorted(sorted_nodes, sorted_nodes, side="left")
    rank = np.empty(len(idx))
    rank[order] = np.arange(len(idx)) - first
    in_flight = s.creating_count[nodes] + rank
    s.creating_count += bincount(nodes, minlength=s.workers)
    rts = [d.runtime for d in s.dep_list]
    deps = p.dep[idx]
    setup = np.array([r.sandbox_s for r in rts])[deps]
    per = np.array([r.sandbox_per_concurrent_s for r in rts])[deps]
    start = np.array([r.container_start_s for r in rts])[deps]
    jitter = 1.0 + 0.1 * (s.rng.random(len(idx)) - 0.5)
    return np.asarray((setup + per * in_flight + start) * services_slowdown(s)[nodes] * jitter
                      * s.runtime_slowdown[nodes])


def setup_lag(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Seconds the sandbox set-ups ``idx`` lose this step: a thrashing node runs its
    runtime at the fraction of memory requests it serves, but each runtime keeps at least
    its own minimum pace (kata's VM launches go on slowly on full nodes, runc's stall)."""
    p = s.table
    c = s.profile.cluster
    floor = np.array([max(c.runtime_min_progress, d.runtime.setup_min_progress)
                      for d in s.dep_list] or [c.runtime_min_progress])
    pace = np.maximum(s.progress[p.node[idx]], floor[p.dep[idx]])
    return np.asarray(s.dt * (1.0 - pace))


def start_need(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Host MiB a new sandbox and its container take before the container runs: shim and
    pause plus the workload's base for runc; what a VM needs to boot for kata (the rest
    of its processes' memory and the guest's comes while it runs)."""
    return np.asarray(s.table.boot[idx])


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
        p.deadline[i] = np.nan
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
