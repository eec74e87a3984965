"""Writes: create, update, patch, scale and delete, with the checks a real API server makes
before it changes anything.

In order, as kube-apiserver's handlers do (k8s.io/apiserver endpoints/handlers): decode the
body (415 for a media type it has no serializer for), field validation (validation.py), the
resourceVersion precondition (409 Conflict), object validation (422), then the write, unless
``?dryRun=All``: then everything runs but the write, and the answer is the object as it would
be (https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run). ``kubectl diff``
and ``--dry-run=server`` are that.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from scaler.simserve.discovery import Resource
from scaler.simserve.managed import manager_of, record_write
from scaler.simserve.patch import apply_patch
from scaler.simserve.render import timestamp
from scaler.simserve.selectors import object_filter
from scaler.simserve.state import SimState
from scaler.simserve.status import ApiError
from scaler.simserve.validation import FieldCheck, check_resource_version, warning_headers

WRITABLE = {"namespaces", "deployments", "runtimeclasses"}
#: request bodies this server reads ("" and text/plain: curl's defaults, read as JSON or YAML)
BODY_TYPES = ("application/json", "application/yaml", "", "application/octet-stream",
              "text/plain", "application/x-www-form-urlencoded")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


async def read_body(request: web.Request) -> object:
    ctype = request.content_type
    if ctype not in BODY_TYPES and not (request.method == "PATCH" and ctype in PATCH_TYPES):
        # as kube-apiserver answers a media type it has no serializer for
        accepted = ", ".join(BODY_TYPES[:2] + (PATCH_TYPES if request.method == "PATCH" else ()))
        raise ApiError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media "
                       f"types include: {accepted}")
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:
        import yaml  # kubectl sends JSON, but `curl --data-binary @x.yaml` users send YAML

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ApiError(400, "BadRequest", "the request body is neither JSON nor YAML") from None


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise ApiError(400, "BadRequest", f'dryRun: Unsupported value: "{v}": supported '
                           'values: "All"')
    return bool(values)


async def delete_options_dry_run(request: web.Request) -> bool:
    """kubectl delete sends ``dryRun`` in the DeleteOptions body, not in the query."""
    if not request.can_read_body:
        return False
    raw = await request.read()
    try:
        opts = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, "BadRequest", "the DeleteOptions body is not JSON") from None
    values = opts.get("dryRun") or [] if isinstance(opts, dict) else []
    if any(v != "All" for v in values):
        raise ApiError(400, "BadRequest", 'dryRun: Unsupported value: supported values: "All"')
    return bool(values)


def respond(obj: dict[str, Any], status: int = 200, warnings: list[str] | None = None) -> web.Response:
    resp = web.json_response(obj, status=status)
    for k, v in warning_headers(warnings or []):
        resp.headers.add(k, v)
    return resp


def _qualified(res: Resource) -> str:
    return f"{res.plural}.{res.group}" if res.group else res.plural


class Writes:
    def __init__(self, state: SimState) -> None:
        self.state = state

    @staticmethod
    def _manager(request: web.Request) -> str:
        return manager_of(request.query.get("fieldManager"), request.headers.get("User-Agent"))

    def _now(self) -> str | None:
        return timestamp(self.state.now_epoch())

    async def create(self, request: web.Request, res: Resource, namespace: str | None
                     ) -> web.Response:
        dry = dry_run(request)
        fields = FieldCheck.from_query(request.query.get("fieldValidation"))
        obj = await read_body(request)
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body is not an object")
        if obj.get("kind") not in (None, res.kind):
            raise ApiError(400, "BadRequest", f"kind {obj.get('kind')} does not match {res.kind}")
        warnings = fields.check(res.kind, obj)
        obj = {**obj, "apiVersion": res.api_version, "kind": res.kind,
               "metadata": dict(obj.get("metadata") or {})}
        record_write(obj, None, self._manager(request), self._now())
        if res.plural == "namespaces":
            out = self.state.create_namespace(obj, dry_run=dry)
        elif res.plural == "deployments":
            assert namespace is not None
            out = self.state.put_deployment(namespace, obj, create=True, dry_run=dry)
        else:
            out = self.state.create_cluster_object(res.plural, obj, dry_run=dry)
        return respond(out, 201, warnings)

    async def update(self, request: web.Request, res: Resource, namespace: str | None,
                     name: str, sub: str | None) -> web.Response:
        dry = dry_run(request)
        fields = FieldCheck.from_query(request.query.get("fieldValidation"))
        state = self.state
        if res.plural == "deployments":
            await asyncio.sleep(state.write_cost_s())  # timing saturation, as modelled
        current = state.store.get(res.plural, namespace or "", name)
        if current is None:
            raise ApiError(404, "NotFound", f'{_qualified(res)} "{name}" not found')
        body = await read_body(request)
        patching = request.method == "PATCH"
        check_resource_version(_qualified(res), name, current, body)
        if sub == "scale":
            assert namespace is not None
            scale = state.scale_object(current)
            new = apply_patch(request.content_type, scale, body) if patching else body
            warnings = fields.check("Scale", new)
            replicas = ((new or {}).get("spec") or {}).get("replicas") if isinstance(new, dict) \
                else None
            if not isinstance(replicas, int) or isinstance(replicas, bool):
                raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                               "spec.replicas: Required value: must be an integer")
            dep = state.scale_deployment(namespace, name, replicas, dry_run=dry)
            return respond(state.scale_object(dep), 200, warnings)
        new = apply_patch(request.content_type, current, body) if patching else body
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the patched object is not an object")
        warnings = fields.check(res.kind, new)
        new.setdefault("metadata", {})["name"] = name
        if sub == "status":
            return respond(current)  # status is the model's to write
        new["metadata"] = dict(new["metadata"])
        new.setdefault("apiVersion", res.api_version)
        record_write(new, current, self._manager(request), self._now())
        if res.plural == "deployments":
            assert namespace is not None
            new.pop("status", None)
            return respond(state.put_deployment(namespace, new, create=False, dry_run=dry),
                           200, warnings)
        meta = {**current["metadata"], **{k: v for k, v in new["metadata"].items()
                                          if k in ("labels", "annotations", "managedFields")}}
        out = {**current, **{k: v for k, v in new.items() if k not in ("metadata", "status")},
               "metadata": meta}
        if dry:
            return respond(out, 200, warnings)
        return respond(state.store.put(res.plural, out), 200, warnings)

    async def delete(self, request: web.Request, res: Resource, namespace: str | None,
                     name: str) -> web.Response:
        dry = dry_run(request) or await delete_options_dry_run(request)
        state = self.state
        if state.store.get(res.plural, namespace or "", name) is None:
            raise ApiError(404, "NotFound", f'{_qualified(res)} "{name}" not found')
        if res.plural == "namespaces":
            return respond(state.delete_namespace(name, dry_run=dry))
        assert namespace is not None or not res.namespaced
        if res.plural == "deployments":
            return respond(state.delete_deployment(namespace or "", name, dry_run=dry))
        if res.plural == "pods":
            return respond(state.delete_pod(namespace or "", name, dry_run=dry))
        obj = state.store.get(res.plural, "", name)
        assert obj is not None
        return respond(obj if dry else state.store.remove(res.plural, "", name) or obj)

    async def delete_collection(self, request: web.Request, res: Resource,
                                namespace: str | None) -> web.Response:
        if res.plural not in ("pods", "deployments"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                           f"the requested resource (DELETE {res.plural})")
        dry = dry_run(request) or await delete_options_dry_run(request)
        match = object_filter(request.query.get("labelSelector"),
                              request.query.get("fieldSelector"), res.plural)
        gone = []
        for o in list(self.state.store.items(res.plural, namespace)):
            if match(o):
                n, ns = o["metadata"]["name"], o["metadata"].get("namespace", "")
                gone.append(self.state.delete_pod(ns, n, dry_run=dry) if res.plural == "pods"
                            else self.state.delete_deployment(ns, n, dry_run=dry))
        return respond({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(self.state.store.rv)},
                        "items": gone})
