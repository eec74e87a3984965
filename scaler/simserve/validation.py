"""Validation as the API server does it for the objects this front accepts.

Field validation (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation):
``?fieldValidation=Strict`` answers 400 BadRequest naming the unknown fields; ``Warn`` accepts
and returns one ``Warning`` header per field; ``Ignore`` drops them silently. The OpenAPI this
front serves declares the parameter, so kubectl (``--validate=strict``, its default) leaves the
check to the server: it must be done here. The known fields are those of the Kubernetes v1.32
types, written out for the levels a manifest for this server uses; below them (probes,
affinity, volumes...) objects are not checked, so a valid manifest is never refused.

Deployment rules (k8s.io/kubernetes pkg/apis/apps/validation): ``spec.selector`` is required, must
select the template's labels, and is immutable in apps/v1; ``spec.template.spec.containers``
is required; ``spec.replicas`` is not negative. Errors are 422 Invalid with ``details.causes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scaler.simserve.selectors import SelectorError, label_selector
from scaler.simserve.status import ApiError

_META = frozenset({"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
                   "generation", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
                   "finalizers", "managedFields"})
_CONTAINER = frozenset({
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce",
    "tty"})
_POD_SPEC = frozenset({
    "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
    "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates",
    "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
    "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
    "resourceClaims", "resources"})

# A schema: field -> sub-schema; None: not checked below; a ("list", schema): each item.
Schema = dict[str, Any]


def _list(schema: Schema) -> tuple[str, Schema]:
    return ("list", schema)


def _fields(names: frozenset[str], **nested: object) -> Schema:
    return {n: nested.get(n) for n in names}


META: Schema = _fields(_META)
CONTAINER: Schema = _fields(_CONTAINER, resources=_fields(frozenset({"limits", "requests",
                                                                     "claims"})),
                            env=_list(_fields(frozenset({"name", "value", "valueFrom"}))))
POD_SPEC: Schema = _fields(_POD_SPEC, containers=_list(CONTAINER),
                           initContainers=_list(CONTAINER))
TEMPLATE: Schema = {"metadata": META, "spec": POD_SPEC}
SCHEMAS: dict[str, Schema] = {
    "Deployment": {"apiVersion": None, "kind": None, "metadata": META, "status": None,
                   "spec": _fields(frozenset({"replicas", "selector", "template", "strategy",
                                              "minReadySeconds", "revisionHistoryLimit",
                                              "paused", "progressDeadlineSeconds"}),
                                   selector=_fields(frozenset({"matchLabels",
                                                               "matchExpressions"})),
                                   template=TEMPLATE)},
    "Namespace": {"apiVersion": None, "kind": None, "metadata": META, "spec": None,
                  "status": None},
    "RuntimeClass": {"apiVersion": None, "kind": None, "metadata": META, "handler": None,
                     "overhead": _fields(frozenset({"podFixed"})), "scheduling": None},
    "Scale": {"apiVersion": None, "kind": None, "metadata": META,
              "spec": _fields(frozenset({"replicas"})), "status": None},
}


def unknown_fields(obj: object, schema: object, path: str = "") -> list[str]:
    """Dotted paths of the fields ``schema`` does not know, in document order."""
    if isinstance(schema, tuple):  # ("list", item schema)
        if not isinstance(obj, list):
            return []
        out = []
        for i, item in enumerate(obj):
            out += unknown_fields(item, schema[1], f"{path}[{i}]")
        return out
    if not isinstance(schema, dict) or not isinstance(obj, dict):
        return []
    out = []
    for k, v in obj.items():
        p = f"{path}.{k}" if path else str(k)
        if k not in schema:
            out.append(p)
        elif schema[k] is not None:
            out += unknown_fields(v, schema[k], p)
    return out


@dataclass(frozen=True)
class FieldCheck:
    """What ``?fieldValidation=`` asked for; ``warnings`` collects the Warn answers."""

    mode: str  # Strict, Warn, Ignore

    @classmethod
    def from_query(cls, value: str | None) -> FieldCheck:
        mode = value or "Warn"  # the server's default when the client does not say
        if mode not in ("Strict", "Warn", "Ignore"):
            raise ApiError(400, "BadRequest", f'fieldValidation "{mode}" is invalid; valid '
                           "values are Strict, Warn and Ignore")
        return cls(mode)

    def check(self, kind: str, obj: object) -> list[str]:
        """Raise 400 for unknown fields under Strict; the warnings to send under Warn."""
        if self.mode == "Ignore" or kind not in SCHEMAS:
            return []
        unknown = unknown_fields(obj, SCHEMAS[kind])
        if not unknown:
            return []
        if self.mode == "Strict":
            which = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise ApiError(400, "BadRequest", f'{kind} in version "v1" cannot be handled as a '
                           f"{kind}: strict decoding error: {which}")
        return [f'unknown field "{u}"' for u in unknown]


def warning_headers(warnings: list[str]) -> list[tuple[str, str]]:
    """RFC 7234 warn-code 299, as kube-apiserver sends them (kubectl prints each)."""
    return [("Warning", '299 - "' + w.replace('"', '\\"') + '"') for w in warnings]


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; ``causes``: (field, reason, message detail)."""
    qual = f"{kind}.{group}" if group else kind
    text = "; ".join(f"{f}: {m}" for f, _, m in causes)
    details = {"name": name, "group": group, "kind": kind,
               "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]}
    label = f"[{text}]" if len(causes) > 1 else text
    return ApiError(422, "Invalid", f'{qual} "{name}" is invalid: {label}', details=details)


def _selector_text(sel: dict[str, Any]) -> str:
    ml = sel.get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in ml.items())


def validate_deployment(dep: dict[str, Any], old: dict[str, Any] | None) -> None:
    name = (dep.get("metadata") or {}).get("name", "")
    spec = dep.get("spec") or {}
    causes: list[tuple[str, str, str]] = []
    sel = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    else:
        if sel.get("matchExpressions"):
            matches = True  # not evaluated here: the driver and the manifests use matchLabels
        else:
            try:
                matches = label_selector(_selector_text(sel))(labels)
            except SelectorError:
                matches = False
        if not matches:
            causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                           f"Invalid value: {labels!r}: `selector` does not match template "
                           "`labels`"))
        if old is not None and old["spec"].get("selector") != sel:
            causes.append(("spec.selector", "FieldValueInvalid",
                           f"Invalid value: {sel!r}: field is immutable"))
    if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
        causes.append(("spec.template.spec.containers", "FieldValueRequired",
                       "Required value"))
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(("spec.replicas", "FieldValueInvalid",
                       f"Invalid value: {replicas!r}: must be greater than or equal to 0"))
    if causes:
        raise invalid("Deployment", "apps", name, causes)


def check_resource_version(kind_plural: str, name: str, current: dict[str, Any], body: object) -> None:
    """Optimistic concurrency: a write that names a resourceVersion applies to that version
    only; any other is 409 Conflict (https://kubernetes.io/docs/reference/using-api/
    api-concepts/#resource-versions; registry/generic ``OptimisticLockErrorMsg``)."""
    if not isinstance(body, dict):
        return
    wanted = (body.get("metadata") or {}).get("resourceVersion")
    if wanted and str(wanted) != current["metadata"].get("resourceVersion"):
        raise ApiError(409, "Conflict",
                       f'Operation cannot be fulfilled on {kind_plural} "{name}": the object '
                       "has been modified; please apply your changes to the latest version and "
                       "try again", details={"name": name, "kind": kind_plural.split(".")[0]})
