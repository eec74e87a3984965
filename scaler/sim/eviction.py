"""The kubelets' eviction managers: every ``eviction_interval_s`` each compares memory.available
with the hard threshold, keeps its MemoryPressure condition (and the transition period), and
evicts at most one pod per pass, ranked by ``policy.eviction_order``, then waits for its cleanup.
A node hosting pods whose stats the kubelet cannot get fails its pass (no condition, no
eviction)."""

from __future__ import annotations

import math

import numpy as np

from scaler.sim import policy
from scaler.sim.memory import available
from scaler.sim.pods import CS_BACKOFF, CS_RUNNING, CS_TERMINATED, PH_FAILED, R_EVICTED, T_ERROR
from scaler.sim.state import SimState, advance_timer, bincount, pod_usage, release_workload


def evict(s: SimState) -> None:
    c = s.profile.cluster
    t = s.t
    due = np.flatnonzero(s.next_evict_check <= t)
    if len(due) == 0:
        return
    s.next_evict_check[due] += c.eviction_interval_s
    avail = available(s)
    blind = stats_missing(s)
    evicting: list[int] = []
    for node in due:
        if blind[node]:
            continue  # no summary stats: the pass fails before looking at any signal
        # The condition is the kubelet's own view, updated only when its manager runs.
        signal = avail[node] < c.eviction_threshold_mib
        if signal:
            s.last_signal[node] = t
        s.kubelet_pressure[node] = signal or (
            t - s.last_signal[node] < c.pressure_transition_s)
        if signal:
            evicting.append(int(node))
    if not evicting:
        return
    p = s.table
    n = p.n
    on = np.zeros(s.workers, dtype=bool)
    on[evicting] = True
    cand = np.flatnonzero(p.alive[:n] & np.isnan(p.deleted[:n]) & (p.phase[:n] != PH_FAILED)
                          & on[np.maximum(p.node[:n], 0)] & (p.node[:n] >= 0))
    cand_nodes = p.node[cand]
    for e in evicting:
        mine = cand[cand_nodes == e]
        if len(mine) == 0:
            continue
        k = int(mine[policy.eviction_order(pod_usage(s, mine), p.req_mem[mine])[0]])
        evict_pod(s, k, float(avail[e]))
        s.next_evict_check[e] = t + c.eviction_cleanup_s


def evict_pod(s: SimState, k: int, available_mib: float) -> None:
    """The eviction manager kills pod ``k``: phase Failed, reason Evicted, kept as an object."""
    c = s.profile.cluster
    p = s.table
    release_workload(s, k, True)
    p.phase[k] = PH_FAILED
    s.sched_gen += 1
    p.reason[k] = R_EVICTED
    if p.cstate[k] in (CS_RUNNING, CS_BACKOFF):
        p.term_reason[k] = T_ERROR
        p.term_exit[k] = 137
    p.cstate[k] = CS_TERMINATED
    p.message[k] = (
        "The node was low on resource: memory. Threshold quantity: "
        f"{c.eviction_threshold_mib:g}Mi, available: {int(max(available_mib, 0) * 1024)}Ki. "
    )
    s.dep_list[int(p.dep[k])].evicted += 1


def stats_missing(s: SimState) -> np.ndarray:
    """Nodes hosting a pod whose runtime gives the kubelet no pod stats."""
    w = s.workers
    blind_deps = [d.index for d in s.dep_list if not d.runtime.pod_stats]
    if not blind_deps:
        return np.zeros(w, dtype=bool)
    p = s.table
    n = p.n
    mask = p.alive[:n] & (p.node[:n] >= 0) & p.sandbox_up[:n] & np.isin(p.dep[:n], blind_deps)
    return bincount(p.node[:n][mask], minlength=w) > 0


def next_change(s: SimState) -> float:
    """Now while any kubelet reports MemoryPressure or a node it watches is short of memory
    (a pass would evict), else never: passes with nothing to do change nothing."""
    if s.kubelet_pressure.any():
        return s.t
    short = available(s) < s.profile.cluster.eviction_threshold_mib
    return s.t if (short & ~stats_missing(s)).any() else math.inf


def skip(s: SimState, ticks: int) -> None:
    """Quiet steps up to now: the managers' passes keep their rhythm."""
    s.next_evict_check = advance_timer(s.next_evict_check, s.t,
                                       s.profile.cluster.eviction_interval_s)
