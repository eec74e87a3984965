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

#: the --truth file's header: the time, then ``Truth.row()``
TRUTH_HEADER = ("wall_time,model_time,resource_version,running,pending,creating,terminating,evicted,"
                "failed,pods,oom_killed,sandbox_deaths,sandbox_failures\n")


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
    # cumulative over every Deployment the model ran, from its own counters (what the kubelet's
    # events and the pods' statuses should add up to): container OOM kills, sandboxes (kata VMs)
    # lost, sandbox set-ups that failed
    oom_killed: int = 0
    sandbox_deaths: int = 0
    sandbox_failures: int = 0
    evicted_uids: set = field(default_factory=set)

    def row(self) -> tuple:
        return (self.running, self.pending, self.creating, self.terminating, self.evicted,
                self.failed, self.pods, self.oom_killed, self.sandbox_deaths,
                self.sandbox_failures)

    def count_failures(self, model: Any) -> None:
        """The model's own failure counters (nothing when the model keeps none)."""
        deps = getattr(getattr(model, "state", None), "dep_list", None) or []
        self.oom_killed = sum(int(getattr(d, "oom_killed", 0)) for d in deps)
        self.sandbox_deaths = sum(int(getattr(d, "vm_deaths", 0)) for d in deps)
        self.sandbox_failures = sum(int(getattr(d, "sandbox_failures", 0)) for d in deps)


#: a pod the mirror has not seen: its kubelet counters (restarts, failed sandbox set-ups, system
#: OOM kills, deleting) start from nothing
NEW_POD = (0, 0, 0, False)


def kubelet_counters(v) -> tuple[int, int, int, bool]:
    return (int(render._f(v, "restarts", default=0) or 0),
            int(getattr(v, "sandbox_failures", 0) or 0), int(getattr(v, "system_ooms", 0) or 0),
            render._f(v, "deleted", "deleted_at", "deletion") is not None)


def sandbox_failure_message(v) -> str:
    """FailedCreatePodSandBox's message as CRI-O reports it: a kata VM whose QEMU found no room
    in /dev/shm for the guest's RAM, or a set-up that ran past the CRI call's timeout
    (``runtime_request_timeout_s``)."""
    if getattr(v, "sandbox_failure_cause", None) == "no-shm":
        return ("Failed to create pod sandbox: rpc error: code = Unknown desc = CreateContainer "
                "failed: failed to launch qemu: exit status 1, error messages from qemu log: "
                "qemu-kvm: unable to map backing store for guest RAM: Cannot allocate memory")
    return "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context " \
           "deadline exceeded"


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
    _kubelet_seen: dict[str, tuple[int, int, int, bool]]

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
        counters = kubelet_counters(v)
        old_counters = self._kubelet_seen.get(name, NEW_POD)
        if counters != old_counters:
            self._kubelet_seen[name] = counters
        if old_sig == sig:
            if counters != old_counters:  # a failed sandbox set-up: no change to the object
                pod = self.store.get("pods", ns, name)
                if pod is not None:
                    self._kubelet_events(v, pod, old_counters, counters)
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
        if counters != old_counters:
            self._kubelet_events(v, pod, old_counters, counters)
        touched.add((ns, dep_name))
        return key

    def _forget_pod(self, name: str, touched: set[tuple[str, str]]) -> None:
        if self._views.pop(name, None) is None:
            return
        self._pod_index.pop(name, None)
        self._kubelet_seen.pop(name, None)
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

    def _kubelet_events(self, v, pod: dict, old: tuple[int, int, int, bool],
                        new: tuple[int, int, int, bool]) -> None:
        """The kubelet's events about a pod whose counters moved since the last sync, one
        occurrence per step of a counter (several restarts between two syncs are all put down to
        the latest termination's reason, the only one the pod shows).

        What a real kubelet records (pkg/kubelet/events/event.go reasons):

        - a failed sandbox set-up: ``FailedCreatePodSandBox`` (Warning) "Failed to create pod
          sandbox: rpc error: ..." (kuberuntime_manager.go SyncPod), once per attempt;
        - a sandbox that died (a kata VM gone: QEMU killed, /dev/shm full): ``SandboxChanged``
          (Normal) "Pod sandbox changed, it will be killed and re-created." when SyncPod finds
          it not ready;
        - a container OOM-killed at its cgroup's limit: **no event**; the pod's container status
          says ``lastState.terminated.reason: OOMKilled`` (exit 137), kubernetes#53669;
        - a kill by the node's kernel OOM killer (the root cgroup's limit): ``SystemOOM``
          (Warning) on the Node, "System OOM encountered, victim process: NAME, pid: N"
          (kubelet oom_watcher_linux.go, victim in "/": kubernetes#88871, message #78174);
          ``OOMKilling`` comes only from node-problem-detector, which OpenShift does not run;
        - a container waiting out its restart back-off: ``BackOff`` (Warning) "Back-off
          restarting failed container NAME in pod POD_NS(UID)" (the real kubelet repeats it at
          each pod sync during the back-off; here once per restart that waits);
        - a pod being deleted: ``Killing`` (Normal) "Stopping container NAME".
        """
        restarts, fails, ooms, deleting = new
        node = render._f(v, "node")
        if node is None:
            return
        src = ev.kubelet(str(node))
        meta = pod["metadata"]
        container = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "workload")
        for _ in range(max(0, fails - old[1])):
            self.events.record(pod, "FailedCreatePodSandBox", sandbox_failure_message(v), src)
        for _ in range(max(0, ooms - old[2])):
            victim = "qemu-kvm" if getattr(v, "vm", False) else container
            pid = 1000 + int(str(meta.get("uid", "0")).replace("-", "")[:4] or "0", 16) % 60000
            node_obj = self.store.get("nodes", "", str(node))
            if node_obj is not None:
                self.events.record(node_obj, "SystemOOM", f"System OOM encountered, victim "
                                   f"process: {victim}, pid: {pid}", src)
        died = max(0, restarts - old[0])
        if died and getattr(v, "vm", False) and render._f(v, "last_terminated_reason") == "Error":
            for _ in range(died):
                self.events.record(pod, "SandboxChanged", "Pod sandbox changed, it will be "
                                   "killed and re-created.", src, type_="Normal")
        if died and render._f(v, "container_reason") == "CrashLoopBackOff":
            self.events.record(pod, "BackOff", f"Back-off restarting failed container "
                               f"{container} in pod {meta['name']}_{meta.get('namespace', '')}"
                               f"({meta.get('uid', '')})", src)
        if deleting and not old[3]:
            self.events.record(pod, "Killing", f"Stopping container {container}", src,
                               type_="Normal")

    @staticmethod
    def _classify(v, truth: Truth) -> None:
        truth.pods += 1
        cls = classify(v.status())
        if cls is PodClass.EVICTED:
            truth.evicted_uids.add(v.uid)
        else:  # Truth has one counter per other class, named as the class
            setattr(truth, cls.value, getattr(truth, cls.value) + 1)
