"""The little of Kubernetes' protobuf encoding the front reads: a SelfSubjectAccessReview.

kubectl sends typed objects as ``application/vnd.kubernetes.protobuf``
(https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding): the bytes
``k8s\\x00`` then a ``runtime.Unknown`` message (1: typeMeta {1: apiVersion, 2: kind}, 2: raw,
3: contentEncoding, 4: contentType), ``raw`` being the object's own message. ``kubectl auth
can-i`` is the one command worth decoding for (the driver itself sends JSON); any other
protobuf body is answered 415, as a server that does not speak it would.

Field numbers from k8s.io/api/authorization/v1/generated.proto.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        b = data[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, pos
        shift += 7


def fields(data: bytes) -> dict[int, list[bytes | int]]:
    """Field number -> values (bytes for length-delimited fields, int for varints)."""
    out: dict[int, list[bytes | int]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        value: bytes | int
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.setdefault(num, []).append(value)
    return out


def _str(f: dict[int, list[bytes | int]], num: int) -> str:
    v = f.get(num, [b""])[-1]
    return v.decode() if isinstance(v, bytes) else str(v)


def _msg(f: dict[int, list[bytes | int]], num: int) -> dict[int, list[bytes | int]] | None:
    v = f.get(num)
    return fields(v[-1]) if v and isinstance(v[-1], bytes) else None


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of an encoded object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf object")
    unknown = fields(body[len(MAGIC):])
    type_meta = _msg(unknown, 1) or {}
    raw = unknown.get(2, [b""])[-1]
    return _str(type_meta, 1), _str(type_meta, 2), raw if isinstance(raw, bytes) else b""


def access_review(body: bytes) -> dict[str, Any]:
    """A protobuf SelfSubjectAccessReview as its JSON form."""
    api_version, kind, raw = unwrap(body)
    if kind != "SelfSubjectAccessReview":
        raise ProtobufError(f"expected a SelfSubjectAccessReview, got {kind or 'nothing'}")
    spec = _msg(fields(raw), 2) or {}
    out: dict[str, Any] = {}
    ra = _msg(spec, 1)
    if ra is not None:
        names = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
        out["resourceAttributes"] = {n: _str(ra, i) for i, n in enumerate(names, 1)
                                     if _str(ra, i)}
    nra = _msg(spec, 2)
    if nra is not None:
        out["nonResourceAttributes"] = {"path": _str(nra, 1), "verb": _str(nra, 2)}
    return {"apiVersion": api_version, "kind": kind, "spec": out}
