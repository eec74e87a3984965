"""What ``scaler run --cluster openshift`` needs to reach a cluster, as kubectl users spell it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from scaler.cluster import ClusterError


@dataclass(frozen=True)
class OpenShiftOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "scaler"
    client_binary: str | None = None  # None: ``oc`` if on PATH, else ``kubectl``
    adopt: bool = False  # take over a Deployment of that name that scaler did not create
    op_timeout_s: float = 120.0
    run_id: str = ""  # label value identifying the run
    deployment: str = "scaler-workload"
    image: str | None = None


def resolve_binary(client_binary: str | None) -> str:
    """The client to fork: an explicit path or name, else ``oc`` when on PATH, else ``kubectl``."""
    if client_binary:
        if os.sep in client_binary:
            if os.access(client_binary, os.X_OK) and os.path.isfile(client_binary):
                return os.path.abspath(client_binary)
            raise ClusterError(f"client binary {client_binary} not found or not executable")
        found = shutil.which(client_binary)
        if not found:
            raise ClusterError(f"client binary {client_binary!r} not found on PATH")
        return found
    for name in ("oc", "kubectl"):
        found = shutil.which(name)
        if found:
            return found
    raise ClusterError("neither oc nor kubectl is on PATH; install one or pass --client-binary")
