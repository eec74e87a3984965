"""Pure parts of the driver that decide what a run may do and what it reports: the event tally
(fed Event objects in the documented core/v1 and events.k8s.io/v1 shapes), the access review
answers, the ownership rule for a Deployment already there, the --runtime-class-manifest check."""

from __future__ import annotations

import pytest

from scaler.openshift.access import (
    INSTALLERS,
    Permission,
    Review,
    Situation,
    needs_for,
    problems,
    review_answer,
)
from scaler.openshift.events import EventTally, event_record, routine_field_selector
from scaler.openshift.options import load_runtime_class_manifest
from scaler.openshift.setup import KEPT_ANNOTATION, ownership

# -- Events, as an API server returns them -----------------------------------------------------


def failed_create(uid="e1", count=1, rs="scaler-workload-5d8f7c9b4"):
    """The replicaset controller's event (client-go tools/record: core/v1 with ``count``)."""
    return {
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": f"{rs}.17a1b2c3d4e5f6a7", "namespace": "scaler", "uid": uid,
                     "resourceVersion": "120", "creationTimestamp": "2026-01-01T00:00:01Z"},
        "involvedObject": {"kind": "ReplicaSet", "namespace": "scaler", "name": rs,
                           "uid": "rs-uid", "apiVersion": "apps/v1", "resourceVersion": "100"},
        "reason": "FailedCreate",
        "message": f'Error creating: pods "{rs}-" is forbidden: pod rejected: RuntimeClass '
                   '"kata" not found',
        "source": {"component": "replicaset-controller"},
        "firstTimestamp": "2026-01-01T00:00:01Z", "lastTimestamp": "2026-01-01T00:00:09Z",
        "count": count, "type": "Warning", "eventTime": None,
        "reportingComponent": "replicaset-controller", "reportingInstance": "",
    }


def failed_scheduling(uid="s1", series=None, pod="scaler-workload-5d8f7c9b4-abcde"):
    """kube-scheduler's event (client-go tools/events, events.k8s.io/v1), read through core/v1:
    no ``count``, a ``series`` once it repeated."""
    ev = {
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": f"{pod}.17a1b2c3d4e5f6b8", "namespace": "scaler", "uid": uid,
                     "resourceVersion": "130"},
        "involvedObject": {"kind": "Pod", "namespace": "scaler", "name": pod, "uid": "pod-uid",
                           "apiVersion": "v1", "resourceVersion": "125"},
        "reason": "FailedScheduling",
        "message": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are "
                   "available: 3 No preemption victims found for incoming pod.",
        "source": {}, "firstTimestamp": None, "lastTimestamp": None, "type": "Warning",
        "eventTime": "2026-01-01T00:00:05.123456Z", "action": "Scheduling",
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-m0",
    }
    if series:
        ev["series"] = {"count": series, "lastObservedTime": "2026-01-01T00:05:05.000000Z"}
    return ev


def as_events_v1(ev: dict) -> dict:
    """The same object as events.k8s.io/v1 shows it (regarding, note, deprecatedCount)."""
    out = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": ev["metadata"],
           "eventTime": ev.get("eventTime"), "reason": ev["reason"],
           "regarding": ev["involvedObject"], "note": ev["message"], "type": ev["type"],
           "reportingController": ev.get("reportingComponent")}
    if ev.get("count"):
        out["deprecatedCount"] = ev["count"]
    if ev.get("series"):
        out["series"] = ev["series"]
    return out


def kubelet(reason, uid, count=1, pod="scaler-workload-5d8f7c9b4-fghij", message=""):
    return {"kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"{pod}.x", "namespace": "scaler", "uid": uid},
            "involvedObject": {"kind": "Pod", "namespace": "scaler", "name": pod},
            "reason": reason, "message": message, "count": count,
            "type": "Normal" if reason == "SandboxChanged" else "Warning",
            "source": {"component": "kubelet", "host": "worker-0"}}


def test_event_records_from_both_apis_agree():
    for ev in (failed_create(count=3), failed_scheduling(series=4)):
        a, b = event_record(ev), event_record(as_events_v1(ev))
        assert a == b and a is not None
    assert event_record(failed_create(count=3)).occurrences == 3
    assert event_record(failed_scheduling(series=4)).occurrences == 4  # series counts the first
    assert event_record(failed_scheduling()).occurrences == 1  # no series yet: one occurrence
    assert event_record({"metadata": {"uid": "x"}}) is None  # no reason: not an event we read


def test_tally_counts_each_occurrence_once_from_the_run_only():
    t = EventTally("scaler-workload-")
    t.begin_list()  # the first list: what happened before the run is its baseline
    t.list_page([failed_create(uid="old", count=5)])
    t.end_list()
    assert t.counts().failed_create == 0
    t.apply("MODIFIED", failed_create(uid="old", count=7))  # two more during the run
    t.apply("ADDED", failed_create(uid="e1", count=1))
    t.apply("MODIFIED", failed_create(uid="e1", count=3))
    t.apply("MODIFIED", failed_create(uid="e1", count=3))  # the same update seen twice
    t.apply("ADDED", failed_scheduling(uid="s1"))
    t.apply("MODIFIED", failed_scheduling(uid="s1", series=4))
    t.apply("ADDED", kubelet("FailedCreatePodSandBox", "b1", message="Failed to create pod "
                             "sandbox: rpc error: code = Unknown desc = QEMU failed"))
    t.apply("ADDED", kubelet("SandboxChanged", "c1", count=2))
    t.apply("ADDED", kubelet("Evicted", "v1"))
    t.apply("ADDED", kubelet("BackOff", "k1", count=9))  # read, not a contract-3 count
    t.apply("DELETED", failed_create(uid="e1", count=3))  # its TTL ran out: still happened
    # another deployment's events in the same namespace are not this run's
    t.apply("ADDED", failed_create(uid="x1", count=50, rs="other-6c7d8e9f0"))
    # a relist after 410 Gone brings the same objects again: nothing counted twice
    t.begin_list()
    t.list_page([failed_create(uid="e1", count=3), failed_scheduling(uid="s1", series=4)])
    t.end_list()
    c = t.counts()
    assert (c.failed_create, c.failed_scheduling, c.sandbox_failures, c.sandbox_deaths,
            c.evicted_events) == (2 + 3, 4, 1, 2, 1)
    assert "QEMU failed" in c.last_message["sandbox_failures"]
    assert t.by_reason["BackOff"] == 9 and "FailedCreate" in t.by_reason


def test_routine_events_are_left_out_by_the_server():
    sel = routine_field_selector()
    assert "reason!=Scheduled" in sel and "reason!=Pulled" in sel
    assert "FailedScheduling" not in sel and "SandboxChanged" not in sel


# -- access -------------------------------------------------------------------------------------


def test_review_answers():
    p = Permission("create", "runtimeclasses", "node.k8s.io")
    assert p.review() == {"apiVersion": "authorization.k8s.io/v1",
                          "kind": "SelfSubjectAccessReview",
                          "spec": {"resourceAttributes": {"verb": "create", "group": "node.k8s.io",
                                                          "resource": "runtimeclasses"}}}
    assert Permission("patch", "deployments", "apps", "scale", "ns").review()["spec"][
        "resourceAttributes"] == {"verb": "patch", "group": "apps", "resource": "deployments",
                                  "subresource": "scale", "namespace": "ns"}
    # the documented answer (status.allowed, status.reason from the authorizer)
    assert review_answer(p, {"status": {"allowed": False, "reason": ""}}).allowed is False
    assert review_answer(p, {"status": {"allowed": True, "reason": "RBAC: allowed by "
                                        "ClusterRoleBinding"}}).allowed is True
    assert review_answer(p, {"kind": "Status", "code": 404}).allowed is None


def situation(**kw):
    base = dict(namespace="scaler", namespace_exists=True, runtime_class="kata",
                runtime_class_exists=True, runtime_class_manifest=True,
                shipped_by=INSTALLERS["kata"])
    return Situation(**{**base, **kw})


def allow_all(s: Situation) -> list[Review]:
    return [Review(p, True) for p in needs_for(s)]


def test_a_namespace_scoped_user_with_everything_in_place_may_go_ahead():
    s = situation()
    assert not [p for p in needs_for(s) if p.namespace is None]  # no cluster-scoped question
    assert problems(s, allow_all(s)) == []


def test_missing_runtime_class_that_the_user_may_not_create_is_one_clear_line():
    s = situation(runtime_class_exists=False)
    (line,) = problems(s, [Review(p, p.resource != "runtimeclasses") for p in needs_for(s)])
    assert line.startswith("RuntimeClass kata does not exist and you may not create/delete "
                           "RuntimeClasses: ask an admin to install OpenShift sandboxed containers")
    assert "--runtime-class-manifest" in line and "\n" not in line
    # an unknown runtime scaler ships nothing for: say so, whoever asks
    s = situation(runtime_class="gvisor", runtime_class_exists=False,
                  runtime_class_manifest=False, shipped_by=None)
    (line,) = problems(s, allow_all(s))
    assert "RuntimeClass gvisor does not exist and scaler ships none" in line


def test_missing_namespace_and_namespaced_rights_are_named():
    s = situation(namespace_exists=False)
    assert {p.label() for p in needs_for(s) if p.namespace is None} >= {"create namespaces"}
    (line,) = problems(s, [Review(p, p.resource != "namespaces") for p in needs_for(s)])
    assert "namespace scaler does not exist and you may not create/delete namespaces" in line
    assert "oc new-project scaler" in line
    s = situation()
    revs = [Review(p, not (p.resource == "events" or p.subresource == "scale"))
            for p in needs_for(s)]
    (line,) = problems(s, revs)
    assert line.startswith("in namespace scaler you may not patch deployments/scale, "
                           "list events, watch events")
    # a server that answers no review (no such API): nothing is refused up front
    assert problems(s, [Review(p, None, "404") for p in needs_for(s)]) == []


# -- ownership ----------------------------------------------------------------------------------


def dep(labels: dict, annotations: dict | None = None, replicas: int = 5) -> dict:
    return {"metadata": {"name": "scaler-workload", "labels": labels,
                         "annotations": annotations or {}}, "spec": {"replicas": replicas}}


OURS = {"app.kubernetes.io/managed-by": "scaler"}


def test_ownership_never_takes_over_silently():
    kw = dict(namespace="scaler", deployment="scaler-workload", run_id="run-2", adopt=False)
    assert ownership(None, **kw).ours
    kept = dep({**OURS, "scaler.io/run": "run-1"}, {KEPT_ANNOTATION: "run-1"})
    o = ownership(kept, **kw)
    assert not o.ours and o.refusal is not None and "\n" not in o.refusal
    assert "(5 replicas) was kept by an earlier run (--keep), run run-1: pass --adopt" in o.refusal
    assert "kubectl -n scaler delete deployment scaler-workload" in o.refusal
    left = ownership(dep({**OURS, "scaler.io/run": "run-1"}), **kw)
    assert "left by an earlier run that did not clean up" in (left.refusal or "")
    foreign = ownership(dep({}), **kw)
    assert "not created by scaler" in (foreign.refusal or "") and "--adopt" in foreign.refusal
    for d in (kept, dep({})):
        o = ownership(d, **{**kw, "adopt": True})
        assert o.adopted and not o.ours and o.refusal is None
    assert ownership(dep({**OURS, "scaler.io/run": "run-2"}), **kw).ours  # this very run's


# -- --runtime-class-manifest -------------------------------------------------------------------


def test_runtime_class_manifest_is_checked_before_use(tmp_path):
    good = tmp_path / "rc.yaml"
    good.write_text("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: gvisor\n"
                    "handler: runsc\noverhead:\n  podFixed:\n    memory: 20Mi\n")
    assert load_runtime_class_manifest(good)["handler"] == "runsc"
    bad = {
        "deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
        "nohandler.yaml": "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: x}\n",
        "two.yaml": "kind: RuntimeClass\n---\nkind: RuntimeClass\n",
        "overhead.yaml": "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: x}\n"
                         "handler: x\noverhead: {podFixed: {memory: lots}}\n",
        "broken.yaml": "kind: [\n",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError) as e:
            load_runtime_class_manifest(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_runtime_class_manifest(tmp_path / "missing.yaml")


def test_a_run_where_every_pod_is_refused_ends_saying_why():
    from scaler.openshift.events import FailureCounts, Refusals

    r = Refusals(patience_s=60)
    msg = 'Error creating: pods "scaler-workload-5d8f7c9b4-" is forbidden: pod rejected: ' \
          'RuntimeClass "kata" not found'
    refused = FailureCounts(failed_create=3, last_message={"failed_create": msg})
    assert r.update(0, requested=0, pods=0, failures=refused) is None  # nothing asked for yet
    assert r.update(1, requested=5, pods=0, failures=FailureCounts()) is None  # just scaled
    assert r.update(2, requested=5, pods=0, failures=refused) is None
    assert r.update(61, requested=5, pods=1, failures=refused) is None  # one got through
    assert r.update(62, requested=5, pods=0, failures=refused) is None  # patience starts over
    line = r.update(122, requested=6, pods=0, failures=refused)
    assert line == f"no pod could be created for 60 s (3 FailedCreate events): {msg}"
