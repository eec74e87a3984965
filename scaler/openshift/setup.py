"""What is on the cluster before the run creates anything, and whose it is.

Reads only (get), each answering "there", "not there" or "may not look" (a namespace-scoped user
may not read a namespace or a RuntimeClass), and the ownership rule for a Deployment that is
already there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scaler.cluster import ClusterUnresponsive
from scaler.kube_objects import MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL
from scaler.openshift.client import KubeClient
from scaler.openshift.errors import FORBIDDEN, NOT_FOUND

#: set by a run that ends with --keep on the Deployment it leaves: when, and which run
KEPT_ANNOTATION = "scaler.io/kept"


@dataclass(frozen=True)
class Found:
    exists: bool | None  # None: we may not look
    doc: dict[str, Any] | None = None


def lookup(client: KubeClient, args: list[str]) -> Found:
    out, failure = client.call([*args, "-o", "json"], purpose="prepare",
                               accept=(NOT_FOUND, FORBIDDEN))
    if failure is None:
        return Found(True, json.loads(out.stdout))
    return Found(False if failure.kind == NOT_FOUND else None)


def wait_while_deleting(client: KubeClient, args: list[str], what: str, *, timeout_s: float,
                        monotonic: Callable[[], float], sleep: Callable[[float], None]) -> Found:
    """The object, unless it is being deleted (e.g. by the previous run's clean-up): then wait
    for it to go, since nothing can be created in a terminating namespace nor over a
    terminating Deployment."""
    deadline = monotonic() + timeout_s
    while True:
        found = lookup(client, args)
        doc = found.doc or {}
        deleting = (doc.get("metadata") or {}).get("deletionTimestamp") or (
            (doc.get("status") or {}).get("phase") == "Terminating")
        if not deleting:
            return found
        if monotonic() > deadline:
            raise ClusterUnresponsive(
                f"{what} is still terminating after {timeout_s:g} s (--op-timeout); "
                "choose another with -n/--namespace")
        sleep(1.0)


@dataclass(frozen=True)
class Ownership:
    ours: bool  # this run creates it, so this run deletes it at the end
    adopted: bool = False  # someone else's (or an earlier run's): scaled to 0, never deleted
    refusal: str | None = None  # why the run must not touch it


def ownership(existing: dict[str, Any] | None, *, namespace: str, deployment: str, run_id: str,
              adopt: bool) -> Ownership:
    """Whose the Deployment is, and whether this run may take it.

    Only what this run creates is this run's. One scaler did not create, one a ``--keep`` run
    left, or one a run that could not clean up left, is never taken over silently: its pods
    would be scaled away and the run's first steps would count them. ``--adopt`` takes it; an
    adopted Deployment is scaled to 0 at the end, never deleted.
    """
    if existing is None:
        return Ownership(ours=True)
    meta = existing.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(RUN_LABEL) == run_id:
        return Ownership(ours=True)  # this very run's (prepare called again)
    if adopt:
        return Ownership(ours=False, adopted=True)
    replicas = (existing.get("spec") or {}).get("replicas", 0)
    where = f"Deployment {namespace}/{deployment}"
    delete = f"kubectl -n {namespace} delete deployment {deployment}"
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return Ownership(ours=False, refusal=(
            f"{where} exists and was not created by scaler (no {MANAGED_BY_LABEL}={MANAGED_BY} "
            "label): pass --adopt to take it over"))
    earlier = labels.get(RUN_LABEL) or "?"
    kept = (meta.get("annotations") or {}).get(KEPT_ANNOTATION)
    how = "kept by an earlier run (--keep)" if kept else "left by an earlier run that did not " \
                                                           "clean up"
    return Ownership(ours=False, refusal=(
        f"{where} ({replicas} replicas) was {how}, run {earlier}: pass --adopt to take it over "
        f"(scaled to 0 at the end, not deleted) or delete it first ({delete})"))
