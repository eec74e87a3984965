"""Model state as Kubernetes objects: pods, nodes, deployment status, and ``Table`` rows.

Pure functions of the model's views. The model's times are epoch seconds (serve starts it at the
wall clock); they are written with second precision, as the real API server writes them.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import operator
import uuid

from scaler.quantity import mib_quantity, millis_quantity
from scaler.simserve.managed import pod_managed_fields

KUBELET_VERSION = "v1.32.0-scaler-sim"

_SIGNATURE_FIELDS = (
    ("name",), ("uid",), ("node",), ("phase",), ("reason",), ("message",), ("ready",),
    ("restarts",), ("container_state", "state"), ("container_reason", "state_reason"),
    ("last_terminated_reason", "last_state_reason"), ("created", "created_at"),
    ("scheduled", "scheduled_at"), ("started", "started_at"), ("ready_at",),
    ("deleted", "deleted_at", "deletion"), ("container_exit_code",), ("last_exit_code",),
)


_SIGNATURE_FIRST = operator.attrgetter(*(names[0] for names in _SIGNATURE_FIELDS))


def pod_signature(view) -> tuple:
    """The fields a rendered pod depends on: equal signatures render equal objects, so a pod
    whose signature did not change produces no watch event."""
    try:
        return _SIGNATURE_FIRST(view)  # the simulator's views: every field by its first name
    except AttributeError:
        return tuple(_f(view, *names) for names in _SIGNATURE_FIELDS)


def timestamp(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return _timestamp(int(epoch))


@functools.lru_cache(maxsize=4096)
def _timestamp(second: int) -> str:
    """Pods created together share their seconds: each formatted once."""
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The last templates copied per pod, as JSON (a copy per pod from the text is ~3x faster than
# copy.deepcopy): keyed by the template's id, kept with the template itself so the id stays
# its own. Stored objects are never mutated, so a template's text never goes stale.
_TEMPLATES: dict[int, tuple[dict, str]] = {}


def _template_copy(template: dict) -> dict:
    found = _TEMPLATES.get(id(template))
    if found is None or found[0] is not template:
        if len(_TEMPLATES) >= 64:
            _TEMPLATES.clear()
        try:
            text = json.dumps(template)
        except (TypeError, ValueError):  # not JSON (a YAML body's dates): copied the slow way
            return copy.deepcopy(template)
        found = _TEMPLATES[id(template)] = (template, text)
    return json.loads(found[1])


def _f(view, *names, default=None):
    """The first attribute of ``view`` by any of ``names`` (the model's field names, tolerant of
    the spellings the simulator's views use)."""
    for n in names:
        if hasattr(view, n):
            v = getattr(view, n)
            return default if v is None else v
    return default


def pod_uid(name: str) -> str:
    h = hashlib.sha1(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3


def template_hash(template: dict) -> str:
    """The ``pod-template-hash`` of a pod template, as the deployment controller computes it
    (controller.ComputeHash: FNV-1a 32 of the template, its decimal digits mapped through
    rand.SafeEncodeString). It depends on the template only, so scaling a Deployment keeps its
    ReplicaSet and a template change makes a new one. (The bytes hashed differ from Go's
    spew dump, so the values differ from a real cluster's; their shape does not.)"""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(h))


def replicaset_name(deployment: dict) -> str:
    """The name of the ReplicaSet a Deployment's current template runs in."""
    meta = deployment.get("metadata") or {}
    template = (deployment.get("spec") or {}).get("template") or {}
    return f"{meta.get('name', 'unknown')}-{template_hash(template)}"


def render_pod(view, *, deployment: dict | None, node_address: dict[str, str],
               pod_index: int, runtime_overhead: dict | None) -> dict:
    name = _f(view, "name")
    key = str(_f(view, "deployment", "deployment_key", "key", default="default/unknown"))
    namespace, _, dep_name = key.partition("/")
    uid = str(_f(view, "uid", default=pod_uid(name)))

    def ts(*names):
        t = _f(view, *names)
        return None if t is None else float(t)

    created = ts("created", "created_at")
    scheduled = ts("scheduled", "scheduled_at")
    started = ts("started", "started_at")
    ready_at = ts("ready_at")
    deleted = ts("deleted", "deleted_at", "deletion")
    node = _f(view, "node")
    phase = _f(view, "phase", default="Pending")
    reason = _f(view, "reason")
    message = _f(view, "message")
    ready = bool(_f(view, "ready", default=False))
    restarts = int(_f(view, "restarts", default=0))
    state = _f(view, "container_state", "state", default="waiting")
    state_reason = _f(view, "container_reason", "state_reason", default=None)
    last_reason = _f(view, "last_terminated_reason", "last_state_reason", default=None)
    labels = dict(_f(view, "labels", default={}) or {})
    runtime_class = _f(view, "runtime_class", default=None)

    template = _template_copy(((deployment or {}).get("spec") or {}).get("template") or {})
    spec = template.get("spec") or {"containers": [{"name": "workload", "image": "unknown"}]}
    containers = spec.get("containers") or [{"name": "workload", "image": "unknown"}]
    if not labels:
        labels = dict((template.get("metadata") or {}).get("labels") or {})
    rs_name = replicaset_name(deployment) if deployment else f"{dep_name}-{template_hash({})}"
    labels.setdefault("pod-template-hash", rs_name.rsplit("-", 1)[1])
    spec.update({"restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "dnsPolicy": "ClusterFirst"})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if node:
        spec["nodeName"] = node
    if runtime_class and runtime_class != "runc":
        spec["runtimeClassName"] = runtime_class
    if runtime_overhead:
        spec["overhead"] = dict(runtime_overhead)

    meta = {"name": name, "generateName": f"{rs_name}-", "namespace": namespace, "uid": uid,
            "creationTimestamp": timestamp(created), "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name,
                                 "uid": pod_uid(rs_name), "controller": True,
                                 "blockOwnerDeletion": True}]}
    if deleted is not None:
        meta["deletionTimestamp"] = timestamp(deleted)
        meta["deletionGracePeriodSeconds"] = int(spec.get("terminationGracePeriodSeconds", 30))

    main = containers[0]
    cstatus = {"name": main.get("name", "workload"), "image": main.get("image", ""),
               "imageID": "", "ready": ready, "started": state == "running",
               "restartCount": restarts}
    cid = f"cri-o://{uid.replace('-', '')}{restarts:04d}"
    if state == "running":
        cstatus["containerID"] = cid
        cstatus["state"] = {"running": {"startedAt": timestamp(started or created)}}
    elif state == "terminated":
        cstatus["containerID"] = cid
        r = state_reason or "Error"
        code = _f(view, "container_exit_code", default=137 if r == "OOMKilled" else 1)
        cstatus["state"] = {"terminated": {"exitCode": code, "reason": r,
                                           "startedAt": timestamp(started),
                                           "finishedAt": timestamp(deleted or started),
                                           "containerID": cid}}
    else:
        cstatus["state"] = {"waiting": {"reason": state_reason or "ContainerCreating"}}
    if last_reason and restarts > 0:
        prev = f"cri-o://{uid.replace('-', '')}{restarts - 1:04d}"
        last_code = _f(view, "last_exit_code", default=137 if last_reason == "OOMKilled" else 1)
        cstatus["lastState"] = {"terminated": {"exitCode": last_code,
                                               "reason": last_reason, "containerID": prev}}
    else:
        cstatus["lastState"] = {}

    def cond(kind: str, ok: bool, at: float | None) -> dict:
        return {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                "lastTransitionTime": timestamp(at if ok and at is not None else created)}

    conditions = []
    if node:
        conditions += [cond("PodReadyToStartContainers", started is not None, started),
                       cond("Initialized", True, scheduled)]
    conditions += [cond("Ready", ready, ready_at), cond("ContainersReady", ready, ready_at),
                   cond("PodScheduled", node is not None, scheduled)]
    if not node:
        conditions = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                       "lastTransitionTime": timestamp(created), "reason": "Unschedulable",
                       "message": message or "0/0 nodes are available"}]
    status = {"phase": phase, "conditions": conditions,
              "qosClass": _f(view, "qos_class", default=None) or qos_class(containers)}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    if node:
        status["hostIP"] = node_address.get(node, "")
        status["startTime"] = timestamp(scheduled or created)
        if phase in ("Running", "Pending") and reason != "Evicted":
            status["podIP"] = f"10.128.{(pod_index >> 8) & 255}.{pod_index & 255}"
        if not (state == "waiting" and state_reason is None):
            # a bound pod its kubelet has not taken up yet has no container status
            status["containerStatuses"] = [cstatus]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    meta["managedFields"] = pod_managed_fields(pod, timestamp(started or scheduled or created))
    return pod


def qos_class(containers: list[dict]) -> str:
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        any_set = any_set or bool(req) or bool(lim)
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim[r]) != lim[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def render_node(info, *, created: float, kubelet_version: str, memory_pressure: bool = False,
                tainted: bool = False, changed: float | None = None) -> dict:
    labels = {"kubernetes.io/hostname": info.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", f"node-role.kubernetes.io/{info.role}": ""}
    capacity = {"cpu": millis_quantity(info.cpu_millis), "memory": mib_quantity(info.memory_mib),
                "pods": str(info.max_pods)}
    allocatable = {"cpu": millis_quantity(info.allocatable_cpu_millis),
                   "memory": mib_quantity(info.allocatable_memory_mib), "pods": str(info.max_pods)}
    addresses = [{"type": "Hostname", "address": info.name}]
    if info.address:
        addresses.insert(0, {"type": "InternalIP", "address": info.address})
    now = timestamp(created)
    since = timestamp(changed if changed is not None else created)
    spec = {}
    if tainted:
        spec["taints"] = [{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule",
                           "timeAdded": since}]
    pressure = {"type": "MemoryPressure", "status": "True" if memory_pressure else "False",
                "reason": "KubeletHasInsufficientMemory" if memory_pressure
                else "KubeletHasSufficientMemory",
                "message": "kubelet has memory pressure" if memory_pressure
                else "kubelet has sufficient memory available",
                "lastHeartbeatTime": since, "lastTransitionTime": since}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": info.name, "uid": pod_uid("node/" + info.name),
                         "creationTimestamp": now, "labels": labels},
            "spec": spec,
            "status": {"capacity": capacity, "allocatable": allocatable, "addresses": addresses,
                       "conditions": [pressure,
                                      {"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "simulated kubelet is posting ready status",
                                       "lastHeartbeatTime": now, "lastTransitionTime": now}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": node_info(info.name, kubelet_version)}}


def node_info(name: str, kubelet_version: str) -> dict:
    """Every field of NodeSystemInfo (the typed clients require them all), stable per node
    name: the IDs are derived from it, as a machine keeps its IDs across kubelet restarts."""
    ident = uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.scaler-sim")
    return {"machineID": ident.hex, "systemUUID": str(ident).upper(),
            "bootID": str(uuid.uuid5(ident, "boot")), "kernelVersion": "simulated",
            "osImage": "scaler simulator (not a real node)",
            "containerRuntimeVersion": "cri-o://simulated", "kubeletVersion": kubelet_version,
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}


def deployment_status(deployment: dict, pods: list[dict]) -> dict:
    live = [p for p in pods if "deletionTimestamp" not in p["metadata"]
            and p["status"].get("phase") not in ("Failed", "Succeeded")]
    ready = sum(1 for p in live if _ready(p))
    desired = int(deployment["spec"].get("replicas", 1))
    status = {"observedGeneration": deployment["metadata"].get("generation", 1),
              "replicas": len(live), "updatedReplicas": len(live)}
    if ready:
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
    if len(live) - ready > 0:
        status["unavailableReplicas"] = len(live) - ready
    available = ready >= desired
    status["conditions"] = [{"type": "Available", "status": "True" if available else "False",
                             "reason": "MinimumReplicasAvailable" if available
                             else "MinimumReplicasUnavailable"}]
    return status


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))
