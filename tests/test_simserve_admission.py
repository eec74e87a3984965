"""RuntimeClass admission and the events the cluster records about pods that cannot run, against
``scaler sim serve`` with the real kubectl and the official Python client."""

from __future__ import annotations

import json

import pytest

from tests.simserve_support import kube_client, needs_kubectl, start_server, workload_deployment

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("admission"), "--speed", "8", "--no-ssh",
                       "--workers", "2")
    srv.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "adm"}}))
    yield srv
    srv.stop()


def apply(server, doc: dict) -> None:
    server.kubectl("apply", "-f", "-", input=json.dumps(doc))


def events(server, namespace: str, reason: str) -> list[dict]:
    items = server.kubectl_json("get", "events", "-n", namespace)["items"]
    return [e for e in items if e["reason"] == reason]


def test_a_missing_runtime_class_refuses_every_pod_with_failed_create(server):
    apply(server, workload_deployment("norc", "adm", replicas=3, runtime_class="nope"))
    failed = server.wait_for(lambda: events(server, "adm", "FailedCreate"), what="FailedCreate")
    (ev,) = failed
    assert ev["involvedObject"]["kind"] == "ReplicaSet"
    assert ev["involvedObject"]["name"].startswith("norc-")
    assert 'pod rejected: RuntimeClass "nope" not found' in ev["message"]
    assert ev["type"] == "Warning" and ev["source"]["component"] == "replicaset-controller"
    server.wait_for(lambda: events(server, "adm", "FailedCreate")[0]["count"] > 1,
                    what="the controller's retries")
    assert server.kubectl_json("get", "pods", "-n", "adm", "-l", "app=norc")["items"] == []
    dep = server.kubectl_json("get", "deployment", "norc", "-n", "adm")
    assert any(c["type"] == "ReplicaFailure" for c in dep["status"]["conditions"])

    # the same events through events.k8s.io/v1, read by the typed client
    from kubernetes import client

    api = client.EventsV1Api(kube_client(server.kubeconfig))
    v1 = [e for e in api.list_namespaced_event("adm").items if e.reason == "FailedCreate"]
    assert v1 and v1[0].regarding.kind == "ReplicaSet" and "nope" in v1[0].note
    core = client.CoreV1Api(kube_client(server.kubeconfig))
    assert any(e.reason == "FailedCreate" for e in core.list_namespaced_event("adm").items)

    # the class appears: the next try succeeds
    apply(server, {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                   "metadata": {"name": "nope"}, "handler": "kata"})
    server.wait_for(lambda: len(server.kubectl_json("get", "pods", "-n", "adm", "-l",
                                                    "app=norc")["items"]) == 3, what="pods")
    server.kubectl("delete", "deployment", "norc", "-n", "adm")
    server.kubectl("delete", "runtimeclass", "nope")


def test_a_handler_no_node_has_leaves_pods_creating_with_sandbox_failures(server):
    apply(server, {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                   "metadata": {"name": "gvisor"}, "handler": "runsc"})
    apply(server, workload_deployment("gv", "adm", replicas=2, runtime_class="gvisor"))
    pods = server.wait_for(lambda: (lambda items: items if len(items) == 2 else None)(
        server.kubectl_json("get", "pods", "-n", "adm", "-l", "app=gv")["items"]), what="pods")
    for p in pods:
        assert p["status"]["phase"] == "Pending" and p["spec"]["nodeName"]
        state = p["status"]["containerStatuses"][0]["state"]
        assert state["waiting"]["reason"] == "ContainerCreating"
    failures = server.wait_for(lambda: events(server, "adm", "FailedCreatePodSandBox"),
                               what="sandbox failures")
    assert all('RuntimeHandler "runsc" not supported' in e["message"] for e in failures)
    assert {e["involvedObject"]["kind"] for e in failures} == {"Pod"}
    server.kubectl("scale", "deployment", "gv", "-n", "adm", "--replicas=1")
    server.wait_for(lambda: len(server.kubectl_json("get", "pods", "-n", "adm", "-l",
                                                    "app=gv")["items"]) == 1, what="scale down")
    server.kubectl("delete", "deployment", "gv", "-n", "adm")
    assert server.kubectl_json("get", "pods", "-n", "adm", "-l", "app=gv")["items"] == []


def test_scaling_keeps_the_replicaset_and_a_template_change_makes_a_new_one(server):
    apply(server, workload_deployment("stable", "adm", replicas=1))

    def hashes() -> set[str]:
        items = server.kubectl_json("get", "pods", "-n", "adm", "-l", "app=stable")["items"]
        return {p["metadata"]["labels"]["pod-template-hash"] for p in items
                if not p["metadata"].get("deletionTimestamp")}

    first = server.wait_for(hashes, what="a pod")
    server.kubectl("scale", "deployment", "stable", "-n", "adm", "--replicas=3")
    server.wait_for(lambda: len(server.kubectl_json("get", "pods", "-n", "adm", "-l",
                                                    "app=stable")["items"]) == 3, what="3 pods")
    assert hashes() == first
    owners = {p["metadata"]["ownerReferences"][0]["name"] for p in server.kubectl_json(
        "get", "pods", "-n", "adm", "-l", "app=stable")["items"]}
    assert owners == {f"stable-{next(iter(first))}"}
    server.kubectl("set", "env", "deployment/stable", "-n", "adm", "MEMORY=120")
    server.wait_for(lambda: hashes() and hashes() != first, what="a new ReplicaSet")
    server.kubectl("delete", "deployment", "stable", "-n", "adm")


def test_pods_no_node_fits_get_failed_scheduling(server):
    big = workload_deployment("huge", "adm", replicas=1)
    big["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"memory": "900Gi"}}
    apply(server, big)
    (ev, *_) = server.wait_for(lambda: events(server, "adm", "FailedScheduling"),
                               what="FailedScheduling")
    assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["name"].startswith("huge-")
    assert ev["message"].startswith("0/2 nodes are available")
    assert ev["source"]["component"] == "default-scheduler"
    table = server.kubectl("get", "events", "-n", "adm").stdout
    assert "FailedScheduling" in table and "pod/huge-" in table
    server.kubectl("delete", "deployment", "huge", "-n", "adm")
