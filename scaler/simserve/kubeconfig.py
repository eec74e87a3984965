"""The kubeconfig ``scaler sim serve`` writes: plain HTTP to 127.0.0.1, no credentials.

Insecure by design and only ever on loopback: it points kubectl, oc and the driver at a
simulator, never at a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

CONTEXT = "scaler-sim"


def kubeconfig(server: str, namespace: str = "scaler") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [{"name": CONTEXT,
                      "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, server: str, namespace: str = "scaler") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(kubeconfig(server, namespace), sort_keys=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
