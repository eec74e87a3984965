"""Deployments whose pods the model cannot run, held by the front (see admission.py).

- Refused at admission (missing RuntimeClass): no pod exists; the ReplicaSet controller tries
  again with its rate limiter's back-off (client-go workqueue
  ``DefaultControllerRateLimiter``: 5 ms doubling per failure, at most 1000 s) and each failed
  attempt records one ``FailedCreate`` on the ReplicaSet (the first failure ends a
  slow-start batch, so one per attempt).
- Sandbox never made (a handler no node has): the pods exist, bound round-robin to the
  workers, Pending in ContainerCreating; their kubelet retries the sandbox and records
  ``FailedCreatePodSandBox`` each time (pod workers back off likewise, here 10 s doubling to
  5 minutes, kubelet's ``backOffPeriod``/``MaxContainerBackOff``).

Pure bookkeeping driven by ``sync`` with the model's clock; the objects go into the Store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from scaler.sim.views import PodView
from scaler.simserve import events as ev
from scaler.simserve.admission import Admission, sandbox_failure_message
from scaler.simserve.render import pod_uid, render_pod, replicaset_name
from scaler.simserve.store import Store

RS_BACKOFF_BASE_S = 0.005
RS_BACKOFF_MAX_S = 1000.0
SANDBOX_BACKOFF_BASE_S = 10.0
SANDBOX_BACKOFF_MAX_S = 300.0


@dataclass
class HeldPod:
    name: str
    node: str
    created: float
    next_try: float
    failures: int = 0


@dataclass
class Held:
    namespace: str
    name: str
    admission: Admission
    deployment: dict
    replicas: int
    failures: int = 0
    next_try: float = 0.0
    pods: dict[str, HeldPod] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def replicaset(self) -> dict:
        """The ReplicaSet as an event's ``involvedObject`` names it (same name and uid as the
        pods' owner reference)."""
        rs = replicaset_name(self.deployment)
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs, "namespace": self.namespace, "uid": pod_uid(rs)}}


class HeldDeployments:
    def __init__(self, store: Store, recorder: ev.EventRecorder, now: Callable[[], float],
                 workers: Callable[[], list[str]], node_address: dict[str, str]) -> None:
        self.store = store
        self.recorder = recorder
        self.now = now
        self.workers = workers
        self.node_address = node_address
        self.by_key: dict[str, Held] = {}
        self._next_node = 0
        self._serial = 0

    def __contains__(self, key: str) -> bool:
        return key in self.by_key

    def hold(self, namespace: str, deployment: dict, admission: Admission) -> None:
        name = deployment["metadata"]["name"]
        key = f"{namespace}/{name}"
        old = self.by_key.get(key)
        replicas = int(deployment["spec"].get("replicas", 1))
        if old is not None and replicaset_name(old.deployment) == replicaset_name(deployment) \
                and old.admission == admission:
            old.deployment, old.replicas = deployment, replicas
            old.next_try = min(old.next_try, self.now())  # a change: the controller syncs now
            return
        if old is not None:
            self.release(key)
        self.by_key[key] = Held(namespace, name, admission, deployment, replicas,
                                next_try=self.now())

    def set_replicas(self, key: str, replicas: int) -> None:
        h = self.by_key[key]
        h.replicas = replicas
        h.deployment = {**h.deployment, "spec": {**h.deployment["spec"], "replicas": replicas}}
        h.next_try = min(h.next_try, self.now())

    def release(self, key: str) -> None:
        """Stop holding ``key`` (deleted, or now runnable by the model): its pods go."""
        h = self.by_key.pop(key, None)
        if h is None:
            return
        for name in h.pods:
            self.store.remove("pods", h.namespace, name)

    def owner_of(self, namespace: str, pod: str) -> Held | None:
        for h in self.by_key.values():
            if h.namespace == namespace and pod in h.pods:
                return h
        return None

    def delete_pod(self, namespace: str, pod: str) -> dict | None:
        """A held pod deleted through the API: it goes at once (no container ever ran) and
        the ReplicaSet makes another."""
        h = self.owner_of(namespace, pod)
        if h is None:
            return None
        del h.pods[pod]
        h.next_try = self.now()
        return self.store.remove("pods", namespace, pod)

    def pods_of(self, key: str) -> list[dict]:
        h = self.by_key.get(key)
        if h is None:
            return []
        return [p for n in h.pods if (p := self.store.get("pods", h.namespace, n)) is not None]

    def sync(self) -> set[str]:
        """Advance every held Deployment to now; the keys whose pods changed."""
        t = self.now()
        touched = set()
        for h in self.by_key.values():
            if h.admission.missing is not None:
                self._refuse(h, t)
            elif self._sandboxes(h, t):
                touched.add(h.key)
        return touched

    def _refuse(self, h: Held, t: float) -> None:
        if h.replicas <= 0 or t < h.next_try:
            return
        self.recorder.record(h.replicaset(), "FailedCreate", h.admission.missing or "",
                             ev.REPLICASET_CONTROLLER)
        h.next_try = t + min(RS_BACKOFF_MAX_S, RS_BACKOFF_BASE_S * 2 ** h.failures)
        h.failures += 1

    def _sandboxes(self, h: Held, t: float) -> bool:
        changed = False
        while len(h.pods) > h.replicas:  # scale down: the newest go first
            name = next(reversed(h.pods))
            del h.pods[name]
            self.store.remove("pods", h.namespace, name)
            changed = True
        workers = self.workers()
        while len(h.pods) < h.replicas and workers:
            self._serial += 1
            rs = replicaset_name(h.deployment)
            name = f"{rs}-{uuid.uuid5(uuid.NAMESPACE_OID, f'{rs}/{self._serial}').hex[:5]}"
            node = workers[self._next_node % len(workers)]
            self._next_node += 1
            pod = h.pods[name] = HeldPod(name, node, t, t)
            self.store.put("pods", self._render(h, pod))
            changed = True
        message = sandbox_failure_message(h.admission.handler or "")
        for pod in h.pods.values():
            if t >= pod.next_try:
                obj = self.store.get("pods", h.namespace, pod.name)
                if obj is not None:
                    self.recorder.record(obj, "FailedCreatePodSandBox", message,
                                         ev.kubelet(pod.node))
                pod.next_try = t + min(SANDBOX_BACKOFF_MAX_S,
                                       SANDBOX_BACKOFF_BASE_S * 2 ** pod.failures)
                pod.failures += 1
        return changed

    def _render(self, h: Held, pod: HeldPod) -> dict:
        template = (h.deployment["spec"].get("template") or {})
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        rc = ((template.get("spec") or {}).get("runtimeClassName"))
        view = PodView(name=pod.name, uid=pod_uid(f"{h.key}/{pod.name}"), deployment=h.key,
                       node=pod.node, phase="Pending", reason=None, message=None, ready=False,
                       container_state="waiting", container_reason="ContainerCreating",
                       container_exit_code=None, last_terminated_reason=None,
                       last_exit_code=None, restarts=0, created=pod.created,
                       scheduled=pod.created, started=None, ready_at=None, deleted=None,
                       runtime_class=rc, labels=labels)
        obj = render_pod(view, deployment=h.deployment, node_address=self.node_address,
                         pod_index=0, runtime_overhead=None)
        obj["status"].pop("podIP", None)  # no sandbox, no network namespace, no address
        return obj
