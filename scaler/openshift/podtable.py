"""The run's pods as the watch stream describes them, classified as ``kubectl get pods`` users
read them. Pure bookkeeping, no I/O: fed events, asked for counts.

Each pod is reduced to the few fields classification needs, so the table's memory and the cost
of ``counts`` do not depend on the size of the pod objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from scaler.cluster import PodCounts, PodLifecycle
from scaler.pod_lifecycle import lifecycle_of
from scaler.pod_state import PodClass, PodStatus, classify, status_of


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class PodState:
    uid: str
    status: PodStatus
    restarts: int
    created: float | None
    ready_since: float | None


def pod_state(obj: dict) -> PodState:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    ready_cond = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                      None) or {}
    st = status_of(obj)
    return PodState(
        uid=meta.get("uid") or meta.get("name", ""),
        status=st,
        restarts=sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
        created=parse_time(meta.get("creationTimestamp")),
        ready_since=parse_time(ready_cond.get("lastTransitionTime")) if st.ready else None,
    )


def oom_kills(obj: dict) -> set[tuple]:
    """Identities of the OOM kills a pod object shows (current and last container state), so the
    same kill seen in many events is counted once."""
    uid = (obj.get("metadata") or {}).get("uid", "")
    out = set()
    for cs in (obj.get("status") or {}).get("containerStatuses") or []:
        for part in ("state", "lastState"):
            term = ((cs.get(part) or {}).get("terminated")) or {}
            if term.get("reason") == "OOMKilled":
                ident = term.get("containerID") or term.get("finishedAt") or cs.get("restartCount")
                out.add((uid, cs.get("name"), ident))
    return out


class PodTable:
    def __init__(self) -> None:
        self.pods: dict[str, PodState] = {}  # by name
        self.evicted: set[str] = set()  # uids ever seen Failed/Evicted
        self.ooms: set[tuple] = set()
        self.reported_ready: set[str] = set()  # uids whose startup was reported
        self._startups: list[float] = []
        self.lifecycles: dict[str, PodLifecycle] = {}  # by name: run.pods.csv's lifecycle

    def apply(self, kind: str, obj: dict) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        if kind == "DELETED":
            self.pods.pop(name, None)
            self.lifecycles.pop(name, None)
            self._absorb(pod_state(obj), obj, live=False)
            return
        state = pod_state(obj)
        self.pods[name] = state
        self.lifecycles[name] = lifecycle_of(obj)
        self._absorb(state, obj, live=True)

    def replace(self, items: list[dict]) -> None:
        """A fresh list (first sync or after the watch expired): pods not in it are gone."""
        names = set()
        for obj in items:
            self.apply("MODIFIED", obj)
            names.add((obj.get("metadata") or {}).get("name"))
        for gone in [n for n in self.pods if n not in names]:
            del self.pods[gone]
            self.lifecycles.pop(gone, None)

    def _absorb(self, state: PodState, obj: dict, live: bool) -> None:
        if classify(state.status) is PodClass.EVICTED:
            self.evicted.add(state.uid)
        self.ooms |= oom_kills(obj)
        if live and state.status.ready and state.uid not in self.reported_ready:
            self.reported_ready.add(state.uid)
            if state.created is not None and state.ready_since is not None:
                self._startups.append(max(0.0, state.ready_since - state.created))

    def counts(self, api_errors: int = 0) -> PodCounts:
        """The current classification; startups reported since the previous call."""
        by_class = dict.fromkeys(PodClass, 0)
        restarts = 0
        for p in self.pods.values():
            restarts += p.restarts
            by_class[classify(p.status)] += 1
        startups, self._startups = tuple(self._startups), []
        return PodCounts(running=by_class[PodClass.RUNNING], pending=by_class[PodClass.PENDING],
                         creating=by_class[PodClass.CREATING],
                         terminating=by_class[PodClass.TERMINATING], evicted=len(self.evicted),
                         oom_killed=len(self.ooms), failed=by_class[PodClass.FAILED],
                         restarts=restarts,
                         startup_s=startups, api_errors=api_errors)
