"""The HTTP layer: Kubernetes API paths to SimState operations, lists, watches and fault injection.

Everything runs on the event loop thread, so the model is never touched concurrently.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field

from aiohttp import web

from scaler.simserve import authz, discovery, openapi, protobuf, tables
from scaler.simserve.discovery import Resource
from scaler.simserve.events import as_events_v1
from scaler.simserve.kubelet_stats import NodeStats
from scaler.simserve.lists import Lister
from scaler.simserve.patch import PatchError
from scaler.simserve.selectors import SelectorError
from scaler.simserve.state import ApiError, SimState
from scaler.simserve.status import status_body
from scaler.simserve.users import Authenticator
from scaler.simserve.watchstream import stream_watch
from scaler.simserve.writes import WRITABLE, Writes, read_body

HEALTH = {"healthz": ("ping", "log", "etcd"), "livez": ("ping", "log", "etcd"),
          "readyz": ("ping", "log", "etcd", "informer-sync", "shutdown")}
#: readable without credentials (system:public-info-viewer, bound to unauthenticated users)
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})


@dataclass
class Faults:
    """Injected trouble: each request fails with probability ``error_rate`` (500, 503 or 429)
    after ``latency`` seconds of delay."""

    error_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


@dataclass
class Counters:
    requests: int = 0
    injected_errors: int = 0
    watches_open: int = 0
    by_verb: dict = field(default_factory=dict)


def error_response(code: int, reason: str, message: str, details: dict | None = None,
                   headers: dict | None = None, list_meta: dict | None = None) -> web.Response:
    return web.json_response(status_body(code, reason, message, details, list_meta),
                             status=code, headers=headers)


class Api:
    def __init__(self, state: SimState, faults: Faults | None = None, *,
                 watch_timeout: float = 1800.0, bookmark_interval: float = 10.0,
                 auth: Authenticator | None = None, kubelet_stats: bool = True) -> None:
        self.state = state
        self.auth = auth or Authenticator(None)
        self.writes = Writes(state)
        self.faults = faults or Faults()
        self.counters = Counters()
        self.watch_timeout = watch_timeout
        self.bookmark_interval = bookmark_interval
        self.server_address = "127.0.0.1"
        self.lister = Lister(state.store)
        self.node_stats = NodeStats(state.model) if kubelet_stats else None
        self.closing = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 2**20)
        app.router.add_route("*", "/{path:.*}", self._dispatch)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.counters.requests += 1
        verb = request.method
        self.counters.by_verb[verb] = self.counters.by_verb.get(verb, 0) + 1
        if request.path.startswith("/simserve/"):
            return await handler(request)
        subject = self.auth.subject(request.headers.get("Authorization"))
        if subject is None and request.path not in PUBLIC_PATHS:
            # no or an unknown token: 401, as kube-apiserver answers without anonymous auth
            return error_response(401, "Unauthorized", "Unauthorized")
        request["subject"] = subject
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        if self.faults.error_rate > 0 and self.faults.rng.random() < self.faults.error_rate:
            self.counters.injected_errors += 1
            code = self.faults.rng.choice((500, 503, 429))
            reason = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}[code]
            return error_response(code, reason, f"injected fault ({reason}) by scaler sim serve")
        try:
            return await handler(request)
        except ApiError as e:
            return error_response(e.code, e.reason, e.message, e.details, e.headers,
                                  e.list_meta)
        except (SelectorError, PatchError) as e:
            return error_response(400, "BadRequest", str(e))

    # -- routing ---------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"].strip("/")
        parts = [p for p in path.split("/") if p]
        if request.method == "GET" and parts and parts[0] in HEALTH and len(parts) == 1:
            return self._health(request, parts[0])
        if request.method == "GET" and parts == ["openapi", "v2"]:
            if openapi.V2_PROTOBUF in request.headers.get("Accept", ""):
                return web.Response(body=openapi.v2_protobuf(), content_type=openapi.V2_PROTOBUF)
            return web.json_response(openapi.v2_json())
        if request.method == "GET":
            doc = self._discovery(parts)
            if doc is not None:
                return web.json_response(doc)
        if parts[:1] == ["simserve"]:
            return web.json_response(self._stats())
        if parts == authz.REVIEW_PATH:
            if request.method != "POST":
                return error_response(405, "MethodNotAllowed", "the server does not allow this "
                                      "method on the requested resource")
            if request.content_type == protobuf.CONTENT_TYPE:  # kubectl auth can-i
                try:
                    body: object = protobuf.access_review(await request.read())
                except protobuf.ProtobufError as e:
                    raise ApiError(400, "BadRequest", str(e)) from None
            else:
                body = await self._body(request)
            review = authz.access_review(request["subject"], body)
            return web.json_response(review, status=201)
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return error_response(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = discovery.find(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest:
            return error_response(404, "NotFound", "the server could not find the requested resource")
        res = discovery.find(group, version, rest[0])
        if res is None:
            return error_response(404, "NotFound", f"the server could not find the requested resource ({path})")
        if res.namespaced and namespace is None and len(rest) > 1:
            return error_response(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if request["subject"] is None:
            return error_response(401, "Unauthorized", "Unauthorized")
        authz.check(request["subject"], authz.attributes(
            request.method, res, namespace, name, sub,
            watch=request.query.get("watch") in ("1", "true", "True")))
        if res.plural == "nodes" and sub == "proxy" and name is not None:
            return self._node_proxy(request, name, rest[3:])
        if res.plural == "pods" and sub == "log" and name is not None and request.method == "GET":
            return self._pod_log(request, namespace, name)
        return await self._resource(request, res, namespace, name, sub)

    def _health(self, request, which: str) -> web.Response:
        """/healthz, /livez, /readyz as kube-apiserver answers them: "ok", or with ?verbose
        one line per check and the verdict."""
        if "verbose" not in request.query:
            return web.Response(text="ok", content_type="text/plain")
        checks = "".join(f"[+]{c} ok\n" for c in HEALTH[which])
        return web.Response(text=f"{checks}{which} check passed\n", content_type="text/plain")

    def _node_proxy(self, request, node: str, path: list[str]) -> web.Response:
        """What the API server's node proxy reaches on a kubelet: here its Summary API."""
        if self.node_stats is None:  # --no-kubelet-stats: as if the kubelets refused
            return error_response(503, "ServiceUnavailable", f"error trying to reach service: "
                                  f"dial tcp {self.state.node_addresses.get(node, node)}:10250: "
                                  "connect: connection refused")
        if request.method != "GET" or path != ["stats", "summary"]:
            return error_response(404, "NotFound", "the server could not find the requested "
                                  f"resource (kubelet /{'/'.join(path)})")
        doc = self.node_stats.summary(node)
        if doc is None:
            return error_response(404, "NotFound", f'nodes "{node}" not found')
        # the kubelet writes it indented by one space; clients read it as JSON
        return web.Response(text=json.dumps(doc, indent=1), content_type="application/json")

    def _pod_log(self, request, namespace, name) -> web.Response:
        try:
            tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
        except ValueError:
            return error_response(400, "BadRequest", "tailLines: must be an integer")
        return web.Response(text=self.state.pod_log(namespace, name, tail),
                            content_type="text/plain")

    def _discovery(self, parts: list[str]) -> dict | None:
        if parts == ["version"]:
            return discovery.KUBE_VERSION
        if parts == ["openapi", "v3"]:
            return openapi.root()
        if parts[:2] == ["openapi", "v3"] and len(parts) > 2:
            rest = parts[2:]
            if rest[0] == "api" and len(rest) == 2:
                return openapi.gv_document("", rest[1])
            if rest[0] == "apis" and len(rest) == 3:
                return openapi.gv_document(rest[1], rest[2])
        if parts == ["api"]:
            return discovery.api_versions(self.server_address)
        if parts == ["apis"]:
            return discovery.api_group_list()
        if parts == ["api", "v1"]:
            return discovery.resource_list("", "v1")
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.api_group(parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.resource_list(parts[1], parts[2])
        return None

    def _stats(self) -> dict:
        t = self.state.truth
        return {"requests": self.counters.requests, "injected_errors": self.counters.injected_errors,
                "watches_open": self.counters.watches_open, "by_verb": self.counters.by_verb,
                "resource_version": self.state.store.rv, "model_time": float(self.state.model.now),
                "truth": {"running": t.running, "pending": t.pending, "creating": t.creating,
                          "terminating": t.terminating, "evicted": t.evicted, "failed": t.failed,
                          "pods": t.pods, "oom_killed": t.oom_killed,
                          "sandbox_deaths": t.sandbox_deaths,
                          "sandbox_failures": t.sandbox_failures}}

    async def _resource(self, request, res: Resource, namespace, name, sub) -> web.StreamResponse:
        m = request.method
        q = request.query
        if name is None:
            if m == "GET":
                if q.get("watch") in ("1", "true", "True"):
                    return await self._watch(request, res, namespace)
                return await self._list(request, res, namespace)
            if m == "POST":
                return await self._create(request, res, namespace)
            if m == "DELETE" and res.plural in ("pods", "deployments"):
                return await self._delete_collection(request, res, namespace)
            return self._not_allowed(m, res)
        if sub not in (None, "status", "scale") or (sub == "scale" and res.plural != "deployments"):
            return error_response(404, "NotFound", "the server could not find the requested resource")
        if m == "GET":
            return self._get(request, res, namespace, name, sub)
        if m in ("PUT", "PATCH"):
            return await self._update(request, res, namespace, name, sub)
        if m == "DELETE":
            return await self._delete(request, res, namespace, name)
        return self._not_allowed(m, res)

    @staticmethod
    def _not_allowed(method: str, res: Resource) -> web.Response:
        return error_response(405, "MethodNotAllowed",
                              f"the server does not allow this method on the requested resource ({method} {res.plural})")

    def _key(self, res: Resource, namespace) -> str:
        return namespace if res.namespaced else ""

    def _lookup(self, res: Resource, namespace, name) -> dict:
        obj = self.state.store.get(res.plural, self._key(res, namespace), name)
        if obj is None:
            gname = f"{res.plural}.{res.group}" if res.group else res.plural
            raise ApiError(404, "NotFound", f'{gname} "{name}" not found')
        return obj

    @staticmethod
    def _wants_table(request) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    # -- reads ---------------------------------------------------------------------------------

    @staticmethod
    def _present(res: Resource):
        """How objects of ``res`` are shown: events.k8s.io/v1 converts the core Events."""
        if res.group == "events.k8s.io":
            return as_events_v1
        return None

    def _get(self, request, res, namespace, name, sub) -> web.Response:
        obj = self._lookup(res, namespace, name)
        if (present := self._present(res)) is not None:
            obj = present(obj)
        if sub == "scale":
            return web.json_response(self.state.scale_object(obj))
        if self._wants_table(request):
            return web.json_response(tables.table(res.plural, [obj], self.state.now_epoch()))
        return web.json_response(obj)

    async def _list(self, request, res, namespace) -> web.Response:
        page = await self.lister.page(res.plural, namespace if res.namespaced else None,
                                      request.query)
        items = page.items
        if (present := self._present(res)) is not None:
            items = [present(o) for o in items]
        if self._wants_table(request):
            tbl = tables.table(res.plural, items, self.state.now_epoch(),
                               include=request.query.get("includeObject", "Metadata"))
            tbl["metadata"] = page.meta
            return web.json_response(tbl)
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                                  "metadata": page.meta, "items": items})

    async def _watch(self, request, res, namespace) -> web.StreamResponse:
        self.counters.watches_open += 1
        try:
            return await stream_watch(
                request, self.state.store, res, namespace if res.namespaced else None,
                as_table=self._wants_table(request), now=self.state.now_epoch,
                watch_timeout=self.watch_timeout, bookmark_interval=self.bookmark_interval,
                closing=self.closing, present=self._present(res))
        finally:
            self.counters.watches_open -= 1

    # -- writes (writes.py) ----------------------------------------------------------------------

    async def _body(self, request) -> object:
        return await read_body(request)

    async def _create(self, request, res, namespace) -> web.Response:
        if res.plural not in WRITABLE:
            return self._not_allowed("POST", res)
        return await self.writes.create(request, res, namespace)

    async def _update(self, request, res, namespace, name, sub) -> web.Response:
        if res.plural not in WRITABLE:
            return self._not_allowed(request.method, res)
        return await self.writes.update(request, res, namespace, name, sub)

    async def _delete(self, request, res, namespace, name) -> web.Response:
        if res.plural not in WRITABLE | {"pods"}:
            return self._not_allowed("DELETE", res)
        return await self.writes.delete(request, res, namespace, name)

    async def _delete_collection(self, request, res, namespace) -> web.Response:
        return await self.writes.delete_collection(request, res, namespace)
