"""Objects by resource, one resourceVersion counter, and the event log watches read from.

Objects are never mutated once stored (a change stores a new dict), so the log can hold
references. The log is bounded: a watch asking for a version older than the log's start gets
410 Gone, as from a real API server whose watch cache has moved on, and must list again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

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


class Store:
    def __init__(self, log_size: int = 20_000) -> None:
        self.rv = 1
        self._objects: dict[str, dict[tuple[str, str], dict]] = {}
        self._log: deque[Event] = deque(maxlen=log_size)
        self._oldest = 1  # the oldest rv a watch can start from
        self._changed = asyncio.Event()

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def items(self, resource: str, namespace: str | None = None) -> list[dict]:
        objs = self._objects.get(resource, {})
        if namespace is None:
            return list(objs.values())
        return [o for (ns, _), o in objs.items() if ns == namespace]

    def put(self, resource: str, obj: dict) -> dict:
        """Store ``obj`` (ADDED or MODIFIED) under a new resourceVersion; returns it."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        objs = self._objects.setdefault(resource, {})
        kind = "MODIFIED" if key in objs else "ADDED"
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        objs[key] = obj
        self._record(Event(self.rv, resource, key[0], kind, obj))
        return obj

    def remove(self, resource: str, namespace: str, name: str) -> dict | None:
        obj = self._objects.get(resource, {}).pop((namespace, name), None)
        if obj is None:
            return None
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
