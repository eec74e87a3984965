"""Who may do what: RBAC as kube-apiserver evaluates it, for the few roles a user file names.

A request is reduced to its attributes (user, verb, API group, resource, subresource,
namespace, name), as the API server's RequestInfo resolver does
(https://kubernetes.io/docs/reference/access-authn-authz/authorization/#review-your-request-attributes):
GET of a collection is ``list`` (``watch`` with ``?watch=true``), GET of one object ``get``,
POST ``create``, PUT ``update``, PATCH ``patch``, DELETE ``delete`` (``deletecollection`` on a
collection); a request on a Namespace object is *in* that namespace, so a RoleBinding there can
allow reading it.

Rules match as rbac/v1 PolicyRules do
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources): ``*``
matches any group, verb or resource (subresources included); a subresource must be named
(``deployments/scale``) or wildcarded (``*/scale``); ``resourceNames`` restricts by name.
Allow-only: no rule, no access.

The roles:

- an admin: bound to ``cluster-admin`` by a ClusterRoleBinding (everything, everywhere);
- a namespace user: the ``admin`` ClusterRole bound by a RoleBinding in each of their
  namespaces (as an OpenShift project's requester gets), which grants the namespaced resources
  and reading the Namespace itself, nothing cluster-scoped; plus ``clusterRules`` bound
  cluster-wide, by default reading the cluster-scoped objects this server has (nodes,
  namespaces, RuntimeClasses), as a cluster-reader-like role does.

Every authenticated user may also ask what they may do (``system:basic-user``:
selfsubjectaccessreviews) and read discovery, /version, /openapi and the health endpoints
(``system:discovery``, ``system:public-info-viewer``): those are not resource requests and are
not checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def matches(self, a: Attributes) -> bool:
        if "*" not in self.verbs and a.verb not in self.verbs:
            return False
        if "*" not in self.api_groups and a.group not in self.api_groups:
            return False
        if self.resource_names and a.name not in self.resource_names:
            return False
        wanted = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        for r in self.resources:
            if r == "*" or r == wanted:
                return True
            if a.subresource and r == f"*/{a.subresource}":
                return True
        return False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            v = d.get(key) or []
            if isinstance(v, str) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"{key} must be a list of strings")
            return tuple(v)

        rule = cls(strings("apiGroups"), strings("resources"), strings("verbs"),
                   strings("resourceNames"))
        if not rule.resources or not rule.verbs:
            raise ValueError("a rule needs resources and verbs")
        return rule


#: the namespaced part of the ``admin`` ClusterRole, over the resources this server has
NAMESPACE_ADMIN = (
    Rule(("", "apps", "events.k8s.io"),
         ("pods", "pods/log", "pods/status", "deployments", "deployments/scale",
          "deployments/status", "replicasets", "replicasets/scale", "events"), ("*",)),
    Rule(("",), ("namespaces",), ("get", "list", "watch")),
)
#: what a namespace user may do cluster-wide unless the user file says otherwise
DEFAULT_CLUSTER_RULES = (
    Rule(("", "node.k8s.io"), ("nodes", "namespaces", "runtimeclasses"), ("get", "list", "watch")),
)
CLUSTER_ADMIN = (Rule(("*",), ("*",), ("*",)),)


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""  # "": cluster scope
    name: str = ""


@dataclass(frozen=True)
class Subject:
    """A user and what is bound to them."""

    name: str
    admin: bool = False
    namespaces: tuple[str, ...] = ()
    cluster_rules: tuple[Rule, ...] = DEFAULT_CLUSTER_RULES
    groups: tuple[str, ...] = field(default=("system:authenticated",))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def authorize(user: Subject, a: Attributes) -> Decision:
    if user.admin:
        return Decision(True, f'RBAC: allowed by ClusterRoleBinding "cluster-admin-{user.name}" '
                              f'of ClusterRole "cluster-admin" to User "{user.name}"')
    for rule in user.cluster_rules:
        if rule.matches(a):
            return Decision(True, f'RBAC: allowed by ClusterRoleBinding "{user.name}-cluster" of '
                                  f'ClusterRole "{user.name}-cluster" to User "{user.name}"')
    if a.namespace and a.namespace in user.namespaces:
        for rule in NAMESPACE_ADMIN:
            if rule.matches(a):
                return Decision(True, f'RBAC: allowed by RoleBinding "admin/{a.namespace}" of '
                                      f'ClusterRole "admin" to User "{user.name}"')
    return Decision(False)


def forbidden_message(user: Subject, a: Attributes) -> str:
    """The text kube-apiserver's authorizer answers a refusal with (k8s.io/apiserver
    endpoints/handlers/responsewriters: ``forbiddenMessage``)."""
    what = f"{a.resource}.{a.group}" if a.group else a.resource
    if a.name:
        what = f'{what} "{a.name}"'
    res = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return (f'{what} is forbidden: User "{user.name}" cannot {a.verb} resource "{res}" in API '
            f'group "{a.group}" {scope}')


def request_verb(method: str, *, named: bool, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        return "watch" if watch else ("get" if named else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection"}.get(method, method.lower())
