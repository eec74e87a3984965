"""LIST: selectors, pages and continue tokens, as kube-apiserver answers them.

Pages (https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks):

- a continue token names the list's resourceVersion and the last key returned, like the API
  server's (base64 of ``{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\x00"}``): it can be used
  again (a retried page gets the same answer) and is not kept by the server;
- every page of one list is served from the snapshot the first page was cut from (objects are
  never mutated, so a snapshot is a list of references), so a paged relist costs about what
  one unpaged list does: the snapshot is sorted once, each page is found by bisection;
- a token from a version the server no longer holds is 410 Expired, with a fresh token to go
  on inconsistently (Status.metadata.continue); a token that does not decode is 400;
- ``remainingItemCount`` is given only when no selector filters the list (the server cannot
  count what is left without reading it).

A list at a ``resourceVersion`` newer than the server's waits up to 3 s, then answers 504
"Too large resource version", as a list served from the watch cache does.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from scaler.simserve.selectors import object_filter
from scaler.simserve.status import ApiError, too_large_resource_version
from scaler.simserve.store import Store

SNAPSHOTS = 16  # lists being paged at once (each a list of references)
EXPIRED = ("The provided continue parameter is too old to display a consistent list result. "
           "You can start a new list without the continue parameter, or use the continue "
           "token in this response to retrieve the remainder of the results. Continuing with "
           "the provided token results in an inconsistent list - objects that were created, "
           "modified, or deleted between the time the first chunk was returned and now may "
           "show up in the list.")


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def encode_token(rv: int, start: str) -> str:
    doc = {"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> tuple[int, str]:
    """(resourceVersion, the key after which the page starts); 400 for a garbage token."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = doc["rv"], doc["start"]
        if doc.get("v") != "meta.k8s.io/v1" or not isinstance(rv, int) or \
                not isinstance(start, str) or not start.endswith("\x00"):
            raise ValueError("unknown version or fields")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as e:
        raise ApiError(400, "BadRequest", f"continue key is not valid: {e}") from None
    return rv, start[:-1]


@dataclass(frozen=True)
class Snapshot:
    items: list[dict[str, Any]]
    keys: list[str]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    meta: dict[str, Any]


class Lister:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshots: OrderedDict[tuple[Any, ...], Snapshot] = OrderedDict()

    def _snapshot(self, resource: str, namespace: str | None, labels: str | None,
                  fields: str | None, rv: int, rebuild: bool) -> Snapshot | None:
        key = (resource, namespace, labels or "", fields or "", rv)
        snap = self._snapshots.get(key)
        if snap is not None:
            self._snapshots.move_to_end(key)
            return snap
        if not rebuild:
            return None
        match = object_filter(labels, fields, resource)
        items = sorted((o for o in self.store.items(resource, namespace) if match(o)), key=_key)
        snap = Snapshot(items, [_key(o) for o in items])
        self._snapshots[key] = snap
        while len(self._snapshots) > SNAPSHOTS:
            self._snapshots.popitem(last=False)
        return snap

    async def page(self, resource: str, namespace: str | None, query: Any) -> Page:
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        object_filter(labels, fields, resource)  # a bad selector is 400 on every page
        try:
            limit = int(query.get("limit", "0") or 0)
        except ValueError:
            raise ApiError(400, "BadRequest", "limit: must be an integer") from None
        token = query.get("continue")
        start = ""
        if token:
            rv, start = decode_token(token)
            snap = self._snapshot(resource, namespace, labels, fields, rv, rebuild=False)
            if snap is None:
                if rv < self.store.oldest - 1:
                    fresh = self.store.rv
                    raise ApiError(410, "Expired", EXPIRED,
                                   list_meta={"continue": encode_token(fresh, start)})
                # the snapshot was dropped but the version is recent: read the objects now
                snap = self._snapshot(resource, namespace, labels, fields, rv, rebuild=True)
        else:
            wanted = query.get("resourceVersion", "")
            if wanted not in ("", "0") and wanted.isdigit() and int(wanted) > self.store.rv \
                    and not await self.store.wait_fresh(int(wanted)):
                raise too_large_resource_version(int(wanted), self.store.rv)
            rv = self.store.rv
            snap = self._snapshot(resource, namespace, labels, fields, rv, rebuild=True)
        assert snap is not None
        first = bisect.bisect_right(snap.keys, start) if start else 0
        end = len(snap.items) if limit <= 0 else min(len(snap.items), first + limit)
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if end < len(snap.items):
            meta["continue"] = encode_token(rv, snap.keys[end - 1])
            if not labels and not fields:
                meta["remainingItemCount"] = len(snap.items) - end
        return Page(snap.items[first:end], meta)
