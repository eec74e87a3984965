"""What each node reports: its conditions posted every ``node_status_interval_s`` (the
memory-pressure taint the scheduler sees comes from them) and its load averages."""

from __future__ import annotations

import math

import numpy as np

from scaler.sim.cpu import deps_now
from scaler.sim.kubelet import setup_cpus
from scaler.sim.pods import CS_CREATING, CS_RUNNING
from scaler.sim.state import SimState, advance_timer, bincount


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
    services: what the CPU account, ``scaler.sim.cpu``, shares out) and the 1, 5 and 15-minute
    load averages the kernel derives from it."""
    s.cpu_demand = cpu_demand(s)
    decay_load(s, 1)


def cpu_demand(s: SimState) -> np.ndarray:
    c = s.profile.cluster
    p = s.table
    n = p.n
    w = s.workers
    # creating (0) or running (1): the only states that take CPU
    bound = np.flatnonzero(p.cstate[:n] <= CS_RUNNING)
    bound = bound[p.alive[bound] & (p.node[bound] >= 0)]
    state, nodes = p.cstate[bound], p.node[bound]
    run, creating = state == CS_RUNNING, state == CS_CREATING
    # what each running pod asks of the CPUs, as the CPU account has it (a timer-paced loop
    # spins a core; a VM adds its host processes and exits)
    pod_want = deps_now(s).pod_want
    if len(pod_want) == 1:
        demand = bincount(nodes[run], minlength=w) * pod_want[0]
    else:
        demand = bincount(nodes[run], pod_want[p.dep[bound[run]]], minlength=w)
    if creating.any():
        cpus = setup_cpus(s, bound[creating])
        s.creating_count = bincount(nodes[creating][cpus > 0], minlength=w)  # under way
        s.setup_cpu = bincount(nodes[creating], cpus, minlength=w)
        demand += s.setup_cpu
    else:
        s.creating_count = np.zeros(w)
        s.setup_cpu = np.zeros(w)
    return (demand + np.where(s.thrashing, c.thrash_cpus, 0.0) + c.system_cpu_cores
            + c.infra_cpu_cores)


def decay_load(s: SimState, ticks: int) -> None:
    """The load averages after ``ticks`` steps at the current demand (exponential decay), and
    the minute's average share of thrashing workers."""
    for k, minutes in enumerate((1, 5, 15)):
        decay = math.exp(-s.dt * ticks / (60.0 * minutes))
        s.load[:, k] = s.load[:, k] * decay + s.cpu_demand * (1 - decay)
        if k == 0:
            thrashing = float(np.count_nonzero(s.thrashing)) / s.workers
            s.thrash_avg = s.thrash_avg * decay + thrashing * (1 - decay)


# Quiet periods (model.SimModel skips them) ---------------------------------------------------


def next_change(s: SimState) -> float:
    """Now when a condition is still to be posted, else never (status posts change nothing)."""
    return s.t if (s.tainted != s.kubelet_pressure).any() else math.inf


def skip(s: SimState, ticks: int) -> None:
    """``ticks`` quiet steps up to now: status posts keep their rhythm, the load decays."""
    s.next_status = advance_timer(s.next_status, s.t, s.profile.cluster.node_status_interval_s)
    decay_load(s, ticks)
