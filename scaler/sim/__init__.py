"""The simulated cluster: a model of Kubernetes scheduling, node memory and kubelet behaviour under
runc and Kata Containers, stepped in virtual time (design.md section 5).

It is a model, not a mock: outcomes (pods that fit, evictions, OOM kills, free memory) come out of
the mechanisms, and every parameter says where its default comes from (``scaler.sim.profile``).
"""

from scaler.sim.cluster import (
    DEPLOYMENT_KEY,
    SimNodeSource,
    SimulatedCluster,
    VirtualClock,
    build_simulated_cluster,
)
from scaler.sim.model import DEFAULT_START, SimModel
from scaler.sim.profile import (
    ClusterProfile,
    ControlPlaneProfile,
    ProfileError,
    RuntimeProfile,
    SimProfile,
    UnknownRuntime,
    load_profile,
)
from scaler.sim.views import DeploymentView, PodView

__all__ = [
    "DEFAULT_START", "DEPLOYMENT_KEY", "ClusterProfile", "ControlPlaneProfile", "DeploymentView",
    "PodView", "ProfileError", "RuntimeProfile", "SimModel", "SimNodeSource", "SimProfile",
    "SimulatedCluster", "UnknownRuntime", "VirtualClock", "build_simulated_cluster", "load_profile",
]
