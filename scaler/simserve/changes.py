"""What changed in the model since the front last looked: by pod table slot, in array passes.

``sim serve`` mirrors the model's pods into API objects every tick. Building a view and a
signature of every pod each time costs in proportion to the pods (half a core at 5,000); this
compares every column a rendered pod depends on with what was seen at the same slot last time
(``scaler.sim.pod_records.SimLifecycles`` does the same for run.pods.csv), so the front renders
only the pods that changed and learns which ones are gone. A slot that now holds another pod
(the table compacts) counts as changed there, and its previous pod as gone unless it shows up
at another changed slot.

When the model has not stepped (``ticks`` less ``skipped_ticks``: a quiet stretch changes no pod)
and nothing was done to it from outside (a Deployment applied, a pod deleted: these change the
number of slots, of live pods or of pods being deleted), not even the columns are compared: an
idle front costs next to nothing per pod.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaler.pod_state import PodClass, classify
from scaler.sim.pods import (
    CS_RUNNING,
    PH_FAILED,
    PH_SUCCEEDED,
    PodTable,
    status_codes,
    status_of_code,
)
from scaler.sim.views import PodView, pod_view

# The table columns a rendered pod depends on (``render.pod_signature``'s fields, as stored):
# numbers compared with ==, NaN equal to NaN; objects (uid: who is in the slot) compared alike.
_NUMERIC = ("node", "phase", "reason", "cstate", "term_reason", "term_exit", "last_reason",
            "last_exit", "restarts", "created", "scheduled", "started", "ready_at", "deleted")
_OBJECTS = ("uid", "message")


@dataclass
class PodDiff:
    """The pods that are new or changed (their table slots, in slot order) and the pods gone
    since the last diff (name, uid)."""

    slots: np.ndarray
    gone: list[tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(len(self.slots) or self.gone)


NOTHING = PodDiff(np.zeros(0, dtype=np.int64), [])


class PodChanges:
    """Diffs of one model's pod table, one call after another (see the module doc)."""

    def __init__(self) -> None:
        self._seen: dict[str, np.ndarray] = {}  # column -> values by slot, last diff
        self._names = np.empty(0, dtype=object)  # by slot: the name of the pod seen there
        self._token: tuple | None = None
        self.node_flags: tuple | None = None  # the nodes' pressure and taint arrays, last sync
        self.rendered = 0  # pods handed out as changed, for tests and stats

    def forget(self) -> None:
        """Every pod is new to the next diff (the front has no pod objects)."""
        self._seen = {}
        self._names = np.empty(0, dtype=object)
        self._token = None
        self.node_flags = None

    def diff(self, model) -> PodDiff:
        """What changed since the last call."""
        p: PodTable = model.table
        n = p.n
        alive = p.alive[:n]
        token = (id(model), id(p), int(model.ticks) - int(model.skipped_ticks), n,
                 int(np.count_nonzero(alive)), int(np.count_nonzero(~np.isnan(p.deleted[:n]))))
        if token == self._token:
            return NOTHING
        self._token = token
        uid = p.uid[:n].copy()
        uid[~alive] = None
        seen = self._seen
        k = min(n, len(self._names))
        differs = np.ones(n, dtype=bool)
        if k:
            same = uid[:k] == seen["uid"][:k]
            moved = ~same  # another pod (or none) in the slot now
            for name in _NUMERIC:
                a, b = getattr(p, name)[:k], seen[name][:k]
                if a.dtype.kind == "f":
                    same &= (a == b) | (np.isnan(a) & np.isnan(b))
                else:
                    same &= a == b
            same &= p.message[:k] == seen["message"][:k]
            differs[:k] = ~same
        else:
            moved = np.zeros(0, dtype=bool)
        slots = np.flatnonzero(differs & alive)
        old_names = self._names
        before = np.concatenate([np.flatnonzero(moved), np.arange(k, len(old_names))])
        gone: list[tuple[str, str]] = []
        if len(before):
            old_uids = seen["uid"][before]
            present = set(uid[slots].tolist())
            gone = [(str(name), str(u)) for name, u in
                    zip(old_names[before].tolist(), old_uids.tolist(), strict=True)
                    if u is not None and u not in present]
        if seen and n == len(old_names):
            at = np.flatnonzero(differs)
            for name in _NUMERIC + ("message",):
                seen[name][at] = getattr(p, name)[at]
            seen["uid"][at] = uid[at]
            old_names[at] = p.name[at]
        else:
            self._seen = {name: getattr(p, name)[:n].copy() for name in _NUMERIC + ("message",)}
            self._seen["uid"] = uid
            self._names = p.name[:n].copy()
        self.rendered += len(slots)
        return PodDiff(slots, gone)


def views_at(model, slots: np.ndarray) -> list[PodView]:
    """The model's views of the pods at ``slots`` (what ``SimModel.pods`` builds for all)."""
    s = model.state
    return [pod_view(s, int(i)) for i in slots]


@dataclass
class PodTally:
    """Pods by class (``scaler.pod_state.PodClass``), and the uids of the Evicted ones among the
    slots asked about."""

    by_class: dict[PodClass, int]
    pods: int
    evicted_uids: list[str]


_CLASS_OF: dict[int, PodClass] = {}


def _class(code: int) -> PodClass:
    found = _CLASS_OF.get(code)
    if found is None:
        found = _CLASS_OF[code] = classify(status_of_code(code))
    return found


def tally(model, slots: np.ndarray) -> PodTally:
    """Every live pod classified (the distinct status codes once each), and which of the pods
    at ``slots`` are Evicted now."""
    p: PodTable = model.table
    live = np.flatnonzero(p.alive[: p.n])
    codes, per_code = np.unique(status_codes(p, live), return_counts=True)
    by_class = dict.fromkeys(PodClass, 0)
    for code, k in zip(codes.tolist(), per_code.tolist(), strict=True):
        by_class[_class(code)] += k
    evicted = [str(u) for u, c in zip(p.uid[slots].tolist(), status_codes(p, slots).tolist(),
                                      strict=True) if _class(c) is PodClass.EVICTED]
    return PodTally(by_class, len(live), evicted)


def deployment_pods(model, key: str) -> tuple[int, int]:
    """(live, ready) pods of Deployment ``key`` as its status counts them from the rendered
    objects (``render.deployment_status``): not deleting and not Failed/Succeeded; Ready. Pods
    of an earlier Deployment of the same name count as the objects do (by name)."""
    s = model.state
    p: PodTable = model.table
    n = p.n
    deps = [d.index for d in s.dep_list if d.key == key]
    if not deps:
        return 0, 0
    mine = p.alive[:n] & np.isin(p.dep[:n], deps)
    live = mine & np.isnan(p.deleted[:n]) & (p.phase[:n] != PH_FAILED) & (p.phase[:n] != PH_SUCCEEDED)
    ready = live & (p.cstate[:n] == CS_RUNNING)
    return int(live.sum()), int(ready.sum())
