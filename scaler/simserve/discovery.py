"""The resources this server serves, and the discovery documents kubectl reads to find them.

Only legacy discovery is served: kubectl asks for aggregated discovery first and falls back to
the per-group documents when it gets a plain ``APIGroupList``, as with older API servers.
"""

from __future__ import annotations

from dataclasses import dataclass

KUBE_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-scaler-sim",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
                "platform": "linux/amd64"}

_RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(_RW)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


ALL = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",)),
    Resource("", "v1", "nodes", "Node", False, ("no",), ("get", "list", "watch")),
    Resource("", "v1", "pods", "Pod", True, ("po",),
             ("delete", "deletecollection", "get", "list", "watch")),
    Resource("", "v1", "events", "Event", True, ("ev",), ("get", "list", "watch")),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",)),
    Resource("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False),
    # the same Event objects, as events.k8s.io/v1 shows them (events.as_events_v1)
    Resource("events.k8s.io", "v1", "events", "Event", True, ("ev",), ("get", "list", "watch")),
)
#: by plural, the first (core) of each name: what the store keys objects by
RESOURCES = {r.plural: r for r in reversed(ALL)}
_BY_GVR = {(r.group, r.version, r.plural): r for r in ALL}
GROUPS = ("apps", "node.k8s.io", "events.k8s.io", "authorization.k8s.io")


def find(group: str, version: str, plural: str) -> Resource | None:
    return _BY_GVR.get((group, version, plural))


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict:
    groups = []
    for group in GROUPS:
        gv = {"groupVersion": f"{group}/v1", "version": "v1"}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict | None:
    if group not in GROUPS:
        return None
    gv = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv],
            "preferredVersion": gv}


def resource_list(group: str, version: str) -> dict | None:
    resources = [r for r in ALL if r.group == group and r.version == version]
    if group == "authorization.k8s.io" and version == "v1":
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "authorization.k8s.io/v1",
                "resources": [{"name": "selfsubjectaccessreviews", "singularName": "",
                               "namespaced": False, "kind": "SelfSubjectAccessReview",
                               "verbs": ["create"]}]}
    if not resources:
        return None
    out = []
    for r in resources:
        entry = {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short:
            entry["shortNames"] = list(r.short)
        if r.plural in ("pods", "deployments"):
            entry["categories"] = ["all"]
        out.append(entry)
        if r.plural not in ("nodes", "events"):
            out.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get"]})
        if r.plural == "pods":
            out.append({"name": "pods/log", "singularName": "", "namespaced": True,
                        "kind": "Pod", "verbs": ["get"]})
        if r.plural == "nodes":
            out.append({"name": "nodes/proxy", "singularName": "", "namespaced": False,
                        "kind": "NodeProxyOptions", "verbs": ["create", "delete", "get",
                                                              "patch", "update"]})
        if r.plural == "deployments":
            out.append({"name": "deployments/scale", "singularName": "", "namespaced": True,
                        "group": "autoscaling", "version": "v1", "kind": "Scale",
                        "verbs": ["get", "patch", "update"]})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
