"""The Kubernetes objects of one run: the shipped manifests (``manifests/``) loaded and fitted to
a ``WorkloadSpec`` as data (PyYAML), never as text, and the way back from a Deployment to a spec.

The Deployment is checked before anything is applied. The mistake this exists for: published
manifests of this kind put ``resources:`` at pod level, where Kubernetes ignores it and the pods
silently run BestEffort, which changes what the experiment measures.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from manifests import DIRECTORY
from scaler.kube_names import DNS_LABEL, DNS_SUBDOMAIN, LABEL_VALUE
from scaler.quantity import (
    QuantityError,
    cpu_millis,
    memory_mib,
    mib_quantity,
    millis_quantity,
)
from scaler.workload_spec import DEFAULT_IMAGE, LEGACY_DEFAULT_RUNTIME, WorkloadSpec

RUN_LABEL = "scaler.io/run"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "scaler"
NAME_LABEL = "app.kubernetes.io/name"
WORKLOAD_CONTAINER = "workload"

_WORKLOAD_ENV = ("CPU", "MEMORY", "INCREMENT")
# The workload's work report (team contracts 8, 11): written to REPORT_PATH on an emptyDir of
# this name mounted at REPORT_MOUNT, read on the node by the collectors.
REPORT_VOLUME = "scaler-report"
REPORT_MOUNT = "/var/run/scaler"
REPORT_PATH = f"{REPORT_MOUNT}/report"


# A Kubernetes object as JSON/YAML data.
Obj = dict[str, Any]


class ManifestError(ValueError):
    """A manifest that must not be applied; the message is one line for users."""


@dataclass(frozen=True)
class RunManifests:
    namespace: Obj
    deployment: Obj
    runtime_class: Obj | None  # the shipped RuntimeClass for the spec's runtime, if any

    def documents(self) -> list[Obj]:
        docs = [self.namespace]
        if self.runtime_class is not None:
            docs.append(self.runtime_class)
        return [*docs, self.deployment]


def load_templates(directory: Path = DIRECTORY) -> dict[str, Obj]:
    """The documents the kustomization lists, by kind (RuntimeClass by ``RuntimeClass/<name>``)."""
    try:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        docs: dict[str, Obj] = {}
        for resource in kustomization.get("resources", []):
            for doc in yaml.safe_load_all((directory / resource).read_text()):
                if not isinstance(doc, dict) or "kind" not in doc:
                    raise ManifestError(f"{resource}: not a Kubernetes object")
                key = doc["kind"]
                if key == "RuntimeClass":
                    key = f"RuntimeClass/{doc['metadata']['name']}"
                docs[key] = doc
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        raise ManifestError(f"cannot load manifests from {directory}: {e}".splitlines()[0]) from None
    for kind in ("Namespace", "Deployment"):
        if kind not in docs:
            raise ManifestError(f"manifests in {directory} lack a {kind}")
    return docs


def build(
    spec: WorkloadSpec,
    *,
    namespace: str = "scaler",
    deployment: str = "scaler-workload",
    run_id: str = "",
    image: str | None = None,
    replicas: int = 0,
    templates: dict[str, Obj] | None = None,
) -> RunManifests:
    """The namespace, Deployment and (for a runtime we ship one for) RuntimeClass of one run."""
    templates = templates if templates is not None else load_templates()
    run_id = run_id or "manual"
    for what, value, pattern in (
        ("namespace", namespace, DNS_LABEL),
        ("deployment name", deployment, DNS_LABEL),
        ("run id", run_id, LABEL_VALUE),
    ):
        if not pattern.match(value):
            raise ManifestError(f"invalid {what} {value!r}: must be a Kubernetes name/label value")

    ns = copy.deepcopy(templates["Namespace"])
    ns["metadata"]["name"] = namespace

    dep = copy.deepcopy(templates["Deployment"])
    meta = dep.setdefault("metadata", {})
    meta["name"] = deployment
    meta["namespace"] = namespace
    labels = meta.setdefault("labels", {})
    labels.update({NAME_LABEL: deployment, MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id})
    dspec = dep.setdefault("spec", {})
    dspec["replicas"] = replicas
    dspec["selector"] = {"matchLabels": {NAME_LABEL: deployment}}
    template = dspec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("labels", {}).update(
        {NAME_LABEL: deployment, MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id}
    )
    pod = template.setdefault("spec", {})
    if spec.runtime_class:
        pod["runtimeClassName"] = spec.runtime_class
    else:
        pod.pop("runtimeClassName", None)
    container = _workload_container(pod)
    container["image"] = image or (spec.image if spec.image else DEFAULT_IMAGE)
    env = {e["name"]: e for e in container.setdefault("env", []) if isinstance(e, dict)}
    values = {
        "CPU": _number(spec.cpu_percent),
        "MEMORY": _number(spec.memory_mib),
        "INCREMENT": _number(spec.increment_mib),
        "REPORT": REPORT_PATH,
    }
    for name, value in values.items():
        if name in env:
            env[name]["value"] = value
        else:
            container["env"].append({"name": name, "value": value})
    _mount_report_volume(pod, container)
    container["resources"] = _resources(spec)
    validate_deployment(dep)

    rc = templates.get(f"RuntimeClass/{spec.runtime_class}") if spec.runtime_class else None
    if rc is not None:
        rc = copy.deepcopy(rc)
        validate_runtime_class(rc)
    return RunManifests(namespace=ns, deployment=dep, runtime_class=rc)


def _mount_report_volume(pod: Obj, container: Obj) -> None:
    """The report emptyDir in the pod and mounted in the workload container (as data, so a
    manifest edited without them still gets them)."""
    volumes = pod.setdefault("volumes", [])
    if not any(isinstance(v, dict) and v.get("name") == REPORT_VOLUME for v in volumes):
        volumes.append({"name": REPORT_VOLUME, "emptyDir": {}})
    mounts = container.setdefault("volumeMounts", [])
    if not any(isinstance(m, dict) and m.get("name") == REPORT_VOLUME for m in mounts):
        mounts.append({"name": REPORT_VOLUME, "mountPath": REPORT_MOUNT})


def _check_report_volume(name: str, pod: Obj, container: Obj, env: dict[Any, Any]) -> None:
    """REPORT must be a file directly on the scaler-report emptyDir (node medium), where the
    collectors look for it; anywhere else the run's work columns would stay empty."""
    volume = next((v for v in pod.get("volumes") or []
                   if isinstance(v, dict) and v.get("name") == REPORT_VOLUME), None)
    mount = next((m for m in container.get("volumeMounts") or []
                  if isinstance(m, dict) and m.get("name") == REPORT_VOLUME), None)
    if volume is None or mount is None or not isinstance(volume.get("emptyDir"), dict):
        raise ManifestError(f"Deployment {name}: the workload container must mount the "
                            f"{REPORT_VOLUME} emptyDir (where the nodes read its work report)")
    if (volume["emptyDir"].get("medium") or "") == "Memory":
        raise ManifestError(f"Deployment {name}: the {REPORT_VOLUME} emptyDir must not be "
                            "medium: Memory (under kata it would live inside the VM, unreadable "
                            "on the node)")
    report = env.get("REPORT")
    if report is not None and report != f"{str(mount.get('mountPath', '')).rstrip('/')}/report":
        raise ManifestError(f"Deployment {name}: env REPORT={report!r} must be the file 'report' "
                            f"on the {REPORT_VOLUME} mount ({mount.get('mountPath')})")


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _resources(spec: WorkloadSpec) -> Obj:
    requests, limits = {}, {}
    if spec.request_mib is not None:
        requests["memory"] = mib_quantity(spec.request_mib)
    if spec.cpu_request_m is not None:
        requests["cpu"] = millis_quantity(spec.cpu_request_m)
    if spec.limit_mib is not None:
        limits["memory"] = mib_quantity(spec.limit_mib)
    if spec.cpu_limit_m is not None:
        limits["cpu"] = millis_quantity(spec.cpu_limit_m)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _workload_container(pod: Obj) -> Obj:
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ManifestError("Deployment has no containers (spec.template.spec.containers)")
    for c in containers:
        if isinstance(c, dict) and c.get("name") == WORKLOAD_CONTAINER:
            return c
    first = containers[0]
    if not isinstance(first, dict):
        raise ManifestError("spec.template.spec.containers[0] is not a mapping")
    return first


def validate_deployment(doc: Obj) -> None:
    """Raise ManifestError for a Deployment that would not run the experiment it claims to."""
    if not isinstance(doc, dict) or doc.get("kind") != "Deployment":
        raise ManifestError("not a Deployment")
    if doc.get("apiVersion") != "apps/v1":
        raise ManifestError(f"Deployment apiVersion {doc.get('apiVersion')!r}: expected apps/v1")
    name = (doc.get("metadata") or {}).get("name")
    if not name:
        raise ManifestError("Deployment has no metadata.name")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError(f"Deployment {name}: no spec")
    if "resources" in spec:
        raise ManifestError(
            f"Deployment {name}: resources at spec.resources are ignored by Kubernetes; "
            "put them in the container (spec.template.spec.containers[].resources)"
        )
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ManifestError(f"Deployment {name}: replicas must be a non-negative integer")
    template = spec.get("template") or {}
    pod = template.get("spec")
    if not isinstance(pod, dict):
        raise ManifestError(f"Deployment {name}: no pod template (spec.template.spec)")
    if "resources" in pod:
        raise ManifestError(
            f"Deployment {name}: resources at pod level (spec.template.spec.resources) are "
            "ignored by Kubernetes and the pods run BestEffort; put them in the container "
            "(spec.template.spec.containers[].resources)"
        )
    rc = pod.get("runtimeClassName")
    if rc is not None and (not isinstance(rc, str) or not DNS_SUBDOMAIN.match(rc)):
        raise ManifestError(f"Deployment {name}: invalid runtimeClassName {rc!r}")
    selector = ((spec.get("selector") or {}).get("matchLabels")) or {}
    pod_labels = ((template.get("metadata") or {}).get("labels")) or {}
    if not selector:
        raise ManifestError(f"Deployment {name}: no spec.selector.matchLabels")
    for k, v in selector.items():
        if pod_labels.get(k) != v:
            raise ManifestError(
                f"Deployment {name}: selector {k}={v} does not match the pod template labels"
            )
    for k, v in {**((doc.get("metadata") or {}).get("labels") or {}), **pod_labels}.items():
        if not isinstance(v, str) or not LABEL_VALUE.match(v):
            raise ManifestError(f"Deployment {name}: invalid label value {k}={v!r}")
    _workload_container(pod)
    for c in pod["containers"]:
        if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
            raise ManifestError(f"Deployment {name}: every container needs a name and an image")
        _validate_resources(name, c)
    container = _workload_container(pod)
    env: dict[Any, Any] = {
        e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
    _check_report_volume(name, pod, container, env)
    for key in _WORKLOAD_ENV:
        if key not in env:
            raise ManifestError(f"Deployment {name}: workload container lacks env {key}")
        try:
            if float(env[key]) < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ManifestError(
                f"Deployment {name}: env {key}={env[key]!r} must be a non-negative number "
                "(quoted, as Kubernetes env values are strings)"
            ) from None


def _validate_resources(name: str, container: Obj) -> None:
    res = container.get("resources") or {}
    if not isinstance(res, dict):
        raise ManifestError(f"Deployment {name}: container {container['name']} resources not a mapping")
    unknown = set(res) - {"requests", "limits", "claims"}
    if unknown:
        raise ManifestError(
            f"Deployment {name}: container {container['name']} resources has unknown key(s) "
            f"{', '.join(sorted(unknown))} (expected requests, limits)"
        )
    parsed: dict[str, dict[str, float]] = {}
    for part in ("requests", "limits"):
        for resource, q in (res.get(part) or {}).items():
            try:
                value = memory_mib(q) if resource == "memory" else cpu_millis(q)
            except QuantityError as e:
                raise ManifestError(
                    f"Deployment {name}: container {container['name']} {part}.{resource}: {e}"
                ) from None
            parsed.setdefault(part, {})[resource] = value
    for resource, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(resource)
        if limit is not None and request > limit:
            raise ManifestError(
                f"Deployment {name}: container {container['name']} requests more {resource} "
                "than its limit"
            )


def validate_runtime_class(doc: Obj) -> None:
    if doc.get("kind") != "RuntimeClass" or not doc.get("handler"):
        raise ManifestError("RuntimeClass needs a handler")
    for resource, q in ((doc.get("overhead") or {}).get("podFixed") or {}).items():
        try:
            memory_mib(q) if resource == "memory" else cpu_millis(q)
        except QuantityError as e:
            raise ManifestError(f"RuntimeClass {doc['metadata']['name']} overhead: {e}") from None


def runtime_class_problem(name: str, on_cluster: Iterable[str],
                          templates: dict[str, Obj] | None = None) -> str | None:
    """Why a run under RuntimeClass ``name`` cannot start on a cluster that has the RuntimeClasses
    ``on_cluster``: it is missing there and scaler ships none by that name (None: it can)."""
    if name in set(on_cluster):
        return None
    shipped = load_templates() if templates is None else templates
    if f"RuntimeClass/{name}" in shipped:
        return None
    return (f"RuntimeClass {name!r} not found on the cluster, and scaler ships none by that "
            "name: ask an admin to install it, or pass --runtime-class-manifest FILE")


def workload_spec_from_deployment(doc: Obj) -> WorkloadSpec:
    """The inverse of ``build``: what a Deployment's pod template asks for, as Kubernetes reads
    it (pod-level resources ignored, as the kubelet ignores them)."""
    pod = doc["spec"]["template"]["spec"]
    container = _workload_container(pod)
    env: dict[Any, Any] = {
        e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}

    def num(key: str, default: float) -> float:
        try:
            return float(env.get(key, default))
        except (TypeError, ValueError):
            return default

    return WorkloadSpec(
        # No RuntimeClass: the default runtime, spelled as the simulator's profiles name it
        # until the simulator maps "default" (team contract 2).
        runtime=pod.get("runtimeClassName") or LEGACY_DEFAULT_RUNTIME,
        cpu_percent=num("CPU", 5.0),
        memory_mib=int(num("MEMORY", 500)),
        increment_mib=int(num("INCREMENT", 256)),
        request_mib=int(memory_mib(req["memory"])) if "memory" in req else None,
        limit_mib=int(memory_mib(lim["memory"])) if "memory" in lim else None,
        cpu_request_m=cpu_millis(req["cpu"]) if "cpu" in req else None,
        cpu_limit_m=cpu_millis(lim["cpu"]) if "cpu" in lim else None,
        image=container.get("image") or DEFAULT_IMAGE,
    )
