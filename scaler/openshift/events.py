"""The cluster's own account of why pods do not run: Events about the run's ReplicaSets and pods,
tallied into the per-step counts of contract 3. Pure bookkeeping, no I/O: fed list pages and
watch events (watch.py), asked for counts.

Which events, from whom (reason strings as the Kubernetes components emit them):

| reason | about | emitted by | count |
| --- | --- | --- | --- |
| FailedCreate | ReplicaSet | replicaset controller: the API refused a pod (missing RuntimeClass, quota, admission) | ``failed_create`` |
| FailedScheduling | Pod | kube-scheduler: no node fits | ``failed_scheduling`` |
| FailedCreatePodSandBox | Pod | kubelet: the runtime could not start the sandbox (e.g. a kata VM) | ``sandbox_failures`` |
| SandboxChanged | Pod | kubelet: the sandbox died and will be recreated | ``sandbox_deaths`` |
| Evicted | Pod | kubelet eviction manager | ``evicted`` (metadata only) |
| OOMKilling | Node/Pod | node-problem-detector (node events live in ``default``) | metadata only |

Not here: container OOM kills. A kill at the container's memory limit gets no event from the
kubelet (kubernetes#53669): the pod's status says ``lastState.terminated.reason: OOMKilled``,
which podtable.py counts (``oom_killed``). A kill by the node's kernel OOM killer is a
``SystemOOM`` event on the Node (kubelet oom_watcher, in ``default``, outside the run's
namespace); node-problem-detector, which OpenShift does not run by default, adds
``OOMKilling``. ``BackOff`` (a container waiting out its restart back-off) arrives with the
failures and shows in ``by_reason`` only.

One Event object stands for several occurrences: the old recorder (core/v1, client-go
tools/record) bumps ``count``; the new one (events.k8s.io/v1, used by kube-scheduler) keeps a
``series`` whose ``count`` includes the first occurrence (client-go tools/events starts a series
at 2). Counting is by object uid, keeping the highest count seen, so a relist or a repeated
MODIFIED never counts twice; DELETED (the event TTL, 1 h by default) takes nothing away.
Occurrences recorded before the run began (an event object already there at the first list, in
a namespace used before) are the baseline and not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: reason -> contract-3 field (PodCounts) it counts into
COUNTED = {
    "FailedCreate": "failed_create",
    "FailedScheduling": "failed_scheduling",
    "FailedCreatePodSandBox": "sandbox_failures",
    "SandboxChanged": "sandbox_deaths",
    "Evicted": "evicted_events",
    "OOMKilling": "oom_events",
}
#: kinds of the objects a run's events are about
KINDS = ("Pod", "ReplicaSet")
#: the bulk of a busy namespace's events, which say nothing about failures: left out on the
#: server's side with a field selector, so the stream costs in proportion to trouble
ROUTINE = ("Scheduled", "Pulling", "Pulled", "Created", "Started", "Killing",
           "SuccessfulCreate", "SuccessfulDelete", "ScalingReplicaSet", "AddedInterface")


def routine_field_selector() -> str:
    return ",".join(f"reason!={r}" for r in ROUTINE)


@dataclass(frozen=True, slots=True)
class EventRecord:
    uid: str
    reason: str
    kind: str
    name: str
    occurrences: int
    message: str


def event_record(obj: dict[str, Any]) -> EventRecord | None:
    """An Event as core/v1 or events.k8s.io/v1 shows it, reduced to what the tally needs."""
    meta = obj.get("metadata") or {}
    uid = meta.get("uid") or meta.get("name")
    reason = obj.get("reason")
    if not uid or not reason:
        return None
    about = obj.get("involvedObject") or obj.get("regarding") or {}
    series = obj.get("series") or {}
    count = obj.get("count") or obj.get("deprecatedCount") or 0
    occurrences = max(int(series.get("count") or 0), int(count), 1)
    message = obj.get("message") or obj.get("note") or ""
    return EventRecord(uid=str(uid), reason=str(reason), kind=str(about.get("kind") or ""),
                       name=str(about.get("name") or ""), occurrences=occurrences,
                       message=" ".join(str(message).split())[:300])


@dataclass(frozen=True)
class FailureCounts:
    """Cumulative occurrences during the run, by contract-3 field (plus two for the metadata)."""

    failed_create: int = 0
    failed_scheduling: int = 0
    sandbox_failures: int = 0
    sandbox_deaths: int = 0
    evicted_events: int = 0
    oom_events: int = 0
    last_message: dict[str, Any] = field(default_factory=dict)  # field -> the latest event's message


class EventTally:
    def __init__(self, name_prefix: str) -> None:
        """``name_prefix``: the run's objects are named ``<deployment>-...`` (ReplicaSets
        ``<deployment>-<hash>``, pods ``<deployment>-<hash>-<suffix>``)."""
        self.prefix = name_prefix
        self.seen: dict[str, tuple[str, int]] = {}  # uid -> (field, highest occurrences)
        self.baseline: dict[str, int] = {}  # uid -> occurrences before the run
        self.last_message: dict[str, str] = {}
        self.by_reason: dict[str, int] = {}  # every reason that arrived (uncounted ones too)
        self._first_list_done = False
        self._listing = False

    def _ours(self, rec: EventRecord) -> bool:
        return rec.kind in KINDS and rec.name.startswith(self.prefix)

    def apply(self, kind: str, obj: dict[str, Any]) -> None:
        if kind not in ("ADDED", "MODIFIED"):
            return  # DELETED: expired by its TTL; what happened still happened
        rec = event_record(obj)
        if rec is None or not self._ours(rec):
            return
        fld = COUNTED.get(rec.reason, "")
        before = self.seen.get(rec.uid, ("", 0))[1]
        if rec.occurrences <= before:
            return  # seen already (a relist, or an update that is not a new occurrence)
        self.seen[rec.uid] = (fld, rec.occurrences)
        self.by_reason[rec.reason] = self.by_reason.get(rec.reason, 0) + rec.occurrences - before
        if self._listing and not self._first_list_done:
            self.baseline[rec.uid] = rec.occurrences
        elif fld:
            self.last_message[fld] = rec.message

    def begin_list(self) -> None:
        self._listing = True

    def list_page(self, items: list[dict[str, Any]]) -> None:
        for obj in items:
            self.apply("ADDED", obj)

    def end_list(self) -> None:
        self._listing = False
        if not self._first_list_done:
            # what was there before the run is not the run's: reasons seen so far are history
            self.by_reason.clear()
        self._first_list_done = True

    def counts(self) -> FailureCounts:
        totals: dict[str, int] = {}
        for uid, (fld, n) in self.seen.items():
            if fld:
                totals[fld] = totals.get(fld, 0) + n - self.baseline.get(uid, 0)
        return FailureCounts(**totals, last_message=dict(self.last_message))


@dataclass
class Refusals:
    """Ends a run that cannot measure anything: pods were asked for, none exists, and the
    ReplicaSet keeps reporting FailedCreate (a RuntimeClass or quota that refuses every pod),
    for longer than ``patience_s``. Pure: fed each observation."""

    patience_s: float
    since: float | None = None

    def update(self, now: float, requested: int, pods: int, failures: FailureCounts) -> str | None:
        if requested <= 0 or pods > 0 or failures.failed_create <= 0:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        if now - self.since < self.patience_s:
            return None
        why = failures.last_message.get("failed_create") or "FailedCreate"
        return (f"no pod could be created for {now - self.since:.0f} s "
                f"({failures.failed_create} FailedCreate events): {why}")
