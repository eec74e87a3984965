"""The model's pods mirrored into the Store, tick by tick: the part of SimState that turns the
pods that changed (podsync.py) or, after the table renumbered its slots, every pod, into pod
objects, watch events and the events the scheduler and the kubelet record, and keeps the
ground-truth counts the tests compare a driver's observations with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scaler.pod_state import PodClass, classify
from scaler.sim.views import classes, pod_view
from scaler.simserve import events as ev
from scaler.simserve import render
from scaler.simserve.podsync import Delta


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


class PodMirror:
    """Mixed into SimState, whose attributes it uses (model, store, events, _views...)."""

    model: Any
    store: Any
    events: ev.EventRecorder
    node_addresses: dict[str, str]
    _truth: Truth
    _views: dict[str, tuple]
    _pod_index: dict[str, int]
    _pod_serial: int
    _deployment_key_of: dict[str, str]
    _last_template: dict[str, dict]

    def _mirror_all(self, touched: set[tuple[str, str]]) -> Truth:
        """Compare every pod's view with the last one (the first tick, or after the model's
        pod table renumbered its slots)."""
        truth = Truth(evicted_uids=self._truth.evicted_uids)
        seen: set[str] = set()
        key_of = {}
        for v in self.model.pods():
            seen.add(v.name)
            key_of[v.name] = self._mirror(v, touched)
            self._classify(v, truth)
        for name in [n for n in self._views if n not in seen]:
            self._forget_pod(name, touched)
        self._deployment_key_of = key_of
        return truth

    def _mirror_changed(self, delta: Delta, touched: set[tuple[str, str]]) -> Truth:
        """Only the pods whose table columns changed (podsync.py); the counts from the
        table's status codes, classified as ``classify`` does."""
        if delta.live is None:  # nothing changed: the same counts
            return Truth(**{**vars(self._truth)})
        s = self.model.state
        for name in delta.gone:  # first: a name taken again since is a new pod
            self._forget_pod(name, touched)
        for i in delta.changed:
            v = pod_view(s, int(i))
            self._deployment_key_of[v.name] = self._mirror(v, touched)
            if classify(v.status()) is PodClass.EVICTED:
                self._truth.evicted_uids.add(v.uid)
        by_class = classes(s, delta.live)
        truth = Truth(evicted_uids=self._truth.evicted_uids, pods=len(delta.live))
        for cls, k in by_class.items():
            if cls is not PodClass.EVICTED:
                setattr(truth, cls.value, getattr(truth, cls.value) + k)
        return truth

    def _mirror(self, v, touched: set[tuple[str, str]]) -> str:
        """Render the pod of view ``v`` into the store if it changed; its Deployment key."""
        name = v.name
        key = str(render._f(v, "deployment", "deployment_key", "key", default="default/unknown"))
        ns, _, dep_name = key.partition("/")
        sig = render.pod_signature(v)
        old_sig = self._views.get(name)
        if old_sig == sig:
            return key
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
        pod = self.store.put("pods", render.render_pod(v, deployment=dep,
                                                        node_address=self.node_addresses,
                                                        pod_index=idx, runtime_overhead=overhead))
        self._pod_events(v, pod, old_sig)
        touched.add((ns, dep_name))
        return key

    def _forget_pod(self, name: str, touched: set[tuple[str, str]]) -> None:
        if self._views.pop(name, None) is None:
            return
        self._pod_index.pop(name, None)
        key = self._deployment_key_of.pop(name, "default/unknown")
        ns, _, dep_name = key.partition("/")
        self.store.remove("pods", ns, name)
        touched.add((ns, dep_name))

    def _pod_events(self, v, pod: dict, old_sig: tuple | None) -> None:
        """The events the scheduler and the kubelet record about a pod whose view changed:
        FailedScheduling each time the scheduler finds no node (the model counts one per new
        reason, as here), Evicted when the kubelet's eviction manager takes it."""
        node = render._f(v, "node")
        reason = render._f(v, "reason")
        message = render._f(v, "message")
        deleted = render._f(v, "deleted", "deleted_at", "deletion")
        if node is None and deleted is None and message and \
                pod["status"].get("phase") == "Pending":
            self.events.record(pod, "FailedScheduling", str(message), ev.SCHEDULER)
        elif reason == "Evicted" and (old_sig is None or old_sig[4] != "Evicted") and node:
            self.events.record(pod, "Evicted", str(message or "The node was low on resource: "
                                                   "memory."), ev.kubelet(str(node)))

    @staticmethod
    def _classify(v, truth: Truth) -> None:
        truth.pods += 1
        cls = classify(v.status())
        if cls is PodClass.EVICTED:
            truth.evicted_uids.add(v.uid)
        else:  # Truth has one counter per other class, named as the class
            setattr(truth, cls.value, getattr(truth, cls.value) + 1)
