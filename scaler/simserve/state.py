"""The simulated cluster as API objects: the model, advanced in real time, mirrored into a Store.

Namespaces, Deployments and RuntimeClasses are API objects kept here (the model only needs the
workload each Deployment asks for); pods and nodes are rendered from the model. ``sync`` advances
the model and turns what changed into watch events; it also keeps the ground truth the tests
compare a driver's observations with, classified from the model's own views, not from the JSON.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TextIO

from scaler.kube_objects import ManifestError, workload_spec_from_deployment
from scaler.pod_state import PodClass
from scaler.simserve import changes, render
from scaler.simserve.store import Store

LOOPBACK_BASE = (127, 0, 0, 10)


class ApiError(Exception):
    """An error answer: HTTP code, Kubernetes reason and message."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def loopback_address(i: int) -> str:
    a, b, c, d = LOOPBACK_BASE
    n = d + i
    return f"{a}.{b}.{c + n // 256}.{n % 256}"


@dataclass
class Truth:
    """What the model says, classified from its views; one record per change."""

    running: int = 0
    pending: int = 0
    creating: int = 0
    terminating: int = 0
    evicted: int = 0  # cumulative, distinct pods
    failed: int = 0
    pods: int = 0
    evicted_uids: set = field(default_factory=set)

    def row(self) -> tuple:
        return (self.running, self.pending, self.creating, self.terminating, self.evicted,
                self.failed, self.pods)


TRUTH_HEADER = "wall_time,model_time,resource_version,running,pending,creating,terminating,evicted,failed,pods\n"


class SimState:
    def __init__(self, model, *, speed: float = 1.0, truth_out: TextIO | None = None,
                 runtime_classes: dict[str, dict] | None = None, event_log: int = 20_000) -> None:
        self.model = model
        self.speed = speed
        self.store = Store(log_size=event_log)
        self._mono0 = time.monotonic()
        self._model0 = float(model.now)
        self._views: dict[str, tuple] = {}  # pod name -> signature
        self._changes = changes.PodChanges()  # what changed in the model since the last sync
        self._pod_index: dict[str, int] = {}  # pod name -> serial (its pod IP)
        self._pod_serial = 0
        self._truth = Truth()
        self._truth_out = truth_out
        if truth_out is not None:
            truth_out.write(TRUTH_HEADER)
        self._write_truth()  # the initial state: every later instant has a row in force
        self.node_addresses: dict[str, str] = {}
        self._deployment_key_of: dict[str, str] = {}  # pod name -> "namespace/deployment"
        self._last_template: dict[str, dict] = {}  # "namespace/deployment" -> last object seen
        self.version = render.KUBELET_VERSION
        self._nodes = []
        self._node_flags: dict[str, tuple[bool, bool]] = {}
        self._created = float(model.now)
        for i, info in enumerate(model.nodes()):
            addr = loopback_address(i)
            self.node_addresses[info.name] = addr
            self._nodes.append(replace(info, address=addr))
        self._sync_nodes()
        for ns in ("default", "kube-system"):
            self.create_namespace({"metadata": {"name": ns}})
        for name, rc in (runtime_classes or {}).items():
            self.create_cluster_object("runtimeclasses", {"apiVersion": "node.k8s.io/v1",
                                                          "kind": "RuntimeClass",
                                                          "metadata": {"name": name}, **rc})

    # -- time -----------------------------------------------------------------------------------

    def model_time_now(self) -> float:
        return self._model0 + (time.monotonic() - self._mono0) * self.speed

    def now_epoch(self) -> float:
        """The model's clock (epoch seconds: serve starts the model at the wall clock)."""
        return float(self.model.now)

    def write_cost_s(self) -> float:
        """Wall seconds a write takes the control plane: the model's per-object reconcile cost
        (ControlPlaneProfile.write_per_object_s) times the objects it holds, at the run's speed.
        Client start, transport and serialisation are real here, so only this part is added."""
        cp = getattr(getattr(self.model, "profile", None), "control_plane", None)
        count = getattr(self.model, "object_count", None)
        if cp is None or count is None:
            return 0.0
        return float(cp.write_per_object_s) * float(count()) / self.speed

    # -- generic objects ------------------------------------------------------------------------

    def _new_meta(self, obj: dict, namespace: str | None) -> dict:
        meta = dict(obj.get("metadata") or {})
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise ApiError(422, "Invalid", "metadata.name: Required value: name is required")
        if namespace is not None:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = render.timestamp(self.now_epoch())
        meta["generation"] = 1
        for k in ("resourceVersion", "deletionTimestamp"):
            meta.pop(k, None)
        return meta

    def create_namespace(self, obj: dict) -> dict:
        meta = self._new_meta(obj, None)
        if self.store.get("namespaces", "", meta["name"]):
            raise ApiError(409, "AlreadyExists", f'namespaces "{meta["name"]}" already exists')
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
              "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        return self.store.put("namespaces", ns)

    def create_cluster_object(self, resource: str, obj: dict) -> dict:
        meta = self._new_meta(obj, None)
        if self.store.get(resource, "", meta["name"]):
            raise ApiError(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
        return self.store.put(resource, {**obj, "metadata": meta})

    def require_namespace(self, namespace: str) -> None:
        ns = self.store.get("namespaces", "", namespace)
        if ns is None:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        if ns["status"].get("phase") == "Terminating":
            raise ApiError(403, "Forbidden", f"unable to create new content in namespace {namespace} "
                           "because it is being terminated")

    def delete_namespace(self, name: str) -> dict:
        ns = self.store.get("namespaces", "", name)
        if ns is None:
            raise ApiError(404, "NotFound", f'namespaces "{name}" not found')
        if ns["status"].get("phase") == "Terminating":
            return ns
        # As the namespace controller does it: asynchronously, after the DELETE has answered
        # (the next sync deletes what is inside; the namespace goes once its pods are gone).
        meta = {**ns["metadata"], "deletionTimestamp": render.timestamp(self.now_epoch())}
        ns = {**ns, "metadata": meta, "status": {"phase": "Terminating"}}
        return self.store.put("namespaces", ns)

    # -- deployments ----------------------------------------------------------------------------

    def put_deployment(self, namespace: str, obj: dict, *, create: bool) -> dict:
        name = (obj.get("metadata") or {}).get("name")
        old = self.store.get("deployments", namespace, name) if name else None
        if create:
            self.require_namespace(namespace)
            if old is not None:
                raise ApiError(409, "AlreadyExists", f'deployments.apps "{name}" already exists')
            meta = self._new_meta(obj, namespace)
        else:
            if old is None:
                raise ApiError(404, "NotFound", f'deployments.apps "{name}" not found')
            meta = {**(obj.get("metadata") or {}), "namespace": namespace}
            for k in ("uid", "creationTimestamp", "generation"):
                meta[k] = old["metadata"][k]
            if (obj.get("spec") or {}).get("template") != old["spec"].get("template"):
                meta["generation"] = old["metadata"]["generation"] + 1
            elif obj.get("spec") != old.get("spec"):
                meta["generation"] = old["metadata"]["generation"] + 1
        spec = dict(obj.get("spec") or {})
        spec.setdefault("replicas", 1)
        try:
            if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
                raise ManifestError("spec.replicas: must be a non-negative integer")
            workload = workload_spec_from_deployment({"spec": spec})
        except (ManifestError, KeyError, TypeError, ValueError, IndexError) as e:
            raise ApiError(422, "Invalid", f'Deployment.apps "{name}" is invalid: {e}') from None
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
        labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
        self.model.apply_deployment(f"{namespace}/{meta['name']}", workload, spec["replicas"], labels)
        dep["status"] = render.deployment_status(dep, self._pods_of(namespace, meta["name"]))
        self.store.put("deployments", dep)
        self.sync()
        return self.store.get("deployments", namespace, meta["name"])

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict:
        old = self.store.get("deployments", namespace, name)
        if old is None:
            raise ApiError(404, "NotFound", f'deployments.apps "{name}" not found')
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", "spec.replicas: must be a non-negative integer")
        meta = {**old["metadata"], "generation": old["metadata"]["generation"] + 1}
        dep = {**old, "metadata": meta, "spec": {**old["spec"], "replicas": replicas}}
        self.model.set_replicas(f"{namespace}/{name}", replicas)
        self.store.put("deployments", dep)
        self.sync()
        return self.store.get("deployments", namespace, name)

    def delete_deployment(self, namespace: str, name: str) -> dict:
        if self.store.get("deployments", namespace, name) is None:
            raise ApiError(404, "NotFound", f'deployments.apps "{name}" not found')
        self.model.delete_deployment(f"{namespace}/{name}")
        gone = self.store.remove("deployments", namespace, name)
        self.sync()
        return gone

    def delete_pod(self, namespace: str, name: str) -> dict:
        pod = self.store.get("pods", namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        self.model.delete_pod(name)
        self.sync()
        return self.store.get("pods", namespace, name) or pod

    def scale_object(self, dep: dict) -> dict:
        sel = ",".join(f"{k}={v}" for k, v in
                       ((dep["spec"].get("selector") or {}).get("matchLabels") or {}).items())
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: dep["metadata"][k] for k in
                             ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
                "spec": {"replicas": dep["spec"].get("replicas", 1)},
                "status": {"replicas": dep.get("status", {}).get("replicas", 0), "selector": sel}}

    def _pods_of(self, namespace: str, deployment: str) -> list[dict]:
        prefix = f"{namespace}/{deployment}"
        return [p for p in self.store.items("pods", namespace)
                if self._deployment_key_of.get(p["metadata"]["name"]) == prefix]

    # -- the model's pods -----------------------------------------------------------------------

    def _sync_nodes(self) -> None:
        """Nodes change only when the kubelet's memory pressure (and its taint) does."""
        pressure = getattr(self.model, "kubelet_pressure", None)
        tainted = getattr(self.model, "tainted", None)
        seen = (None if pressure is None else pressure.tobytes(),
                None if tainted is None else tainted.tobytes())
        if seen == self._changes.node_flags:
            return
        self._changes.node_flags = seen
        for i, info in enumerate(self._nodes):
            flags = (bool(pressure[i]) if pressure is not None else False,
                     bool(tainted[i]) if tainted is not None else False)
            if self._node_flags.get(info.name) == flags:
                continue
            self._node_flags[info.name] = flags
            self.store.put("nodes", render.render_node(
                info, created=self._created, kubelet_version=self.version,
                memory_pressure=flags[0], tainted=flags[1], changed=float(self.model.now)))

    def sync(self) -> None:
        """Advance the model to now and mirror its pods into the store as watch events."""
        target = self.model_time_now()
        if target > self.model.now:
            self.model.advance_to(target)
        self._sync_nodes()
        diff = self._changes.diff(self.model)
        touched = self._sync_pods(diff) if diff else set()
        for ns, dep_name in touched:
            dep = self.store.get("deployments", ns, dep_name)
            if dep is not None:
                live, ready = changes.deployment_pods(self.model, f"{ns}/{dep_name}")
                status = render.deployment_status_of(dep, live, ready)
                if status != dep.get("status"):
                    self.store.put("deployments", {**dep, "status": status})
        for ns in self.store.items("namespaces"):
            if ns["status"].get("phase") == "Terminating":
                name = ns["metadata"]["name"]
                for dep in self.store.items("deployments", name):
                    self.model.delete_deployment(f"{name}/{dep['metadata']['name']}")
                    self.store.remove("deployments", name, dep["metadata"]["name"])
                if not self.store.items("pods", name):
                    self.store.remove("namespaces", "", name)
        if diff:
            self._tally(diff)

    def forget_rendered_pods(self) -> None:
        """The store holds no pod objects (a restored front): the next sync renders every pod."""
        self._views = {}
        self._changes.forget()

    def _sync_pods(self, diff: changes.PodDiff) -> set[tuple[str, str]]:
        """Pods gone out of the store, new and changed ones rendered into it (only those: see
        ``changes``); returns the Deployments ("namespace", "name") whose pods changed."""
        touched: set[tuple[str, str]] = set()
        for name, _uid in diff.gone:
            if self._views.pop(name, None) is None:
                continue
            self._pod_index.pop(name, None)
            key = self._deployment_key_of.pop(name, "default/unknown")
            ns, _, dep_name = key.partition("/")
            self.store.remove("pods", ns, name)
            touched.add((ns, dep_name))
        for v in changes.views_at(self.model, diff.slots):
            name = v.name
            key = str(render._f(v, "deployment", "deployment_key", "key", default="default/unknown"))
            self._deployment_key_of[name] = key
            ns, _, dep_name = key.partition("/")
            sig = render.pod_signature(v)
            if self._views.get(name) == sig:
                continue
            self._views[name] = sig
            idx = self._pod_index.get(name)
            if idx is None:
                self._pod_serial += 1
                idx = self._pod_index[name] = self._pod_serial
            # a pod outlives its Deployment while it terminates: keep rendering its template
            dep = self.store.get("deployments", ns, dep_name) or self._last_template.get(key)
            if dep is not None:
                self._last_template[key] = dep
            rc_name = render._f(v, "runtime_class", default=None)
            rc = self.store.get("runtimeclasses", "", rc_name) if rc_name else None
            overhead = (rc or {}).get("overhead", {}).get("podFixed")
            self.store.put("pods", render.render_pod(v, deployment=dep,
                                                      node_address=self.node_addresses,
                                                      pod_index=idx, runtime_overhead=overhead))
            touched.add((ns, dep_name))
        if diff.gone:
            live_keys = set(self._deployment_key_of.values())
            for key in [k for k in self._last_template if k not in live_keys]:
                del self._last_template[key]
        return touched

    def _tally(self, diff: changes.PodDiff) -> None:
        """The truth from the model's own pods; a row written when it changed."""
        counted = changes.tally(self.model, diff.slots)
        evicted = self._truth.evicted_uids
        evicted.update(counted.evicted_uids)
        truth = Truth(evicted_uids=evicted, pods=counted.pods, evicted=len(evicted),
                      **{cls.value: k for cls, k in counted.by_class.items()
                         if cls is not PodClass.EVICTED})
        changed = truth.row() != self._truth.row()
        self._truth = truth
        if changed:
            self._write_truth()

    def _write_truth(self) -> None:
        if self._truth_out is not None:
            self._truth_out.write(
                f"{time.time():.3f},{self.model.now:.3f},{self.store.rv},"
                + ",".join(str(x) for x in self._truth.row()) + "\n")
            self._truth_out.flush()

    @property
    def truth(self) -> Truth:
        return self._truth
