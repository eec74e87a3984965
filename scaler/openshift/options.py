"""What ``scaler run --cluster openshift`` needs to reach a cluster, as kubectl users spell it,
checked before anything is started."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scaler.cluster import ClusterError
from scaler.kube_names import dns_label_problem, dns_subdomain_problem
from scaler.kube_objects import ManifestError, validate_runtime_class


@dataclass(frozen=True)
class OpenShiftOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "scaler"
    client_binary: str | None = None  # None: ``oc`` if on PATH, else ``kubectl``
    adopt: bool = False  # take over a Deployment of that name that this run did not create
    op_timeout_s: float = 120.0
    run_id: str = ""  # label value identifying the run
    deployment: str = "scaler-workload"
    image: str | None = None
    # RuntimeClass objects to create when missing (--runtime-class-manifest), by name
    runtime_class_manifests: dict[str, Any] = field(default_factory=dict)


def check_names(options: OpenShiftOptions) -> None:
    """Names the API would refuse, refused here first, before anything has started."""
    for what, value in (("namespace", options.namespace), ("deployment", options.deployment)):
        problem = dns_label_problem(value or "")
        if problem:
            raise ClusterError(f"{what} {problem}")


def load_runtime_class_manifest(path: str | Path) -> dict[str, Any]:
    """A RuntimeClass from a YAML or JSON file, checked as the API would check it; ValueError
    with one line when it is not one."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"cannot read {p}: {e.strerror or e}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ValueError(f"{p}: not YAML or JSON ({str(e).splitlines()[0]})") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ValueError(f"{p}: expected one RuntimeClass object, found {len(docs)} documents")
    doc = docs[0]
    if doc.get("kind") != "RuntimeClass" or doc.get("apiVersion") != "node.k8s.io/v1":
        raise ValueError(f"{p}: expected kind RuntimeClass, apiVersion node.k8s.io/v1 (found "
                         f"{doc.get('kind')!r}, {doc.get('apiVersion')!r})")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or dns_subdomain_problem(name):
        raise ValueError(f"{p}: invalid or missing metadata.name {name!r}")
    handler = doc.get("handler")
    if not isinstance(handler, str) or dns_label_problem(handler):
        raise ValueError(f"{p}: RuntimeClass {name}: handler must be a lowercase DNS label "
                         f"(found {handler!r})")
    try:
        validate_runtime_class(doc)
    except ManifestError as e:
        raise ValueError(f"{p}: {e}") from None
    try:
        json.dumps(doc)  # what YAML may hold and JSON cannot (dates) fails here, not at apply
    except (TypeError, ValueError) as e:
        raise ValueError(f"{p}: {e}") from None
    return doc


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
