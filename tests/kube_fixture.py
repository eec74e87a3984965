"""A loopback HTTP server answering a few Kubernetes API paths with responses written from the API
documentation, for the real kubectl to talk to: the answers a real API server gives and
``scaler sim serve`` does not (yet), such as a watch's "Too large resource version" after a
restart, an expired continue token, a field selector it does not support, an access review.

Each test says what each path answers (``on``); every request is recorded (``requests``). The
server can go away and come back on the same port (``down``/``up``), as a restarted API
server does.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

Handler = Callable[[web.Request], "web.StreamResponse | asyncio.Future"]


def status(code: int, reason: str, message: str, **details) -> dict:
    """A metav1.Status as an API server sends it with an error."""
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


def too_large(requested: int, current: int) -> dict:
    """k8s.io/apiserver storage NewTooLargeResourceVersionError."""
    return status(504, "Timeout", f"Too large resource version: {requested}, current: {current}",
                  causes=[{"reason": "ResourceVersionTooLarge",
                           "message": "Too large resource version"}], retryAfterSeconds=1)


def pod_list(names: list[str], rv: str, cont: str | None = None) -> dict:
    meta: dict = {"resourceVersion": rv}
    if cont:
        meta["continue"] = cont
    return {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
            "items": [running_pod(n) for n in names]}


def running_pod(name: str, rv: str = "1") -> dict:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                         "resourceVersion": rv, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "w0"},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:02Z"}],
                "containerStatuses": [{"name": "workload", "restartCount": 0,
                                       "state": {"running": {}}}]}}


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    body: bytes


class RecordedApi:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Seen] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.closing = asyncio.Event()

    # -- what it answers -------------------------------------------------------------------------

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Seen(request.method, request.path, dict(request.query), body))
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return json_response(status(404, "NotFound", "the server could not find the "
                                                         "requested resource"), 404)
        out = handler(request)
        if asyncio.iscoroutine(out):
            out = await out
        return out

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> RecordedApi:
        self._thread.start()
        self._call(self._up())
        return self

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        """Stop listening and drop open streams: connections are refused until ``up``."""
        self._call(self._down())

    def stop(self) -> None:
        self._call(self._down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _up(self) -> None:
        self.closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def _down(self) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fx",
            "clusters": [{"name": "fx", "cluster": {"server": self.url}}],
            "contexts": [{"name": "fx", "context": {"cluster": "fx", "user": "dev"}}],
            "users": [{"name": "dev", "user": {"token": "dev-token"}}]}))
        return path


def json_response(doc: dict, code: int = 200) -> web.Response:
    return web.json_response(doc, status=code)


def watch_stream(api: RecordedApi, events: list[dict], *, hold: bool = False):
    """A handler streaming ``events`` (type, object) then ending, or holding the stream open
    until the server goes down (``hold``), as a watch with nothing more to say does."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for ev in events:
                await resp.write(json.dumps(ev).encode() + b"\n")
            if hold:
                try:
                    await asyncio.wait_for(api.closing.wait(), 60)
                except TimeoutError:
                    pass
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        return resp

    return handler
