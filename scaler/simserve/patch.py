"""The PATCH flavours kubectl sends: JSON merge patch (``kubectl scale``, ``--type merge``) and
strategic merge patch (client-side ``kubectl apply``, plain ``kubectl patch``).

The strategic flavour covers the list-merge keys of the objects this server holds (containers,
env, volumes, ports...) and the ``$patch``/``$setElementOrder``/``$deleteFromPrimitiveList``
directives kubectl emits; other lists are replaced, as for types without patch metadata.
"""

from __future__ import annotations

import copy

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ports": "containerPort",
    "conditions": "type",
    "ownerReferences": "uid",
}


class PatchError(ValueError):
    pass


def json_merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = json_merge_patch(result.get(k), v)
    return result


def strategic_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge_patch(result.get(k), v)
            if merged is None:
                result.pop(k, None)
            else:
                result[k] = merged
        elif isinstance(v, list) and k in MERGE_KEYS:
            result[k] = _merge_list(result.get(k) or [], v, MERGE_KEYS[k])
        else:
            result[k] = copy.deepcopy(v)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: list, patch: list, key: str) -> list:
    if patch and all(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch[:1]):
        return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    out = [copy.deepcopy(x) for x in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def apply_patch(content_type: str, target: dict, patch) -> dict:
    ctype = content_type.split(";")[0].strip()
    if ctype == "application/merge-patch+json":
        return json_merge_patch(target, patch)
    if ctype == "application/strategic-merge-patch+json":
        return strategic_merge_patch(target, patch)
    if ctype == "application/json-patch+json":
        return _json_patch(target, patch)
    raise PatchError(f"the body of the request was in an unknown format - accepted media types "
                     f"include: application/json-patch+json, application/merge-patch+json, "
                     f"application/strategic-merge-patch+json (got {ctype})")


def _json_patch(target: dict, ops) -> dict:
    """RFC 6902 add/replace/remove/test on plain paths (what ``kubectl patch --type json`` sends)."""
    doc = copy.deepcopy(target)
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op.get("path", "").split("/")[1:]]
        if not parts:
            raise PatchError("json patch path must not be empty")
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        kind = op.get("op")
        if kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
        elif kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise PatchError(f"json patch test failed at {op['path']}")
        else:
            raise PatchError(f"json patch op {kind!r} not supported")
    return doc
