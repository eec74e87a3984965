"""The control plane's costs: how long an API call takes a client, growing with the number of
pod objects it must list or the controllers must reconcile (timing saturation)."""

from __future__ import annotations

from scaler.sim.profile import ControlPlaneProfile
from scaler.sim.state import SimState


def controller_rate(cp: ControlPlaneProfile, workers: int) -> float:
    """Pods the ReplicaSet controller creates per second on a cluster of ``workers``."""
    return max(cp.controller_pods_per_s, _size_rate(cp, workers))


def scheduler_rate(cp: ControlPlaneProfile, workers: int) -> float:
    """Pods kube-scheduler binds per second on a cluster of ``workers``."""
    return max(cp.scheduler_pods_per_s, _size_rate(cp, workers))


def _size_rate(cp: ControlPlaneProfile, workers: int) -> float:
    if workers >= cp.huge_cluster_workers:
        return cp.huge_cluster_pods_per_s
    if workers >= cp.large_cluster_workers:
        return cp.large_cluster_pods_per_s
    return 0.0


def object_count(s: SimState) -> int:
    """Pod objects in existence (Failed/Evicted included): what a LIST has to return."""
    return int(s.table.alive[: s.table.n].sum())


def slowdown(cp: ControlPlaneProfile, s: SimState) -> float:
    """How much longer calls take while workers thrash (``thrash_slowdown``)."""
    return 1.0 + cp.thrash_slowdown * s.thrash_avg


def call_seconds(cp: ControlPlaneProfile, s: SimState) -> float:
    """A call that touches no pods (create, delete, get one object)."""
    return (cp.client_start_s + cp.request_s) * slowdown(cp, s)


def scale_seconds(cp: ControlPlaneProfile, s: SimState) -> float:
    """A scale call (``oc scale``: read the object, write its scale): the reconcile cost per
    object on top."""
    return (cp.client_start_s + 2 * cp.request_s
            + cp.write_per_object_s * object_count(s)) * slowdown(cp, s)


def list_seconds(cp: ControlPlaneProfile, s: SimState) -> float:
    """A LIST of the namespace's pods (``oc get pods``)."""
    return (cp.client_start_s + cp.request_s
            + cp.list_per_object_s * object_count(s)) * slowdown(cp, s)


def login_seconds(cp: ControlPlaneProfile, s: SimState) -> float:
    """An ``oc login`` (the published procedure logs in before every iteration)."""
    return (cp.client_start_s + cp.login_requests * cp.request_s) * slowdown(cp, s)
