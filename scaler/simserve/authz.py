"""Authorization at the HTTP layer: a request's RBAC attributes, the 403 it may get, and
SelfSubjectAccessReview (authorization.k8s.io/v1), the question ``kubectl auth can-i`` asks.

SelfSubjectAccessReview (https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/self-subject-access-review-v1/):
POST a review with ``spec.resourceAttributes`` (or ``spec.nonResourceAttributes``); the answer
is the same object with ``status.allowed`` (and ``reason`` when RBAC allowed it, ``denied``
never set by RBAC: it only allows). Created with 201, never stored.
"""

from __future__ import annotations

from typing import Any

from scaler.simserve.discovery import Resource
from scaler.simserve.rbac import Attributes, Subject, authorize, forbidden_message, request_verb
from scaler.simserve.status import ApiError

REVIEW_PATH = ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]
#: paths any authenticated user may read (system:discovery, system:public-info-viewer)
NON_RESOURCE_PREFIXES = ("/api", "/apis", "/version", "/openapi", "/healthz", "/livez",
                         "/readyz")


def attributes(method: str, res: Resource, namespace: str | None, name: str | None,
               sub: str | None, *, watch: bool) -> Attributes:
    ns = namespace or ""
    if res.plural == "namespaces" and name:
        ns = name  # a Namespace object is in itself (RequestInfo: namespace = name)
    return Attributes(request_verb(method, named=name is not None, watch=watch), res.group,
                      res.plural, sub or "", ns, name or "")


def check(user: Subject, a: Attributes) -> None:
    """Raise the 403 Status kube-apiserver answers when RBAC allows nothing."""
    if not authorize(user, a).allowed:
        raise ApiError(403, "Forbidden", forbidden_message(user, a),
                       details={"name": a.name, "group": a.group, "kind": a.resource})


def access_review(user: Subject, body: object) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("kind") not in (None, "SelfSubjectAccessReview"):
        raise ApiError(400, "BadRequest", "the request body is not a SelfSubjectAccessReview")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise ApiError(422, "Invalid", 'SelfSubjectAccessReview.authorization.k8s.io "" is '
                       "invalid: spec: Required value")
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (ra is None) == (nra is None):
        raise ApiError(422, "Invalid", 'SelfSubjectAccessReview.authorization.k8s.io "" is '
                       "invalid: spec.resourceAttributes: Invalid value: exactly one of "
                       "nonResourceAttributes or resourceAttributes must be specified")
    if ra is not None:
        if not isinstance(ra, dict):
            raise ApiError(400, "BadRequest", "spec.resourceAttributes is not an object")
        a = Attributes(verb=str(ra.get("verb") or ""), group=str(ra.get("group") or ""),
                       resource=str(ra.get("resource") or ""),
                       subresource=str(ra.get("subresource") or ""),
                       namespace=str(ra.get("namespace") or ""), name=str(ra.get("name") or ""))
        decision = authorize(user, a)
        allowed, reason = decision.allowed, decision.reason
    else:
        path = str((nra or {}).get("path") or "")
        verb = str((nra or {}).get("verb") or "")
        allowed = user.admin or (verb == "get" and path.startswith(NON_RESOURCE_PREFIXES))
        reason = "RBAC: allowed by ClusterRoleBinding \"system:discovery\"" if allowed and \
            not user.admin else ""
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
