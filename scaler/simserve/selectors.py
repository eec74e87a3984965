"""Label and field selectors as the API server reads them from ``?labelSelector=``/``?fieldSelector=``."""

from __future__ import annotations

import re
from collections.abc import Callable

Predicate = Callable[[dict], bool]


class SelectorError(ValueError):
    pass


_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<val>[\w./-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?)\s*(?:,|$)"
)


def label_selector(text: str | None) -> Callable[[dict], bool]:
    """A predicate on a labels mapping."""
    if not text:
        return lambda labels: True
    tests: list[Callable[[dict], bool]] = []
    pos = 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos:
            raise SelectorError(f"unable to parse requirement: {text[pos:]!r}")
        pos = m.end()
        if m["not"]:
            k = m["nkey"]
            tests.append(lambda lb, k=k: k not in lb)
        elif m["op"]:
            k, v, neg = m["key"], m["val"], m["op"] == "!="
            tests.append(lambda lb, k=k, v=v, neg=neg: (lb.get(k) == v) != neg)
        elif m["setop"]:
            k, values = m["key"], {s.strip() for s in m["set"].split(",") if s.strip()}
            if m["setop"] == "in":
                tests.append(lambda lb, k=k, vs=values: lb.get(k) in vs)
            else:
                tests.append(lambda lb, k=k, vs=values: lb.get(k) not in vs)
        else:
            k = m["key"]
            tests.append(lambda lb, k=k: k in lb)
    return lambda labels: all(t(labels) for t in tests)


def field_selector(text: str | None) -> Predicate:
    """A predicate on a whole object; fields are dotted paths (metadata.name, status.phase...)."""
    if not text:
        return lambda obj: True
    tests: list[Predicate] = []
    for term in text.split(","):
        m = re.fullmatch(r"\s*([\w.]+)\s*(==|!=|=)\s*([^,]*)\s*", term)
        if not m:
            raise SelectorError(f"invalid field selector term {term!r}")
        path, op, value = m[1].split("."), m[2], m[3]
        neg = op == "!="
        tests.append(lambda o, p=path, v=value, neg=neg: (_get(o, p) == v) != neg)
    return lambda obj: all(t(obj) for t in tests)


def _get(obj: dict, path: list[str]) -> str:
    cur = obj
    for part in path:
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


#: the field selectors each resource supports besides metadata.name and metadata.namespace
#: (its registry's GetAttrs/field label conversion; anything else is "field label not
#: supported", 400)
FIELD_LABELS = {
    "pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
             "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
             "status.podIPs", "status.nominatedNodeName"},
    "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion",
               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
               "reportingComponent", "source", "type", "regarding.kind", "regarding.name",
               "regarding.namespace", "regarding.uid", "reportingController"},
    "nodes": {"spec.unschedulable"},
    "namespaces": {"status.phase"},
}


def check_field_labels(resource: str, text: str | None) -> None:
    if not text:
        return
    allowed = FIELD_LABELS.get(resource, set()) | {"metadata.name", "metadata.namespace"}
    for term in text.split(","):
        label = re.split(r"!=|==|=", term, maxsplit=1)[0].strip()
        if label and label not in allowed:
            raise SelectorError(f'field label not supported: {label}')


def object_filter(labels: str | None, fields: str | None,
                  resource: str | None = None) -> Predicate:
    if resource is not None:
        check_field_labels(resource, fields)
    by_label, by_field = label_selector(labels), field_selector(fields)
    return lambda o: by_label((o.get("metadata") or {}).get("labels") or {}) and by_field(o)
