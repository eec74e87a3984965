"""The simulated cluster as API objects: the model, advanced in real time, mirrored into a Store.

Namespaces, Deployments and RuntimeClasses are API objects kept here (the model only needs the
workload each Deployment asks for); pods and nodes are rendered from the model. ``sync`` advances
the model and turns what changed into watch events; it also keeps the ground truth the tests
compare a driver's observations with, classified from the model's own views, not from the JSON.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import TextIO

from scaler.kube_objects import ManifestError, workload_spec_from_deployment
from scaler.simserve import events as ev
from scaler.simserve import render
from scaler.simserve.admission import admit, model_runtimes
from scaler.simserve.held import HeldDeployments
from scaler.simserve.mirror import PodMirror, Truth
from scaler.simserve.podsync import SlotSignatures
from scaler.simserve.status import ApiError
from scaler.simserve.store import Store
from scaler.simserve.validation import validate_deployment
from scaler.simserve.workload_out import WorkloadOutput

LOOPBACK_BASE = (127, 0, 0, 10)
# The namespace controller starts on a deleted namespace's contents after its work queue hands
# it over (and discovery of what is inside): not between two requests of one `kubectl delete`.
NAMESPACE_CONTROLLER_DELAY_S = 0.5


def loopback_address(i: int) -> str:
    a, b, c, d = LOOPBACK_BASE
    n = d + i
    return f"{a}.{b}.{c + n // 256}.{n % 256}"


TRUTH_HEADER = "wall_time,model_time,resource_version,running,pending,creating,terminating,evicted,failed,pods\n"


class SimState(PodMirror, WorkloadOutput):
    def __init__(self, model, *, speed: float = 1.0, truth_out: TextIO | None = None,
                 runtime_classes: dict[str, dict] | None = None, event_log: int = 20_000) -> None:
        self.model = model
        self.speed = speed
        self.store = Store(log_size=event_log)
        self._mono0 = time.monotonic()
        self._model0 = float(model.now)
        self._views: dict[str, tuple] = {}  # pod name -> signature
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
        self.events = ev.EventRecorder(self.store, self.now_epoch)
        self._events_expired = float(model.now)
        self.held = HeldDeployments(self.store, self.events, self.now_epoch,
                                    lambda: [n.name for n in self._nodes], self.node_addresses)
        self._in_model: set[str] = set()  # "namespace/name" of the Deployments the model runs
        self._runtimes = model_runtimes(model)
        self._cpu_cache: dict[str, tuple] = {}
        self._slots = SlotSignatures()  # which pods changed since the last tick (podsync.py)
        self._ns_deleted_at: dict[str, float] = {}  # namespace -> wall time it began to go
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

    def create_namespace(self, obj: dict, *, dry_run: bool = False) -> dict:
        meta = self._new_meta(obj, None)
        if self.store.get("namespaces", "", meta["name"]):
            raise ApiError(409, "AlreadyExists", f'namespaces "{meta["name"]}" already exists')
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
              "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        if dry_run:  # what would be stored: no resourceVersion, as none was given out
            return ns
        return self.store.put("namespaces", ns)

    def create_cluster_object(self, resource: str, obj: dict, *, dry_run: bool = False) -> dict:
        meta = self._new_meta(obj, None)
        if self.store.get(resource, "", meta["name"]):
            raise ApiError(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
        if dry_run:
            return {**obj, "metadata": meta}
        return self.store.put(resource, {**obj, "metadata": meta})

    def require_namespace(self, namespace: str) -> None:
        ns = self.store.get("namespaces", "", namespace)
        if ns is None:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        if ns["status"].get("phase") == "Terminating":
            raise ApiError(403, "Forbidden", f"unable to create new content in namespace {namespace} "
                           "because it is being terminated")

    def delete_namespace(self, name: str, *, dry_run: bool = False) -> dict:
        ns = self.store.get("namespaces", "", name)
        if ns is None:
            raise ApiError(404, "NotFound", f'namespaces "{name}" not found')
        if ns["status"].get("phase") == "Terminating":
            return ns
        # As the namespace controller does it: asynchronously, after the DELETE has answered
        # (the next sync deletes what is inside; the namespace goes once its pods are gone).
        meta = {**ns["metadata"], "deletionTimestamp": render.timestamp(self.now_epoch())}
        ns = {**ns, "metadata": meta, "status": {"phase": "Terminating"}}
        if dry_run:
            return ns
        return self.store.put("namespaces", ns)

    # -- deployments ----------------------------------------------------------------------------

    def put_deployment(self, namespace: str, obj: dict, *, create: bool,
                       dry_run: bool = False) -> dict:
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
        validate_deployment({"metadata": meta, "spec": spec}, None if create else old)
        try:
            if not isinstance(spec["replicas"], int) or spec["replicas"] < 0:
                raise ManifestError("spec.replicas: must be a non-negative integer")
            workload = workload_spec_from_deployment({"spec": spec})
        except (ManifestError, KeyError, TypeError, ValueError, IndexError) as e:
            raise ApiError(422, "Invalid", f'Deployment.apps "{name}" is invalid: {e}') from None
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
        if dry_run:
            # the object as it would be stored: the old version's status and resourceVersion
            meta.pop("resourceVersion", None)
            if old is not None:
                meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            dep["status"] = dict(old.get("status") or {}) if old is not None else {}
            return dep
        self._place(namespace, dep, workload)
        dep["status"] = self._deployment_status(namespace, dep)
        self.store.put("deployments", dep)
        self.sync()
        return self.store.get("deployments", namespace, meta["name"])

    def _place(self, namespace: str, dep: dict, workload) -> None:
        """Hand the Deployment to the model, or hold it when RuntimeClass admission or the
        nodes' runtime handlers would keep its pods from running (admission.py)."""
        key = f"{namespace}/{dep['metadata']['name']}"
        rc_name = ((dep["spec"].get("template") or {}).get("spec") or {}).get("runtimeClassName")
        admission_rc = self.store.get("runtimeclasses", "", rc_name) if rc_name else None
        adm = admit(dep, workload.runtime, admission_rc, self._runtimes)
        if adm.runs:
            self.held.release(key)
            if adm.runtime != workload.runtime:
                workload = replace(workload, runtime=adm.runtime)
            labels = dict(((dep["spec"].get("template") or {}).get("metadata") or {})
                          .get("labels") or {})
            self.model.apply_deployment(key, workload, dep["spec"]["replicas"], labels)
            self._in_model.add(key)
            return
        if key in self._in_model:
            self.model.delete_deployment(key)
            self._in_model.discard(key)
        self.held.hold(namespace, dep, adm)

    def _deployment_status(self, namespace: str, dep: dict) -> dict:
        name = dep["metadata"]["name"]
        status = render.deployment_status(dep, self._pods_of(namespace, name))
        held = self.held.by_key.get(f"{namespace}/{name}")
        if held is not None and held.admission.missing and held.replicas > 0:
            # as the deployment controller mirrors its ReplicaSet's condition
            status["conditions"].append({"type": "ReplicaFailure", "status": "True",
                                         "reason": "FailedCreate",
                                         "message": held.admission.missing})
        return status

    def _drop_deployment(self, namespace: str, name: str) -> None:
        key = f"{namespace}/{name}"
        if key in self.held:
            self.held.release(key)
        if key in self._in_model:
            self.model.delete_deployment(key)
            self._in_model.discard(key)

    def scale_deployment(self, namespace: str, name: str, replicas: int, *,
                         dry_run: bool = False) -> dict:
        old = self.store.get("deployments", namespace, name)
        if old is None:
            raise ApiError(404, "NotFound", f'deployments.apps "{name}" not found')
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", "spec.replicas: must be a non-negative integer")
        meta = {**old["metadata"], "generation": old["metadata"]["generation"] + 1}
        dep = {**old, "metadata": meta, "spec": {**old["spec"], "replicas": replicas}}
        if dry_run:
            return dep
        key = f"{namespace}/{name}"
        if key in self.held:
            self.held.set_replicas(key, replicas)
        else:
            self.model.set_replicas(key, replicas)
        self.store.put("deployments", dep)
        self.sync()
        return self.store.get("deployments", namespace, name)

    def delete_deployment(self, namespace: str, name: str, *, dry_run: bool = False) -> dict:
        old = self.store.get("deployments", namespace, name)
        if old is None:
            raise ApiError(404, "NotFound", f'deployments.apps "{name}" not found')
        if dry_run:
            return old
        self._drop_deployment(namespace, name)
        gone = self.store.remove("deployments", namespace, name)
        self.sync()
        return gone

    def delete_pod(self, namespace: str, name: str, *, dry_run: bool = False) -> dict:
        pod = self.store.get("pods", namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        if dry_run:
            return pod
        gone = self.held.delete_pod(namespace, name)
        if gone is not None:
            return gone
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
        if prefix in self.held:
            return self.held.pods_of(prefix)
        return [p for p in self.store.items("pods", namespace)
                if self._deployment_key_of.get(p["metadata"]["name"]) == prefix]

    # -- the model's pods -----------------------------------------------------------------------

    def _sync_nodes(self) -> None:
        """Nodes change only when the kubelet's memory pressure (and its taint) does."""
        pressure = getattr(self.model, "kubelet_pressure", None)
        tainted = getattr(self.model, "tainted", None)
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
        touched: set[tuple[str, str]] = set()
        delta = self._slots.delta(self.model)
        if delta is None:
            truth = self._mirror_all(touched)
        else:
            truth = self._mirror_changed(delta, touched)
        for key in self.held.sync():
            ns, _, dep_name = key.partition("/")
            touched.add((ns, dep_name))
        self._readmit()
        if self._last_template and (delta is None or len(delta.gone)):
            live_keys = set(self._deployment_key_of.values())
            for key in [k for k in self._last_template if k not in live_keys]:
                del self._last_template[key]
        for ns, dep_name in touched:
            dep = self.store.get("deployments", ns, dep_name)
            if dep is not None:
                status = self._deployment_status(ns, dep)
                if status != dep.get("status"):
                    self.store.put("deployments", {**dep, "status": status})
        for ns in self.store.items("namespaces"):
            if ns["status"].get("phase") == "Terminating":
                name = ns["metadata"]["name"]
                marked = self._ns_deleted_at.setdefault(name, time.monotonic())
                if time.monotonic() - marked < NAMESPACE_CONTROLLER_DELAY_S:
                    continue
                for dep in self.store.items("deployments", name):
                    self._drop_deployment(name, dep["metadata"]["name"])
                    self.store.remove("deployments", name, dep["metadata"]["name"])
                if not self.store.items("pods", name):
                    self.events.forget_namespace(name)
                    self.store.remove("namespaces", "", name)
                    self._ns_deleted_at.pop(name, None)
        if self.model.now - self._events_expired >= 60.0:
            self._events_expired = float(self.model.now)
            self.events.expire()
        truth.evicted = len(truth.evicted_uids)
        changed = truth.row() != self._truth.row()
        self._truth = truth
        if changed:
            self._write_truth()

    def _readmit(self) -> None:
        """A held Deployment whose RuntimeClass appeared (or changed) runs now: the ReplicaSet
        controller's next try succeeds."""
        for held in list(self.held.by_key.values()):
            dep = self.store.get("deployments", held.namespace, held.name)
            if dep is None:
                continue
            rc_name = ((dep["spec"].get("template") or {}).get("spec") or {}).get(
                "runtimeClassName")
            rc = self.store.get("runtimeclasses", "", rc_name) if rc_name else None
            workload = workload_spec_from_deployment({"spec": dep["spec"]})
            adm = admit(dep, workload.runtime, rc, self._runtimes)
            if adm != held.admission:
                self._place(held.namespace, dep, workload)

    def _write_truth(self) -> None:
        if self._truth_out is not None:
            self._truth_out.write(
                f"{time.time():.3f},{self.model.now:.3f},{self.store.rv},"
                + ",".join(str(x) for x in self._truth.row()) + "\n")
            self._truth_out.flush()

    @property
    def truth(self) -> Truth:
        return self._truth
