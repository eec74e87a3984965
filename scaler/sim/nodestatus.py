"""What each node reports: its conditions posted every ``node_status_interval_s`` (the
memory-pressure taint the scheduler sees comes from them) and its load averages."""

from __future__ import annotations

import math

import numpy as np

from scaler.sim.pods import CS_CREATING, CS_RUNNING
from scaler.sim.state import SimState, bincount


def post_status(s: SimState) -> None:
    c = s.profile.cluster
    due = s.next_status <= s.t
    if due.any():
        tainted = np.where(due, s.kubelet_pressure, s.tainted)
        if (tainted != s.tainted).any():
            s.sched_gen += 1
        s.tainted = tainted
        s.next_status[due] += c.node_status_interval_s


def update_load(s: SimState) -> None:
    """CPU demand per node (workloads, sandbox set-ups, reclaim on thrashing nodes, node
    services) and the 1, 5 and 15-minute load averages the kernel derives from it."""
    c = s.profile.cluster
    p = s.table
    n = p.n
    w = s.workers
    run = p.alive[:n] & (p.cstate[:n] == CS_RUNNING) & (p.node[:n] >= 0)
    creating = p.alive[:n] & (p.cstate[:n] == CS_CREATING) & (p.node[:n] >= 0)
    demand = bincount(p.node[:n][run], p.cpu_frac[:n][run], minlength=w)
    s.creating_count = bincount(p.node[:n][creating], minlength=w).astype(float)
    sandbox_cpus = np.array([d.runtime.sandbox_cpus for d in s.dep_list] or [0.0])
    if creating.any():
        demand += bincount(p.node[:n][creating], sandbox_cpus[p.dep[:n][creating]], minlength=w)
    demand += np.where(s.thrashing, c.thrash_cpus, 0.0) + 0.5
    s.cpu_demand = demand
    for k, minutes in enumerate((1, 5, 15)):
        decay = math.exp(-s.dt / (60.0 * minutes))
        s.load[:, k] = s.load[:, k] * decay + demand * (1 - decay)
