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
from weakref import WeakKeyDictionary

import numpy as np

from collectors.cpustat import CpuTimes
from scaler.sim.pods import CS_NONE, CS_RUNNING
from scaler.sim.state import SimState

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
    reports: np.ndarray  # 1 for a live deployment (its running pods write reports), else 0
    user_share: np.ndarray  # of the workload's CPU, the part in user mode (the rest: syscalls)

    @property
    def pod_want(self) -> np.ndarray:
        """Host cores one running pod of each deployment asks for: its workload's, plus a VM's
        exits and host processes."""
        return np.asarray(self.want * (1.0 + self.extra_share) + self.extra_fixed)


def dep_cpu(s: SimState) -> DepCpu:
    """The per-deployment figures (a loop over deployments, never over pods)."""
    wl = s.profile.workload
    rows = []
    for d in s.dep_list:
        spec, rt = d.spec, d.runtime
        pct = float(spec.cpu_percent)
        paced = wl.pacing == "timer" and pct < 100.0
        # one thread: at most one core (the workload takes 0-100 percent of one CPU)
        want = min(1.0, wl.paced_cpu_cores if paced else pct / 100.0)
        if d.deleted:
            want = 0.0  # its pods are terminating: their workloads got SIGTERM
        limit = spec.cpu_limit_m if spec.cpu_limit_m is not None else None
        if limit is not None:
            want = min(want, limit / 1000.0)  # CFS quota: throttled at the limit
        if rt.vm and rt.vcpus > 0:
            vcpus = rt.vcpus + (math.ceil(limit / 1000.0) if limit else 0)
            want = min(want, vcpus)
        user_share = 1.0
        if paced:
            per_core = wl.paced_pages_per_s * rt.paced_work_ratio / max(wl.paced_cpu_cores, 1e-9)
            # touching pages is user time; the spinning nanosleep calls are system time
            user_share = min(1.0, per_core / max(wl.pages_per_cpu_s, 1e-9))
        else:
            per_core = wl.pages_per_cpu_s * rt.work_efficiency
        request = float(spec.cpu_request_m if spec.cpu_request_m is not None
                        else (spec.cpu_limit_m or 0)) + rt.overhead_cpu_m
        weight = MIN_SHARES if d.qos == "BestEffort" else max(MIN_SHARES, request * SHARES_PER_M)
        rows.append((want, rt.vm_host_cpu_cores if rt.vm else 0.0,
                     rt.vm_exit_cpu_share if rt.vm else 0.0, weight, _QOS.get(d.qos, 0),
                     per_core, 0.0 if d.deleted else 1.0, user_share))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    return DepCpu(*(np.asarray(c, dtype=np.float64) for c in cols))


_DEPS: WeakKeyDictionary[SimState, tuple[tuple, DepCpu]] = WeakKeyDictionary()


def deps_now(s: SimState) -> DepCpu:
    """``dep_cpu`` of the deployments as they are now, worked out again only when one changed
    (each step reads it)."""
    key = dep_key(s)
    got = _DEPS.get(s)
    if got is None or got[0] != key:
        got = _DEPS[s] = (key, dep_cpu(s))
    return got[1]


def dep_key(s: SimState) -> tuple:
    """What ``dep_cpu`` depends on, per deployment."""
    return tuple((id(d.spec), id(d.runtime), d.qos, d.deleted) for d in s.dep_list)


def weighted_fill(cap: np.ndarray, demand: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Share each row's ``cap`` among its entities (columns) by weight, none getting more than
    it asks (CFS between sibling cgroups, work-conserving): the level L with
    sum(min(demand, weight x L)) = cap, or everyone served when the row has enough. Entities
    with no weight are absent and get nothing. Water-filling: the entities the level left for
    the unserved ones would satisfy are served, which raises the level for the rest; at most
    one round per column (rows are nodes, columns a handful of groups)."""
    present = weight > 0
    wanted = np.where(present, demand, 0.0)
    cap = np.maximum(cap, 0.0)
    unserved = present.copy()
    served = np.zeros(cap.shape)
    level = np.full(cap.shape, np.inf)
    for _ in range(demand.shape[1]):
        wsum = np.where(unserved, weight, 0.0).sum(axis=1)
        has = wsum > 0
        level = np.where(has, (cap - served) / np.where(has, wsum, 1.0), np.inf)
        fits = unserved & (wanted <= weight * np.where(has, level, 0.0)[:, None])
        if not fits.any():
            break
        served += np.where(fits, wanted, 0.0).sum(axis=1)
        unserved &= ~fits
    share = weight * np.where(np.isfinite(level), level, 0.0)[:, None]
    return np.asarray(np.where(unserved, np.minimum(wanted, share), wanted))


def split(cap: np.ndarray, a_want: np.ndarray, a_weight: np.ndarray | float,
          b_want: np.ndarray, b_weight: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``weighted_fill`` of two entities in closed form: each gets its weighted share of
    ``cap`` or what it asks if less, and what one leaves the other may take."""
    cap = np.maximum(cap, 0.0)
    wa = np.asarray(a_weight, dtype=np.float64)
    wb = np.asarray(b_weight, dtype=np.float64)
    total = wa + wb
    fair_a = np.where(total > 0, cap * wa / np.where(total > 0, total, 1.0), 0.0)
    a = np.where(wa > 0, np.minimum(a_want, np.maximum(fair_a, cap - b_want)), 0.0)
    b = np.where(wb > 0, np.minimum(b_want, cap - a), 0.0)
    a = np.where(wa > 0, np.minimum(a_want, cap - b), 0.0)
    return a, b


@dataclass(frozen=True)
class Shares:
    """What ``shares`` works out, one row per node (and step): cores per state, one running
    pod's cores and pages/s per deployment, the node's work, running workloads and demand."""

    rates: np.ndarray  # (rows, 5): user, system, idle, iowait, steal
    pod_cores: np.ndarray  # (rows, deployments)
    pod_work: np.ndarray
    node_work: np.ndarray
    work_pods: np.ndarray
    demand: np.ndarray


def shares(s: SimState, deps: DepCpu, counts: np.ndarray, thrashing: np.ndarray,
           cpus: np.ndarray, alloc_cpu: np.ndarray, infra_cpu_req: np.ndarray,
           setup: np.ndarray) -> Shares:
    """Each row's CPUs shared (see the module doc): ``counts`` (rows, deployments, 2) holds the
    pods creating and running per deployment, ``thrashing`` whether the node reclaims,
    ``setup`` the cores the node's sandbox set-ups burn (``kubelet.setup_cpus``: only set-ups
    under way, their fixed work over the time they take), the other arrays the node's CPUs,
    allocatable millicores and infrastructure requests."""
    c = s.profile.cluster
    rows = counts.shape[0]
    running = counts[:, :, 1]
    # Level 1: the node's services and kernel against kubepods.
    sys_want = c.system_cpu_cores + setup + np.where(thrashing, c.thrash_cpus, 0.0)
    pod_want = deps.pod_want  # one pod, (deps,)
    group_want = running * pod_want
    infra_want = np.full(rows, c.infra_cpu_cores)
    kube_want = infra_want + group_want.sum(axis=1)
    if (sys_want + kube_want <= cpus).all():  # every node has enough for everyone
        sys_got, kube_got, infra_got, got = sys_want, kube_want, infra_want, group_want
    else:
        sys_got, kube_got, infra_got, got = _fill(
            c.system_cpu_weight, deps, running, cpus, alloc_cpu, infra_cpu_req, sys_want,
            kube_want, group_want, infra_want)
    # One pod's share, split between its workload and its VM's host processes.
    per_pod = np.where(running > 0, got / np.maximum(running, 1.0), 0.0)
    safe_want = np.where(pod_want > 0, pod_want, 1.0)
    workload = per_pod * np.where(pod_want > 0, deps.want / safe_want, 0.0)
    pod_work = workload * deps.pages_per_core
    # The node's time per state: guest and workload time are user time (but a timer-paced
    # loop's syscalls), so are the VMs' fixed host processes; their exits, the node's services
    # and kernel are system time.
    vm_fixed = per_pod * np.where(pod_want > 0, deps.extra_fixed / safe_want, 0.0)
    user = infra_got + ((workload * deps.user_share + vm_fixed) * running).sum(axis=1)
    busy = sys_got + kube_got
    idle = np.maximum(cpus - busy, 0.0)
    iowait = np.where(thrashing, idle * c.thrash_iowait_share, 0.0)
    rates = np.column_stack([user, np.maximum(busy - user, 0.0), idle - iowait, iowait,
                             np.zeros(rows)])
    return Shares(rates, per_pod, pod_work, (pod_work * running).sum(axis=1),
                  running @ deps.reports, sys_want + kube_want)


def _fill(system_weight: float, deps: DepCpu, running: np.ndarray, cpus: np.ndarray,
          alloc_cpu: np.ndarray, infra_cpu_req: np.ndarray, sys_want: np.ndarray,
          kube_want: np.ndarray, group_want: np.ndarray, infra_want: np.ndarray,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The shares on nodes short of CPU, level by level (see the module doc): the node's
    services and kernel, kubepods; then its QoS groups and their pods. Levels of two entities
    (the common case: no Guaranteed pod) in closed form (``split``)."""
    rows, nd = running.shape
    infra_weight = np.maximum(infra_cpu_req * SHARES_PER_M, MIN_SHARES)
    sys_got, kube_got = split(cpus, sys_want, system_weight, kube_want,
                              np.maximum(alloc_cpu, 0.0) * SHARES_PER_M)
    # Level 2: Guaranteed pods each by weight, the Burstable and BestEffort QoS groups.
    be, burst, guar = deps.qos == 0, deps.qos == 1, deps.qos == 2
    group_weight = running * deps.weight
    burst_want, burst_weight = infra_want, infra_weight
    if burst.any():
        burst_want = infra_want + group_want[:, burst].sum(axis=1)
        burst_weight = infra_weight + group_weight[:, burst].sum(axis=1)
    be_want = group_want[:, be].sum(axis=1)
    be_weight = np.where(running[:, be].sum(axis=1) > 0, MIN_SHARES, 0.0)
    got = np.zeros((rows, nd))
    if guar.any():
        ng = int(guar.sum())
        mid = weighted_fill(kube_got,
                            np.column_stack([group_want[:, guar], burst_want, be_want]),
                            np.column_stack([group_weight[:, guar], burst_weight, be_weight]))
        got[:, guar] = mid[:, :ng]
        burst_got, be_got = mid[:, ng], mid[:, ng + 1]
    else:
        burst_got, be_got = split(kube_got, burst_want, burst_weight, be_want, be_weight)
    # Level 3: inside each QoS group, its pods by their weights.
    if burst.any():
        inner = weighted_fill(burst_got, np.column_stack([infra_want, group_want[:, burst]]),
                              np.column_stack([infra_weight, group_weight[:, burst]]))
        infra_got = inner[:, 0]
        got[:, burst] = inner[:, 1:]
    else:
        infra_got = burst_got
    if int(be.sum()) == 1:
        got[:, be] = be_got[:, None]
    elif be.any():
        got[:, be] = weighted_fill(be_got, group_want[:, be], group_weight[:, be])
    return sys_got, kube_got, infra_got, got


def system_slowdown(s: SimState, deps: DepCpu, running: np.ndarray) -> np.ndarray:
    """How many times slower than alone each node's services run now (1 or more): what the
    node's services and kernel want (``system_cpu_cores``, and reclaim on a thrashing node) over
    what level 1 gives them against kubepods, whose ``running`` pods (per node and deployment)
    want their workloads' cores. A sandbox set-up is work of those services (CRI-O, conmon,
    runc, the CNI plugins): it goes at their pace (``kubelet.sandbox_seconds``). The set-ups' own
    cores are left out of the want: set-ups slowing each other is the runtime's serialisation
    (``RuntimeProfile.sandbox_per_concurrent_s``), not CPU taken from them. So a node whose
    BestEffort pods spin on every CPU while it thrashes (the timer-paced C workload wants a
    core per pod) gives them 0.94 core (cpu.shares 1024 against kubepods' 7,680 on 8 CPUs) of
    the 2.5 they want: set-ups there take 2.7 times as long."""
    c = s.profile.cluster
    sys_want = c.system_cpu_cores + np.where(s.thrashing, c.thrash_cpus, 0.0)
    pod_want = deps.pod_want  # one pod, (deps,)
    kube_want = c.infra_cpu_cores + (running @ pod_want if len(pod_want) else 0.0)
    if (sys_want + kube_want <= s.cpus).all():  # CPUs for everyone: nobody is slowed
        return np.ones(s.workers)
    sys_got, _ = split(s.cpus, sys_want, c.system_cpu_weight, kube_want,
                       np.maximum(s.alloc_cpu, 0.0) * SHARES_PER_M)
    return np.asarray(np.maximum(1.0, sys_want / np.maximum(sys_got, 1e-9)))


class CpuAccount:
    """The nodes' CPU: current rates per state, cumulative seconds, and per (node, deployment)
    the cores and pages/s of one running pod. Owned by ``SimModel``: ``account`` after every
    step, ``skip`` over quiet steps (nothing that shares CPU changes then).

    A step only counts the pods sharing each node's CPUs (one pass over the pod table); the
    shares themselves are worked out later, for every distinct step since at once (the rules
    work row by row, so the steps' nodes are stacked as rows), when something reads the CPU or
    the backlog is long: the same counters, at a fraction of the cost of a pass per step."""

    #: Distinct steps kept before their shares are worked out.
    BACKLOG = 256

    def __init__(self, s: SimState) -> None:
        w = s.workers
        c = s.profile.cluster
        self._rates = np.zeros((w, 5))
        self._rates[:, SYSTEM] = np.minimum(c.system_cpu_cores, s.cpus)
        self._rates[:, USER] = np.minimum(c.infra_cpu_cores, s.cpus - self._rates[:, SYSTEM])
        self._rates[:, IDLE] = s.cpus - self._rates[:, USER] - self._rates[:, SYSTEM]
        self._seconds = self._rates * BOOTED_S
        self.booted_at = s.t - BOOTED_S
        self._pod_cores = np.zeros((w, 0))  # per (node, deployment): cores of one running pod
        self._pod_work = np.zeros((w, 0))  # ... its workload's pages/s
        self._saturated = np.zeros(w, dtype=bool)  # CPUs all busy, demand left unserved
        self._demand = np.zeros(w)  # cores everything on the node asks for
        self._node_work = np.zeros(w)  # pages/s of the node's running workloads
        self._work_pods = np.zeros(w)  # how many run (each writes a fresh report)
        self._state = s
        self._deps = deps_now(s)
        # Steps not worked out yet: pod counts per (node, deployment, creating|running), the
        # thrashing nodes, and how many steps each lasted.
        self._counts: list[np.ndarray] = []
        self._thrash: list[np.ndarray] = []
        self._setup: list[np.ndarray] = []  # per step: the set-ups' cores per node
        self._ticks: list[int] = []

    def _fresh(self, name: str) -> np.ndarray:
        self.flush()
        return np.asarray(getattr(self, name))

    rates = property(lambda self: self._fresh("_rates"),
                     doc="Cores per node and state now (user, system, idle, iowait, steal).")
    pod_cores = property(lambda self: self._fresh("_pod_cores"),
                         doc="Per (node, deployment): the cores one running pod gets.")
    pod_work = property(lambda self: self._fresh("_pod_work"),
                        doc="Per (node, deployment): one running pod's pages/s.")
    saturated = property(lambda self: self._fresh("_saturated"),
                         doc="Nodes whose CPUs are all busy with demand left unserved.")
    demand = property(lambda self: self._fresh("_demand"),
                      doc="Cores everything on each node asks for.")
    node_work = property(lambda self: self._fresh("_node_work"),
                         doc="Pages/s of each node's running workloads.")
    work_pods = property(lambda self: self._fresh("_work_pods"),
                         doc="Running workloads per node (each writes a fresh report).")

    @property
    def seconds(self) -> np.ndarray:
        """Cumulative CPU-seconds per node and state (user, system, idle, iowait, steal)."""
        self.flush()
        return self._seconds

    def account(self, s: SimState) -> None:
        deps = deps_now(s)
        if deps is not self._deps:  # a deployment changed: the steps kept used the old figures
            self.flush()
            self._deps = deps
        p = s.table
        n = p.n
        nd = len(s.dep_list)
        # Pods per (node, dep, container state) in one pass over the table (key = ((node + 1) x
        # deps + dep) x states + state: unbound pods fall in node -1's bins, gone ones count
        # 0); the creating (0) and running (1) pods of bound nodes are what shares the CPUs.
        states = CS_NONE + 1
        stride = states * nd
        key = p.node[:n] + 1
        key *= stride
        if nd > 1:
            key += p.dep[:n] * states
        key += p.cstate[:n]
        key[~p.alive[:n]] = 0
        every = np.bincount(key, minlength=(s.workers + 1) * stride)
        counts = every[stride:].reshape(s.workers, nd, states)[:, :, :2]
        if (self._counts and (self._counts[-1] == counts).all()
                and (self._thrash[-1] == s.thrashing).all()
                and (self._setup[-1] == s.setup_cpu).all()):
            self._ticks[-1] += 1
            return  # the node's services' pace is as it was too (same pods, deps, thrashing)
        s.system_slowdown = system_slowdown(s, self._deps, counts[:, :, 1])
        self._counts.append(counts)
        self._thrash.append(s.thrashing.copy())
        self._setup.append(s.setup_cpu.copy())
        self._ticks.append(1)
        if len(self._counts) >= self.BACKLOG:
            self.flush()

    def skip(self, s: SimState, ticks: int) -> None:
        if self._ticks:
            self._ticks[-1] += ticks
        else:
            self._seconds += self._rates * (s.dt * ticks)

    def flush(self) -> None:
        """Work out the shares of the steps kept, add their time to the counters, and make the
        last one's the current figures."""
        if not self._counts:
            return
        s = self._state
        k, w = len(self._counts), s.workers
        counts = np.concatenate(self._counts).astype(np.float64)
        thrash = np.concatenate(self._thrash)
        setup = np.concatenate(self._setup)
        ticks = np.repeat(np.asarray(self._ticks, dtype=np.float64), w)
        self._counts, self._thrash, self._setup, self._ticks = [], [], [], []
        r = shares(s, self._deps, counts, thrash, np.tile(s.cpus, k), np.tile(s.alloc_cpu, k),
                   np.tile(s.infra_cpu_req, k), setup)
        self._seconds += (r.rates * (ticks * s.dt)[:, None]).reshape(k, w, 5).sum(axis=0)
        last = slice((k - 1) * w, k * w)
        self._rates = r.rates[last]
        self._pod_cores, self._pod_work = r.pod_cores[last], r.pod_work[last]
        self._node_work, self._work_pods = r.node_work[last], r.work_pods[last]
        self._demand, self._saturated = r.demand[last], r.demand[last] > s.cpus + 1e-9

    # Views ------------------------------------------------------------------------------------

    def pods(self, s: SimState, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cores and pages/s of the pods ``idx`` now (0 for pods not running)."""
        self.flush()
        p = s.table
        nodes, deps = p.node[idx], p.dep[idx]
        ok = ((p.cstate[idx] == CS_RUNNING) & (nodes >= 0) & np.isnan(p.deleted[idx])
              & (deps < self._pod_cores.shape[1]))
        cores, work = np.zeros(len(idx)), np.zeros(len(idx))
        cores[ok] = self._pod_cores[nodes[ok], deps[ok]]
        work[ok] = self._pod_work[nodes[ok], deps[ok]]
        return cores, work

    def times(self, node: int) -> CpuTimes:
        """The node's /proc/stat ``cpu`` line as ``collectors.cpustat`` parses it."""
        user, system, idle, iowait, steal = self.ticks(node)
        return CpuTimes(user, 0, system, idle, iowait, 0, 0, steal)

    def ticks(self, node: int) -> list[int]:
        """The node's cumulative USER_HZ ticks: user, system, idle, iowait, steal."""
        self.flush()
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
