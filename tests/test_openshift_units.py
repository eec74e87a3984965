"""Pure parts of the driver: failure classification, the pod table, node discovery."""

from __future__ import annotations

from scaler.openshift.discover import node_info, runtime_class_info, worker_nodes
from scaler.openshift.errors import EXISTS, FATAL, NOT_FOUND, TRANSIENT, UNREACHABLE, classify
from scaler.openshift.podtable import PodTable


def test_classify():
    assert classify(1, "Error from server (ServiceUnavailable): x").kind == TRANSIENT
    assert classify(1, "Error from server (InternalError): etcdserver: leader changed").kind == TRANSIENT
    assert classify(1, "Error from server (TooManyRequests): slow down").kind == TRANSIENT
    assert classify(1, 'Error from server (NotFound): deployments.apps "x" not found').kind == NOT_FOUND
    assert classify(1, "Error from server (AlreadyExists): x").kind == EXISTS
    assert classify(1, "Error from server (Forbidden): nope").kind == FATAL
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
    assert c.restarts == 2 and c.running == 1


def test_relist_drops_pods_that_vanished_meanwhile():
    t = PodTable()
    t.replace([pod("a"), pod("b")])
    t.replace([pod("b")])
    assert t.counts().running == 1


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
