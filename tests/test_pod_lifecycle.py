"""Each pod's lifecycle (run.pods.csv, team contract 10): read from pod objects as the API
serves them, settled (times once known stay known, undated ends dated when first seen), and
reported as changes, once more when a pod is gone."""

from __future__ import annotations

import datetime as dt

from scaler.cluster import PodLifecycle
from scaler.openshift.podtable import PodTable
from scaler.pod_lifecycle import GONE, LifecycleLog, PodEnd, lifecycle_of, settle

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


def ts(s: float) -> str:
    return dt.datetime.fromtimestamp(T0 + s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name="w-1", *, node="worker-0", phase="Running", ready=None, scheduled=1, state=None,
        last=None, restarts=0, reason=None, deleting=None, conditions=()) -> dict:
    conds = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(scheduled)}]
    if ready is not None:
        conds.append({"type": "Ready", "status": "True", "lastTransitionTime": ts(ready)})
    conds += list(conditions)
    cs = {"name": "workload", "restartCount": restarts, "state": state or {"waiting": {}}}
    if last:
        cs["lastState"] = last
    meta = {"name": name, "uid": f"uid-{name}", "creationTimestamp": ts(0)}
    if deleting is not None:
        meta.update(deletionTimestamp=ts(deleting + 5), deletionGracePeriodSeconds=5)
    status = {"phase": phase, "conditions": conds, "containerStatuses": [cs]}
    if reason:
        status["reason"] = reason
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_a_running_pod():
    lc = lifecycle_of(pod(ready=4, state={"running": {"startedAt": ts(3)}}))
    assert (lc.uid, lc.name, lc.node, lc.phase, lc.pod_class) == (
        "uid-w-1", "w-1", "worker-0", "Running", "running")
    assert (lc.created, lc.scheduled, lc.started, lc.ready) == (T0, T0 + 1, T0 + 3, T0 + 4)
    assert lc.ended is None and lc.end_reason is None


def test_pending_unscheduled_pod():
    obj = pod(node=None, phase="Pending")
    obj["status"] = {"phase": "Pending"}
    lc = lifecycle_of(obj)
    assert lc.pod_class == "pending" and lc.node is None and lc.scheduled is None


def test_oom_killed_and_restarting():
    last = {"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": ts(3),
                           "finishedAt": ts(20)}}
    lc = lifecycle_of(pod(state={"waiting": {"reason": "CrashLoopBackOff"}}, last=last,
                          restarts=1))
    assert lc.pod_class == "failed" and lc.restarts == 1
    assert lc.end_reason == PodEnd.OOM_KILLED and lc.ended == T0 + 20


def test_evicted_pod_dated_by_its_disruption_condition():
    disruption = {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                  "lastTransitionTime": ts(30)}
    lc = lifecycle_of(pod(phase="Failed", reason="Evicted", conditions=[disruption],
                          state={"terminated": {"reason": "Error", "exitCode": 137}}))
    assert lc.pod_class == "evicted" and lc.end_reason == PodEnd.EVICTED and lc.ended == T0 + 30


def test_deleted_pod_ends_when_deletion_was_asked():
    lc = lifecycle_of(pod(ready=4, state={"running": {"startedAt": ts(3)}}, deleting=40))
    assert lc.pod_class == "terminating"
    assert lc.end_reason == PodEnd.DELETED and lc.ended == T0 + 40


def test_settle_keeps_known_times_and_dates_an_end_once():
    first = PodLifecycle("u", "p", "n", "Running", "running", ready=5.0, created=1.0)
    later = PodLifecycle("u", "p", "n", "Failed", "evicted", end_reason="evicted")
    s = settle(first, later, now=50.0)
    assert s.ready == 5.0 and s.created == 1.0 and s.ended == 50.0
    again = settle(s, later, now=60.0)
    assert again.ended == 50.0  # the same end keeps its first date
    restarted = PodLifecycle("u", "p", "n", "Running", "running", restarts=1,
                             end_reason="oom-killed")
    assert settle(again, restarted, now=70.0).ended == 70.0  # a new end


def test_log_reports_changes_and_gone_pods_once():
    log = LifecycleLog()
    a = PodLifecycle("a", "pa", "n", "Pending", "pending", created=1.0)
    b = PodLifecycle("b", "pb", "n", "Running", "running", created=1.0)
    assert log.changes([a, b], now=10.0) == [a, b]
    assert log.changes([a, b], now=15.0) == []
    a2 = PodLifecycle("a", "pa", "n", "Running", "running", created=1.0)
    assert log.changes([a2], now=20.0) == [a2, PodLifecycle(
        "b", "pb", "n", "Running", GONE, created=1.0, ended=20.0, end_reason="deleted")]
    assert log.changes([a2], now=25.0) == []


def test_the_driver_pod_table_keeps_each_pods_lifecycle():
    table = PodTable()
    table.apply("ADDED", pod("w-1", ready=4, state={"running": {"startedAt": ts(3)}}))
    table.apply("ADDED", pod("w-2", phase="Pending"))
    log = LifecycleLog()
    assert {lc.name for lc in log.changes(table.lifecycles.values(), T0 + 10)} == {"w-1", "w-2"}
    table.apply("DELETED", pod("w-2", phase="Pending", deleting=8))
    (gone,) = log.changes(table.lifecycles.values(), T0 + 12)
    assert gone.name == "w-2" and gone.pod_class == GONE and gone.end_reason == "deleted"
    table.replace([pod("w-1", ready=4, state={"running": {"startedAt": ts(3)}})])
    assert list(table.lifecycles) == ["w-1"]
