"""RuntimeClass admission: what becomes of the pods of a Deployment naming a RuntimeClass.

On a real cluster (https://kubernetes.io/docs/concepts/containers/runtime-class/):

- the RuntimeClass admission plugin rejects a pod whose ``runtimeClassName`` names no
  RuntimeClass: the ReplicaSet controller's create fails and it records ``FailedCreate`` on the
  ReplicaSet (``Error creating: pods "<rs>-" is forbidden: pod rejected: RuntimeClass "x" not
  found``), retrying with back-off; no pod object exists;
- a RuntimeClass whose ``handler`` the nodes' CRI runtime is not configured with is admitted:
  the pod is scheduled, and the kubelet fails to create its sandbox, again and again
  (``FailedCreatePodSandBox``: ``RuntimeHandler "runsc" not supported`` from CRI-O). The pod
  stays Pending in ContainerCreating.

The simulator's nodes have the runtimes the model has a profile for (runc, kata, and any a
profile file declares). So a RuntimeClass is run by the model when its name, or else its
handler, is a runtime the model knows; any other handler is one the nodes were not configured
with, and its pods are held by the front (held.py) with the kubelet's events. This is the
choice for "a RuntimeClass the model has no profile for": accepted, as the API server accepts
it, and failing where a real cluster fails, on the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scaler.workload_spec import DEFAULT_RUNTIME_ALIASES


@dataclass(frozen=True)
class Admission:
    """``runtime``: the model runtime to run the pods with (None when they cannot run);
    ``missing``: the message pods are refused with at admission; ``handler``: the handler no
    node knows (pods are created but their sandboxes fail)."""

    runtime: str | None
    missing: str | None = None
    handler: str | None = None

    @property
    def runs(self) -> bool:
        return self.runtime is not None


def model_runtimes(model: object) -> set[str] | None:
    """The runtime names the model's profile has parameters for; None when the model does not
    say (a test double): then every runtime is taken as known."""
    runtimes = getattr(getattr(model, "profile", None), "runtimes", None)
    if not isinstance(runtimes, dict):
        return None
    return set(runtimes) | set(DEFAULT_RUNTIME_ALIASES)


def template_runtime_class(deployment: dict[str, Any]) -> str | None:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = spec.get("runtimeClassName")
    return str(name) if name else None


def admit(deployment: dict[str, Any], runtime: str, runtime_class: dict[str, Any] | None,
          known: set[str] | None) -> Admission:
    """``runtime``: the workload's runtime as read from the template (the RuntimeClass name, or
    the default runtime); ``runtime_class``: the RuntimeClass object it names, if any."""
    rc_name = template_runtime_class(deployment)
    if rc_name is None:
        return Admission(runtime)
    if runtime_class is None:
        rs = replicaset_prefix(deployment)
        return Admission(None, missing=f'Error creating: pods "{rs}-" is forbidden: pod '
                                       f'rejected: RuntimeClass "{rc_name}" not found')
    if known is None or rc_name in known:
        return Admission(runtime)
    handler = str(runtime_class.get("handler") or "")
    if handler in known:
        return Admission(handler)
    return Admission(None, handler=handler)


def replicaset_prefix(deployment: dict[str, Any]) -> str:
    from scaler.simserve.render import replicaset_name

    return replicaset_name(deployment)


def sandbox_failure_message(handler: str) -> str:
    """What the kubelet reports when CRI-O has no such runtime handler."""
    return ("Failed to create pod sandbox: rpc error: code = Unknown desc = RuntimeHandler "
            f'"{handler}" not supported')
