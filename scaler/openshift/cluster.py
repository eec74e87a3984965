"""``OpenShiftCluster``: the engine's Cluster protocol on a real OpenShift or Kubernetes cluster.

Set-up and tear-down go through openshift-client; ``scale`` is a timed subprocess of the same
client (see client.py for why); observation reads a pod table and an event tally, each kept
current by a watch stream (watch.py). Before creating anything the run asks the API what it may
do (access.py) and refuses with one line when it may not. Everything the run creates is
labelled, and only what this run created is deleted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from typing import Any

from collectors.sample import NodeSource
from scaler.clock import WallClock
from scaler.cluster import ClusterError, ClusterInfo, ClusterUnresponsive, PodCounts, PodLifecycle
from scaler.kube_objects import NAME_LABEL, RUN_LABEL, ManifestError, build
from scaler.openshift import access
from scaler.openshift.client import KubeClient
from scaler.openshift.discover import runtime_class_info, server_version, worker_nodes
from scaler.openshift.errors import FORBIDDEN, NOT_FOUND
from scaler.openshift.events import EventTally, FailureCounts, Refusals, routine_field_selector
from scaler.openshift.options import OpenShiftOptions, check_names, resolve_binary
from scaler.openshift.setup import KEPT_ANNOTATION, Found, lookup, ownership, wait_while_deleting
from scaler.openshift.watch import PodWatcher, Watcher
from scaler.pod_lifecycle import LifecycleLog
from scaler.workload_spec import WorkloadSpec

SIM_VERSION_SUFFIX = "-scaler-sim"
CLEANUP_AFTER_OUTAGE_S = 10.0  # one short try per call once the cluster stopped answering

log = logging.getLogger(__name__)


class OpenShiftCluster:
    def __init__(self, options: OpenShiftOptions, *, watch_timeout_s: int = 300) -> None:
        check_names(options)
        self.options = options
        self.clock = WallClock()
        self.binary = resolve_binary(options.client_binary)
        self.client = KubeClient(self.binary, kubeconfig=options.kubeconfig,
                                 context=options.context, op_timeout_s=options.op_timeout_s,
                                 namespace=options.namespace)
        self._watch_timeout_s = watch_timeout_s
        self.tally = EventTally(f"{options.deployment}-")
        self._pods: PodWatcher | None = None
        self._events: Watcher | None = None
        self._created: list[tuple[str, str]] = []  # (kind, name) this run created, in order
        self._deployment_ours = False
        self._deployment_taken = False  # applied by this run (created or adopted)
        self._runtime_class: dict[str, Any] | None = None
        self._cleaned = False
        self._unresponsive = False
        self._version: str | None = None
        self._lifecycle_log = LifecycleLog()
        self._access: dict[str, Any] = {}
        self._failures = FailureCounts()
        self._evicted_listed = 0
        self._requested = 0
        # every pod refused for this long ends the run (it could measure nothing)
        self._refusals = Refusals(patience_s=options.op_timeout_s)

    @property
    def ns(self) -> str:
        return self.options.namespace

    @property
    def deployment(self) -> str:
        return self.options.deployment

    @property
    def run_id(self) -> str:
        return self.options.run_id or "manual"  # as scaler.kube_objects labels it

    # -- discovery -------------------------------------------------------------------------------

    def describe(self) -> ClusterInfo:
        version = self.client.get_json(["get", "--raw", "/version"], purpose="describe")
        self._version = server_version(version or {})
        details: dict[str, Any] = {"client": self.binary, "namespace": self.ns,
                         "deployment": self.deployment,
                         # ``scaler sim serve`` says what it is in its version: outputs say so too
                         "simulator": self._version.endswith(SIM_VERSION_SUFFIX)}
        if self._is_openshift():
            ocp = self._readable(["get", "clusterversion", "version"])
            if ocp:
                details["openshift_version"] = (ocp.get("status") or {}).get("desired", {}).get(
                    "version")
        nodes = self._readable(["get", "nodes"])
        if nodes is None:
            # a namespace-scoped user may not list nodes: the run goes on, without node names
            details["nodes"] = "not visible to this user (give node addresses with --node)"
        rcs = self._readable(["get", "runtimeclasses"])
        # None: this user may not list them (so nothing can be concluded from their absence)
        details["runtime_classes"] = None if rcs is None else {
            (o.get("metadata") or {}).get("name"): runtime_class_info(o)
            for o in rcs.get("items") or []}
        if self.options.runtime_class_manifests:
            details["runtime_class_manifests"] = sorted(self.options.runtime_class_manifests)
        return ClusterInfo(kind="openshift", version=self._version,
                           nodes=worker_nodes(nodes or {}), runtime_class=self._runtime_class,
                           details=details)

    def _readable(self, args: list[str]) -> dict[str, Any] | None:
        """``get`` as JSON; None when missing or not ours to read."""
        out, failure = self.client.call([*args, "-o", "json"], purpose="describe",
                                        accept=(NOT_FOUND, FORBIDDEN))
        return None if failure is not None else json.loads(out.stdout)

    def _is_openshift(self) -> bool:
        apis = self.client.get_json(["get", "--raw", "/apis"], purpose="describe") or {}
        return any(g.get("name") == "config.openshift.io" for g in apis.get("groups") or [])

    # -- set-up ----------------------------------------------------------------------------------

    def prepare(self, spec: WorkloadSpec) -> None:
        try:
            docs = build(spec, namespace=self.ns, deployment=self.deployment,
                         run_id=self.run_id, image=self.options.image, replicas=0)
        except ManifestError as e:
            raise ClusterError(f"invalid manifest: {e}") from None
        rc_name = spec.runtime_class
        rc_doc = (self.options.runtime_class_manifests.get(rc_name) or docs.runtime_class) \
            if rc_name else None
        # 1. what is there, and what this user may do: nothing is created before both are known
        ns = self._unless_deleting(["get", "namespace", self.ns], f"namespace {self.ns}")
        rc = lookup(self.client, ["get", "runtimeclass", rc_name]) if rc_name else Found(None)
        situation = access.Situation(
            namespace=self.ns, namespace_exists=ns.exists, runtime_class=rc_name,
            runtime_class_exists=rc.exists if rc_name else None,
            runtime_class_manifest=rc_doc is not None,
            shipped_by=access.INSTALLERS.get(rc_name or ""))
        problems, self._access = access.check(self.client, situation)
        if problems:
            raise ClusterError("; ".join(problems))
        existing = Found(False) if ns.exists is False else self._unless_deleting(
            ["get", "deployment", self.deployment, "-n", self.ns],
            f"Deployment {self.ns}/{self.deployment}")
        own = ownership(existing.doc, namespace=self.ns, deployment=self.deployment,
                        run_id=self.run_id, adopt=self.options.adopt)
        if own.refusal:
            raise ClusterError(own.refusal)

        # 2. create what is missing, in dependency order (each recorded before it is asked
        # for: a call that fails after the server acted still leaves it to clean up)
        if ns.exists is False:
            self._created.append(("namespace", self.ns))
            self._apply(docs.namespace)
        if rc_name:
            if rc.exists is False:
                assert rc_doc is not None  # else access.problems refused the run
                self._created.append(("runtimeclass", rc_name))
                self._apply(rc_doc)
            if rc.exists is None:
                log.warning("you may not read RuntimeClass %s: if it is missing, every pod is "
                            "refused (FailedCreate, counted)", rc_name)
            known = rc.doc or rc_doc
            self._runtime_class = runtime_class_info(known) if rc.exists is not None and known \
                else {"name": rc_name, "handler": None, "overhead": {},
                      "note": "not readable by this user"}
        self._deployment_taken = True
        self._deployment_ours = own.ours
        if ("deployment", self.deployment) not in self._created:
            self._created.append(("deployment", self.deployment))
        self._apply(docs.deployment)
        if own.adopted and ((existing.doc or {}).get("metadata") or {}).get(
                "annotations", {}).get(KEPT_ANNOTATION):
            self.client.call(["annotate", "deployment", self.deployment, "-n", self.ns,
                              f"{KEPT_ANNOTATION}-"], purpose="prepare", accept=(NOT_FOUND,))

        # 3. observation: the run's pods, and the cluster's events about them
        self._pods = PodWatcher(self.client, self.ns,
                                f"{NAME_LABEL}={self.deployment},{RUN_LABEL}={self.run_id}",
                                watch_timeout_s=self._watch_timeout_s)
        self._events = Watcher(self.client, f"/api/v1/namespaces/{self.ns}/events", self.tally,
                               field_selector=routine_field_selector(),
                               watch_timeout_s=self._watch_timeout_s, purpose="events",
                               optional=True)
        self._pods.start()
        self._events.start()
        # both first lists before the first scale: what the events say before it is history
        for w, what in ((self._pods, "listing pods"), (self._events, "listing events")):
            if not w.synced.wait(self.options.op_timeout_s):
                self._check_watcher()
                raise self._unresponsive_error(
                    f"{what} took longer than {self.options.op_timeout_s:g} s (--op-timeout)")
        self._check_watcher()

    def _unless_deleting(self, args: list[str], what: str) -> Found:
        return wait_while_deleting(self.client, args, what, timeout_s=self.options.op_timeout_s,
                                   monotonic=self.clock.monotonic, sleep=self.clock.sleep)

    def _apply(self, doc: dict[str, Any]) -> None:
        self.client.call(["apply", "-f", "-"], purpose="prepare", stdin=json.dumps(doc))

    # -- the run ---------------------------------------------------------------------------------

    def scale(self, replicas: int) -> None:
        try:
            _, gone = self.client.call(["scale", f"deployment/{self.deployment}",
                                        f"--replicas={replicas}", "-n", self.ns],
                                       purpose="scale", timed=True, accept=(NOT_FOUND,))
        except ClusterUnresponsive:
            self._unresponsive = True
            raise
        self._requested = replicas
        if gone is not None:
            raise ClusterError(
                f"scale: {gone.message}: the run's Deployment was deleted behind its back, or "
                "the cluster lost its state (an API server or etcd restored from an older state)")

    def observe(self) -> PodCounts:
        api_errors = self.client.counters.api_errors
        if self._pods is None:
            return PodCounts(api_errors=api_errors)
        self._check_watcher()
        counts = self._pods.counts(api_errors)
        self._evicted_listed = self._pods.table.evicted_listed
        if self._events is not None:
            with self._events.lock:
                self._failures = self.tally.counts()
        pods = (counts.running + counts.pending + counts.creating + counts.terminating
                + counts.failed + self._evicted_listed)
        refused = self._refusals.update(self.clock.monotonic(), self._requested, pods,
                                        self._failures)
        if refused:
            raise ClusterError(refused)
        f = self._failures
        return replace(counts, failed_create=f.failed_create,
                       failed_scheduling=f.failed_scheduling, sandbox_failures=f.sandbox_failures,
                       sandbox_deaths=f.sandbox_deaths)

    def failures(self) -> tuple[FailureCounts, int]:
        """The cluster's account of failures and the Evicted pods listed, as of the last
        ``observe`` (contract 3's counts)."""
        return self._failures, self._evicted_listed

    def _check_watcher(self) -> None:
        w = self._pods
        if w is None:
            return
        if w.fatal:
            raise ClusterError(w.fatal)
        if w.failing_since is not None and \
                self.clock.monotonic() - w.failing_since > self.options.op_timeout_s:
            raise self._unresponsive_error(
                f"the pod watch has failed for more than {self.options.op_timeout_s:g} s "
                "(--op-timeout)")

    def _unresponsive_error(self, what: str) -> ClusterUnresponsive:
        self._unresponsive = True
        return self.client.unresponsive(what)

    def pod_lifecycles(self) -> list[PodLifecycle]:
        """The pods' lifecycle changes since the previous call, from the watched pod table."""
        if self._pods is None:
            return []
        return self._lifecycle_log.changes(self._pods.lifecycles(), self.clock.now())

    def node_source(self) -> NodeSource | None:
        return None

    # -- tear-down -------------------------------------------------------------------------------

    def cleanup(self, keep: bool = False) -> None:
        for w in (self._pods, self._events):
            if w is not None:
                w.stop()
        if self._cleaned:
            return
        self._cleaned = True
        if self._unresponsive:
            # the cluster stopped answering: one short try per call, then say what is left
            self.client.op_timeout_s = min(self.client.op_timeout_s, CLEANUP_AFTER_OUTAGE_S)
        done: list[tuple[str, str]] = []
        try:
            if keep:
                if self._deployment_taken:
                    self.client.call(["annotate", "deployment", self.deployment, "-n", self.ns,
                                      f"{KEPT_ANNOTATION}={self.run_id}", "--overwrite"],
                                     purpose="cleanup", accept=(NOT_FOUND,))
                return
            if self._deployment_taken:
                self.client.call(["scale", f"deployment/{self.deployment}", "--replicas=0",
                                  "-n", self.ns], purpose="cleanup", accept=(NOT_FOUND,))
            for kind, name in reversed(self._created):
                if kind == "deployment" and not self._deployment_ours:
                    continue  # adopted: scaled to 0, never deleted
                target = [kind, name, "-n", self.ns] if kind == "deployment" else [kind, name]
                self.client.call(["delete", *target, "--ignore-not-found", "--wait=false"],
                                 purpose="cleanup", accept=(NOT_FOUND,))
                done.append((kind, name))
        except ClusterError as e:
            left = [f"{k} {self.ns}/{n}" if k == "deployment" else f"{k} {n}"
                    for k, n in reversed(self._created)
                    if (k, n) not in done and (k != "deployment" or self._deployment_ours)]
            if left and not keep:
                raise type(e)(f"{e}; left in place: {', '.join(left)}") from None
            raise

    def stats(self) -> dict[str, Any]:
        c = self.client.counters
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
                "access": self._access,
            }
        w = self._pods
        if w is not None:
            out.update({"watch_streams": w.watches, "pod_lists": w.lists, "watch_events": w.events,
                        "watch_resyncs": w.resyncs})
        e = self._events
        if e is not None:
            out["events"] = {
                "watch_streams": e.watches, "lists": e.lists, "events": e.events,
                "resyncs": e.resyncs, "unavailable": e.unavailable,
                "server_filter": e.field_selector is not None,
                "failures": asdict(self._failures), "by_reason": dict(self.tally.by_reason)}
            out["evicted_listed"] = self._evicted_listed
        return out
