"""The ReplicaSet controller (and the pod garbage collector): pods created or deleted towards
each deployment's replicas at the controller's rate; Failed/Evicted pods do not count as
replicas, so they are replaced, and are kept until the terminated-pod GC threshold."""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from scaler.sim import policy
from scaler.sim.controlplane import controller_rate
from scaler.sim.pods import CS_NONE, CS_RUNNING, PH_FAILED, PH_RUNNING
from scaler.sim.profile import RuntimeProfile
from scaler.sim.state import Deployment, SimState, delete_slot, vanish
from scaler.workload_spec import WorkloadSpec

# Terminated pods are garbage-collected only above this many (kube-controller-manager
# --terminated-pod-gc-threshold default 12500).
TERMINATED_POD_GC_THRESHOLD = 12_500

# Kubernetes' generated-name alphabet and suffix length (apimachinery util/rand, names.
# SimpleNameGenerator: base + 5 random characters).
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
SUFFIX_LEN = 5
_NAME_BYTES = np.frombuffer(NAME_CHARS.encode(), dtype="S1")


def reconcile(s: SimState) -> None:
    refill_budget(s, 1)
    per_dep, terminal, excess = _census(s)
    if excess > 0:  # the oldest go first
        for i in np.flatnonzero(terminal)[:excess]:
            vanish(s, int(i))
    for dep in s.dep_list:
        if dep.deleted:
            continue
        have = int(per_dep[dep.index]) if dep.index < len(per_dep) else 0
        if have < dep.replicas:
            make = min(dep.replicas - have, int(s.create_budget))
            new_pods(s, dep, make)
            s.create_budget -= make
        elif have > dep.replicas:
            scale_down(s, dep, have - dep.replicas)


def refill_budget(s: SimState, ticks: int) -> None:
    rate = controller_rate(s.profile.control_plane, s.workers)
    s.create_budget = min(s.create_budget + rate * s.dt * ticks, max(1.0, rate * s.dt))


def _census(s: SimState) -> tuple[np.ndarray, np.ndarray, int]:
    """Replicas per deployment (pods neither failed nor being deleted), the terminal pods, and
    how many of them the pod garbage collector removes."""
    p = s.table
    n = p.n
    failed = p.phase[:n] == PH_FAILED
    active = p.alive[:n] & np.isnan(p.deleted[:n]) & ~failed
    per_dep = np.bincount(p.dep[:n], weights=active, minlength=len(s.dep_list))
    terminal = p.alive[:n] & failed
    return per_dep, terminal, int(np.count_nonzero(terminal)) - TERMINATED_POD_GC_THRESHOLD


def next_change(s: SimState) -> float:
    """Now when a deployment has more or fewer replicas than it wants or the GC has work,
    else never."""
    per_dep, _, excess = _census(s)
    if excess > 0:
        return s.t
    for dep in s.dep_list:
        if not dep.deleted and int(per_dep[dep.index]) != dep.replicas:
            return s.t
    return math.inf


def skip(s: SimState, ticks: int) -> None:
    refill_budget(s, ticks)


def scale_down(s: SimState, dep: Deployment, count: int) -> None:
    """Delete ``count`` pods, least valuable first: unscheduled, then not running, then
    newest (ReplicaSet getPodsToDelete ranking, simplified)."""
    p = s.table
    idx = s.pods_of(dep.index, active_only=True)
    if len(idx) == 0:
        return
    order = np.lexsort((-p.created[idx], p.cstate[idx] == CS_RUNNING, p.node[idx] >= 0))
    for i in idx[order[:count]]:
        delete_slot(s, int(i))


def new_pods(s: SimState, dep: Deployment, count: int) -> np.ndarray:
    """Create ``count`` pods of ``dep`` at once (new table slots, columns set as arrays)."""
    p = s.table
    idx = p.add_many(count)
    if count == 0:
        return idx
    spec, rt = dep.spec, dep.runtime
    names = unique_names(s, f"{dep.key.partition('/')[2] or dep.key}-{dep.template_hash}-",
                         count)
    p.name[idx] = names
    p.uid[idx] = uuid4s(s.names_rng, count)
    s.names.update(names)
    # Every column starts at its empty value (NaN times, -1 node and exit codes, zero codes,
    # False flags, None message); only what differs is set.
    p.alive[idx] = True
    p.dep[idx] = dep.index
    p.cstate[idx] = CS_NONE  # no container status until the kubelet takes the pod up
    p.restarts[idx] = 0
    p.sandbox_fails[idx] = 0
    p.sys_ooms[idx] = 0
    p.created[idx] = s.t
    p.backoff[idx] = 0.0
    p.held[idx] = 0.0
    p.rss[idx] = 0.0
    p.guest_peak[idx] = 0.0
    p.host_held[idx] = 0.0
    p.inc[idx] = float(spec.increment_mib)
    p.target[idx] = float(spec.memory_mib)
    p.limit[idx] = float(spec.limit_mib or 0.0)
    p.vm[idx] = rt.vm
    p.shared[idx] = rt.vm and rt.guest_memory == "shared"
    p.host_mib[idx] = rt.host_mib
    p.boot[idx] = (min(rt.boot_mib, rt.host_mib) if rt.vm and rt.boot_mib > 0
                   else rt.host_mib + (rt.guest_base_mib * (1 + rt.per_mib_overhead)
                                       if rt.vm else s.profile.workload.base_rss_mib))
    p.guest_base[idx] = rt.guest_base_mib if rt.vm else 0.0
    # host MiB per guest MiB beyond one: page tables and struct pages, and for private guest
    # RAM the part of the huge pages the guest leaves untouched
    p.per_mib[idx] = (rt.per_mib_overhead if not rt.vm or rt.guest_memory == "shared"
                      else (1 + rt.per_mib_overhead) * rt.private_guest_ratio - 1)
    p.vm_size[idx] = rt.vm_memory_mib + (spec.limit_mib or 0.0) if rt.vm else np.inf
    p.cpu_frac[idx] = spec.cpu_percent / 100.0
    req_mem = float(spec.request_mib if spec.request_mib is not None else (spec.limit_mib or 0))
    req_cpu = float(spec.cpu_request_m if spec.cpu_request_m is not None
                    else (spec.cpu_limit_m or 0))
    p.req_mem[idx] = req_mem + rt.overhead_mib
    p.req_cpu[idx] = req_cpu + rt.overhead_cpu_m
    p.nz_mem[idx] = (req_mem or policy.DEFAULT_MEMORY_REQUEST_MIB) + rt.overhead_mib
    p.nz_cpu[idx] = (req_cpu or policy.DEFAULT_CPU_REQUEST_M) + rt.overhead_cpu_m
    p.besteffort[idx] = dep.qos == "BestEffort"
    p.adj[idx] = policy.oom_score_adj(dep.qos, req_mem, float(s.mem_total[0]))
    p.teardown[idx] = s.profile.cluster.termination_s + rt.teardown_s
    return idx


def unique_names(s: SimState, prefix: str, count: int) -> list[str]:
    """``count`` names ``prefix`` + 5 random characters, none already in use: a clash is
    drawn again, as the API server does for ``generateName`` (KEP-4420 RetryGenerateName;
    before it the ReplicaSet controller's create failed and was retried)."""
    out: list[str] = []
    taken = s.names
    while len(out) < count:
        want = count - len(out)
        codes = s.names_rng.integers(len(NAME_CHARS), size=(want, SUFFIX_LEN))
        suffixes = _NAME_BYTES[codes].view(f"S{SUFFIX_LEN}").ravel()
        seen = set(out)
        for b in suffixes:
            name = prefix + b.decode()
            if name not in taken and name not in seen:
                out.append(name)
                seen.add(name)
    return out


def uuid4s(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, from ``rng`` so runs repeat."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.tobytes().hex()
    return [f"{h[k:k + 8]}-{h[k + 8:k + 12]}-{h[k + 12:k + 16]}-{h[k + 16:k + 20]}-"
            f"{h[k + 20:k + 32]}" for k in range(0, 32 * count, 32)]


#: The deployment pods left stuck by an earlier run belong to (see ``leave_stuck_pods``).
STUCK_KEY = "(earlier run)/stuck"


def leave_stuck_pods(s: SimState) -> None:
    """The cluster's state at start: ``stuck_terminating_pods`` pods of an earlier kata run,
    spread over the workers, deleted long ago but never gone: their sandboxes hung, so they
    hold no memory their node could use but keep their API objects, count against maxPods,
    and leave their kubelets without pod stats (``eviction.stats_missing``). They asked for
    nothing: their RuntimeClass had no overhead when they were created."""
    count = s.profile.cluster.stuck_terminating_pods
    if count == 0:
        return
    rt = dataclasses.replace(s.profile.runtime("kata") if "kata" in s.profile.runtimes
                             else RuntimeProfile(vm=True), overhead_mib=0.0, overhead_cpu_m=0,
                             pod_stats=False)
    spec = WorkloadSpec(runtime="kata")
    dep = Deployment(key=STUCK_KEY, spec=spec, runtime=rt, replicas=0, labels={},
                     index=len(s.dep_list), template_hash=template_hash(STUCK_KEY, spec),
                     qos="BestEffort", deleted=True)
    s.dep_list.append(dep)
    idx = new_pods(s, dep, count)
    p = s.table
    p.node[idx] = np.arange(count) % s.workers
    p.created[idx] = s.t - 3 * 86400.0  # "after 3 days"
    p.scheduled[idx] = p.created[idx]
    p.started[idx] = p.created[idx]
    p.deleted[idx] = s.t - 86400.0
    p.gone_at[idx] = np.inf
    p.phase[idx] = PH_RUNNING
    p.cstate[idx] = CS_RUNNING
    p.sandbox_up[idx] = True
    p.ever_ready[idx] = True
    p.req_cpu[idx] = p.req_mem[idx] = p.cpu_frac[idx] = 0.0


def template_hash(key: str, spec: WorkloadSpec) -> str:
    h = hashlib.sha1(f"{key}/{sorted(spec.to_dict().items())}".encode()).hexdigest()
    return "".join(NAME_CHARS[int(h[k: k + 2], 16) % len(NAME_CHARS)] for k in range(0, 20, 2))
