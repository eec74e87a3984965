"""The run's pods as the watch stream describes them, classified as ``kubectl get pods`` users
read them. Pure bookkeeping, no I/O: fed list pages and events, asked for counts.

Each pod is reduced to the few fields classification needs as soon as it arrives, so the table's
memory and the cost of ``counts`` do not depend on the size of the pod objects, and a list is
taken one page at a time: the raw page can be dropped before the next one is fetched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


# Thousands of pods share a handful of distinct statuses: keep one object per distinct value.
_STATUSES: dict[PodStatus, PodStatus] = {}
_STATUSES_MAX = 4096


def _shared(status: PodStatus) -> PodStatus:
    found = _STATUSES.get(status)
    if found is not None:
        return found
    if len(_STATUSES) < _STATUSES_MAX:
        _STATUSES[status] = status
    return status


@dataclass(frozen=True, slots=True)
class PodState:
    uid: str
    status: PodStatus
    restarts: int
    created: float | None
    ready_since: float | None


def pod_state(obj: dict[str, Any]) -> PodState:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    st = _shared(status_of(obj))
    ready_since = None
    if st.ready:
        ready_cond = next((c for c in status.get("conditions") or []
                           if c.get("type") == "Ready"), None) or {}
        ready_since = parse_time(ready_cond.get("lastTransitionTime"))
    return PodState(
        uid=meta.get("uid") or meta.get("name", ""),
        status=st,
        restarts=sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
        created=parse_time(meta.get("creationTimestamp")),
        ready_since=ready_since,
    )


def oom_kills(obj: dict[str, Any]) -> set[tuple[str, str, Any]]:
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
        self.ooms: set[tuple[str, str, Any]] = set()
        self.reported_ready: set[str] = set()  # uids of live pods whose startup was reported
        self._startups: list[float] = []
        self._staged: dict[str, PodState] | None = None  # a list being taken, page by page
        # contract 3's evicted_listed (Evicted pod objects listed now, not cumulative), as of
        # the last ``counts``
        self.evicted_listed = 0
        self.lifecycles: dict[str, PodLifecycle] = {}  # by name: run.pods.csv's lifecycle
        self._staged_lifecycles: dict[str, PodLifecycle] = {}

    # -- events ----------------------------------------------------------------------------------

    def apply(self, kind: str, obj: dict[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        state = pod_state(obj)
        if kind == "DELETED":
            self.pods.pop(name, None)
            self.lifecycles.pop(name, None)
            self._absorb(state, obj, live=False)
            self.reported_ready.discard(state.uid)  # gone for good: nothing left to report
            return
        self.pods[name] = state
        self.lifecycles[name] = lifecycle_of(obj)
        self._absorb(state, obj, live=True)

    # -- a fresh list, one page at a time --------------------------------------------------------

    def begin_list(self) -> None:
        self._staged = {}
        self._staged_lifecycles = {}

    def list_page(self, items: list[dict[str, Any]]) -> None:
        """Reduce a page to records now; the caller drops the raw page afterwards."""
        if self._staged is None:
            self._staged = {}
        for obj in items:
            name = (obj.get("metadata") or {}).get("name")
            if not name:
                continue
            state = pod_state(obj)
            self._staged[name] = state
            self._staged_lifecycles[name] = lifecycle_of(obj)
            self._absorb(state, obj, live=True)

    def end_list(self) -> None:
        """The list is complete (first sync or after the watch's version expired): it replaces
        the table, so pods that vanished meanwhile are gone."""
        staged, self._staged = self._staged or {}, None
        self.pods = staged
        self.lifecycles, self._staged_lifecycles = self._staged_lifecycles, {}
        live = {s.uid for s in staged.values()}
        self.reported_ready &= live

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.begin_list()
        self.list_page(items)
        self.end_list()

    def _absorb(self, state: PodState, obj: dict[str, Any], live: bool) -> None:
        if classify(state.status) is PodClass.EVICTED:
            self.evicted.add(state.uid)
        if obj.get("status", {}).get("containerStatuses"):
            self.ooms |= oom_kills(obj)
        if live and state.status.ready and state.uid not in self.reported_ready:
            self.reported_ready.add(state.uid)
            if state.created is not None and state.ready_since is not None:
                self._startups.append(max(0.0, state.ready_since - state.created))

    # -- reads -----------------------------------------------------------------------------------

    def counts(self, api_errors: int = 0) -> PodCounts:
        """The current classification; startups reported since the previous call."""
        by_class = dict.fromkeys(PodClass, 0)
        restarts = 0
        for p in self.pods.values():
            restarts += p.restarts
            by_class[classify(p.status)] += 1
        startups, self._startups = tuple(self._startups), []
        self.evicted_listed = by_class[PodClass.EVICTED]
        return PodCounts(running=by_class[PodClass.RUNNING], pending=by_class[PodClass.PENDING],
                         creating=by_class[PodClass.CREATING],
                         terminating=by_class[PodClass.TERMINATING], evicted=len(self.evicted),
                         oom_killed=len(self.ooms), failed=by_class[PodClass.FAILED],
                         restarts=restarts, startup_s=startups, api_errors=api_errors,
                         evicted_listed=self.evicted_listed)
