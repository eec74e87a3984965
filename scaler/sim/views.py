"""Read-only records the model hands out: one pod as the API would show it, one deployment."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class DeploymentView:
    key: str
    replicas: int
    runtime: str
    labels: dict[str, str]
    pods: int  # pod objects that exist (Failed/Evicted included)
    ready: int
