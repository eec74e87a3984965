"""The one rule that sorts a pod into running / pending / creating / terminating / failed /
evicted, as a ``kubectl get pods`` reader (and the original measurement scripts' ``grep``) sees
it. The simulator, the real-cluster pod table and the API front's truth log all call
``classify``, so a count means the same thing wherever it was taken.

The rule reads only what the API shows of a pod (``PodStatus``):

- a pod being deleted is ``terminating`` whatever else it shows (kubectl prints Terminating);
- phase Failed is ``evicted`` when its reason is Evicted (the kubelet's eviction manager, or a
  rejection at admission), else ``failed``; phase Succeeded is ``failed`` too (a Deployment's
  pods never should end);
- a Ready pod is ``running``;
- not bound to a node: ``pending``; bound but not yet reported by its kubelet (no container
  status): ``pending`` as well, which is what kubectl prints;
- a container crash-looping (waiting with a back-off reason, or terminated and not yet
  restarted): ``failed``;
- anything else bound and not ready (sandbox and container being set up, image pulled, a new
  VM after the old one died): ``creating``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class PodClass(StrEnum):
    RUNNING = "running"
    PENDING = "pending"
    CREATING = "creating"
    TERMINATING = "terminating"
    FAILED = "failed"
    EVICTED = "evicted"


#: Waiting reasons of a container that ran and failed, waiting to be restarted.
CRASH_REASONS = frozenset({"CrashLoopBackOff", "RunContainerError"})


@dataclass(frozen=True, slots=True)
class PodStatus:
    """What classification needs from a pod object.

    ``container`` is the first container's state as the kubelet reported it: ``None`` when the
    pod has no container status yet, else "waiting", "running" or "terminated";
    ``container_reason`` is the reason given with a waiting or terminated state.
    """

    phase: str = "Pending"
    reason: str | None = None
    scheduled: bool = False
    deleting: bool = False
    ready: bool = False
    container: str | None = None
    container_reason: str | None = None


def classify(s: PodStatus) -> PodClass:
    if s.deleting:
        return PodClass.TERMINATING
    if s.phase == "Failed":
        return PodClass.EVICTED if s.reason == "Evicted" else PodClass.FAILED
    if s.phase == "Succeeded":
        return PodClass.FAILED
    if s.ready:
        return PodClass.RUNNING
    if not s.scheduled or s.container is None:
        return PodClass.PENDING
    if s.container == "terminated" or s.container_reason in CRASH_REASONS:
        return PodClass.FAILED
    return PodClass.CREATING


def status_of(obj: dict[str, Any]) -> PodStatus:
    """A Kubernetes pod object (as JSON) reduced to what ``classify`` reads."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = bool(spec.get("nodeName")) or (
        (conds.get("PodScheduled") or {}).get("status") == "True")
    container, creason = None, None
    statuses = status.get("containerStatuses") or []
    if statuses:  # the kubelet has taken the pod up: an empty state is a container not started
        container = "waiting"
        state = statuses[0].get("state") or {}
        for kind in ("waiting", "running", "terminated"):
            if kind in state:
                container = kind
                creason = (state.get(kind) or {}).get("reason")
                break
    return PodStatus(
        phase=status.get("phase") or "Pending",
        reason=status.get("reason"),
        scheduled=scheduled,
        deleting=bool(meta.get("deletionTimestamp")),
        ready=(conds.get("Ready") or {}).get("status") == "True",
        container=container,
        container_reason=creason,
    )
