"""One watch request: events after a resourceVersion, streamed as newline-delimited JSON.

As from a real API server: no version (or "0") starts with the current objects as ADDED; a
version older than the event log answers an ERROR event with 410 Expired; bookmarks carry the
current version when asked for (``allowWatchBookmarks``); ``sendInitialEvents`` ends the initial
events with the annotated bookmark; the stream ends after ``timeoutSeconds``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from aiohttp import web

from scaler.simserve import tables
from scaler.simserve.discovery import Resource
from scaler.simserve.selectors import object_filter
from scaler.simserve.status import status_body, too_large_resource_version
from scaler.simserve.store import Gone, Store


async def stream_watch(request: web.Request, store: Store, res: Resource, namespace: str | None, *,
                       as_table: bool, now: Callable[[], float], watch_timeout: float,
                       bookmark_interval: float, closing: asyncio.Event,
                       present: Callable[[dict], dict] | None = None) -> web.StreamResponse:
    q = request.query
    match = object_filter(q.get("labelSelector"), q.get("fieldSelector"), res.plural)
    timeout = min(float(q.get("timeoutSeconds", watch_timeout)), watch_timeout)
    bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
    rv_param = q.get("resourceVersion", "")
    initial_events = q.get("sendInitialEvents") == "true"
    if rv_param not in ("", "0") and rv_param.isdigit() and int(rv_param) > store.rv \
            and not await store.wait_fresh(int(rv_param)):
        raise too_large_resource_version(int(rv_param), store.rv)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                   "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    def encode(kind: str, obj: dict) -> bytes:
        if present is not None and kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = present(obj)
        if as_table and kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = tables.table(res.plural, [obj], now(),
                               include=q.get("includeObject", "Metadata"))
        return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def bookmark(rv: int, **annotations) -> bytes:
        meta = {"resourceVersion": str(rv)}
        if annotations:
            meta["annotations"] = annotations
        return encode("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta})

    try:
        if rv_param in ("", "0") or initial_events:
            last = store.rv
            chunk = b"".join(encode("ADDED", o) for o in store.items(res.plural, namespace) if match(o))
            if initial_events:
                chunk += bookmark(last, **{"k8s.io/initial-events-end": "true"})
            if chunk:
                await resp.write(chunk)
        else:
            try:
                last = int(rv_param)
            except ValueError:
                await resp.write(encode("ERROR", status_body(
                    400, "BadRequest", f"invalid resourceVersion {rv_param!r}")))
                return resp
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + bookmark_interval
        while not closing.is_set():
            try:
                events = store.events_after(last, res.plural, namespace, match)
            except Gone as e:
                await resp.write(encode("ERROR", status_body(410, "Expired", str(e))))
                break
            if events:
                await resp.write(b"".join(encode(ev.type, ev.obj) for ev in events))
                last = events[-1].rv
            t = time.monotonic()
            if t >= deadline:
                break
            if bookmarks and t >= next_bookmark:
                last = max(last, store.rv)  # every matching event up to here was sent
                await resp.write(bookmark(last))
                next_bookmark = t + bookmark_interval
            wait = min(deadline, next_bookmark if bookmarks else deadline) - t
            await store.wait_change(max(0.01, min(wait, 1.0)))
        await resp.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass  # the client went away
    return resp
