"""The workloads' loops: when each allocates, how much, and what happens past its container limit
or its VM guest's memory.

Two programs, two clocks (``WorkloadProfile.pacing``):

- this project's workload ("duty"): one loop per ``workload.growth.LOOP_S``, stretched by the CPU
  the node cannot give it (``workload.dutycycle``);
- the C program of the 2021 runs ("timer", github c3d/workload, workload.c): a loop is one pass
  over everything it holds, writing one word per 4 KiB page, after its realloc of one more
  INCREMENT; then it sleeps its scale times the time the pass took. So its loop has no period of
  its own: it is as long as its pass, longer as it grows (at MEMORY=0 it never stops growing),
  and a pass that first-touches new pages pays their page faults, times the sleep that follows.
  Below 100% CPU the pass takes the share of the loop the published CPU runs show
  (``WorkloadProfile.paced_pages_per_s`` of the ``pages_per_cpu_s`` a CPU touches: 8.5e6 of
  1.9e8); at 100% it never sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scaler.sim.kubelet import end_container
from scaler.sim.pods import T_OOM
from scaler.sim.state import SimState
from workload import growth

# The workload's own growth rule (workload.growth, shared with the program), typed for numpy.
_step_size: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = growth.step_size
_after_failure: Callable[[np.ndarray], np.ndarray] = growth.increment_after_failure

#: 4 KiB pages per MiB.
PAGES_PER_MIB = 256.0
#: Guest pages per host huge page (2 MiB): private guest RAM takes one EPT fault per huge page.
PAGES_PER_HUGE_PAGE = 512.0


def wants_more(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Workloads still below their MEMORY (or with none): their loops allocate."""
    p = s.table
    target = p.target[idx]
    if s.profile.workload.growth == "increments":
        below = p.held[idx] - s.profile.workload.base_rss_mib < target
    else:
        below = p.held[idx] < target
    return np.asarray((target <= 0) | below)


def next_allocation(s: SimState, due: np.ndarray,
                    steps: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each loop in ``due`` would hold after ``steps`` more allocations, whether that
    passes its container limit (the cgroup OOM-kills it), and whether it passes the memory its
    VM guest has."""
    p = s.table
    held, target, inc = p.held[due], p.target[due], p.inc[due]
    if s.profile.workload.growth == "increments":
        step = np.where(wants_more(s, due), inc, 0.0) * steps
    else:
        step = _step_size(held, target, inc * steps)
    new = held + step
    limited = (p.limit[due] > 0) & (new > p.limit[due])
    refused = ~limited & (new > p.vm_size[due] - p.guest_base[due]) & (step > 0)
    return new, limited, refused


def step_demand(s: SimState, idx: np.ndarray) -> np.ndarray:
    """Workload MiB the loops of ``idx`` ask for within a step when the node serves them as
    they ask: what they still have to touch, or, for the C program (its loop is as long as its
    pass), the allocations its passes would make in a step (``_passes``) while it wants more.
    This project's workload allocates once per ``growth.LOOP_S``, at least a step: what it still
    has to touch is all of it."""
    p = s.table
    outstanding = p.held[idx] - p.rss[idx]
    if s.profile.workload.pacing != "timer" or len(idx) == 0:
        return np.asarray(outstanding)
    steps, _ = _passes(s, idx)
    return np.asarray(np.maximum(outstanding, np.where(wants_more(s, idx), steps * p.inc[idx],
                                                       0.0)))


def idle_loop(s: SimState, due: np.ndarray) -> np.ndarray:
    """Loops that change nothing: the allocation would be refused (the VM is full) with the
    increment already at its floor."""
    _, limited, refused = next_allocation(s, due)
    return np.asarray(refused & ~limited & (s.table.inc[due] <= growth.MIN_INCREMENT_MIB))


def run_loops(s: SimState, due: np.ndarray, contention: np.ndarray) -> None:
    """The loops of ``due`` that are due now: their next allocations (``next_allocation``) and
    when they come round again. Above a container limit, the cgroup OOM-kills the workload.
    Beyond its VM guest's memory, either the allocation fails and the increment halves, or the
    guest kernel OOM-kills it (``WorkloadProfile.guest_full``)."""
    p = s.table
    t = s.t
    timed = s.profile.workload.pacing == "timer"
    if timed:
        steps, took = _passes(s, due)
    else:
        steps, took = np.ones(len(due)), np.zeros(len(due))
    new, limited, refused = next_allocation(s, due, steps)
    killed = limited | (refused & (s.profile.workload.guest_full == "oom"))
    refused &= ~killed
    ok = ~killed & ~refused
    p.held[due[ok]] = new[ok]
    p.inc[due[refused]] = _after_failure(p.inc[due[refused]])
    if timed:
        # the next pass starts once these are through; a step sees at least one
        p.loop_next[due] = t + np.maximum(took, s.dt) - s.dt * (1 - 1e-6)
    else:
        f = p.cpu_frac[due]
        c = contention[p.node[due]]
        p.loop_next[due] = t + growth.LOOP_S * (1.0 - f + f * c)
    for i in due[killed]:
        # exit 137; a VM stays up with the pages the guest touched
        s.dep_list[int(p.dep[i])].oom_killed += 1
        end_container(s, int(i), T_OOM, 137, vm_dies=False)


def idle_round(s: SimState, due: np.ndarray, contention: np.ndarray) -> None:
    """Quiet steps: loops that allocate nothing go round (the C program's passes over what it
    holds, or one period of this project's workload)."""
    p = s.table
    if s.profile.workload.pacing == "timer":
        busy, _, duty = _pass_costs(s, due)
        p.loop_next[due] = s.t + busy * p.held[due] / duty
        return
    f = p.cpu_frac[due]
    p.loop_next[due] = s.t + growth.LOOP_S * (1.0 - f + f * contention[p.node[due]])


def _pass_costs(s: SimState, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pod of ``idx``: CPU seconds its pass spends per MiB held (writing one word per page at
    the speed of the CPU it gets), per MiB first touched (the page faults: the runtime's own, and
    a VM guest's EPT faults, one per 4 KiB of shared guest RAM or per 2 MiB huge page of private
    guest RAM), and the share of the loop its passes take."""
    p = s.table
    wl = s.profile.workload
    rts = [d.runtime for d in s.dep_list]
    deps = p.dep[idx]
    eff = np.array([r.work_efficiency for r in rts])[deps]
    ratio = np.array([r.paced_work_ratio for r in rts])[deps]
    first = np.array([r.first_touch_us for r in rts])[deps]
    ept = np.array([r.guest_fault_us if r.vm else 0.0 for r in rts])[deps]
    ept = np.where(p.shared[idx], ept, ept / PAGES_PER_HUGE_PAGE)
    pct = np.array([float(d.spec.cpu_percent) for d in s.dep_list])[deps]
    paced = (pct < 100.0)
    duty = np.where(paced, wl.paced_pages_per_s * ratio / (wl.pages_per_cpu_s * eff), 1.0)
    share = np.ones(len(idx))
    pod_cpu = getattr(s, "pod_cpu", None)  # None in a state saved before it existed
    if pod_cpu is not None and len(idx):
        cores, _ = pod_cpu(s, idx)
        want = np.where(paced, wl.paced_cpu_cores, 1.0)
        # a pod not in the CPU account yet (it started this step) runs as it can
        share = np.where(cores > 0, np.clip(cores / want, 0.01, 1.0), 1.0)
    busy = PAGES_PER_MIB / (wl.pages_per_cpu_s * eff * share)
    fault = (first + ept) * 1e-6 * PAGES_PER_MIB / share
    return busy, fault, np.minimum(duty, 1.0)


def _passes(s: SimState, due: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many allocations (at least one) the C program's loops of ``due`` make within a step,
    and how long those loops take: pass k touches held + k x INCREMENT, INCREMENT of it new."""
    p = s.table
    busy, fault, duty = _pass_costs(s, due)
    held, inc = p.held[due], p.inc[due]
    budget = s.dt * duty  # CPU seconds of passes in a step
    # sum over k = 1..n of (held + k inc) busy + inc fault <= budget: a n^2 + b n <= budget
    a = inc * busy / 2.0
    b = held * busy + inc * busy / 2.0 + inc * fault
    n = np.floor((-b + np.sqrt(b * b + 4.0 * a * budget)) / np.maximum(2.0 * a, 1e-12))
    n = np.maximum(n, 1.0)
    wl = s.profile.workload
    if wl.growth == "increments":
        # whole INCREMENTs while it holds less than MEMORY (none: no bound)
        target = p.target[due]
        left = np.ceil(np.maximum(0.0, target - (held - wl.base_rss_mib)) / np.maximum(inc, 1e-9))
        n = np.where(target > 0, np.minimum(n, np.maximum(left, 1.0)), n)
    took = (n * held * busy + inc * busy * n * (n + 1) / 2.0 + n * inc * fault) / duty
    return n, took
