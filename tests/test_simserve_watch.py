"""Lists and watches as a real API server serves them: versions it does not have yet, selector
transitions, reusable continue tokens, supported field selectors, Table rows with objects."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.simserve_support import kube_client, needs_kubectl, start_server, workload_deployment

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("watch"), "--speed", "8", "--no-ssh",
                       "--workers", "2")
    srv.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "wa"}}))
    srv.kubectl("apply", "-f", "-", input=json.dumps(workload_deployment("web", "wa", replicas=3)))
    srv.wait_for(lambda: len(srv.kubectl_json("get", "pods", "-n", "wa")["items"]) == 3,
                 what="3 pods")
    yield srv
    srv.stop()


def get(server, path: str, **query: str):
    url = f"{server.url}{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def error_of(server, path: str, **query: str) -> tuple[int, dict]:
    with pytest.raises(urllib.error.HTTPError) as e:
        get(server, path, **query)
    return e.value.code, json.load(e.value)


def test_a_version_the_server_does_not_have_is_an_error_not_a_hang(server):
    from kubernetes import client, watch
    from kubernetes.client.rest import ApiException

    ahead = str(server.stats()["resource_version"] + 100_000)
    t0 = time.monotonic()
    core = client.CoreV1Api(kube_client(server.kubeconfig))
    with pytest.raises(ApiException) as e:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "wa", resource_version=ahead,
                                      timeout_seconds=30):
            pass
    assert e.value.status == 504 and time.monotonic() - t0 < 10
    status = json.loads(e.value.body)
    assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    code, status = error_of(server, "/api/v1/namespaces/wa/pods", resourceVersion=ahead)
    assert code == 504 and "Too large resource version" in status["message"]
    # (kubectl, as client-go does, retries a 504 with Retry-After ten times before it fails)


def test_objects_starting_or_stopping_to_match_a_selector_are_added_or_deleted(server):
    from kubernetes import client, watch

    core = client.CoreV1Api(kube_client(server.kubeconfig))
    rv = core.list_namespace().metadata.resource_version
    labelled = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "sel", "labels": {"team": "a"}}}
    server.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sel"}}))
    server.kubectl("apply", "-f", "-", input=json.dumps(labelled))
    server.kubectl("label", "namespace", "sel", "team-")
    seen = [(ev["type"], ev["object"].metadata.name) for ev in watch.Watch().stream(
        core.list_namespace, label_selector="team=a", resource_version=rv, timeout_seconds=2)]
    assert seen == [("ADDED", "sel"), ("DELETED", "sel")]


def test_continue_tokens_can_be_used_again_and_garbage_is_400(server):
    first = get(server, "/api/v1/namespaces/wa/pods", limit="1")
    token = first["metadata"]["continue"]
    assert first["metadata"]["remainingItemCount"] == 2
    again = get(server, "/api/v1/namespaces/wa/pods", limit="1", **{"continue": token})
    twice = get(server, "/api/v1/namespaces/wa/pods", limit="1", **{"continue": token})
    assert again["items"] == twice["items"] and len(again["items"]) == 1
    assert again["items"][0]["metadata"]["name"] != first["items"][0]["metadata"]["name"]
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    rest = get(server, "/api/v1/namespaces/wa/pods", limit="5",
               **{"continue": again["metadata"]["continue"]})
    assert len(rest["items"]) == 1 and "continue" not in rest["metadata"]
    code, status = error_of(server, "/api/v1/namespaces/wa/pods", limit="1",
                            **{"continue": "not-a-token"})
    assert code == 400 and status["reason"] == "BadRequest"


def test_unknown_field_selectors_are_refused(server):
    proc = server.kubectl("get", "pods", "-n", "wa", "--field-selector", "spec.foo=x",
                          check=False)
    assert proc.returncode != 0 and "field label not supported: spec.foo" in proc.stderr
    running = server.kubectl("get", "pods", "-n", "wa", "--field-selector",
                             "status.phase=Running,spec.nodeName!=nowhere", "-o", "name")
    assert running.returncode == 0


def test_sort_by_a_field_of_the_object(server):
    out = server.kubectl("get", "pods", "-n", "wa", "--sort-by=.spec.nodeName").stdout
    assert out.count("web-") == 3, out
    table = get(server, "/api/v1/namespaces/wa/pods", includeObject="Object")
    assert table["kind"] == "PodList"  # JSON unless a Table is asked for
