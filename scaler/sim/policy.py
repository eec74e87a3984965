"""Kubernetes' decision rules the model follows, as pure functions on arrays.

Each function is the published rule, small enough to test on its own: where the scheduler puts a
pod, which pod the kubelet evicts, which process the kernel OOM killer picks, how long the
kubelet waits before restarting a crashed container.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Requests the scheduler assumes for scoring a container that states none
# (kube-scheduler NonZeroRequested: 100m CPU, 200 MiB).
DEFAULT_CPU_REQUEST_M = 100.0
DEFAULT_MEMORY_REQUEST_MIB = 200.0

# CrashLoopBackOff: 10 s doubling to 300 s, reset after 10 minutes of running (pod lifecycle).
BACKOFF_INITIAL_S = 10.0
BACKOFF_MAX_S = 300.0
BACKOFF_RESET_S = 600.0


def feasible_nodes(free_cpu_m: np.ndarray, free_mem_mib: np.ndarray, pods: np.ndarray,
                   max_pods: int, tainted: np.ndarray, cpu_m: float, mem_mib: float) -> np.ndarray:
    """Nodes a pod fits on: requests (with RuntimeClass overhead) within what allocatable has
    left, below maxPods, and not tainted (memory-pressure:NoSchedule)."""
    return np.asarray((free_cpu_m >= cpu_m) & (free_mem_mib >= mem_mib) & (pods < max_pods)
                      & ~tainted)


def least_allocated_scores(nz_cpu_m: np.ndarray, nz_mem_mib: np.ndarray, alloc_cpu_m: np.ndarray,
                           alloc_mem_mib: np.ndarray, cpu_m: float, mem_mib: float) -> np.ndarray:
    """NodeResourcesFit LeastAllocated score (0-100) after placing a pod of (cpu_m, mem_mib)
    non-zero requests: the mean of the free fractions of CPU and memory."""
    cpu = (alloc_cpu_m - (nz_cpu_m + cpu_m)) / alloc_cpu_m
    mem = (alloc_mem_mib - (nz_mem_mib + mem_mib)) / alloc_mem_mib
    return np.asarray(50.0 * (np.clip(cpu, 0, 1) + np.clip(mem, 0, 1)))


def pick_node(scores: np.ndarray, feasible: np.ndarray, rng: np.random.Generator) -> int:
    """The best-scoring feasible node; ties broken at random as kube-scheduler does. -1: none."""
    if not feasible.any():
        return -1
    s = np.where(feasible, scores, -np.inf)
    best = np.flatnonzero(s >= s.max() - 1e-9)
    return int(best[0] if len(best) == 1 else best[rng.integers(len(best))])


def qos_class(request_mib: float | None, limit_mib: float | None, cpu_request_m: float | None,
              cpu_limit_m: float | None) -> str:
    """QoS from the container's requests and limits (RuntimeClass overhead does not count)."""
    if all(v is None for v in (request_mib, limit_mib, cpu_request_m, cpu_limit_m)):
        return "BestEffort"
    mem_req = request_mib if request_mib is not None else limit_mib
    cpu_req = cpu_request_m if cpu_request_m is not None else cpu_limit_m
    if (limit_mib is not None and cpu_limit_m is not None and mem_req == limit_mib
            and cpu_req == cpu_limit_m):
        return "Guaranteed"
    return "Burstable"


def oom_score_adj(qos: str, request_mib: float, capacity_mib: float) -> float:
    """The kubelet's oom_score_adj: BestEffort 1000, Guaranteed -997, Burstable
    1000 - 1000 * request / capacity clamped to [2, 999] (kubelet qos policy)."""
    if qos == "BestEffort":
        return 1000.0
    if qos == "Guaranteed":
        return -997.0
    return float(min(999.0, max(2.0, 1000.0 - 1000.0 * request_mib / capacity_mib)))


def eviction_order(usage_mib: ArrayLike, request_mib: ArrayLike,
                   priority: ArrayLike | None = None) -> np.ndarray:
    """Candidates ranked for node-pressure eviction, first to evict first: usage above request
    first, then lower priority, then larger usage minus request (node-pressure-eviction)."""
    usage = np.asarray(usage_mib, dtype=float)
    request = np.asarray(request_mib, dtype=float)
    prio = np.zeros_like(usage) if priority is None else np.asarray(priority, dtype=float)
    exceeds = usage > request
    # np.lexsort sorts by the last key first.
    return np.lexsort((-(usage - request), prio, ~exceeds))


def oom_victim(usage_mib: ArrayLike, adj: ArrayLike, capacity_mib: float) -> int:
    """The kernel OOM killer's pick: largest usage plus oom_score_adj scaled to memory
    (oom_badness: rss + adj * totalpages / 1000)."""
    score = np.asarray(usage_mib, dtype=float) + np.asarray(adj, dtype=float) * capacity_mib / 1000.0
    return int(np.argmax(score))


def next_backoff(previous_s: float, ran_s: float) -> tuple[float, float]:
    """(delay before this restart, back-off to remember) after a container ended.

    The first crash restarts at once; then 10 s doubling to 300 s; a container that ran
    10 minutes starts over (kubelet container back-off)."""
    if ran_s >= BACKOFF_RESET_S or not previous_s > 0:
        return 0.0, BACKOFF_INITIAL_S
    return previous_s, min(previous_s * 2.0, BACKOFF_MAX_S)
