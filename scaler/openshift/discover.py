"""Cluster facts for the run's metadata, from API objects (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scaler.cluster import NodeInfo
from scaler.quantity import QuantityError, cpu_millis, memory_mib

CONTROL_PLANE_ROLES = ("master", "control-plane")


def node_role(labels: dict[str, Any]) -> str:
    roles = [k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")]
    if any(r in CONTROL_PLANE_ROLES for r in roles) and "worker" not in roles:
        return "control-plane"
    return "worker" if "worker" in roles or not roles else roles[0]


def node_info(obj: dict[str, Any]) -> NodeInfo:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    cap, alloc = status.get("capacity") or {}, status.get("allocatable") or {}

    def q(table: dict[str, Any], key: str, conv: Callable[[Any], Any], default: Any = 0) -> Any:
        try:
            return conv(table[key]) if key in table else default
        except QuantityError:
            return default

    address = next((a.get("address") for a in status.get("addresses") or []
                    if a.get("type") == "InternalIP"), None)
    return NodeInfo(
        name=meta.get("name", ""),
        address=address,
        cpu_millis=q(cap, "cpu", cpu_millis),
        memory_mib=round(q(cap, "memory", memory_mib, 0.0), 1),
        allocatable_cpu_millis=q(alloc, "cpu", cpu_millis),
        allocatable_memory_mib=round(q(alloc, "memory", memory_mib, 0.0), 1),
        max_pods=int(q(alloc, "pods", lambda v: int(v), 0) or q(cap, "pods", lambda v: int(v), 0)),
        role=node_role(meta.get("labels") or {}),
    )


def worker_nodes(node_list: dict[str, Any]) -> tuple[NodeInfo, ...]:
    nodes = [node_info(o) for o in node_list.get("items") or []]
    workers = [n for n in nodes if n.role != "control-plane"]
    return tuple(sorted(workers or nodes, key=lambda n: n.name))


def runtime_class_info(obj: dict[str, Any]) -> dict[str, Any]:
    overhead = ((obj.get("overhead") or {}).get("podFixed")) or {}
    return {"name": (obj.get("metadata") or {}).get("name"), "handler": obj.get("handler"),
            "overhead": dict(overhead)}


def server_version(doc: dict[str, Any]) -> str:
    return doc.get("gitVersion") or f"{doc.get('major', '?')}.{doc.get('minor', '?')}"
