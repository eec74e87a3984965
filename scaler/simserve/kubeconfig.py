"""The kubeconfig ``scaler sim serve`` writes: plain HTTP to 127.0.0.1, no credentials (or, with
``--users``, a bearer token per user).

Insecure by design and only ever on loopback: it points kubectl, oc and the driver at a
simulator, never at a cluster.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

CONTEXT = "scaler-sim"


def kubeconfig(server: str, namespace: str = "scaler", *, user: str | None = None,
               token: str | None = None, ca_pem: bytes | None = None) -> dict:
    """No credentials, or (``sim serve --users``) the user's bearer token and the front's
    certificate."""
    name = f"{user}@{CONTEXT}" if user else CONTEXT
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token} if token else {}}],
        "contexts": [{"name": CONTEXT,
                      "context": {"cluster": CONTEXT, "user": name, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, server: str, namespace: str = "scaler", *,
                     user: str | None = None, token: str | None = None,
                     ca_pem: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(kubeconfig(server, namespace, user=user, token=token,
                                             ca_pem=ca_pem), sort_keys=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
