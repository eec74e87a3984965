"""The driver's watch and access review through the real kubectl, against a loopback server that
answers as a real API server does where ``scaler sim serve`` does not (yet): a resourceVersion
the server does not have after a restart (504 "Too large resource version", as an ERROR event
and as the request's status), an expired continue token, a field selector it refuses, an outage,
SelfSubjectAccessReview. The answers are written from the API documentation; the official
Python client checks that they are what its models read."""

from __future__ import annotations

import json
import threading

import pytest
from aiohttp import web

from scaler.openshift.access import Permission, review_all
from scaler.openshift.client import KubeClient
from scaler.openshift.events import EventTally
from scaler.openshift.watch import PodWatcher, Watcher
from tests.kube_fixture import (
    RecordedApi,
    json_response,
    pod_list,
    running_pod,
    status,
    too_large,
    watch_stream,
)
from tests.simserve_support import KUBECTL, needs_kubectl
from tests.test_openshift_accounting import as_events_v1, failed_create, failed_scheduling

pytestmark = needs_kubectl

PODS = "/api/v1/namespaces/ns/pods"
EVENTS = "/api/v1/namespaces/ns/events"


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # kubectl's cache, per test
    srv = RecordedApi().start()
    yield srv
    srv.stop()


def client(api: RecordedApi, tmp_path) -> KubeClient:
    return KubeClient(KUBECTL, kubeconfig=str(api.kubeconfig(tmp_path / "kc")), context=None,
                      op_timeout_s=20)


def until(predicate, what: str, timeout: float = 30.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        done.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sequence(*handlers):
    """A route answering each request with the next handler (the last one repeats)."""
    calls = iter(handlers)
    last = [handlers[-1]]

    def handler(request):
        h = next(calls, last[0])
        return h(request)

    return handler


def answer(doc: dict, code: int = 200):
    return lambda request: json_response(doc, code)


def test_watch_relists_when_the_server_lacks_its_version_after_a_restart(api, tmp_path):
    """A restarted API server (or etcd restored) has older versions than the client resumes
    from: it answers 504 Too large resource version (an ERROR event in the stream, or the status
    of the request); the watcher lists again instead of waiting forever."""
    api.on("GET", PODS, sequence(
        answer(pod_list(["a"], rv="1200")),  # first list
        watch_stream(api, [{"type": "ERROR", "object": too_large(1200, 17)}]),
        answer(pod_list(["b", "c"], rv="17")),  # the relist
        answer(too_large(17, 3), 504),  # and again, as the request's status this time
        answer(pod_list(["c"], rv="3")),
        watch_stream(api, [{"type": "ADDED", "object": running_pod("d", rv="4")}], hold=True),
    ))
    w = PodWatcher(client(api, tmp_path), "ns", "app=x")
    w.start()
    try:
        until(lambda: sorted(w.table.pods) == ["c", "d"], "the pods of the relisted server")
        assert (w.lists, w.resyncs, w.rv) == (3, 2, "4")
        watches = [r.query for r in api.seen(PODS) if r.query.get("watch")]
        assert [q["resourceVersion"] for q in watches] == ["1200", "17", "3"]
    finally:
        w.stop()


def test_an_expired_continue_token_restarts_the_list(api, tmp_path):
    gone = status(410, "Expired", "The provided continue parameter is too old to display a "
                                  "consistent list result. You can start a new list without "
                                  "the continue parameter.")

    def pages(request):
        if request.query.get("watch"):
            return watch_stream(api, [], hold=True)(request)
        if request.query.get("continue") == "t1":
            return json_response(gone, 410)
        if request.query.get("continue") == "t2":
            return json_response(pod_list(["b"], rv="9"))
        first = sum(1 for r in api.seen(PODS) if "continue" not in r.query) == 1
        return json_response(pod_list(["a"], rv="9", cont="t1" if first else "t2"))

    api.on("GET", PODS, pages)
    w = PodWatcher(client(api, tmp_path), "ns", "app=x", page=1)
    w.start()
    try:
        assert w.synced.wait(30)
        assert sorted(w.table.pods) == ["a", "b"] and w.lists == 1
        assert [r.query.get("continue") for r in api.seen(PODS) if not r.query.get("watch")] \
            == [None, "t1", None, "t2"]
        assert all(r.query["limit"] == "1" for r in api.seen(PODS) if not r.query.get("watch"))
    finally:
        w.stop()  # right after the list, as the watch is being started: it ends too
    assert w.ended.is_set()


def test_after_an_outage_the_watch_lists_again(api, tmp_path):
    """A server that could not be reached may come back with another history and not say so:
    one list when it answers again, then the watch resumes from the new version."""
    api.on("GET", PODS, sequence(
        answer(pod_list(["a", "b"], rv="50")),
        watch_stream(api, [{"type": "ADDED", "object": running_pod("c", rv="51")}], hold=True),
        answer(pod_list(["z"], rv="2")),
        watch_stream(api, [], hold=True),
    ))
    w = PodWatcher(client(api, tmp_path), "ns", "app=x")
    w.start()
    try:
        until(lambda: sorted(w.table.pods) == ["a", "b", "c"], "the first three pods")
        api.down()
        until(lambda: w.failing_since is not None, "the watch to notice the outage")
        api.up()
        until(lambda: sorted(w.table.pods) == ["z"], "the restarted server's pods")
        assert w.resyncs == 1 and w.lists == 2 and w.failing_since is None
        assert w.client.counters.api_errors >= 1
    finally:
        w.stop()


def test_events_follow_a_field_selector_or_filter_here(api, tmp_path):
    """Routine events are left out by the server (fieldSelector reason!=...); a server that
    refuses the selector (400) gets an unfiltered watch and the tally filters instead."""
    refused = status(400, "BadRequest", 'field label not supported: "reason"')

    def events(request):
        if request.query.get("fieldSelector"):
            return json_response(refused, 400)
        if request.query.get("watch"):
            return watch_stream(api, [
                {"type": "ADDED", "object": failed_create(uid="e1", count=1)},
                {"type": "MODIFIED", "object": failed_create(uid="e1", count=4)},
                {"type": "ADDED", "object": failed_scheduling(uid="s1", series=2)},
            ], hold=True)(request)
        return json_response({"kind": "EventList", "apiVersion": "v1",
                              "metadata": {"resourceVersion": "7"},
                              "items": [failed_create(uid="old", count=9)]})

    api.on("GET", EVENTS, events)
    tally = EventTally("scaler-workload-")
    w = Watcher(client(api, tmp_path), EVENTS, tally, field_selector="reason!=Pulled",
                purpose="events", optional=True)
    w.start()
    try:
        until(lambda: tally.counts().failed_scheduling == 2, "the events of the run")
        c = tally.counts()
        assert (c.failed_create, c.failed_scheduling) == (4, 2)  # "old" was there before
        assert w.field_selector is None and w.unavailable is None and w.resyncs == 0
    finally:
        w.stop()


def test_events_a_server_does_not_serve_leave_the_run_going(api, tmp_path):
    w = Watcher(client(api, tmp_path), EVENTS, EventTally("x-"), purpose="events",
                optional=True)
    w.start()
    assert w.ended.wait(30)
    assert w.unavailable is not None and "NotFound" in w.unavailable and w.fatal is None


def test_access_reviews_go_to_the_api_as_kubectl_auth_can_i_sends_them(api, tmp_path):
    async def review(request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        attrs = doc["spec"]["resourceAttributes"]
        allowed = "namespace" in attrs and attrs["verb"] != "delete"  # a namespace editor
        return json_response({**doc, "status": {"allowed": allowed,
                                                "reason": "RBAC" if allowed else ""}}, 201)

    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    api.on("POST", path, review)
    needs = [Permission("patch", "deployments", "apps", "scale", "ns"),
             Permission("delete", "deployments", "apps", namespace="ns"),
             Permission("create", "runtimeclasses", "node.k8s.io")]
    got = review_all(client(api, tmp_path), needs)
    assert [r.allowed for r in got] == [True, False, False]
    sent = sorted((json.loads(r.body)["spec"]["resourceAttributes"]["verb"]) for r in
                  api.seen(path))
    assert sent == ["create", "delete", "patch"]
    # a server without the API: no answer, which refuses nothing
    api.routes.clear()
    assert [r.allowed for r in review_all(client(api, tmp_path), needs)] == [None] * 3


def test_an_access_review_the_server_fails_to_answer_is_asked_again(api, tmp_path):
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    unavailable = status(503, "ServiceUnavailable", "the server is currently unable to handle "
                                                   "the request")

    async def denied(request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        return json_response({**doc, "status": {"allowed": False}}, 201)

    api.on("POST", path, sequence(answer(unavailable, 503), answer(unavailable, 503), denied))
    c = client(api, tmp_path)
    c._sleep = lambda s: None
    (got,) = review_all(c, [Permission("create", "namespaces")])
    assert got.allowed is False and len(api.seen(path)) == 3
    assert c.counters.api_errors == 2


def test_fixtures_are_what_the_official_client_reads():
    """The recorded answers above parse into the official client's models unchanged."""
    kubernetes = pytest.importorskip("kubernetes")
    import inspect

    from kubernetes.client import ApiClient

    c = ApiClient()

    def read_as(doc: dict, model: str):
        if "content_type" in inspect.signature(c.deserialize).parameters:  # client >= 32
            return c.deserialize(json.dumps(doc), model, "application/json")

        class Response:  # older clients read a response object's .data
            data = json.dumps(doc)

        return c.deserialize(Response(), model)

    st = read_as(too_large(1200, 17), "V1Status")
    assert st.code == 504 and st.details.causes[0].reason == "ResourceVersionTooLarge"
    ev = read_as(failed_scheduling(series=4), "CoreV1Event")
    assert ev.series.count == 4 and ev.involved_object.kind == "Pod" and ev.count is None
    new = read_as(as_events_v1(failed_scheduling(series=4)), "EventsV1Event")
    assert new.series.count == 4 and new.regarding.kind == "Pod" and new.note
    ev = read_as(failed_create(count=3), "CoreV1Event")
    assert ev.count == 3 and ev.reason == "FailedCreate"
    review = Permission("patch", "deployments", "apps", "scale", "ns").review()
    model = kubernetes.client.V1SelfSubjectAccessReview(
        api_version="authorization.k8s.io/v1", kind="SelfSubjectAccessReview",
        spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=kubernetes.client.V1ResourceAttributes(
                verb="patch", group="apps", resource="deployments", subresource="scale",
                namespace="ns")))
    assert c.sanitize_for_serialization(model) == review
