"""Read-only records the model hands out: one pod as the API would show it, one deployment."""

from __future__ import annotations

from dataclasses import dataclass, field

from scaler.pod_state import PodStatus

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"


@dataclass(frozen=True)
class PodView:
    """One pod, complete enough to render as a Kubernetes pod object.

    Times are virtual epoch seconds (None when the event has not happened). ``deleted`` is set
    while the pod is Terminating. ``container_state`` is "waiting" (``container_reason``
    ContainerCreating or CrashLoopBackOff), "running" or "terminated" (``container_reason`` the
    termination reason, ``container_exit_code`` its code).
    """

    name: str
    uid: str
    deployment: str
    node: str | None
    phase: str
    reason: str | None
    message: str | None
    ready: bool
    container_state: str
    container_reason: str | None
    container_exit_code: int | None
    last_terminated_reason: str | None
    last_exit_code: int | None
    restarts: int
    created: float
    scheduled: float | None
    started: float | None
    ready_at: float | None
    deleted: float | None
    runtime_class: str | None
    labels: dict[str, str] = field(default_factory=dict)
    qos_class: str = "BestEffort"
    memory_mib: float = 0.0  # host memory the pod costs its node now (workload + runtime)

    @property
    def deployment_key(self) -> str:
        return self.deployment

    def status(self) -> PodStatus:
        """What ``scaler.pod_state.classify`` reads. A waiting container with no reason is one
        the kubelet has not reported yet (bound, not admitted): the API shows no status."""
        unreported = self.container_state == "waiting" and self.container_reason is None
        return PodStatus(phase=self.phase, reason=self.reason, scheduled=self.node is not None,
                         deleting=self.deleted is not None, ready=self.ready,
                         container=None if unreported else self.container_state,
                         container_reason=self.container_reason)


@dataclass(frozen=True)
class DeploymentView:
    key: str
    replicas: int
    runtime: str
    labels: dict[str, str]
    pods: int  # pod objects that exist (Failed/Evicted included)
    ready: int
