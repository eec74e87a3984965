"""``metadata.managedFields``: which manager set which fields, as the API server records them
(https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).

Every write records its manager (``?fieldManager=``, else the client's User-Agent up to the
first "/", as kube-apiserver derives it) with the set of fields it set, in the FieldsV1 form:
``f:<field>`` for a field, ``k:{"name":"x"}`` for a list item keyed by its merge key, ``.: {}``
for an object that is itself set. They are most of a small object's bytes (about 1 kB of a
pod's), so a watch of these objects costs what it costs on a real cluster.

A pod, as on a cluster, carries two entries: kube-controller-manager (Update: metadata and spec,
from the ReplicaSet) and the kubelet (Update of the ``status`` subresource).
"""

from __future__ import annotations

import json
from typing import Any

#: list fields whose items merge by a key (the strategic-merge keys of the core types)
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
               "ports": "containerPort", "volumes": "name", "volumeMounts": "mountPath",
               "conditions": "type", "containerStatuses": "name", "ownerReferences": "uid",
               "podIPs": "ip", "hostIPs": "ip", "addresses": "type", "taints": "key",
               "tolerations": "key"}
_SKIP_META = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
              "deletionTimestamp", "deletionGracePeriodSeconds", "name", "namespace")


def fields_v1(obj: Any, field: str = "") -> dict[str, Any]:
    """The FieldsV1 set of ``obj``: the fields present, keyed as the API server keys them."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {".": {}} if field else {}
        for k, v in obj.items():
            out[f"f:{k}"] = fields_v1(v, k)
        return out
    if isinstance(obj, list) and field in _MERGE_KEYS:
        key = _MERGE_KEYS[field]
        out = {}
        for item in obj:
            if isinstance(item, dict) and key in item:
                k = json.dumps({key: item[key]}, separators=(",", ":"))
                out[f"k:{k}"] = fields_v1(item, "item")
        return out
    return {}


def manager_of(field_manager: str | None, user_agent: str | None) -> str:
    if field_manager:
        return field_manager[:128]
    agent = (user_agent or "").split("/", 1)[0].strip()
    return agent or "unknown"


def entry(manager: str, api_version: str, time: str | None, fields: dict[str, Any], *,
          operation: str = "Update", subresource: str | None = None) -> dict[str, Any]:
    out = {"manager": manager, "operation": operation, "apiVersion": api_version,
           "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        out["subresource"] = subresource
    return out


def object_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields a client's write sets: metadata (labels, annotations...) and spec-like parts,
    not what the server owns (status, uid, resourceVersion...)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SKIP_META}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    out = fields_v1(body)
    if meta:
        out["f:metadata"] = fields_v1(meta)
    return out


def pod_managed_fields(pod: dict[str, Any], time: str | None) -> list[dict[str, Any]]:
    meta = {k: v for k, v in pod["metadata"].items() if k not in _SKIP_META}
    controller = {"f:metadata": fields_v1(meta), "f:spec": fields_v1(pod.get("spec") or {})}
    status = {"f:status": fields_v1(pod.get("status") or {})}
    return [entry("kube-controller-manager", "v1", time, controller),
            entry("kubelet", "v1", time, status, subresource="status")]


#: what the deployment controller writes of a Deployment's status
_DEPLOYMENT_STATUS: dict[str, Any] = {"f:status": {"f:availableReplicas": {}, "f:conditions": {
    ".": {}, 'k:{"type":"Available"}': {".": {}, "f:lastTransitionTime": {}, "f:message": {},
                                         "f:reason": {}, "f:status": {}, "f:type": {}}},
    "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {},
    "f:updatedReplicas": {}}}


def record_write(obj: dict[str, Any], current: dict[str, Any] | None, manager: str,
                 time: str | None) -> None:
    """Set ``obj``'s managedFields for a write by ``manager`` (in place: ``obj`` is the
    request's object, not yet stored): the other managers' entries stay, the manager's own
    Update entry is replaced by what this write sets."""
    api_version = obj.get("apiVersion", "v1")
    kept = [e for e in ((current or {}).get("metadata") or {}).get("managedFields") or []
            if e.get("manager") != manager or e.get("subresource")
            or e.get("operation") != "Update"]
    mine = entry(manager, api_version, time, object_fields(obj))
    if current is None and obj.get("kind") == "Deployment":
        kept.append(entry("kube-controller-manager", api_version, time, _DEPLOYMENT_STATUS,
                          subresource="status"))
    obj.setdefault("metadata", {})["managedFields"] = [mine, *kept]
