"""Node CPU: how each node's CPUs are shared, what /proc/stat shows of it, and the useful work the
workloads do with what they get.

Each step a node's CPUs are shared the way CFS shares them between cgroups: by weight, and
work-conserving (what one group leaves idle the others take), level by level:

1. the node's own services and kernel (system.slice and the root cgroup: node services,
   sandbox set-ups, reclaim on a thrashing node) against kubepods, by ``system_cpu_weight``
   against allocatable millicores x 1.024 (kubelet node allocatable, cgroup v1 cpu.shares);
2. inside kubepods (kubelet cm/qos_container_manager_linux.go): each Guaranteed pod by its
   request, the Burstable QoS group by the sum of its pods' requests (infrastructure pods
   included), the BestEffort QoS group at the minimal weight 2 (MinShares);
3. inside each QoS group, its pods by their own weights: requests (RuntimeClass overhead
   included, kubelet ResourceConfigForPod), 2 for every BestEffort pod.

What a pod wants is its workload's demand (``WorkloadSpec.cpu_percent``, or the timer-paced
loop's cost, ``WorkloadProfile.pacing``), never more than its CFS quota (CPU limit) nor, in a VM,
its guest's vCPUs; a VM also costs host CPU outside its guest (VMM threads, virtiofsd, shim, VM
exits) in its pod's cgroup, which no request covers beyond the RuntimeClass overhead.

Pods of one deployment on one node are alike, so shares are worked out per (node, deployment)
group: one pass over the pod table per step, then arithmetic on (nodes x deployments) matrices.
The useful work of a running pod is the CPU its workload gets times the pages it touches per
CPU-second (``WorkloadProfile.pages_per_cpu_s``, the runtime's ``work_efficiency``).

The node's time per state (user, system, idle, iowait, steal) is integrated into cumulative
counters, rendered as /proc/stat (``node_stat``) for ``collectors.cpustat``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from collectors.cpustat import CpuTimes
from scaler.sim.pods import CS_RUNNING
from scaler.sim.state import SimState, bincount

#: /proc/stat counts in USER_HZ ticks (100 per second on Linux).
USER_HZ = 100
#: Columns of ``CpuAccount.rates`` / ``seconds``.
USER, SYSTEM, IDLE, IOWAIT, STEAL = range(5)
#: How long the simulated nodes have been up when the model starts (their counters are not 0).
BOOTED_S = 86_400.0
#: cgroup v1 cpu.shares per millicore (kubelet MilliCPUToShares) and the least a cgroup has.
SHARES_PER_M = 1024.0 / 1000.0
MIN_SHARES = 2.0

_QOS = {"BestEffort": 0, "Burstable": 1, "Guaranteed": 2}


@dataclass(frozen=True)
class DepCpu:
    """Per deployment (index = deployment index): what one of its running pods wants, its
    weight, QoS code, the VM's extra host CPU, and pages per CPU-second of its workload."""

    want: np.ndarray  # workload cores wanted, within quota and vCPUs
    extra_fixed: np.ndarray  # host cores per running VM outside the guest
    extra_share: np.ndarray  # host cores per guest core (VM exits)
    weight: np.ndarray
    qos: np.ndarray
    pages_per_core: np.ndarray
    setup_cores: np.ndarray  # cores a sandbox set-up burns


def dep_cpu(s: SimState) -> DepCpu:
    """The per-deployment figures (a loop over deployments, never over pods)."""
    wl = s.profile.workload
    rows = []
    for d in s.dep_list:
        spec, rt = d.spec, d.runtime
        pct = float(spec.cpu_percent)
        paced = wl.pacing == "timer" and pct < 100.0
        want = wl.paced_cpu_cores if paced else pct / 100.0
        limit = spec.cpu_limit_m if spec.cpu_limit_m is not None else None
        if limit is not None:
            want = min(want, limit / 1000.0)  # CFS quota: throttled at the limit
        if rt.vm and rt.vcpus > 0:
            vcpus = rt.vcpus + (math.ceil(limit / 1000.0) if limit else 0)
            want = min(want, vcpus)
        if paced:
            per_core = wl.paced_pages_per_s * rt.paced_work_ratio / max(wl.paced_cpu_cores, 1e-9)
        else:
            per_core = wl.pages_per_cpu_s * rt.work_efficiency
        request = float(spec.cpu_request_m if spec.cpu_request_m is not None
                        else (spec.cpu_limit_m or 0)) + rt.overhead_cpu_m
        weight = MIN_SHARES if d.qos == "BestEffort" else max(MIN_SHARES, request * SHARES_PER_M)
        rows.append((want, rt.vm_host_cpu_cores if rt.vm else 0.0,
                     rt.vm_exit_cpu_share if rt.vm else 0.0, weight, _QOS.get(d.qos, 0),
                     per_core, rt.sandbox_cpus))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    return DepCpu(*(np.asarray(c, dtype=np.float64) for c in cols))


def weighted_fill(cap: np.ndarray, demand: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Share each row's ``cap`` among its entities (columns) by weight, none getting more than
    it asks (CFS between sibling cgroups, work-conserving): the level L with
    sum(min(demand, weight x L)) = cap, or everyone served when the row has enough. Exact: the
    entities sorted by demand / weight, the first that the level left for it does not satisfy
    sets the level."""
    w, g = demand.shape
    if g == 0:
        return demand.copy()
    cap = np.maximum(cap, 0.0)
    present = weight > 0
    ratio = np.where(present, demand / np.where(present, weight, 1.0), np.inf)
    order = np.argsort(ratio, axis=1, kind="stable")
    d = np.take_along_axis(np.where(present, demand, 0.0), order, axis=1)
    wt = np.take_along_axis(np.where(present, weight, 0.0), order, axis=1)
    r = np.take_along_axis(ratio, order, axis=1)
    before = np.cumsum(d, axis=1) - d
    after = np.cumsum(wt[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        level_k = np.where(after > 0, (cap[:, None] - before) / np.where(after > 0, after, 1.0),
                           np.inf)
    hit = level_k <= r
    first = np.argmax(hit, axis=1)
    level = np.where(hit.any(axis=1), level_k[np.arange(w), first], np.inf)
    finite = np.isfinite(level)
    got = np.where(present, demand, 0.0)
    capped = np.minimum(demand, weight * np.where(finite, level, 0.0)[:, None])
    return np.asarray(np.where(present & finite[:, None], capped, got))


class CpuAccount:
    """The nodes' CPU: current rates per state, cumulative seconds, and per (node, deployment)
    the cores and pages/s of one running pod. Owned by ``SimModel``; ``account`` after every
    step, ``skip`` over quiet steps (nothing that shares CPU changes then)."""

    def __init__(self, s: SimState) -> None:
        w = s.workers
        c = s.profile.cluster
        self.rates = np.zeros((w, 5))
        self.rates[:, SYSTEM] = np.minimum(c.system_cpu_cores, s.cpus)
        self.rates[:, USER] = np.minimum(c.infra_cpu_cores, s.cpus - self.rates[:, SYSTEM])
        self.rates[:, IDLE] = s.cpus - self.rates[:, USER] - self.rates[:, SYSTEM]
        self.seconds = self.rates * BOOTED_S
        self.booted_at = s.t - BOOTED_S
        self.pod_cores = np.zeros((w, 0))  # per (node, deployment): cores of one running pod
        self.pod_work = np.zeros((w, 0))  # ... its workload's pages/s
        self.saturated = np.zeros(w, dtype=bool)  # CPUs all busy, demand left unserved
        self.demand = np.zeros(w)  # cores everything on the node asks for
        self.node_work = np.zeros(w)  # pages/s of the node's running workloads
        self.work_pods = np.zeros(w)  # how many run (each writes a fresh report)

    def account(self, s: SimState) -> None:
        self._share(s)
        self.seconds += self.rates * s.dt

    def skip(self, s: SimState, ticks: int) -> None:
        self.seconds += self.rates * (s.dt * ticks)

    def _share(self, s: SimState) -> None:
        c = s.profile.cluster
        p = s.table
        n = p.n
        w = s.workers
        deps = dep_cpu(s)
        nd = len(s.dep_list)
        # Creating (0) or running (1) pods bound to a node, not being deleted (a workload exits on
        # SIGTERM at once): one pass, counted per (node, dep).
        bound = np.flatnonzero(p.cstate[:n] <= CS_RUNNING)
        bound = bound[p.alive[bound] & (p.node[bound] >= 0) & np.isnan(p.deleted[bound])]
        key = (p.node[bound].astype(np.int64) * nd + p.dep[bound]) * 2 \
            + (p.cstate[bound] == CS_RUNNING)
        counts = bincount(key, minlength=w * nd * 2).reshape(w, nd, 2)
        creating, running = counts[:, :, 0], counts[:, :, 1]
        # Level 1: the node's services and kernel against kubepods.
        sys_want = (c.system_cpu_cores + creating @ deps.setup_cores
                    + np.where(s.thrashing, c.thrash_cpus, 0.0))
        pod_want = deps.want * (1.0 + deps.extra_share) + deps.extra_fixed  # one pod, (nd,)
        group_want = running * pod_want  # (w, nd)
        infra_want = np.full(w, c.infra_cpu_cores)
        infra_weight = np.maximum(s.infra_cpu_req * SHARES_PER_M, MIN_SHARES)
        kube_want = infra_want + group_want.sum(axis=1)
        kube_weight = np.maximum(s.alloc_cpu, 0.0) * SHARES_PER_M
        top = weighted_fill(s.cpus, np.column_stack([sys_want, kube_want]),
                            np.column_stack([np.full(w, c.system_cpu_weight), kube_weight]))
        sys_got, kube_got = top[:, 0], top[:, 1]
        # Level 2: Guaranteed pods each by weight, the Burstable and BestEffort QoS groups.
        qos = deps.qos
        be, burst, guar = qos == 0, qos == 1, qos == 2
        group_weight = running * deps.weight
        burst_want = infra_want + group_want[:, burst].sum(axis=1)
        burst_weight = infra_weight + group_weight[:, burst].sum(axis=1)
        be_want = group_want[:, be].sum(axis=1)
        be_weight = np.where(running[:, be].sum(axis=1) > 0, MIN_SHARES, 0.0)
        mid = weighted_fill(
            kube_got,
            np.column_stack([group_want[:, guar], burst_want, be_want]),
            np.column_stack([group_weight[:, guar], burst_weight, be_weight]))
        ng = int(guar.sum())
        got = np.zeros((w, nd))
        got[:, guar] = mid[:, :ng]
        # Level 3: inside each QoS group, its pods by their weights.
        inner = weighted_fill(mid[:, ng], np.column_stack([infra_want, group_want[:, burst]]),
                              np.column_stack([infra_weight, group_weight[:, burst]]))
        infra_got = inner[:, 0]
        got[:, burst] = inner[:, 1:]
        got[:, be] = weighted_fill(mid[:, ng + 1], group_want[:, be], group_weight[:, be])
        # One pod's share, split between its workload and its VM's host processes.
        per_pod = np.where(running > 0, got / np.maximum(running, 1.0), 0.0)
        frac = np.where(pod_want > 0, deps.want / np.where(pod_want > 0, pod_want, 1.0), 0.0)
        workload = per_pod * frac
        self.pod_cores = per_pod
        self.pod_work = workload * deps.pages_per_core
        self.node_work = (self.pod_work * running).sum(axis=1)
        self.work_pods = running.sum(axis=1)
        # The node's time per state: guest and workload time are user time; the VMs' fixed
        # host processes user, their exits system; the node's services and kernel system.
        vm_fixed = per_pod * np.where(pod_want > 0, deps.extra_fixed
                                      / np.where(pod_want > 0, pod_want, 1.0), 0.0)
        user = infra_got + ((workload + vm_fixed) * running).sum(axis=1)
        busy = sys_got + kube_got
        system = np.maximum(busy - user, 0.0)
        idle = np.maximum(s.cpus - busy, 0.0)
        iowait = np.where(s.thrashing, idle * c.thrash_iowait_share, 0.0)
        self.rates = np.column_stack([user, system, idle - iowait, iowait, np.zeros(w)])
        self.demand = sys_want + kube_want
        self.saturated = self.demand > s.cpus + 1e-9

    # Views ------------------------------------------------------------------------------------

    def pods(self, s: SimState, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cores and pages/s of the pods ``idx`` now (0 for pods not running)."""
        p = s.table
        nodes, deps = p.node[idx], p.dep[idx]
        ok = ((p.cstate[idx] == CS_RUNNING) & (nodes >= 0) & np.isnan(p.deleted[idx])
              & (deps < self.pod_cores.shape[1]))
        cores, work = np.zeros(len(idx)), np.zeros(len(idx))
        cores[ok] = self.pod_cores[nodes[ok], deps[ok]]
        work[ok] = self.pod_work[nodes[ok], deps[ok]]
        return cores, work

    def times(self, node: int) -> CpuTimes:
        """The node's /proc/stat ``cpu`` line as ``collectors.cpustat`` parses it."""
        user, system, idle, iowait, steal = self.ticks(node)
        return CpuTimes(user, 0, system, idle, iowait, 0, 0, steal)

    def ticks(self, node: int) -> list[int]:
        """The node's cumulative USER_HZ ticks: user, system, idle, iowait, steal."""
        return [int(v) for v in np.floor(self.seconds[node] * USER_HZ)]


def node_stat(s: SimState, acc: CpuAccount, node: int) -> str:
    """The node's /proc/stat as the kernel writes it: the ``cpu`` line (all CPUs together),
    one line per CPU (the node's time split evenly, remainders to the first CPUs), then the
    kernel's other counters. Fields: user nice system idle iowait irq softirq steal guest
    guest_nice (guest time is in user already)."""
    user, system, idle, iowait, steal = acc.ticks(node)
    cpus = max(1, int(s.cpus[node]))

    def line(name: str, u: int, sy: int, i: int, w: int, st: int) -> str:
        return f"{name} {u} 0 {sy} {i} {w} 0 0 {st} 0 0\n"

    def split(total: int, k: int) -> int:
        base, rest = divmod(total, cpus)
        return base + (1 if k < rest else 0)

    out = [line("cpu ", user, system, idle, iowait, steal)]
    out += [line(f"cpu{k}", split(user, k), split(system, k), split(idle, k), split(iowait, k),
                 split(steal, k)) for k in range(cpus)]
    running = max(1, int(round(min(acc.demand[node], s.cpus[node]))))
    busy_s = float(acc.seconds[node].sum() - acc.seconds[node, IDLE])
    out.append(f"intr {int(busy_s * 1000)}\nctxt {int(busy_s * 4000)}\n"
               f"btime {int(acc.booted_at)}\nprocesses {10_000 + s.ticks}\n"
               f"procs_running {running}\nprocs_blocked 0\n")
    return "".join(out)
