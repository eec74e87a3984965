"""What the run may do, asked before it does anything: SelfSubjectAccessReview, as ``kubectl auth
can-i`` asks (authorization.k8s.io/v1: POST a review with ``spec.resourceAttributes``, read
``status.allowed``), one review per permission, a few at a time.

The permissions are the driver's own calls, nothing more (kubectl verbs -> API verbs):

| call | needs |
| --- | --- |
| ``apply`` the Deployment | get, create, patch deployments.apps |
| ``scale`` | get deployments.apps, patch deployments.apps/scale |
| clean-up | delete deployments.apps |
| pod table, event tally | list, watch pods and events |
| the namespace, only if missing | create (and delete, to clean up) namespaces, cluster scope |
| the RuntimeClass, only if missing | create (and delete) runtimeclasses.node.k8s.io, cluster scope |

A namespace-scoped user (OpenShift's project ``edit`` or ``admin`` role) has the namespaced ones
and none of the cluster-scoped ones, so a run works for them when the namespace and the
RuntimeClass already exist; otherwise the run refuses with one line naming what is missing and
who can supply it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from scaler.openshift.client import KubeClient
from scaler.openshift.errors import FATAL, FORBIDDEN, NOT_FOUND

REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
PARALLEL = 4  # client processes at once: enough to answer in a few tenths of a second
#: who installs a RuntimeClass of that name on a cluster, for the line that says it is missing
INSTALLERS = {"kata": "OpenShift sandboxed containers (kata-deploy on other clusters)"}


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str | None = None  # None: cluster scope

    def label(self) -> str:
        res = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {res}"

    def review(self) -> dict[str, Any]:
        attrs = {"verb": self.verb, "group": self.group, "resource": self.resource}
        if self.subresource:
            attrs["subresource"] = self.subresource
        if self.namespace is not None:
            attrs["namespace"] = self.namespace
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}


def namespaced_needs(namespace: str) -> list[Permission]:
    p = [Permission(v, "deployments", "apps", namespace=namespace)
         for v in ("get", "create", "patch", "delete")]
    p.append(Permission("patch", "deployments", "apps", "scale", namespace=namespace))
    for res in ("pods", "events"):
        p += [Permission(v, res, namespace=namespace) for v in ("list", "watch")]
    return p


def namespace_needs() -> list[Permission]:
    return [Permission("create", "namespaces"), Permission("delete", "namespaces")]


def runtime_class_needs() -> list[Permission]:
    return [Permission(v, "runtimeclasses", "node.k8s.io") for v in ("create", "delete")]


@dataclass(frozen=True)
class Review:
    permission: Permission
    allowed: bool | None  # None: the server could not say (no such API, an error)
    reason: str = ""


def review_answer(permission: Permission, doc: dict[str, Any] | None) -> Review:
    """A SelfSubjectAccessReview answer (``status.allowed``, ``status.reason``) as a Review."""
    status = (doc or {}).get("status")
    if not isinstance(status, dict) or "allowed" not in status:
        return Review(permission, None, "no answer")
    return Review(permission, bool(status.get("allowed")), str(status.get("reason") or ""))


def review_all(client: KubeClient, needs: list[Permission]) -> list[Review]:
    """Ask the server about each permission (in parallel); an unanswerable question is None."""

    def one(p: Permission) -> Review:
        # transient failures are asked again (as every call is); a server without the API, or
        # one that will not say, leaves the question open
        out, failure = client.call(["create", "--raw", REVIEW_PATH, "-f", "-"],
                                   purpose="access", stdin=json.dumps(p.review()), timed=True,
                                   accept=(NOT_FOUND, FORBIDDEN, FATAL))
        if failure is not None:
            return Review(p, None, failure.message)
        try:
            return review_answer(p, json.loads(out.stdout))
        except ValueError:
            return Review(p, None, "answer is not JSON")

    if not needs:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(needs))) as pool:
        return list(pool.map(one, needs))


@dataclass(frozen=True)
class Situation:
    """What prepare found before creating anything."""

    namespace: str
    namespace_exists: bool | None  # None: may not read it
    runtime_class: str | None
    runtime_class_exists: bool | None  # None: may not read it (or no runtime class needed)
    runtime_class_manifest: bool  # a manifest to create it from (shipped or --runtime-class-manifest)
    shipped_by: str | None = None  # who normally installs it, e.g. "OpenShift sandboxed containers"


def needs_for(s: Situation) -> list[Permission]:
    # in a namespace not there yet a namespace-scoped user has no rights at all: ask about it
    # once it exists (the calls meet any refusal then, with the same kind of line)
    needs = [] if s.namespace_exists is False else namespaced_needs(s.namespace)
    if s.namespace_exists is False:
        needs += namespace_needs()
    if s.runtime_class and s.runtime_class_exists is False and s.runtime_class_manifest:
        needs += runtime_class_needs()
    return needs


def _verbs(perms: list[Permission]) -> str:
    return "/".join(dict.fromkeys(p.verb for p in perms))


def problems(s: Situation, reviews: list[Review]) -> list[str]:
    """One clause per thing the run cannot do, most useful first; [] when it may go ahead.

    Questions the server could not answer count as allowed: a real refusal still stops the run
    at the call that meets it, with the same kind of line.
    """
    denied = [r.permission for r in reviews if r.allowed is False]
    out = []
    ns_denied = [p for p in denied if p.resource == "namespaces"]
    if s.namespace_exists is False and ns_denied:
        out.append(f"namespace {s.namespace} does not exist and you may not {_verbs(ns_denied)} "
                   f"namespaces: create it as a project (oc new-project {s.namespace}), ask an admin to create it, "
                   "or name one you may use with -n")
    if s.runtime_class and s.runtime_class_exists is False:
        rc_denied = [p for p in denied if p.resource == "runtimeclasses"]
        installer = (f"install {s.shipped_by} or " if s.shipped_by else "")
        if not s.runtime_class_manifest:
            out.append(f"RuntimeClass {s.runtime_class} does not exist and scaler ships none by "
                       f"that name: ask an admin to {installer}create it, or pass "
                       "--runtime-class-manifest FILE")
        elif rc_denied:
            out.append(f"RuntimeClass {s.runtime_class} does not exist and you may not "
                       f"{_verbs(rc_denied)} RuntimeClasses: ask an admin to {installer}create it (kubectl apply -f FILE, or "
                       "scaler run --runtime-class-manifest FILE)")
    ns_level = [p for p in denied if p.namespace is not None]
    if ns_level:
        what = ", ".join(p.label() for p in ns_level)
        out.append(f"in namespace {s.namespace} you may not {what}: ask an admin for the edit "
                   f"role there (kubectl create rolebinding scaler-edit --clusterrole=edit "
                   f"--user=YOU -n {s.namespace})")
    return out


def check(client: KubeClient, s: Situation,
          review: Callable[[KubeClient, list[Permission]], list[Review]] = review_all,
          ) -> tuple[list[str], dict[str, Any]]:
    """(problems, a record for the metadata)."""
    reviews = review(client, needs_for(s))
    record = {
        "checked": len(reviews),
        "answered": sum(r.allowed is not None for r in reviews),
        "denied": [r.permission.label() + (" (cluster scope)" if r.permission.namespace is None
                                           else "") for r in reviews if r.allowed is False],
    }
    if reviews and record["answered"] == 0:
        record["note"] = f"the server did not answer access reviews: {reviews[0].reason}"
    return problems(s, reviews), record
