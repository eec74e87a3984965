"""Just enough OpenAPI v3 for kubectl: per group-version documents whose PATCH operations declare
the ``fieldValidation`` query parameter and their group-version-kind.

kubectl (1.27+) validates manifests by default: when the server's OpenAPI says it supports
server-side field validation, kubectl leaves validation to the server; otherwise it downloads the
full schema to validate client-side, which this server does not have. Schemas are left empty, so
kubectl's apply computes strategic merge patches from its compiled-in types.
"""

from __future__ import annotations

import hashlib
import json

from scaler.simserve.discovery import ALL


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def gv_document(group: str, version: str) -> dict | None:
    paths = {}
    for r in ALL:
        if r.group != group or r.version != version:
            continue
        base = "/" + _gv_path(group, version)
        item = (f"{base}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced
                else f"{base}/{r.plural}/{{name}}")
        gvk = {"group": group, "version": version, "kind": r.kind}
        params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"},
                   "description": "Strict, Warn or Ignore"},
                  {"name": "fieldManager", "in": "query", "schema": {"type": "string"}}]
        op = {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk, "parameters": params,
              "responses": {"200": {"description": "OK"}}}
        create = {**op, "operationId": f"create{r.kind}", "x-kubernetes-action": "post"}
        paths[item] = {"patch": op, "put": {**op, "operationId": f"replace{r.kind}",
                                            "x-kubernetes-action": "put"}}
        paths[item.rsplit("/", 1)[0]] = {"post": create}
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (scaler simulator)", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}


def _hash(doc: dict) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()


def root() -> dict:
    paths = {}
    for group, version in sorted({(r.group, r.version) for r in ALL}):
        doc = gv_document(group, version)
        p = _gv_path(group, version)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(doc)}"}
    return {"paths": paths}


# -- OpenAPI v2 ------------------------------------------------------------------------------
# kubectl falls back to /openapi/v2 when /openapi/v3 fails, asking for the gnostic protobuf
# form (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf) and parsing it as
# such; others ask for JSON. A minimal valid document either way: swagger "2.0", info, no paths
# (gnostic openapi_v2.proto: Document {1: swagger, 2: info, 8: paths}, Info {1: title,
# 2: version}).
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
_TITLE, _VERSION = "Kubernetes (scaler simulator)", "v1.32.0"


def v2_json() -> dict:
    return {"swagger": "2.0", "info": {"title": _TITLE, "version": _VERSION}, "paths": {},
            "definitions": {}}


def _field(num: int, payload: bytes) -> bytes:
    size, out = len(payload), bytearray()
    out.append(num << 3 | 2)
    while True:
        byte, size = size & 0x7F, size >> 7
        out.append(byte | (0x80 if size else 0))
        if not size:
            break
    return bytes(out) + payload


def v2_protobuf() -> bytes:
    info = _field(1, _TITLE.encode()) + _field(2, _VERSION.encode())
    return _field(1, b"2.0") + _field(2, info) + _field(8, b"")
