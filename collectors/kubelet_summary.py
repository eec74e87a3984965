"""The kubelet's Summary API (``/stats/summary``, type ``stats/v1alpha1.Summary``) as records.

Pure parsing: one payload in, one ``NodeSample`` and one ``PodMemory`` per pod out. Field names
are the kubelet's (k8s.io/kubelet/pkg/apis/stats/v1alpha1/types.go): ``node.{nodeName, cpu,
memory}``, ``pods[].{podRef{name, namespace, uid}, containers[], cpu, memory}``; ``cpu`` is
``{time, usageNanoCores, usageCoreNanoSeconds}``, ``memory`` is ``{time, availableBytes,
usageBytes, workingSetBytes, rssBytes, pageFaults, majorPageFaults}``. Every value is optional
in the type (``omitempty`` pointers), so every one may be missing here.

What the node figures mean (kubelet pkg/kubelet/stats/helper.go, eviction helpers.go):

- ``workingSetBytes`` = usage - inactive_file; ``availableBytes`` = memory limit - working set,
  and for the node the "limit" is the machine's capacity. So the node's total is
  ``availableBytes + workingSetBytes``: the capacity the eviction manager itself reconstructs
  for the ``memory.available`` signal. (``usageBytes + availableBytes`` would count
  inactive_file twice.) The Node object's ``status.capacity.memory`` is the same cAdvisor
  figure and is used only when the summary has no ``availableBytes``.
- ``mem_available_mib`` is the kubelet's ``memory.available`` eviction signal. It is not
  /proc/meminfo's MemAvailable: the kubelet counts kernel memory the root cgroup is not
  charged for (slab, page tables, stacks) as available, so it reads higher.
- ``mem_free_mib`` is left None: the root cgroup's usage is anon + file of its memory.stat (runc
  libcontainer computes it so on cgroup v2), which leaves kernel memory out, so capacity - usage
  is MemFree plus that kernel memory, not MemFree. ``mem_active_mib`` (no such figure), ``load1``
  and the CPU breakdown (user/system/iowait/steal) are not in the Summary either: None.
- ``cpu_busy_pct`` = ``usageNanoCores`` / (CPUs x 1e9) x 100, where the CPU count comes from the
  Node object (the Summary has none): None without it. ``usageNanoCores`` is the kubelet's
  rate over its own last two stats samples, not over our polling interval.

Pods: the pod-level ``memory`` is the pod cgroup (all containers plus the pause sandbox and, for
kata with ``sandbox_cgroup_only=true``, the VMM); ``workload_mib`` is the sum of the containers'
working sets (the workload's own cgroups, without the sandbox). When cAdvisor has no memory for a
cgroup the kubelet writes a placeholder ``{"time": ..., "workingSetBytes": 0}``
(helper.go, ``cadvisorInfoToCPUandMemoryStats``): that is "nothing", recorded as None. A pod with
containers whose memory is absent or zero is the known blind spot for kata (cAdvisor sees no
container cgroups on the host: kata-containers #12216, packaging #1025): its zeros are kept as
the kubelet's account and its UID is listed in ``Summary.blind``.

Timestamps are the stats' own ``time`` fields (the node's clock; metav1.Time, RFC 3339 with
whole seconds).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from collectors.pod_sample import SOURCE_KUBELET, PodMemory
from collectors.sample import OK, NodeSample

MIB = 1024.0 * 1024.0
NANO = 1e9

# NodeSample gains cpus and cpu_busy_pct with team contract 4; until then they are dropped here
# rather than guessed at, and the figures stay in ``KubeletNode``.
_SAMPLE_FIELDS = frozenset(f.name for f in dataclasses.fields(NodeSample))


class SummaryError(ValueError):
    """The payload is not a kubelet Summary (the message is one line, for a gap's reason)."""


@dataclass(frozen=True)
class NodeCapacity:
    """What the Node object says the node has (``status.capacity``); None where it says nothing."""

    cpus: float | None = None
    memory_mib: float | None = None


@dataclass(frozen=True)
class KubeletNode:
    """The node-level figures exactly as the kubelet gave them (MiB, cores, counts)."""

    node: str
    time: float
    available_mib: float | None = None
    usage_mib: float | None = None
    working_set_mib: float | None = None
    rss_mib: float | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None
    cpu_cores: float | None = None
    cpu_time: float | None = None


@dataclass(frozen=True)
class Summary:
    """One parsed payload: the node (as a ``NodeSample`` and as the kubelet's own figures), one
    ``PodMemory`` per pod, the UIDs of pods in the blind spot, and pod entries skipped because
    they had no usable ``podRef.uid``."""

    node: KubeletNode
    sample: NodeSample
    pods: tuple[PodMemory, ...]
    blind: tuple[str, ...] = ()
    skipped: int = 0


# -- values --------------------------------------------------------------------------------------

_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))$")


def parse_time(text: object) -> float | None:
    """RFC 3339 (``2026-03-02T10:15:30Z``, fractions and offsets allowed) to epoch seconds.

    None for anything else, ``null`` included (a zero metav1.Time is written as null)."""
    if not isinstance(text, str):
        return None
    m = _TIME.fullmatch(text.strip())
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    tz = UTC if z else timezone(
        (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om)))
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz)
    except ValueError:
        return None
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def _count(block: Mapping[str, Any] | None, key: str) -> int | None:
    """A non-negative integer field (the API's uint64 pointers); anything else is absent."""
    if block is None:
        return None
    v = block.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != v:
        return None
    return int(v)


def _mib(block: Mapping[str, Any] | None, key: str) -> float | None:
    v = _count(block, key)
    return None if v is None else v / MIB


def _block(parent: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    if parent is None:
        return None
    v = parent.get(key)
    return v if isinstance(v, Mapping) else None


def _memory(parent: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The ``memory`` block, or None when it is missing or only the kubelet's placeholder for
    "cAdvisor has no memory stats" (a time and ``workingSetBytes: 0``, nothing else)."""
    mem = _block(parent, "memory")
    if mem is None:
        return None
    if all(_count(mem, k) is None for k in ("usageBytes", "rssBytes", "availableBytes")) and \
            not _count(mem, "workingSetBytes"):
        return None
    return mem


def _cores(cpu: Mapping[str, Any] | None) -> float | None:
    v = _count(cpu, "usageNanoCores")
    return None if v is None else v / NANO


def _time_of(*blocks: Mapping[str, Any] | None) -> float | None:
    for b in blocks:
        t = parse_time(b.get("time")) if b is not None else None
        if t is not None:
            return t
    return None


def parse_quantity(text: object) -> float | None:
    """A Kubernetes quantity (``8``, ``7500m``, ``16393316Ki``, ``16Gi``, ``1e3``) as a number
    (bytes for memory, cores for CPU); None if it is not one."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
                     r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?\s*", text)
    if m is None:
        return None
    scale = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "P": 1e15, "E": 1e18, None: 1}[m.group(3)]
    return float(m.group(1) + (m.group(2) or "")) * scale


def node_capacity(node_object: Mapping[str, Any]) -> NodeCapacity:
    """CPU count and memory from a Node object's ``status.capacity`` (read-only GET of the node)."""
    status = node_object.get("status")
    cap = status.get("capacity") if isinstance(status, Mapping) else None
    if not isinstance(cap, Mapping):
        return NodeCapacity()
    cpus = parse_quantity(cap.get("cpu"))
    mem = parse_quantity(cap.get("memory"))
    return NodeCapacity(cpus=cpus if cpus and cpus > 0 else None,
                        memory_mib=mem / MIB if mem and mem > 0 else None)


# -- the payload ---------------------------------------------------------------------------------


def load_payload(payload: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """JSON text (or an already decoded object) to the Summary mapping, else SummaryError."""
    if isinstance(payload, Mapping):
        doc: object = payload
    else:
        try:
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as e:
            raise SummaryError(f"not JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(doc, Mapping):
        raise SummaryError(f"a JSON {type(doc).__name__}, not a Summary object")
    return doc


def parse_summary(payload: bytes | str | Mapping[str, Any], *, node: str | None = None,
                  capacity: NodeCapacity | None = None) -> Summary:
    """Parse one ``/stats/summary`` answer.

    ``node`` is the node it was asked of (a payload naming another node is refused);
    ``capacity`` comes from the Node object and adds the CPU count (for ``cpu_busy_pct``) and a
    total when the summary has no ``availableBytes``. Raises SummaryError when the payload has
    no ``node`` object, no node name, or no stats time; a pod entry without ``podRef.uid`` is
    skipped and counted, a value of the wrong type is treated as absent.
    """
    doc = load_payload(payload)
    n = _block(doc, "node")
    if n is None:
        raise SummaryError("no 'node' object: not a kubelet Summary")
    name = n.get("nodeName")
    if not isinstance(name, str) or not name:
        name = None
    if node is not None and name is not None and name != node:
        raise SummaryError(f"asked for node {node!r} but the summary is of {name!r}")
    name = name or node
    if name is None:
        raise SummaryError("the summary names no node")
    cpu, mem = _block(n, "cpu"), _memory(n)
    t = _time_of(_block(n, "memory"), cpu)
    if t is None:
        raise SummaryError(f"node {name}: no stats time in the summary")
    kn = KubeletNode(
        node=name, time=t,
        available_mib=_mib(mem, "availableBytes"), usage_mib=_mib(mem, "usageBytes"),
        working_set_mib=_mib(mem, "workingSetBytes"), rss_mib=_mib(mem, "rssBytes"),
        page_faults=_count(mem, "pageFaults"), major_page_faults=_count(mem, "majorPageFaults"),
        cpu_cores=_cores(cpu), cpu_time=_time_of(cpu),
    )
    pods: list[PodMemory] = []
    blind: list[str] = []
    skipped = 0
    raw_pods = doc.get("pods")
    for p in raw_pods if isinstance(raw_pods, list) else ():
        pm = _pod(p, name, t) if isinstance(p, Mapping) else None
        if pm is None:
            skipped += 1
            continue
        pods.append(pm[0])
        if pm[1]:
            blind.append(pm[0].uid)
    return Summary(kn, node_sample(kn, capacity), tuple(pods), tuple(blind), skipped)


def node_sample(kn: KubeletNode, capacity: NodeCapacity | None = None) -> NodeSample:
    """The run.nodes.csv record from the kubelet's node figures (see the module notes)."""
    cap = capacity or NodeCapacity()
    ws, avail = kn.working_set_mib, kn.available_mib
    if avail is not None and ws is not None:
        total: float | None = avail + ws
    else:
        total = cap.memory_mib
        if avail is None and total is not None and ws is not None:
            avail = max(total - ws, 0.0)
    busy = None
    if kn.cpu_cores is not None and cap.cpus:
        busy = 100.0 * kn.cpu_cores / cap.cpus
    values: dict[str, Any] = {
        "node": kn.node, "time": kn.time, "status": OK,
        "mem_total_mib": total, "mem_available_mib": avail,
        "cpus": None if cap.cpus is None else int(round(cap.cpus)), "cpu_busy_pct": busy,
    }
    return NodeSample(**{k: v for k, v in values.items() if k in _SAMPLE_FIELDS})


def _pod(p: Mapping[str, Any], node: str, node_time: float) -> tuple[PodMemory, bool] | None:
    """One pod entry: its record and whether it is in the blind spot; None without a UID."""
    ref = _block(p, "podRef")
    if ref is None:
        return None
    uid = ref.get("uid")
    if not isinstance(uid, str) or not uid:
        return None
    ns, pod_name = ref.get("namespace"), ref.get("name")
    raw_mem, cpu = _block(p, "memory"), _block(p, "cpu")
    mem = _memory(p)
    raw_cs = p.get("containers")
    containers = [c for c in raw_cs if isinstance(c, Mapping)] if isinstance(raw_cs, list) else []
    c_mems = [_memory(c) for c in containers]
    c_ws = [_mib(m, "workingSetBytes") for m in c_mems]
    workload = None if not c_ws or any(v is None for v in c_ws) else sum(v or 0.0 for v in c_ws)
    t = _time_of(raw_mem, cpu, *(_block(c, "memory") for c in containers),
                 *(_block(c, "cpu") for c in containers))
    record = PodMemory(
        node=node, time=node_time if t is None else t, source=SOURCE_KUBELET, uid=uid,
        namespace=ns if isinstance(ns, str) and ns else None,
        pod=pod_name if isinstance(pod_name, str) and pod_name else None,
        cgroup_mib=_mib(mem, "usageBytes"), working_set_mib=_mib(mem, "workingSetBytes"),
        rss_mib=_mib(mem, "rssBytes"), workload_mib=workload, cpu_cores=_cores(cpu),
    )
    # A pod with containers cannot use no memory: absent or zero is cAdvisor not seeing it.
    blind = bool(containers) and not (record.working_set_mib or record.cgroup_mib)
    return record, blind
