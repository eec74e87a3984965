"""The HTTP layer: Kubernetes API paths to SimState operations, lists, watches and fault injection.

Everything runs on the event loop thread, so the model is never touched concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web

from scaler.simserve import discovery, openapi, tables
from scaler.simserve.discovery import RESOURCES, Resource
from scaler.simserve.patch import PatchError, apply_patch
from scaler.simserve.selectors import SelectorError, object_filter
from scaler.simserve.state import ApiError, SimState
from scaler.simserve.status import status_body
from scaler.simserve.watchstream import stream_watch

WRITABLE = {"namespaces", "deployments", "runtimeclasses"}


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


def error_response(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status_body(code, reason, message), status=code)


class Api:
    def __init__(self, state: SimState, faults: Faults | None = None, *,
                 watch_timeout: float = 1800.0, bookmark_interval: float = 10.0) -> None:
        self.state = state
        self.faults = faults or Faults()
        self.counters = Counters()
        self.watch_timeout = watch_timeout
        self.bookmark_interval = bookmark_interval
        self.server_address = "127.0.0.1"
        # continue token -> (the list's items, where the next page starts, its resourceVersion)
        self._continues: OrderedDict[str, tuple[list[dict], int, str]] = OrderedDict()
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
            return error_response(e.code, e.reason, e.message)
        except (SelectorError, PatchError) as e:
            return error_response(400, "BadRequest", str(e))

    # -- routing ---------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"].strip("/")
        parts = [p for p in path.split("/") if p]
        if request.method == "GET":
            doc = self._discovery(parts)
            if doc is not None:
                return web.json_response(doc)
        if parts[:1] == ["simserve"]:
            return web.json_response(self._stats())
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return error_response(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = RESOURCES.get(rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest:
            return error_response(404, "NotFound", "the server could not find the requested resource")
        res = RESOURCES.get(rest[0])
        if res is None or res.group != group or res.version != version:
            return error_response(404, "NotFound", f"the server could not find the requested resource ({path})")
        if res.namespaced and namespace is None and len(rest) > 1:
            return error_response(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return await self._resource(request, res, namespace, name, sub)

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
                          "pods": t.pods}}

    async def _resource(self, request, res: Resource, namespace, name, sub) -> web.StreamResponse:
        m = request.method
        q = request.query
        if name is None:
            if m == "GET":
                if q.get("watch") in ("1", "true", "True"):
                    return await self._watch(request, res, namespace)
                return self._list(request, res, namespace)
            if m == "POST":
                return await self._create(request, res, namespace)
            if m == "DELETE" and res.plural in ("pods", "deployments"):
                return self._delete_collection(request, res, namespace)
            return self._not_allowed(m, res)
        if sub not in (None, "status", "scale") or (sub == "scale" and res.plural != "deployments"):
            return error_response(404, "NotFound", "the server could not find the requested resource")
        if m == "GET":
            return self._get(request, res, namespace, name, sub)
        if m in ("PUT", "PATCH"):
            return await self._update(request, res, namespace, name, sub)
        if m == "DELETE":
            return self._delete(request, res, namespace, name)
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

    def _get(self, request, res, namespace, name, sub) -> web.Response:
        obj = self._lookup(res, namespace, name)
        if sub == "scale":
            return web.json_response(self.state.scale_object(obj))
        if self._wants_table(request):
            return web.json_response(tables.table(res.plural, [obj], self.state.now_epoch()))
        return web.json_response(obj)

    def _list(self, request, res, namespace) -> web.Response:
        q = request.query
        token = q.get("continue")
        if token:
            entry = self._continues.pop(token, None)
            if entry is None:
                return error_response(410, "Expired", "The provided continue parameter is too old")
            items, start, rv = entry
        else:
            items = self.state.store.sorted_items(res.plural, namespace if res.namespaced else None)
            if q.get("labelSelector") or q.get("fieldSelector"):
                match = object_filter(q.get("labelSelector"), q.get("fieldSelector"))
                items = [o for o in items if match(o)]
            start, rv = 0, str(self.state.store.rv)
        limit = int(q.get("limit", "0") or 0)
        meta = {"resourceVersion": rv}
        # a page is a slice of the list made for the first page: its cost is the page's, not
        # the list's (the rest is neither copied nor sorted again)
        end = start + limit if limit > 0 else len(items)
        if end < len(items):
            tok = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self._continues[tok] = (items, end, rv)
            while len(self._continues) > 256:
                self._continues.popitem(last=False)
            meta["continue"] = tok
            meta["remainingItemCount"] = len(items) - end
        items = items[start:end] if start or end < len(items) else items
        if self._wants_table(request):
            tbl = tables.table(res.plural, items, self.state.now_epoch(), rv)
            tbl["metadata"] = meta
            return web.json_response(tbl)
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                                  "metadata": meta, "items": items})

    async def _watch(self, request, res, namespace) -> web.StreamResponse:
        self.counters.watches_open += 1
        try:
            return await stream_watch(
                request, self.state.store, res, namespace if res.namespaced else None,
                as_table=self._wants_table(request), now=self.state.now_epoch,
                watch_timeout=self.watch_timeout, bookmark_interval=self.bookmark_interval,
                closing=self.closing)
        finally:
            self.counters.watches_open -= 1

    # -- writes --------------------------------------------------------------------------------

    async def _body(self, request) -> object:
        raw = await request.read()
        try:
            return json.loads(raw)
        except ValueError:
            import yaml  # kubectl sends JSON, but `curl --data-binary @x.yaml` users send YAML

            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError:
                raise ApiError(400, "BadRequest", "the request body is neither JSON nor YAML") from None

    async def _create(self, request, res, namespace) -> web.Response:
        if res.plural not in WRITABLE:
            return self._not_allowed("POST", res)
        obj = await self._body(request)
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body is not an object")
        if obj.get("kind") not in (None, res.kind):
            raise ApiError(400, "BadRequest", f"kind {obj.get('kind')} does not match {res.kind}")
        obj = {**obj, "apiVersion": res.api_version, "kind": res.kind}
        if res.plural == "namespaces":
            out = self.state.create_namespace(obj)
        elif res.plural == "deployments":
            out = self.state.put_deployment(namespace, obj, create=True)
        else:
            out = self.state.create_cluster_object(res.plural, obj)
        return web.json_response(out, status=201)

    async def _update(self, request, res, namespace, name, sub) -> web.Response:
        if res.plural not in WRITABLE:
            return self._not_allowed(request.method, res)
        if res.plural == "deployments":
            await asyncio.sleep(self.state.write_cost_s())  # timing saturation, as modelled
        current = self._lookup(res, namespace, name)
        body = await self._body(request)
        if sub == "scale":
            scale = self.state.scale_object(current)
            new = apply_patch(request.content_type, scale, body) if request.method == "PATCH" else body
            replicas = ((new or {}).get("spec") or {}).get("replicas")
            dep = self.state.scale_deployment(namespace, name, replicas)
            return web.json_response(self.state.scale_object(dep))
        if request.method == "PATCH":
            new = apply_patch(request.content_type, current, body)
        else:
            new = body
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the patched object is not an object")
        new.setdefault("metadata", {})["name"] = name
        if sub == "status":
            return web.json_response(current)  # status is the model's to write
        if res.plural == "deployments":
            new.pop("status", None)
            return web.json_response(self.state.put_deployment(namespace, new, create=False))
        meta = {**current["metadata"], **{k: v for k, v in new["metadata"].items()
                                          if k in ("labels", "annotations")}}
        out = {**current, **{k: v for k, v in new.items() if k not in ("metadata", "status")},
               "metadata": meta}
        return web.json_response(self.state.store.put(res.plural, out))

    def _delete(self, request, res, namespace, name) -> web.Response:
        self._lookup(res, namespace, name)
        if res.plural == "namespaces":
            return web.json_response(self.state.delete_namespace(name))
        if res.plural == "deployments":
            return web.json_response(self.state.delete_deployment(namespace, name))
        if res.plural == "pods":
            return web.json_response(self.state.delete_pod(namespace, name))
        if res.plural == "runtimeclasses":
            return web.json_response(self.state.store.remove(res.plural, "", name))
        return self._not_allowed("DELETE", res)

    def _delete_collection(self, request, res, namespace) -> web.Response:
        match = object_filter(request.query.get("labelSelector"), request.query.get("fieldSelector"))
        gone = []
        for o in list(self.state.store.items(res.plural, namespace)):
            if match(o):
                n = o["metadata"]["name"]
                gone.append(self.state.delete_pod(namespace, n) if res.plural == "pods"
                            else self.state.delete_deployment(namespace, n))
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                                  "metadata": {"resourceVersion": str(self.state.store.rv)},
                                  "items": gone})
