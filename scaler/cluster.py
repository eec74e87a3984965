"""The one seam between the engine and a cluster: the ``Cluster`` protocol and its records.

The engine knows only this protocol and ``collectors.NodeSource``. ``scaler.sim`` implements it in
virtual time; ``scaler.openshift`` implements it with openshift-client against a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from collectors.sample import NodeSource
from scaler.clock import Clock
from scaler.workload_spec import WorkloadSpec


class ClusterError(RuntimeError):
    """A cluster operation failed in a way the run cannot continue past (message is for users)."""


class ClusterUnresponsive(ClusterError):
    """An operation took longer than --op-timeout; the run ends with reason cluster-unresponsive."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    address: str | None
    cpu_millis: int
    memory_mib: float
    allocatable_cpu_millis: int
    allocatable_memory_mib: float
    max_pods: int
    role: str = "worker"


@dataclass(frozen=True)
class ClusterInfo:
    """What the metadata sidecar says about the cluster a run drove."""

    kind: str  # "simulated" or "openshift"
    version: str
    nodes: tuple[NodeInfo, ...]
    runtime_class: dict[str, Any] | None = None  # name, handler, overhead; None: the default
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the simulator profile used
    # The handler the cluster runs pods without a RuntimeClass with (runc, crun, ...), when it
    # can be learnt; recorded as the run's ``runtime_handler`` for a default-runtime run.
    default_runtime_handler: str | None = None
    # A VM runtime's configured guest memory (kata's default_memory), MiB, when the cluster
    # tells it (the simulator does; a real cluster's configuration is on its nodes).
    vm_memory_mib: float | None = None

    def runtime_handler(self) -> str | None:
        """The handler the run's pods run under: the RuntimeClass's, else the default one."""
        if self.runtime_class is not None:
            handler = self.runtime_class.get("handler")
            return handler if isinstance(handler, str) else None
        return self.default_runtime_handler


@dataclass(frozen=True)
class PodCounts:
    """One observation of the run's pods, classified as ``kubectl get pods`` users read them.

    ``evicted`` and ``oom_killed`` are cumulative over the run (evicted pod objects ever seen,
    container OOM kills ever seen); the others are the current state. ``startup_s`` holds the
    creation-to-Ready latency of each pod that became Ready since the previous observation.
    The failure counts after ``api_errors`` (team contract 3) are 0 where a cluster driver does
    not know them.
    """

    running: int = 0
    pending: int = 0
    creating: int = 0
    terminating: int = 0
    evicted: int = 0
    oom_killed: int = 0
    failed: int = 0
    restarts: int = 0
    startup_s: tuple[float, ...] = ()
    api_errors: int = 0  # cumulative transient API errors retried so far
    # Evicted pod objects listed now (not cumulative): what the published runs' Evicted column
    # counts, since evicted pods are deleted and replaced over a run.
    evicted_listed: int = 0
    sandbox_deaths: int = 0  # cumulative: sandboxes/VMs that died and were recreated
    failed_create: int = 0  # cumulative FailedCreate: the ReplicaSet could not create a pod
    failed_scheduling: int = 0  # cumulative FailedScheduling events
    sandbox_failures: int = 0  # cumulative FailedCreatePodSandBox


@dataclass(frozen=True, slots=True)
class PodLifecycle:
    """One pod of the run as the cluster last showed it (run.pods.csv, team contract 10).

    Times are epoch seconds on the cluster's clock (the API's timestamps; virtual in simulation),
    None until the event happened: ``created``, ``scheduled`` (bound to ``node``), ``started``
    (its container's latest start), ``ready`` (first Ready), ``ended`` with ``end_reason``: the
    pod's end, or its container's latest one when it restarted since (``evicted``,
    ``oom-killed``, ``vm-died``, ``deleted``, ``failed``; see ``scaler.pod_lifecycle``).
    ``pod_class`` is ``scaler.pod_state.classify``'s class, or ``gone`` once the pod object no
    longer exists.
    """

    uid: str
    name: str
    node: str | None
    phase: str
    pod_class: str
    restarts: int = 0
    created: float | None = None
    scheduled: float | None = None
    started: float | None = None
    ready: float | None = None
    ended: float | None = None
    end_reason: str | None = None


class Cluster(Protocol):
    """A place to scale the workload in. Every call may block; durations are timed by the engine
    with ``clock`` (virtual in simulation), so the timing columns are what the call really took."""

    @property
    def clock(self) -> Clock:
        """The cluster's clock (virtual in simulation); read-only, so any Clock will do."""

    def describe(self) -> ClusterInfo: ...

    def prepare(self, spec: WorkloadSpec) -> None:
        """Create what the run needs (namespace, Deployment at 0 replicas)."""

    def scale(self, replicas: int) -> None: ...

    def observe(self) -> PodCounts: ...

    def pod_lifecycles(self) -> list[PodLifecycle]:
        """The run's pods whose lifecycle changed since the previous call (the first call: every
        pod), and once more each pod that is gone (``pod_class`` ``gone``). Cheap: it reads
        what the cluster already keeps (the simulator's pod table, the driver's watch), never
        the API; the engine calls it once per step."""

    def node_source(self) -> NodeSource | None:
        """Per-node memory this cluster can provide itself (the simulator); None for real ones,
        whose nodes are sampled by SSH collectors instead."""

    def cleanup(self, keep: bool = False) -> None:
        """Scale to 0 and delete what ``prepare`` created, unless ``keep``. Safe to call twice."""

    def stats(self) -> dict[str, Any]:
        """Counters for the metadata sidecar at the end of a run (e.g. API requests and bytes
        spent on observation, retries); ``{}`` when there is nothing to say."""
