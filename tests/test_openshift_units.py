"""Pure parts of the driver: failure classification, the pod table, node discovery."""

from __future__ import annotations

from scaler.openshift.discover import node_info, runtime_class_info, worker_nodes
from scaler.openshift.errors import (
    EXISTS,
    FATAL,
    FORBIDDEN,
    NOT_FOUND,
    STALE_VERSION,
    TRANSIENT,
    UNREACHABLE,
    classify,
    status_kind,
)
from scaler.openshift.podtable import PodTable


def test_classify():
    assert classify(1, "Error from server (ServiceUnavailable): x").kind == TRANSIENT
    assert classify(1, "Error from server (InternalError): etcdserver: leader changed").kind == TRANSIENT
    assert classify(1, "Error from server (TooManyRequests): slow down").kind == TRANSIENT
    assert classify(1, 'Error from server (NotFound): deployments.apps "x" not found').kind == NOT_FOUND
    assert classify(1, "Error from server (AlreadyExists): x").kind == EXISTS
    assert classify(1, "Error from server (Forbidden): nope").kind == FORBIDDEN
    assert classify(1, "error: You must be logged in to the server (Unauthorized)").kind == FATAL
    assert classify(1, "The connection to the server h:6443 was refused").kind == UNREACHABLE
    assert classify(1, "Unable to connect to the server: dial tcp: lookup h: no such host").kind == UNREACHABLE
    assert classify(1, "error: unknown flag: --frobnicate").kind == FATAL
    refused_after_discovery = (
        'E1123 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group '
        'list: Get \\"http://127.0.0.1:1/api\\": dial tcp 127.0.0.1:1: connect: connection refused"\n'
        "The connection to the server 127.0.0.1:1 was refused - did you specify the right host?")
    f = classify(1, refused_after_discovery)
    assert f.kind == UNREACHABLE and f.message.startswith("The connection to the server")
    assert classify(1, "Unable to connect to the server: EOF").kind == TRANSIENT
    f = classify(1, "E1123 12:00:00 memcache.go] noise\nError from server (Forbidden): no\nmore")
    assert f.message == "Error from server (Forbidden): no"


def test_classify_what_kubectl_prints_after_a_restart_or_a_fault():
    # kubectl scale once the namespace is gone: no "(NotFound)" in it, still "already gone"
    assert classify(1, 'error: no objects passed to scale namespaces "nons" not found').kind \
        == NOT_FOUND
    # a 5xx on /openapi/v3, then /openapi/v2's 404: kubectl apply prints this; asking again works
    openapi = ('error: error validating "STDIN": error validating data: failed to download '
               "openapi: the server could not find the requested resource; if you choose to "
               "ignore these errors, turn validation off with --validate=false")
    assert classify(1, openapi).kind == TRANSIENT
    # a watch from a version the server does not have, as kubectl get --raw reports the 504
    assert classify(1, "Error from server (Timeout): Too large resource version: 99, "
                       "current: 5").kind == STALE_VERSION
    assert classify(1, "Error from server (Expired): too old resource version: 2 (40)").kind \
        == STALE_VERSION
    assert classify(1, "Error from server (Gone): The provided continue parameter is too old "
                       "to display a consistent list result.").kind == STALE_VERSION
    assert classify(1, "Error from server (BadRequest): field label not supported: x").kind \
        == FATAL


def test_status_objects_from_watch_streams():
    # k8s.io/apiserver NewTooLargeResourceVersionError: 504 Timeout, cause ResourceVersionTooLarge
    too_large = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                 "message": "Too large resource version: 1200, current: 17", "reason": "Timeout",
                 "details": {"causes": [{"reason": "ResourceVersionTooLarge",
                                         "message": "Too large resource version"}],
                             "retryAfterSeconds": 1}, "code": 504}
    assert status_kind(too_large).kind == STALE_VERSION
    # API servers 1.17.0-1.18.5: no cause reason, only its message
    old = {**too_large, "details": {"causes": [{"message": "Too large resource version"}]}}
    assert status_kind(old).kind == STALE_VERSION
    expired = {"kind": "Status", "status": "Failure", "code": 410, "reason": "Expired",
               "message": "too old resource version: 2 (2000)"}
    assert status_kind(expired).kind == STALE_VERSION
    assert status_kind({**expired, "code": 410, "reason": "Gone"}).kind == STALE_VERSION
    timeout = {"kind": "Status", "code": 504, "reason": "Timeout", "message": "request timed out"}
    assert status_kind(timeout).kind == TRANSIENT
    assert status_kind({"code": 500, "reason": "InternalError", "message": "x"}).kind == TRANSIENT
    assert status_kind({"code": 403, "reason": "Forbidden", "message": "x"}).kind == FORBIDDEN
    assert status_kind({"code": 401, "reason": "Unauthorized", "message": "x"}).kind == FATAL


def pod(name, *, uid=None, phase="Running", reason=None, node="w0", ready=True, deleting=False,
        restarts=0, created="2026-01-01T00:00:00Z", ready_at="2026-01-01T00:00:04Z",
        state=None, last=None):
    conds = [{"type": "PodScheduled", "status": "True" if node else "False"},
             {"type": "Ready", "status": "True" if ready else "False",
              "lastTransitionTime": ready_at if ready else created}]
    meta = {"name": name, "uid": uid or f"uid-{name}", "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    status = {"phase": phase, "conditions": conds,
              "containerStatuses": [{"name": "workload", "restartCount": restarts,
                                     "state": state or {}, "lastState": last or {}}]}
    if reason:
        status["reason"] = reason
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


def test_pod_table_classifies_like_kubectl_get_pods():
    t = PodTable()
    t.replace([
        pod("a"), pod("b"),
        pod("p", phase="Pending", node=None, ready=False),
        pod("c", phase="Pending", ready=False),
        pod("t", deleting=True),
        pod("e", phase="Failed", reason="Evicted", ready=False),
        pod("f", phase="Failed", reason="Error", ready=False),
    ])
    c = t.counts()
    assert (c.running, c.pending, c.creating, c.terminating, c.evicted, c.failed) == (2, 1, 1, 1, 1, 1)
    assert t.evicted_listed == 1
    assert sorted(c.startup_s) == [4.0, 4.0, 4.0]  # a, b and t became Ready 4 s after creation
    assert t.counts().startup_s == ()  # reported once


def test_evictions_and_oom_kills_are_cumulative_and_counted_once():
    t = PodTable()
    oom = {"terminated": {"reason": "OOMKilled", "exitCode": 137, "containerID": "cri-o://1"}}
    t.apply("ADDED", pod("a", phase="Running", ready=False, state=oom))
    t.apply("MODIFIED", pod("a", restarts=1, last=oom))  # the same kill, now the last state
    t.apply("MODIFIED", pod("a", restarts=1, last=oom))
    oom2 = {"terminated": {"reason": "OOMKilled", "exitCode": 137, "containerID": "cri-o://2"}}
    t.apply("MODIFIED", pod("a", restarts=2, last=oom2))
    t.apply("ADDED", pod("e", phase="Failed", reason="Evicted", ready=False))
    t.apply("DELETED", pod("e", phase="Failed", reason="Evicted", ready=False, deleting=True))
    c = t.counts()
    assert c.oom_killed == 2
    assert c.evicted == 1  # still counted after the evicted pod object is deleted
    assert t.evicted_listed == 0  # ... but no longer listed
    assert c.restarts == 2 and c.running == 1


def test_relist_drops_pods_that_vanished_meanwhile():
    t = PodTable()
    t.replace([pod("a"), pod("b")])
    t.replace([pod("b")])
    assert t.counts().running == 1


def test_a_list_taken_page_by_page_replaces_the_table_only_when_complete():
    t = PodTable()
    t.replace([pod("a"), pod("b")])
    t.begin_list()
    t.list_page([pod("b"), pod("c")])
    assert sorted(t.pods) == ["a", "b"]  # an observation mid-list sees the previous list
    t.list_page([pod("d")])
    t.end_list()
    assert sorted(t.pods) == ["b", "c", "d"]
    c = t.counts()
    assert c.running == 3 and sorted(c.startup_s) == [4.0] * 4  # a, b, c, d: once each
    # a pod that went away during the relist and comes back (same uid) is not reported again,
    # one that is gone for good is forgotten (the table stays the size of what is listed)
    assert t.reported_ready == {"uid-b", "uid-c", "uid-d"}
    t.apply("DELETED", pod("c", deleting=True))
    assert t.reported_ready == {"uid-b", "uid-d"}


def test_pods_in_one_state_share_one_status_record():
    t = PodTable()
    t.replace([pod(f"p{i}") for i in range(100)])
    assert len({id(p.status) for p in t.pods.values()}) == 1


def test_node_discovery():
    nodes = {"items": [
        {"metadata": {"name": "w2", "labels": {"node-role.kubernetes.io/worker": ""}},
         "status": {"capacity": {"cpu": "8", "memory": "16393152Ki", "pods": "250"},
                    "allocatable": {"cpu": "7500m", "memory": "15242176Ki", "pods": "250"},
                    "addresses": [{"type": "Hostname", "address": "w2"},
                                  {"type": "InternalIP", "address": "10.0.0.2"}]}},
        {"metadata": {"name": "m0", "labels": {"node-role.kubernetes.io/master": ""}},
         "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "250"}}},
    ]}
    (w,) = worker_nodes(nodes)
    assert (w.name, w.address, w.cpu_millis, w.allocatable_cpu_millis, w.max_pods) == \
        ("w2", "10.0.0.2", 8000, 7500, 250)
    assert round(w.memory_mib) == 16009
    assert node_info(nodes["items"][1]).role == "control-plane"
    rc = runtime_class_info({"metadata": {"name": "kata"}, "handler": "kata",
                             "overhead": {"podFixed": {"memory": "350Mi", "cpu": "250m"}}})
    assert rc == {"name": "kata", "handler": "kata", "overhead": {"memory": "350Mi", "cpu": "250m"}}
