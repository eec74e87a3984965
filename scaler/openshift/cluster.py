"""``OpenShiftCluster``: the engine's Cluster protocol on a real OpenShift or Kubernetes cluster.

Set-up and tear-down go through openshift-client; ``scale`` is a timed subprocess of the same
client (see client.py for why); observation reads a pod table kept current by a watch stream
(watch.py). Everything the run creates is labelled, and only what carries scaler's label is
touched unless ``adopt``.
"""

from __future__ import annotations

import json

from scaler.clock import WallClock
from scaler.cluster import ClusterError, ClusterInfo, ClusterUnresponsive, PodCounts
from scaler.kube_objects import MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, ManifestError, build
from scaler.openshift.client import KubeClient
from scaler.openshift.discover import runtime_class_info, server_version, worker_nodes
from scaler.openshift.errors import NOT_FOUND
from scaler.openshift.options import OpenShiftOptions, resolve_binary
from scaler.openshift.watch import PodWatcher
from scaler.workload_spec import WorkloadSpec

SIM_VERSION_SUFFIX = "-scaler-sim"


class OpenShiftCluster:
    def __init__(self, options: OpenShiftOptions, *, watch_timeout_s: int = 300) -> None:
        self.options = options
        self.clock = WallClock()
        self.binary = resolve_binary(options.client_binary)
        self.client = KubeClient(self.binary, kubeconfig=options.kubeconfig,
                                 context=options.context, op_timeout_s=options.op_timeout_s)
        self._watch_timeout_s = watch_timeout_s
        self._watcher: PodWatcher | None = None
        self._created: list[tuple[str, str]] = []  # (kind, name) this run created, in order
        self._deployment_ours = False
        self._runtime_class: dict | None = None
        self._cleaned = False
        self._version: str | None = None

    @property
    def ns(self) -> str:
        return self.options.namespace

    @property
    def deployment(self) -> str:
        return self.options.deployment

    # -- discovery -------------------------------------------------------------------------------

    def describe(self) -> ClusterInfo:
        version = self.client.get_json(["get", "--raw", "/version"], purpose="describe")
        self._version = server_version(version or {})
        details = {"client": self.binary, "namespace": self.ns, "deployment": self.deployment,
                   # ``scaler sim serve`` says what it is in its version: outputs must say so too
                   "simulator": self._version.endswith(SIM_VERSION_SUFFIX)}
        ocp = self.client.get_json(["get", "clusterversion", "version"], purpose="describe",
                                   accept_missing=True) if self._is_openshift() else None
        if ocp:
            details["openshift_version"] = (ocp.get("status") or {}).get("desired", {}).get("version")
        nodes = self.client.get_json(["get", "nodes"], purpose="describe") or {}
        rcs = self.client.get_json(["get", "runtimeclasses"], purpose="describe",
                                   accept_missing=True) or {}
        details["runtime_classes"] = {
            (o.get("metadata") or {}).get("name"): runtime_class_info(o) for o in rcs.get("items") or []}
        return ClusterInfo(kind="openshift", version=self._version, nodes=worker_nodes(nodes),
                           runtime_class=self._runtime_class, details=details)

    def _is_openshift(self) -> bool:
        apis = self.client.get_json(["get", "--raw", "/apis"], purpose="describe") or {}
        return any(g.get("name") == "config.openshift.io" for g in apis.get("groups") or [])

    # -- set-up ----------------------------------------------------------------------------------

    def prepare(self, spec: WorkloadSpec) -> None:
        try:
            docs = build(spec, namespace=self.ns, deployment=self.deployment,
                         run_id=self.options.run_id, image=self.options.image, replicas=0)
        except ManifestError as e:
            raise ClusterError(f"invalid manifest: {e}") from None

        if self._namespace_gone_or_wait() is None:
            self._apply(docs.namespace)
            self._created.append(("namespace", self.ns))

        if spec.runtime_class:
            rc = self.client.get_json(["get", "runtimeclass", spec.runtime_class],
                                      purpose="prepare", accept_missing=True)
            if rc is None:
                if docs.runtime_class is None:
                    raise ClusterError(f"RuntimeClass {spec.runtime_class!r} not found on the "
                                       "cluster, and scaler ships none by that name")
                self._apply(docs.runtime_class)
                self._created.append(("runtimeclass", spec.runtime_class))
                rc = docs.runtime_class
            self._runtime_class = runtime_class_info(rc)

        existing = self.client.get_json(["get", "deployment", self.deployment, "-n", self.ns],
                                        purpose="prepare", accept_missing=True)
        if existing is not None:
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if labels.get(MANAGED_BY_LABEL) != MANAGED_BY and not self.options.adopt:
                raise ClusterError(
                    f"Deployment {self.ns}/{self.deployment} exists and was not created by scaler "
                    f"(no {MANAGED_BY_LABEL}={MANAGED_BY} label): pass --adopt to take it over")
        self._apply(docs.deployment)
        self._deployment_ours = existing is None or (
            ((existing.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY)
        if ("deployment", self.deployment) not in self._created:
            self._created.append(("deployment", self.deployment))

        selector = f"{NAME_LABEL}={self.deployment}"
        self._watcher = PodWatcher(self.client, self.ns, selector,
                                   watch_timeout_s=self._watch_timeout_s)
        self._watcher.start()
        if not self._watcher.synced.wait(self.options.op_timeout_s):
            self._check_watcher()
            raise ClusterUnresponsive(
                f"listing pods took longer than {self.options.op_timeout_s:g} s (--op-timeout)")
        self._check_watcher()

    def _namespace_gone_or_wait(self) -> dict | None:
        """The namespace, or None when it does not exist. One still being deleted (e.g. by the
        previous run's clean-up) is waited for, since nothing can be created in it."""
        deadline = self.clock.monotonic() + self.options.op_timeout_s
        while True:
            ns = self.client.get_json(["get", "namespace", self.ns], purpose="prepare",
                                      accept_missing=True)
            if ns is None or (ns.get("status") or {}).get("phase") != "Terminating":
                return ns
            if self.clock.monotonic() > deadline:
                raise ClusterUnresponsive(
                    f"namespace {self.ns} is still terminating after {self.options.op_timeout_s:g} s "
                    "(--op-timeout); choose another with -n/--namespace")
            self.clock.sleep(1.0)

    def _apply(self, doc: dict) -> None:
        self.client.call(["apply", "-f", "-"], purpose="prepare", stdin=json.dumps(doc))

    # -- the run ---------------------------------------------------------------------------------

    def scale(self, replicas: int) -> None:
        self.client.call(["scale", f"deployment/{self.deployment}", f"--replicas={replicas}",
                          "-n", self.ns], purpose="scale", timed=True)

    def observe(self) -> PodCounts:
        if self._watcher is None:
            return PodCounts(api_errors=self.client.counters.api_errors)
        self._check_watcher()
        return self._watcher.counts(self.client.counters.api_errors)

    def _check_watcher(self) -> None:
        w = self._watcher
        if w is None:
            return
        if w.fatal:
            raise ClusterError(w.fatal)
        if w.failing_since is not None and \
                self.clock.monotonic() - w.failing_since > self.options.op_timeout_s:
            raise ClusterUnresponsive(
                f"the pod watch has failed for more than {self.options.op_timeout_s:g} s "
                "(--op-timeout)")

    def node_source(self):
        return None

    # -- tear-down -------------------------------------------------------------------------------

    def cleanup(self, keep: bool = False) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self._cleaned or keep:
            self._cleaned = True
            return
        self._cleaned = True
        created = dict.fromkeys(self._created)
        if ("deployment", self.deployment) in created:
            self.client.call(["scale", f"deployment/{self.deployment}", "--replicas=0", "-n", self.ns],
                             purpose="cleanup", accept=(NOT_FOUND,))
            if self._deployment_ours:
                self.client.call(["delete", "deployment", self.deployment, "-n", self.ns,
                                  "--ignore-not-found", "--wait=false"], purpose="cleanup")
        for kind, name in reversed(self._created):
            if kind == "namespace":
                self.client.call(["delete", "namespace", name, "--ignore-not-found", "--wait=false"],
                                 purpose="cleanup")
            elif kind == "runtimeclass":
                self.client.call(["delete", "runtimeclass", name, "--ignore-not-found",
                                  "--wait=false"], purpose="cleanup")

    def stats(self) -> dict:
        c = self.client.counters
        w = self._watcher
        with c.lock:
            out = {
                "client": self.binary,
                "requests": dict(c.requests),
                "response_bytes": dict(c.bytes),
                "observe_requests": c.requests.get("observe", 0),
                "observe_bytes": c.bytes.get("observe", 0),
                "retries": c.retries,
                "api_errors": c.api_errors,
                "runtime_class": self._runtime_class,
            }
        if w is not None:
            out.update({"watch_streams": w.watches, "pod_lists": w.lists, "watch_events": w.events,
                        "watch_resyncs": w.resyncs})
        return out
