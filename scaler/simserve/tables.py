"""``meta.k8s.io/v1`` Tables: what kubectl asks for when it prints for humans (``kubectl get``,
``kubectl get -w``), with the columns real API servers give each resource."""

from __future__ import annotations

import datetime as dt


def pod_status_word(pod: dict) -> str:
    """The STATUS column of ``kubectl get pods``."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = pod.get("status", {})
    if st.get("reason"):
        return st["reason"]
    for cs in st.get("containerStatuses", []):
        state = cs.get("state", {})
        for part in ("waiting", "terminated"):
            if state.get(part, {}).get("reason"):
                return state[part]["reason"]
    return st.get("phase", "Pending")


def _age(obj: dict, now: float) -> str:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    t = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    s = max(0, int(now - t))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h"


def table(resource: str, objects: list[dict], now: float, list_rv: str | None = None,
          include: str = "Metadata") -> dict:
    """A meta.k8s.io/v1 Table, which kubectl asks for when printing for humans. Each row
    carries the object as ``?includeObject=`` says: its metadata (the default), the whole
    object (``Object``: what ``kubectl get --sort-by`` sorts on) or nothing (``None``)."""
    cols = [("Name", "string", "Name must be unique within a namespace", 0)]
    if resource == "events":  # the columns kube-apiserver's printers give Events
        cols = [("Last Seen", "string", "", 0), ("Type", "string", "", 0),
                ("Reason", "string", "", 0), ("Object", "string", "", 0),
                ("Message", "string", "", 0), ("Count", "integer", "", 1),
                ("Name", "string", "Name must be unique within a namespace", 1)]
    elif resource == "pods":
        cols += [("Ready", "string", "", 0), ("Status", "string", "", 0),
                 ("Restarts", "string", "", 0), ("Age", "string", "", 0),
                 ("IP", "string", "", 1), ("Node", "string", "", 1)]
    elif resource == "deployments":
        cols += [("Ready", "string", "", 0), ("Up-to-date", "integer", "", 0),
                 ("Available", "integer", "", 0), ("Age", "string", "", 0)]
    elif resource == "nodes":
        cols += [("Status", "string", "", 0), ("Roles", "string", "", 0), ("Age", "string", "", 0),
                 ("Version", "string", "", 0), ("Internal-IP", "string", "", 1)]
    elif resource == "runtimeclasses":
        cols += [("Handler", "string", "", 0), ("Age", "string", "", 0)]
    else:
        cols += [("Status", "string", "", 0), ("Age", "string", "", 0)]
    rows = []
    for o in objects:
        name = o["metadata"]["name"]
        if resource == "events":
            ref = o.get("involvedObject") or o.get("regarding") or {}
            last = o.get("lastTimestamp") or o.get("deprecatedLastTimestamp")
            seen = _age({"metadata": {"creationTimestamp": last}}, now)
            cells = [seen, o.get("type", ""), o.get("reason", ""),
                     f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}",
                     o.get("message") or o.get("note") or "",
                     o.get("count") or o.get("deprecatedCount") or 1, name]
        elif resource == "pods":
            css = o.get("status", {}).get("containerStatuses", [])
            ready = sum(1 for c in css if c.get("ready"))
            total = len(o["spec"].get("containers", []))
            cells = [name, f"{ready}/{total}", pod_status_word(o),
                     sum(c.get("restartCount", 0) for c in css), _age(o, now),
                     o.get("status", {}).get("podIP", "<none>"), o["spec"].get("nodeName", "<none>")]
        elif resource == "deployments":
            st = o.get("status", {})
            cells = [name, f"{st.get('readyReplicas', 0)}/{o['spec'].get('replicas', 1)}",
                     st.get("updatedReplicas", 0), st.get("availableReplicas", 0), _age(o, now)]
        elif resource == "nodes":
            roles = ",".join(k.split("/", 1)[1] for k in o["metadata"].get("labels", {})
                             if k.startswith("node-role.kubernetes.io/")) or "<none>"
            ip = next((a["address"] for a in o["status"].get("addresses", [])
                       if a["type"] == "InternalIP"), "<none>")
            cells = [name, "Ready", roles, _age(o, now),
                     o["status"]["nodeInfo"]["kubeletVersion"], ip]
        elif resource == "runtimeclasses":
            cells = [name, o.get("handler", ""), _age(o, now)]
        else:
            cells = [name, (o.get("status") or {}).get("phase", "Active"), _age(o, now)]
        row: dict = {"cells": cells}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
           "metadata": {"resourceVersion": list_rv} if list_rv else {},
           "columnDefinitions": [{"name": n, "type": t, "format": "name" if n == "Name" else "",
                                  "description": d, "priority": p} for n, t, d, p in cols],
           "rows": rows}
    return out
