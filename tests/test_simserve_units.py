"""Pure parts of the API front: patches, selectors, the event log, pod rendering."""

from __future__ import annotations

import pytest

from scaler.sim.views import PodView
from scaler.simserve.patch import json_merge_patch, strategic_merge_patch
from scaler.simserve.render import render_pod
from scaler.simserve.selectors import SelectorError, field_selector, label_selector
from scaler.simserve.store import Gone, Store
from scaler.simserve.tables import pod_status_word, table


def test_strategic_merge_merges_containers_and_env_by_name():
    dep = {"spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "w", "image": "a", "env": [{"name": "CPU", "value": "5"}, {"name": "X", "value": "1"}]},
        {"name": "side", "image": "s"}]}}}}
    patch = {"spec": {"replicas": 3, "template": {"spec": {
        "$setElementOrder/containers": [{"name": "w"}, {"name": "side"}],
        "containers": [{"name": "w", "env": [{"name": "CPU", "value": "9"},
                                             {"$patch": "delete", "name": "X"}]},
                       {"name": "side", "$patch": "delete"}]}}}}
    out = strategic_merge_patch(dep, patch)
    assert out["spec"]["replicas"] == 3
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "w", "image": "a", "env": [{"name": "CPU", "value": "9"}]}]
    assert dep["spec"]["replicas"] == 1  # the original is untouched


def test_json_merge_patch():
    assert json_merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}}) == \
        {"a": 1, "b": {"d": 3, "e": 4}}


def test_selectors():
    sel = label_selector("app=web,tier!=db,env in (a, b),!legacy,team")
    assert sel({"app": "web", "env": "a", "team": "x"})
    assert not sel({"app": "web", "env": "c", "team": "x"})
    assert not sel({"app": "web", "env": "a", "team": "x", "legacy": "1"})
    assert not sel({"app": "web", "env": "a"})
    assert field_selector("metadata.name=x")({"metadata": {"name": "x"}})
    assert not field_selector("status.phase!=Running")({"status": {"phase": "Running"}})
    with pytest.raises(SelectorError):
        label_selector("app=(")


def test_store_events_and_expiry():
    s = Store(log_size=3)
    start = s.rv
    for i in range(2):
        s.put("pods", {"metadata": {"name": f"p{i}", "namespace": "n"}})
    evs = s.events_after(start, "pods", "n", lambda o: True)
    assert [e.type for e in evs] == ["ADDED", "ADDED"]
    s.put("pods", {"metadata": {"name": "p0", "namespace": "n"}})
    s.remove("pods", "n", "p1")
    assert [e.type for e in s.events_after(start + 2, "pods", None, lambda o: True)] == \
        ["MODIFIED", "DELETED"]
    with pytest.raises(Gone):
        s.events_after(start, "pods", "n", lambda o: True)


def view(**kw):
    base = dict(name="w-abc-1", uid="u1", deployment="scaler/w", node="worker-0", phase="Running",
                reason=None, message=None, ready=True, container_state="running",
                container_reason=None, container_exit_code=None, last_terminated_reason=None,
                last_exit_code=None, restarts=0, created=1.7e9, scheduled=1.7e9 + 1,
                started=1.7e9 + 2, ready_at=1.7e9 + 3, deleted=None, runtime_class="kata",
                labels={"app.kubernetes.io/name": "w"})
    base.update(kw)
    return PodView(**base)


def test_render_running_evicted_and_oom_killed_pods():
    dep = {"metadata": {"generation": 1}, "spec": {"template": {"spec": {
        "runtimeClassName": "kata", "containers": [{"name": "workload", "image": "img"}]}}}}
    ok = render_pod(view(), deployment=dep, node_address={"worker-0": "127.0.0.10"}, pod_index=1,
                    runtime_overhead={"memory": "350Mi", "cpu": "250m"})
    assert ok["metadata"]["namespace"] == "scaler"
    assert ok["spec"]["runtimeClassName"] == "kata" and ok["spec"]["overhead"]["memory"] == "350Mi"
    assert ok["status"]["hostIP"] == "127.0.0.10"
    ready = next(c for c in ok["status"]["conditions"] if c["type"] == "Ready")
    assert ready == {"type": "Ready", "status": "True", "lastProbeTime": None,
                     "lastTransitionTime": "2023-11-14T22:13:23Z"}
    assert ok["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"

    ev = render_pod(view(phase="Failed", reason="Evicted", ready=False, container_state="terminated",
                         container_reason="Error", container_exit_code=137,
                         message="The node was low on resource: memory."),
                    deployment=dep, node_address={}, pod_index=2, runtime_overhead=None)
    assert ev["status"]["phase"] == "Failed" and ev["status"]["reason"] == "Evicted"
    assert pod_status_word(ev) == "Evicted"

    oom = render_pod(view(restarts=2, last_terminated_reason="OOMKilled", last_exit_code=137,
                          ready=False, container_state="waiting", container_reason="CrashLoopBackOff"),
                     deployment=dep, node_address={}, pod_index=3, runtime_overhead=None)
    cs = oom["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert pod_status_word(oom) == "CrashLoopBackOff"

    pending = render_pod(view(node=None, phase="Pending", ready=False, container_state="waiting",
                              scheduled=None, started=None, ready_at=None,
                              message="0/5 nodes are available: 5 Too many pods."),
                         deployment=dep, node_address={}, pod_index=4, runtime_overhead=None)
    (cond,) = pending["status"]["conditions"]
    assert cond["reason"] == "Unschedulable" and "Too many pods" in cond["message"]
    rows = table("pods", [ok, ev, oom, pending], now=1.7e9 + 60)["rows"]
    assert [r["cells"][2] for r in rows] == ["Running", "Evicted", "CrashLoopBackOff", "Pending"]


def test_state_mirrors_the_real_model_evictions_and_memory_pressure():
    """The front over the real SimModel: a memory-hungry runc Deployment gets pods evicted; the
    objects say so (Failed/Evicted, node MemoryPressure and its taint) and agree with the
    truth the front classifies from the model's own views."""
    import time

    from scaler.kube_objects import build
    from scaler.sim import SimModel, load_profile
    from scaler.simserve.state import SimState
    from scaler.workload_spec import SCENARIOS

    model = SimModel(load_profile(None, workers=2), 0, start=time.time())
    state = SimState(model)
    m = build(SCENARIOS["hungry"], run_id="t", replicas=20)
    state.create_namespace(m.namespace)
    state.put_deployment("scaler", m.deployment, create=True)
    start_rv = state.store.rv
    pressure_seen = False
    for _ in range(240):
        model.advance(5)
        state.sync()
        nodes = state.store.items("nodes")
        pressure_seen |= any(
            c["type"] == "MemoryPressure" and c["status"] == "True"
            for n in nodes for c in n["status"]["conditions"]) and any(
            n["spec"].get("taints") for n in nodes)
        evicted = [p for p in state.store.items("pods", "scaler")
                   if p["status"].get("reason") == "Evicted"]
        if evicted and pressure_seen:
            break
    assert evicted and pressure_seen
    assert all(p["status"]["phase"] == "Failed" for p in evicted)
    assert state.truth.evicted >= len(evicted)
    events = state.store.events_after(start_rv, "pods", "scaler", lambda o: True)
    assert any(e.type == "MODIFIED" and e.obj["status"].get("reason") == "Evicted" for e in events)
    dep = state.store.get("deployments", "scaler", "scaler-workload")
    assert dep["status"]["replicas"] <= 20 + len(evicted)


def test_writes_cost_more_as_objects_grow():
    import time

    from scaler.kube_objects import build
    from scaler.sim import SimModel, load_profile
    from scaler.simserve.state import SimState
    from scaler.workload_spec import SCENARIOS

    model = SimModel(load_profile(None, workers=2), 0, start=time.time())
    state = SimState(model, speed=2.0)
    assert state.write_cost_s() == 0.0
    state.create_namespace(build(SCENARIOS["capacity"]).namespace)
    state.put_deployment("scaler", build(SCENARIOS["capacity"], replicas=40).deployment, create=True)
    model.advance(30)
    state.sync()
    per_object = model.profile.control_plane.write_per_object_s
    assert model.object_count() >= 40
    assert state.write_cost_s() == pytest.approx(per_object * model.object_count() / 2.0)


def test_terminating_pods_keep_their_spec_after_the_deployment_is_deleted():
    import time

    from scaler.kube_objects import build
    from scaler.sim import SimModel, load_profile
    from scaler.simserve.state import SimState
    from scaler.workload_spec import SCENARIOS

    model = SimModel(load_profile(None, workers=1), 0, start=time.time())
    state = SimState(model)
    m = build(SCENARIOS["capacity"], replicas=3, image="example/w:2")
    state.create_namespace(m.namespace)
    state.put_deployment("scaler", m.deployment, create=True)
    model.advance(20)
    state.sync()
    state.delete_deployment("scaler", "scaler-workload")
    terminating = [p for p in state.store.items("pods", "scaler")
                   if p["metadata"].get("deletionTimestamp")]
    assert len(terminating) == 3
    assert {p["spec"]["containers"][0]["image"] for p in terminating} == {"example/w:2"}
    ips = [p["status"].get("podIP") for p in state.store.items("pods", "scaler")]
    assert len(set(ips)) == len(ips)


def _settled_pair():
    import time as _time

    from scaler.sim import SimModel, load_profile
    from scaler.simserve.state import SimState

    def state():
        model = SimModel(load_profile(None, workers=2), 3, start=_time.time())
        st = SimState(model)
        st.model_time_now = lambda: model.now  # driven by hand below, not by the wall clock
        st.create_namespace({"metadata": {"name": "u"}})
        labels = {"app": "u"}
        st.put_deployment("u", {"metadata": {"name": "u"}, "spec": {
            "replicas": 300, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                {"name": "workload", "image": "x", "env": [{"name": "MEMORY", "value": "600"}]}
            ]}}}}, create=True)
        return st

    return state(), state()


def _no_rv(obj: dict) -> dict:
    """The two stores count their versions apart."""
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items()
                                if k != "resourceVersion"}}


def test_the_changed_pods_path_mirrors_what_comparing_every_pod_does():
    """SimState.sync compares the model's pod table columns (podsync.py) to find the pods that
    changed; the store and the counts must be what comparing every pod's view gives."""
    fast, full = _settled_pair()
    full._slots.delta = lambda model: None  # every tick the full comparison
    used = 0
    for step in range(120):
        for st in (fast, full):
            st.model.advance_to(st.model.now + 2.0)
            st.sync()
        used += fast._slots._seen is not None
        if step % 20 == 19:
            if step == 59:
                for st in (fast, full):
                    st.scale_deployment("u", "u", 100)
            pods = {p["metadata"]["name"]: _no_rv(p) for p in fast.store.items("pods")}
            assert pods == {p["metadata"]["name"]: _no_rv(p) for p in full.store.items("pods")}
            assert fast.truth.row() == full.truth.row()
    assert used and fast.truth.evicted + fast.truth.running > 0
