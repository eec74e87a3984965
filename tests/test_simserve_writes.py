"""Writes as a real API server checks them: server-side dry-run, optimistic concurrency, field
and object validation, media types; with the real kubectl and the official Python client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.simserve_support import kube_client, needs_kubectl, start_server, workload_deployment

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("writes"), "--speed", "8", "--no-ssh",
                       "--workers", "2")
    srv.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "w"}}))
    yield srv
    srv.stop()


def apply(server, doc: dict, *args: str, check: bool = True):
    return server.kubectl("apply", "-f", "-", *args, input=json.dumps(doc), check=check)


def get(server, name: str) -> dict:
    return server.kubectl_json("get", "deployment", name, "-n", "w")


def test_server_side_dry_run_changes_nothing(server, tmp_path):
    apply(server, workload_deployment("dry", "w", replicas=2))
    before = get(server, "dry")
    out = server.kubectl("scale", "deployment", "dry", "-n", "w", "--replicas=7",
                         "--dry-run=server").stdout
    assert "(server dry run)" in out
    changed = workload_deployment("dry", "w", replicas=5)
    applied = apply(server, changed, "--dry-run=server", "-o", "json").stdout
    assert json.loads(applied)["spec"]["replicas"] == 5  # the answer is what would be
    server.kubectl("delete", "deployment", "dry", "-n", "w", "--dry-run=server")
    (tmp_path / "d.json").write_text(json.dumps(changed))
    diff = server.kubectl("diff", "-f", str(tmp_path / "d.json"), check=False)
    assert diff.returncode == 1 and "replicas: 5" in diff.stdout, diff.stderr
    after = get(server, "dry")
    assert after["spec"]["replicas"] == 2
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # spec untouched
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # not deleted and recreated
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "never"}}
    apply(server, ns, "--dry-run=server")
    assert server.kubectl("get", "namespace", "never", check=False).returncode != 0
    pods = server.kubectl_json("get", "pods", "-n", "w", "-l", "app=dry")["items"]
    assert len(pods) <= 2


def test_a_stale_resource_version_is_a_conflict(server):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    apply(server, workload_deployment("occ", "w"))
    apps = client.AppsV1Api(kube_client(server.kubeconfig))
    dep = apps.read_namespaced_deployment("occ", "w")
    stale = dep.metadata.resource_version
    server.kubectl("scale", "deployment", "occ", "-n", "w", "--replicas=2")
    dep.spec.replicas = 3
    with pytest.raises(ApiException) as e:
        apps.replace_namespaced_deployment("occ", "w", dep)
    assert e.value.status == 409
    status = json.loads(e.value.body)
    assert status["reason"] == "Conflict" and "the object has been modified" in status["message"]
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_deployment("occ", "w", {"metadata": {"resourceVersion": stale},
                                                      "spec": {"replicas": 4}})
    assert e.value.status == 409
    assert get(server, "occ")["spec"]["replicas"] == 2
    fresh = apps.read_namespaced_deployment("occ", "w")
    fresh.spec.replicas = 3
    assert apps.replace_namespaced_deployment("occ", "w", fresh).spec.replicas == 3


def test_unknown_fields_strict_and_warn(server):
    doc = workload_deployment("fv", "w")
    doc["spec"]["replicass"] = 3
    doc["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    proc = apply(server, doc, check=False)
    assert proc.returncode != 0
    assert 'strict decoding error: unknown field "spec.replicass"' in proc.stderr, proc.stderr
    assert 'unknown field "spec.template.spec.containers[0].imagee"' in proc.stderr
    assert server.kubectl("get", "deployment", "fv", "-n", "w", check=False).returncode != 0
    warned = apply(server, doc, "--validate=warn")
    assert 'unknown field "spec.replicass"' in warned.stderr
    server.kubectl("delete", "deployment", "fv", "-n", "w")


def test_deployment_selector_rules(server):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    apps = client.AppsV1Api(kube_client(server.kubeconfig))
    no_selector = workload_deployment("nosel", "w")
    del no_selector["spec"]["selector"]
    proc = apply(server, no_selector, check=False)
    assert proc.returncode != 0 and "spec.selector: Required value" in proc.stderr, proc.stderr
    req = urllib.request.Request(f"{server.url}/apis/apps/v1/namespaces/w/deployments",
                                 method="POST", data=json.dumps(no_selector).encode(),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(req, timeout=5)
    status = json.load(raw.value)
    assert raw.value.code == 422 and status["reason"] == "Invalid"
    assert {"reason": "FieldValueRequired", "message": "Required value",
            "field": "spec.selector"} in status["details"]["causes"]

    mismatch = workload_deployment("mism", "w")
    mismatch["spec"]["selector"]["matchLabels"] = {"app": "other"}
    proc = apply(server, mismatch, check=False)
    assert proc.returncode != 0 and "`selector` does not match template `labels`" in proc.stderr

    apply(server, workload_deployment("imm", "w"))
    changed = workload_deployment("imm", "w")
    changed["spec"]["selector"]["matchLabels"]["tier"] = "x"
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    proc = apply(server, changed, check=False)
    assert proc.returncode != 0 and "field is immutable" in proc.stderr
    dep = apps.read_namespaced_deployment("imm", "w")
    dep.spec.selector.match_labels = {"app": "imm", "tier": "y"}
    dep.spec.template.metadata.labels = {"app": "imm", "tier": "y"}
    with pytest.raises(ApiException) as e:
        apps.replace_namespaced_deployment("imm", "w", dep)
    assert e.value.status == 422
    causes = json.loads(e.value.body)["details"]["causes"]
    assert [c["field"] for c in causes] == ["spec.selector"]


def test_unsupported_media_types_are_415(server):
    req = urllib.request.Request(f"{server.url}/api/v1/namespaces", method="POST",
                                 data=b"k8s\x00\x0a\x00", headers={
                                     "Content-Type": "application/vnd.kubernetes.protobuf"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 415
    assert json.load(e.value)["reason"] == "UnsupportedMediaType"


def test_objects_carry_managed_fields(server):
    apply(server, workload_deployment("mf", "w"))
    def shown(*args: str) -> dict:  # kubectl hides managedFields unless asked
        return server.kubectl_json("get", *args, "-n", "w", "--show-managed-fields")

    dep = shown("deployment", "mf")
    managers = {(e["manager"], e.get("subresource")) for e in dep["metadata"]["managedFields"]}
    assert ("kubectl-client-side-apply", None) in managers
    assert ("kube-controller-manager", "status") in managers
    mine = next(e for e in dep["metadata"]["managedFields"]
                if e["manager"] == "kubectl-client-side-apply")
    assert "f:replicas" in mine["fieldsV1"]["f:spec"] and mine["fieldsType"] == "FieldsV1"
    server.kubectl("label", "deployment", "mf", "-n", "w", "tier=x")
    relabelled = shown("deployment", "mf")["metadata"]["managedFields"]
    assert {e["manager"] for e in relabelled} >= {"kubectl-client-side-apply", "kubectl-label"}
    pods = server.wait_for(lambda: shown("pods", "-l", "app=mf")["items"], what="a pod")
    entries = {e["manager"]: e for e in pods[0]["metadata"]["managedFields"]}
    assert entries["kubelet"]["subresource"] == "status"
    assert "f:containers" in entries["kube-controller-manager"]["fieldsV1"]["f:spec"]
    server.kubectl("delete", "deployment", "mf", "-n", "w")
