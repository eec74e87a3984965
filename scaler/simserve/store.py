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

FRESH_WAIT_S = 3.0  # the watch cache's blockTimeout


class Gone(Exception):
    """The requested resourceVersion is older than the event log."""


@dataclass(frozen=True)
class Event:
    rv: int
    resource: str
    namespace: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict
    prev: dict | None = None  # the version a MODIFIED replaced: selector transitions need it


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
        prev = objs.get(key)
        kind = "MODIFIED" if prev is not None else "ADDED"
        self.rv += 1
        # a copy of the metadata: a caller's {**old, ...} shares it with the stored version,
        # which must keep its own resourceVersion (watch events hold it)
        obj = {**obj, "metadata": {**meta, "resourceVersion": str(self.rv)}}
        objs[key] = obj
        self._record(Event(self.rv, resource, key[0], kind, obj, prev))
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
        """The events after ``rv`` as a watch with the selector ``match`` sees them: an object
        that starts to match is ADDED, one that stops matching is DELETED (carrying its new
        state), as kube-apiserver's watch cache turns them (cacheWatcher.convertToWatchEvent)."""
        if rv + 1 < self._oldest:
            raise Gone(f"too old resource version: {rv} ({self._oldest - 1})")
        out = []
        # the log is in rv order: walk back from the newest to the first event after rv
        for ev in reversed(self._log):
            if ev.rv <= rv:
                break
            if ev.resource != resource or (namespace is not None and ev.namespace != namespace):
                continue
            now = match(ev.obj)
            if ev.type != "MODIFIED" or ev.prev is None:
                if now:
                    out.append(ev)
                continue
            before = match(ev.prev)
            if now and before:
                out.append(ev)
            elif now:
                out.append(Event(ev.rv, ev.resource, ev.namespace, "ADDED", ev.obj))
            elif before:
                out.append(Event(ev.rv, ev.resource, ev.namespace, "DELETED", ev.obj))
        out.reverse()
        return out

    @property
    def oldest(self) -> int:
        """The oldest resourceVersion a watch (or a continued list) can start from."""
        return self._oldest

    async def wait_fresh(self, rv: int, timeout: float = FRESH_WAIT_S) -> bool:
        """Wait (up to ``timeout``) until the store has reached ``rv``; False if it has not: a
        client that saw a newer version (from before a restart that lost state) gets
        "Too large resource version", as from the watch cache (waitUntilFreshAndBlock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.rv < rv:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await self.wait_change(min(left, 0.5))
        return True

    async def wait_change(self, timeout: float) -> None:
        """Return when something is stored (or after ``timeout``)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        if self._changed is event and event.is_set():
            self._changed = asyncio.Event()
