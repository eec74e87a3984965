"""Each pod's lifecycle as run.pods.csv records it (team contract 10): what a pod object says of it
(``lifecycle_of``), the rules that fill in what a source cannot date, and the log that turns
snapshots into changes (``LifecycleLog``, what a ``Cluster.pod_lifecycles`` returns).

End reasons, the latest end first: ``deleted`` (deletion asked: scale-down, clean-up, a user),
``evicted`` (the kubelet's eviction manager, or a rejection at admission: phase Failed, reason
Evicted), ``failed`` (phase Failed otherwise, or the container ended with an error),
``oom-killed`` (the container was OOM-killed), ``vm-died`` (a VM sandbox died and is made anew:
only a source that can tell, e.g. the simulator, says so; a pod object shows a restart).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import replace
from enum import StrEnum
from typing import Any

from scaler.cluster import PodLifecycle
from scaler.pod_state import classify, status_of

GONE = "gone"  # the class of a pod whose object no longer exists


class PodEnd(StrEnum):
    DELETED = "deleted"
    EVICTED = "evicted"
    FAILED = "failed"
    OOM_KILLED = "oom-killed"
    VM_DIED = "vm-died"


def settle(previous: PodLifecycle | None, current: PodLifecycle, now: float) -> PodLifecycle:
    """``current`` with what its source could not say filled in from what was known before:

    - a time once known stays known (``created``, ``scheduled``, ``ready``: a pod object shows
      its Ready time only while Ready, the first Ready time is what is recorded);
    - an end the source cannot date (``ended`` None with an ``end_reason``) is dated when it
      was first seen: the previous record's time for the same end (same reason, same restart
      count), else ``now`` (so within one observation of the truth).
    """
    if previous is not None:
        current = replace(
            current,
            created=current.created if current.created is not None else previous.created,
            scheduled=current.scheduled if current.scheduled is not None else previous.scheduled,
            ready=current.ready if current.ready is not None else previous.ready,
        )
    if current.end_reason is not None and current.ended is None:
        same = (previous is not None and previous.end_reason == current.end_reason
                and previous.restarts == current.restarts and previous.ended is not None)
        current = replace(current, ended=previous.ended if same and previous else now)
    return current


def gone(last: PodLifecycle, now: float) -> PodLifecycle:
    """The record of a pod whose object no longer exists: its last state, class ``gone``, ended
    (when deleted, or now) for the reason it had, else ``deleted``."""
    if last.end_reason == PodEnd.DELETED or last.end_reason is None:
        return replace(last, pod_class=GONE, end_reason=PodEnd.DELETED,
                       ended=last.ended if last.end_reason else now)
    return replace(last, pod_class=GONE)


class LifecycleLog:
    """Snapshots of the run's pods in, changes out (``Cluster.pod_lifecycles``): a pod is
    reported when what its source says of it changes, and once more when it is gone."""

    def __init__(self) -> None:
        self._given: dict[str, Hashable] = {}  # what the source said last, by uid
        self._known: dict[str, PodLifecycle] = {}  # as last reported (settled)

    def changes(self, current: Iterable[PodLifecycle], now: float) -> list[PodLifecycle]:
        """From the records of every pod there is now."""
        records = {r.uid: r for r in current}
        return self.changes_by_key(records, records.__getitem__, now)

    def changes_by_key(self, keys: Mapping[str, Hashable], make: Callable[[str], PodLifecycle],
                       now: float, *, present: AbstractSet[str] | None = None
                       ) -> list[PodLifecycle]:
        """From a cheap key per pod (anything that changes when its record would, e.g. a tuple
        of its source's values) and ``make(uid)``, called only for the pods whose key changed:
        a source with thousands of pods builds records only for the few that changed. A source
        that already knows which pods may have changed gives only those in ``keys`` and every
        pod there is in ``present``."""
        out = []
        for uid, key in keys.items():
            if self._given.get(uid) == key:
                continue
            self._given[uid] = key
            settled = settle(self._known.get(uid), make(uid), now)
            self._known[uid] = settled
            out.append(settled)
        live = keys.keys() if present is None else present
        if len(self._known) == len(live):  # every pod there is known: none has gone
            return out
        for uid in [u for u in self._known if u not in live]:
            out.append(gone(self._known.pop(uid), now))
            del self._given[uid]
        return out


# -- from a pod object (the real cluster's watch) ---------------------------------------------


def _time(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def _end(meta: dict[str, Any], status: dict[str, Any],
         container: dict[str, Any]) -> tuple[str | None, float | None]:
    """The pod's latest end and when (None when the object does not date it)."""
    deleting = _time(meta.get("deletionTimestamp"))
    if deleting is not None:
        grace = meta.get("deletionGracePeriodSeconds")
        # deletionTimestamp is when the grace period runs out: the deletion was asked before.
        return PodEnd.DELETED, deleting - (grace if isinstance(grace, int | float) else 0)
    state = container.get("state") or {}
    last = container.get("lastState") or {}
    term = state.get("terminated") or last.get("terminated") or {}
    finished = _time(term.get("finishedAt"))
    if status.get("phase") == "Failed":
        if status.get("reason") == "Evicted":
            disruption = _condition(status, "DisruptionTarget") or {}
            return PodEnd.EVICTED, _time(disruption.get("lastTransitionTime")) or finished
        return PodEnd.FAILED, finished
    if term:
        return (PodEnd.OOM_KILLED if term.get("reason") == "OOMKilled" else PodEnd.FAILED), finished
    return None, None


def lifecycle_of(obj: dict[str, Any]) -> PodLifecycle:
    """A pod object (as JSON, e.g. from a watch event) as a lifecycle record."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers = [c for c in status.get("containerStatuses") or [] if isinstance(c, dict)]
    first = containers[0] if containers else {}
    state = first.get("state") or {}
    run = state.get("running") or state.get("terminated") or {}
    scheduled = _condition(status, "PodScheduled") or {}
    ready = _condition(status, "Ready") or {}
    reason, ended = _end(meta, status, first)
    return PodLifecycle(
        uid=meta.get("uid") or meta.get("name") or "",
        name=meta.get("name") or "",
        node=spec.get("nodeName") or None,
        phase=status.get("phase") or "Pending",
        pod_class=classify(status_of(obj)),
        restarts=sum(int(c.get("restartCount") or 0) for c in containers),
        created=_time(meta.get("creationTimestamp")),
        scheduled=_time(scheduled.get("lastTransitionTime")),
        started=_time(run.get("startedAt")),
        ready=_time(ready.get("lastTransitionTime")),
        ended=ended,
        end_reason=reason,
    )
