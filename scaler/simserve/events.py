"""Event objects (core/v1 ``Event``) as the cluster's components record them.

The components that report trouble (replicaset controller, kube-scheduler, kubelet) go through
client-go's event recorder, which shapes what a client sees:

- one object per (involved object, reason, message, source): a repeat bumps ``count`` and
  ``lastTimestamp`` of the same object (tools/record/events_cache.go, ``eventLogger``), so a
  tally keyed by uid with the highest count sees every occurrence once;
- a spam filter per source and involved object: a burst of 25, then one more every 5 minutes
  (``EventSourceObjectSpamFilter``, defaults ``defaultSpamBurst``/``defaultSpamQPS``); the rest
  are dropped before they reach the API;
- events expire after an hour (kube-apiserver ``--event-ttl``, default 1h).

Here the recorder writes straight into the Store, under resource "events", at the model's clock.
events.k8s.io/v1 shows the same objects converted (``as_events_v1``), as the API server does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scaler.simserve.render import timestamp
from scaler.simserve.store import Store

SPAM_BURST = 25
SPAM_REFILL_S = 300.0
EVENT_TTL_S = 3600.0


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class Source:
    component: str
    host: str = ""


REPLICASET_CONTROLLER = Source("replicaset-controller")
SCHEDULER = Source("default-scheduler")


def kubelet(node: str) -> Source:
    return Source("kubelet", node)


def involved(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``involvedObject`` reference to ``obj`` (an API object)."""
    meta = obj["metadata"]
    ref = {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "name": meta["name"],
           "uid": meta.get("uid", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


class EventRecorder:
    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self.now = now
        self._by_key: dict[tuple[Any, ...], tuple[str, str]] = {}  # aggregation key -> (namespace, name)
        self._spam: dict[tuple[Any, ...], _Bucket] = {}
        self.dropped = 0  # occurrences the spam filter kept from the API
        self._seq = 0

    def _allowed(self, source: Source, ref: dict[str, Any], t: float) -> bool:
        key = (source.component, source.host, ref["kind"], ref.get("namespace", ""), ref["name"],
               ref["uid"])
        b = self._spam.get(key)
        if b is None:
            b = self._spam[key] = _Bucket(float(SPAM_BURST), t)
        b.tokens = min(float(SPAM_BURST), b.tokens + (t - b.at) / SPAM_REFILL_S)
        b.at = t
        if b.tokens < 1.0:
            self.dropped += 1
            return False
        b.tokens -= 1.0
        return True

    def record(self, obj: dict[str, Any], reason: str, message: str, source: Source,
               type_: str = "Warning") -> dict[str, Any] | None:
        """One occurrence of ``reason`` about ``obj``; the stored Event, or None when the spam
        filter dropped it."""
        ref = involved(obj)
        t = self.now()
        if not self._allowed(source, ref, t):
            return None
        namespace = ref.get("namespace", "default")  # cluster-scoped objects' events: default
        key = (namespace, ref["kind"], ref["name"], ref["uid"], reason, message, source)
        stamp = timestamp(t)
        known = self._by_key.get(key)
        old = self.store.get("events", *known) if known else None
        if old is not None:
            ev = {**old, "count": int(old.get("count", 1)) + 1, "lastTimestamp": stamp,
                  "metadata": dict(old["metadata"])}
            return self.store.put("events", ev)
        # named as client-go names them: the involved object's name, a dot, a hex timestamp
        self._seq += 1
        name = f"{ref['name']}.{int(t * 1e9) + self._seq:x}"
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                           "creationTimestamp": stamp},
              "involvedObject": ref, "reason": reason, "message": message,
              "source": {"component": source.component, **({"host": source.host}
                                                            if source.host else {})},
              "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": type_,
              "eventTime": None, "reportingComponent": source.component,
              "reportingInstance": source.host}
        self._by_key[key] = (namespace, name)
        return self.store.put("events", ev)

    def expire(self) -> None:
        """Drop events whose last occurrence is older than the event TTL."""
        horizon = timestamp(self.now() - EVENT_TTL_S) or ""
        for key, (ns, name) in list(self._by_key.items()):
            ev = self.store.get("events", ns, name)
            if ev is None:
                del self._by_key[key]
            elif (ev.get("lastTimestamp") or "") < horizon:
                self.store.remove("events", ns, name)
                del self._by_key[key]

    def forget_namespace(self, namespace: str) -> None:
        """The namespace is gone: so are its events (the namespace controller deletes them)."""
        for key, (ns, name) in list(self._by_key.items()):
            if ns == namespace:
                self.store.remove("events", ns, name)
                del self._by_key[key]


def as_events_v1(ev: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 Event as events.k8s.io/v1 shows it (the API server converts between the two:
    ``regarding``/``note``/``deprecated*`` for ``involvedObject``/``message``/``count``...)."""
    if ev.get("kind") != "Event" or ev.get("apiVersion") != "v1":
        return ev
    src = ev.get("source") or {}
    # eventTime is required in events.k8s.io/v1 (the typed clients refuse a null one); an
    # old-style event has none, so its first occurrence stands in, as a MicroTime
    first = ev.get("firstTimestamp")
    event_time = ev.get("eventTime") or (first[:-1] + ".000000Z" if first else None)
    out = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ev["metadata"],
           "eventTime": event_time, "reportingController": ev.get("reportingComponent")
           or src.get("component", ""), "reportingInstance": ev.get("reportingInstance", ""),
           "action": ev.get("action", ""), "reason": ev.get("reason"),
           "regarding": ev.get("involvedObject"), "note": ev.get("message"),
           "type": ev.get("type"), "deprecatedSource": src,
           "deprecatedFirstTimestamp": ev.get("firstTimestamp"),
           "deprecatedLastTimestamp": ev.get("lastTimestamp"),
           "deprecatedCount": ev.get("count")}
    return out
