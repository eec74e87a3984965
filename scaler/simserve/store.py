"""Objects by resource, one resourceVersion counter, and the event log watches read from.

Objects are never mutated once stored (a change stores a new dict), so the log can hold
references. The log is bounded: a watch asking for a version older than the log's start gets
410 Gone, as from a real API server whose watch cache has moved on, and must list again.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections import deque
from dataclasses import dataclass, field

from scaler.simserve.selectors import Predicate


class Gone(Exception):
    """The requested resourceVersion is older than the event log."""


@dataclass(frozen=True)
class Event:
    rv: int
    resource: str
    namespace: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict


@dataclass
class _Order:
    """A resource's keys in order as of the last list, and what came and went since."""

    objects: dict  # the resource's objects these keys are of
    keys: list
    added: dict = field(default_factory=dict)  # keys, in the order they came
    gone: set = field(default_factory=set)


class Store:
    def __init__(self, log_size: int = 20_000) -> None:
        self.rv = 1
        self._objects: dict[str, dict[tuple[str, str], dict]] = {}
        self._log: deque[Event] = deque(maxlen=log_size)
        self._oldest = 1  # the oldest rv a watch can start from
        self._changed = asyncio.Event()
        self._order: dict[str, _Order] = {}  # the order lists answer in (``sorted_items``)

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def items(self, resource: str, namespace: str | None = None) -> list[dict]:
        objs = self._objects.get(resource, {})
        if namespace is None:
            return list(objs.values())
        return [o for (ns, _), o in objs.items() if ns == namespace]

    def sorted_items(self, resource: str, namespace: str | None = None) -> list[dict]:
        """The objects in (namespace, name) order, as a list answers them. The sorted keys are
        kept: a list after some objects came or went merges those in (a sort of a sorted run
        and a short tail is linear) instead of sorting every key again, and one namespace's
        objects are found by bisection, not by a scan of every object."""
        objs = self._objects.get(resource, {})
        kept = self._order.get(resource)
        if kept is None or kept.objects is not objs:  # first list (or the objects replaced)
            keys = sorted(objs)
        else:
            keys = kept.keys
            if kept.gone:
                keys = list(itertools.filterfalse(kept.gone.__contains__, keys))
            if kept.added:
                keys = sorted(keys + list(kept.added))
        self._order[resource] = _Order(objs, keys)
        if namespace is not None:
            keys = keys[bisect.bisect_left(keys, (namespace,)):
                        bisect.bisect_left(keys, (namespace + "\0",))]
        return list(map(objs.__getitem__, keys))

    def put(self, resource: str, obj: dict) -> dict:
        """Store ``obj`` (ADDED or MODIFIED) under a new resourceVersion; returns it."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        objs = self._objects.setdefault(resource, {})
        kind = "MODIFIED" if key in objs else "ADDED"
        if kind == "ADDED" and resource in self._order:
            self._order[resource].added[key] = None
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        objs[key] = obj
        self._record(Event(self.rv, resource, key[0], kind, obj))
        return obj

    def remove(self, resource: str, namespace: str, name: str) -> dict | None:
        obj = self._objects.get(resource, {}).pop((namespace, name), None)
        if obj is None:
            return None
        order = self._order.get(resource)
        if order is not None:
            if (namespace, name) in order.added:
                del order.added[(namespace, name)]
            else:
                order.gone.add((namespace, name))
        self.rv += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        self._record(Event(self.rv, resource, namespace, "DELETED", obj))
        return obj

    def _record(self, event: Event) -> None:
        if len(self._log) == self._log.maxlen:
            self._oldest = self._log[0].rv + 1
        self._log.append(event)
        self._changed.set()

    def events_after(self, rv: int, resource: str, namespace: str | None, match: Predicate) -> list[Event]:
        if rv + 1 < self._oldest:
            raise Gone(f"too old resource version: {rv} ({self._oldest - 1})")
        out = []
        # the log is in rv order: walk back from the newest to the first event after rv
        for ev in reversed(self._log):
            if ev.rv <= rv:
                break
            if ev.resource == resource and (namespace is None or ev.namespace == namespace) and match(ev.obj):
                out.append(ev)
        out.reverse()
        return out

    async def wait_change(self, timeout: float) -> None:
        """Return when something is stored (or after ``timeout``)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        if self._changed is event and event.is_set():
            self._changed = asyncio.Event()
