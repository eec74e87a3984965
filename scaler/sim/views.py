"""What the model shows: one pod as the API would show it, one deployment, the pods counted by
``scaler.pod_state.classify``, a node's /proc/meminfo and /proc/loadavg."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from collectors.meminfo import render_meminfo
from scaler.cluster import PodCounts
from scaler.pod_state import PodClass, PodStatus, classify
from scaler.sim import meminfo_fields
from scaler.sim.pods import (
    CS_BACKOFF,
    CS_CREATING,
    CS_RUNNING,
    CS_TERMINATED,
    FAIL_CAUSES,
    PHASES,
    R_EVICTED,
    TERM_REASONS,
    status_codes,
    status_of_code,
)
from scaler.sim.state import Deployment, SimState, opt, pod_usage

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"


@dataclass(frozen=True)
class PodView:
    """One pod, complete enough to render as a Kubernetes pod object.

    Times are virtual epoch seconds (None when the event has not happened). ``deleted`` is set
    while the pod is Terminating. ``container_state`` is "waiting" (``container_reason``
    ContainerCreating or CrashLoopBackOff), "running" or "terminated" (``container_reason`` the
    termination reason, ``container_exit_code`` its code).
    """

    name: str
    uid: str
    deployment: str
    node: str | None
    phase: str
    reason: str | None
    message: str | None
    ready: bool
    container_state: str
    container_reason: str | None
    container_exit_code: int | None
    last_terminated_reason: str | None
    last_exit_code: int | None
    restarts: int
    created: float
    scheduled: float | None
    started: float | None
    ready_at: float | None
    deleted: float | None
    runtime_class: str | None
    labels: dict[str, str] = field(default_factory=dict)
    qos_class: str = "BestEffort"
    memory_mib: float = 0.0  # host memory the pod costs its node now (workload + runtime)
    # the kubelet's account of trouble (the API front's events): sandbox set-ups that failed,
    # kills by the node's kernel OOM killer, and whether the sandbox is a VM
    sandbox_failures: int = 0
    sandbox_failure_cause: str | None = None  # the latest's: "timeout" or "no-shm"
    system_ooms: int = 0
    vm: bool = False

    @property
    def deployment_key(self) -> str:
        return self.deployment

    def status(self) -> PodStatus:
        """What ``scaler.pod_state.classify`` reads. A waiting container with no reason is one
        the kubelet has not reported yet (bound, not admitted): the API shows no status."""
        unreported = self.container_state == "waiting" and self.container_reason is None
        return PodStatus(phase=self.phase, reason=self.reason, scheduled=self.node is not None,
                         deleting=self.deleted is not None, ready=self.ready,
                         container=None if unreported else self.container_state,
                         container_reason=self.container_reason)


@dataclass(frozen=True)
class DeploymentView:
    key: str
    replicas: int
    runtime: str
    labels: dict[str, str]
    pods: int  # pod objects that exist (Failed/Evicted included)
    ready: int


# Building the views from the state --------------------------------------------------------------


def pod_view(s: SimState, i: int) -> PodView:
    p = s.table
    dep = s.dep_list[int(p.dep[i])]
    node = int(p.node[i])
    cs = int(p.cstate[i])
    state, creason, cexit = "waiting", None, None
    if cs == CS_CREATING:
        creason = "ContainerCreating"
    elif cs == CS_BACKOFF:
        creason = "CrashLoopBackOff"
    elif cs == CS_RUNNING:
        state = "running"
    elif cs == CS_TERMINATED:
        state = "terminated"
        creason = TERM_REASONS[int(p.term_reason[i])] or "Error"
        cexit = int(p.term_exit[i]) if p.term_exit[i] >= 0 else 137
    deleted = p.deleted[i]
    usage = float(pod_usage(s, np.array([i]))[0])
    return PodView(
        name=str(p.name[i]), uid=str(p.uid[i]), deployment=dep.key,
        node=s.node_names[node] if node >= 0 else None,
        phase=PHASES[int(p.phase[i])],
        reason="Evicted" if p.reason[i] == R_EVICTED else None,
        message=p.message[i],
        ready=cs == CS_RUNNING and math.isnan(deleted),
        container_state=state, container_reason=creason, container_exit_code=cexit,
        last_terminated_reason=TERM_REASONS[int(p.last_reason[i])],
        last_exit_code=int(p.last_exit[i]) if p.last_exit[i] >= 0 else None,
        restarts=int(p.restarts[i]),
        created=float(p.created[i]),
        scheduled=opt(p.scheduled[i]), started=opt(p.started[i]),
        ready_at=opt(p.ready_at[i]), deleted=opt(deleted),
        runtime_class=dep.spec.runtime_class, labels=dict(dep.labels),
        qos_class=dep.qos, memory_mib=usage, sandbox_failures=int(p.sandbox_fails[i]),
        system_ooms=int(p.sys_ooms[i]), vm=bool(p.vm[i]),
        sandbox_failure_cause=FAIL_CAUSES[int(p.fail_cause[i])],
    )


def deployment_views(s: SimState) -> list[DeploymentView]:
    out = []
    p = s.table
    for dep in s.dep_list:
        if dep.deleted:
            continue
        mine = p.alive[: p.n] & (p.dep[: p.n] == dep.index)
        ready = mine & (p.cstate[: p.n] == CS_RUNNING) & np.isnan(p.deleted[: p.n])
        out.append(DeploymentView(key=dep.key, replicas=dep.replicas, runtime=dep.spec.runtime,
                                  labels=dict(dep.labels), pods=int(mine.sum()),
                                  ready=int(ready.sum())))
    return out


def counts(s: SimState, dep: Deployment) -> PodCounts:
    """The pods of ``dep`` classified by ``scaler.pod_state.classify``, the rule the real
    cluster's pod table uses too. evicted (evicted or rejected at admission) and oom_killed
    (container OOM kills) are cumulative over the deployment's life; restarts sums the live
    pods' restart counts."""
    return counts_of(s, [dep])


def counts_of(s: SimState, deps: list[Deployment]) -> PodCounts:
    """``counts`` over the pods of several deployments."""
    p = s.table
    n = p.n
    mine = np.flatnonzero(p.alive[:n] & np.isin(p.dep[:n], [d.index for d in deps]))
    by_class = classes(s, mine)
    return PodCounts(
        running=by_class[PodClass.RUNNING], pending=by_class[PodClass.PENDING],
        creating=by_class[PodClass.CREATING], terminating=by_class[PodClass.TERMINATING],
        evicted=sum(d.evicted for d in deps), oom_killed=sum(d.oom_killed for d in deps),
        failed=by_class[PodClass.FAILED], restarts=int(p.restarts[mine].sum()),
        evicted_listed=by_class[PodClass.EVICTED],
        sandbox_deaths=sum(d.vm_deaths for d in deps),
        failed_create=0,  # the model has no quota nor missing RuntimeClass
        failed_scheduling=sum(d.failed_scheduling for d in deps),
        sandbox_failures=sum(d.sandbox_failures for d in deps),
    )


def classes(s: SimState, idx: np.ndarray) -> dict[PodClass, int]:
    """How many of the pods ``idx`` fall in each class: the distinct status codes are
    classified once each."""
    codes, per_code = np.unique(status_codes(s.table, idx), return_counts=True)
    by_class = dict.fromkeys(PodClass, 0)
    for code, k in zip(codes, per_code, strict=True):
        by_class[classify(status_of_code(code))] += int(k)
    return by_class


#: The failure counts of team contract 3 (``scaler.cluster.PodCounts`` fields).
FAILURE_FIELDS = ("evicted_listed", "sandbox_deaths", "failed_create", "failed_scheduling",
                  "sandbox_failures")


def failure_counts(s: SimState, dep: Deployment) -> dict[str, int]:
    counted = counts(s, dep)
    return {name: getattr(counted, name) for name in FAILURE_FIELDS}


def meminfo_mib(s: SimState) -> dict[str, np.ndarray]:
    """Every node's /proc/meminfo fields, in MiB (one array per field, indexed by node): the
    full set a RHCOS worker prints (``meminfo_fields.complete`` adds what the accounting below
    does not decide).

    Anonymous memory (node services, infrastructure pods, workloads, VM processes, private
    guest RAM) is on the active anon list: the workloads touch every page each loop. Guest RAM
    in /dev/shm is Shmem, counted in Cached, and sits on the inactive anon list: the kernel adds
    shmem pages there and, with no swap, never scans or ages the anon lists (mm/vmscan.c
    get_scan_count: no swap, file pages only). Neither is in MemAvailable, which counts free
    memory above the watermark and the page cache the kernel can drop."""
    c = s.profile.cluster
    zero = np.zeros(s.workers)
    total, free, cache, shm = s.mem_total, s.free, s.cache, s.shm_used
    reclaimable = np.maximum(0.0, cache - c.page_cache_min_mib)
    anon = s.sys_used * 0.6 + s.infra_used + (s.pod_mem - shm)
    # The kernel keeps the file lists about balanced (mm/vmscan.c inactive_list_is_low: file
    # pages are deactivated while the inactive list is the smaller).
    active_file = 0.5 * cache
    inactive_file = cache - active_file
    fields = {
        "MemTotal": total, "MemFree": free,
        "MemAvailable": np.maximum(0.0, free - c.free_floor_mib + reclaimable),
        "Buffers": 0.02 * cache, "Cached": 0.98 * cache + shm, "SwapCached": zero,
        "Active": anon + active_file, "Inactive": shm + inactive_file,
        "Active(anon)": anon, "Inactive(anon)": shm,
        "Active(file)": active_file, "Inactive(file)": inactive_file,
        "AnonPages": anon, "Mapped": 0.3 * cache + shm, "Shmem": shm,
    }
    return meminfo_fields.complete(fields, kernel_mib=s.sys_used * 0.4,
                                   threads=meminfo_fields.node_threads(pods_per_node(s)),
                                   cpus=s.cpus)


def pods_per_node(s: SimState) -> np.ndarray:
    """Pod objects bound to each node (Failed ones included: /proc/loadavg's thread count)."""
    p = s.table
    bound = p.node[: p.n][p.alive[: p.n] & (p.node[: p.n] >= 0)]
    return np.bincount(bound, minlength=s.workers)[: s.workers]


def meminfo_kib(s: SimState) -> list[dict[str, int]]:
    """Every node's /proc/meminfo fields as the kernel reports them: whole kB (huge page counts
    as counts)."""
    fields = meminfo_mib(s)
    names = list(fields)
    scale = np.array([1.0 if k in meminfo_fields.PAGE_COUNTS else 1024.0 for k in names])
    kib = np.rint(np.maximum(0.0, np.stack([fields[k] for k in names])) * scale[:, None])
    return [dict(zip(names, col.tolist(), strict=True)) for col in kib.astype(np.int64).T]


def node_meminfo(s: SimState, n: int) -> str:
    """The node's /proc/meminfo, in kB as the kernel writes it."""
    return render_meminfo(meminfo_kib(s)[n])


def load1(s: SimState, n: int) -> float:
    """The 1-minute load average as /proc/loadavg shows it (two decimals)."""
    return float(f"{s.load[n, 0]:.2f}")


def node_loadavg(s: SimState, n: int) -> str:
    l1, l5, l15 = s.load[n]
    running = max(1, int(round(min(s.cpu_demand[n], s.cpus[n]))))
    threads = int(meminfo_fields.node_threads(pods_per_node(s))[n])
    return f"{l1:.2f} {l5:.2f} {l15:.2f} {running}/{threads} {10_000 + s.ticks}\n"
