"""Which of the model's pods changed since the front's last tick, from its pod table's columns.

The front mirrors the model into API objects every tick (0.2 s). Building a view of every pod to
compare it with the last one cost most of a CPU at 5,000 pods doing nothing; the pod table's
columns compared as arrays find the few that changed (issue 15.3). The columns are every one a
pod's view, hence its rendered object, depends on (scaler.sim.views.pod_view) but its memory
figure, which no API object shows, and the kubelet's counters the front's events come from
(failed sandbox set-ups, kills by the node's OOM killer: mirror.PodMirror._kubelet_events).

This reads the model's table (``model.state.table``): when it is not there (another model), or
on the first tick, the answer is None and the caller compares every pod, as before. Slots
renumbered by the table's compaction are followed (see ``SlotSignatures``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

COLUMNS = ("dep", "node", "phase", "reason", "cstate", "term_reason", "term_exit",
           "last_reason", "last_exit", "restarts", "created", "scheduled", "started",
           "ready_at", "deleted", "sandbox_fails", "sys_ooms")


@dataclass(frozen=True)
class Delta:
    changed: np.ndarray  # live slots whose pod is new or changed
    gone: list[str]  # names of the pods that stopped existing
    live: np.ndarray | None  # every live slot; None: nothing changed at all


# Object columns compared too: who is in the slot, and the scheduler's message.
_OBJECTS = ("uid", "message")


class SlotSignatures:
    """The table's columns as the last delta saw them, slot by slot.

    A slot that holds another pod than last time (the table compacts itself: the pods kept
    move to lower slots) counts as changed there, and the pod it held as gone unless it shows
    up at another changed slot, so a compaction costs a comparison, not a view of every pod.
    While the model has not stepped (its ``ticks`` less ``skipped_ticks``: a quiet stretch
    changes no pod) and nothing changed it from outside (a Deployment applied, a pod deleted
    change the slots in use, the live pods or the pods being deleted), not even the columns are
    compared: an idle front costs next to nothing per pod."""

    def __init__(self) -> None:
        self._seen: dict[str, np.ndarray] | None = None  # column -> values by slot
        self._names = np.empty(0, dtype=object)  # by slot: the pod seen there
        self._token: tuple[int, ...] | None = None

    def reset(self) -> None:
        self._seen = None
        self._token = None

    def delta(self, model: Any) -> Delta | None:
        p = getattr(getattr(model, "state", None), "table", None)
        if p is None:
            return None
        try:
            n = int(p.n)
            alive = np.asarray(p.alive[:n], dtype=bool)
            token = (id(model), id(p), int(model.ticks) - int(model.skipped_ticks), n,
                     int(np.count_nonzero(alive)),
                     int(np.count_nonzero(~np.isnan(p.deleted[:n]))))
            if token == self._token and self._seen is not None:
                return Delta(np.zeros(0, dtype=np.int64), [], None)
            uid = np.array(p.uid[:n], dtype=object)
            uid[~alive] = None
            cols = {c: getattr(p, c)[:n] for c in COLUMNS + ("message",)}
        except (AttributeError, TypeError, ValueError):
            return None
        self._token = token
        seen, old_names = self._seen, self._names
        if seen is None:  # the first tick (or a restored front): every pod compared
            self._seen = {c: np.array(v, copy=True) for c, v in cols.items()}
            self._seen["uid"] = uid
            self._names = np.array(p.name[:n], dtype=object)
            return None
        k = min(n, len(old_names))
        same = uid[:k] == seen["uid"][:k]
        moved = ~same  # another pod (or none) in the slot now
        for c, now in cols.items():
            a, b = now[:k], seen[c][:k]
            if a.dtype.kind == "f":
                same &= (a == b) | (np.isnan(a) & np.isnan(b))
            else:
                same &= a == b
        differs = np.ones(n, dtype=bool)
        differs[:k] = ~same
        changed = np.flatnonzero(differs & alive)
        before = np.concatenate([np.flatnonzero(moved), np.arange(k, len(old_names))])
        gone: list[str] = []
        if len(before):
            present = set(uid[changed].tolist())
            gone = [str(name) for name, u in zip(old_names[before].tolist(),
                                                 seen["uid"][before].tolist(), strict=True)
                    if u is not None and u not in present]
        if n == len(old_names):
            at = np.flatnonzero(differs)
            for c, now in cols.items():
                seen[c][at] = now[at]
            seen["uid"][at] = uid[at]
            old_names[at] = p.name[at]
        else:
            self._seen = {c: np.array(v, copy=True) for c, v in cols.items()}
            self._seen["uid"] = uid
            self._names = np.array(p.name[:n], dtype=object)
        return Delta(changed, gone, np.flatnonzero(alive))
