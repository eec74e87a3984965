"""sim serve's sync renders only the pods that changed (scaler.simserve.podsync), and its
objects stay what a render of every pod would give: the same pods (none missing, no phantom),
the same objects, Deployment status and truth. Paged lists return every pod exactly once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from scaler.kube_objects import build
from scaler.pod_state import PodClass, classify
from scaler.sim import SimModel, load_profile
from scaler.simserve import render
from scaler.simserve.lists import Lister
from scaler.simserve.state import SimState
from scaler.workload_spec import SCENARIOS, WorkloadSpec

SMALL = WorkloadSpec(memory_mib=1, increment_mib=1)


def front(workers: int = 2, fast: bool = False, max_pods: int | None = None) -> SimState:
    profile = load_profile(None, workers=workers)
    if fast:
        profile.control_plane.controller_pods_per_s = 5000.0
        profile.control_plane.scheduler_pods_per_s = 5000.0
    if max_pods is not None:
        profile.cluster.max_pods = max_pods
    # speed ~0: sync never moves the model on; the tests advance it themselves
    return SimState(SimModel(profile, 0, start=time.time()), speed=1e-9)


def deploy(state: SimState, spec: WorkloadSpec, replicas: int, name: str = "scaler-workload") -> None:
    m = build(spec, run_id="t", replicas=replicas, deployment=name)
    if state.store.get("namespaces", "", "scaler") is None:
        state.create_namespace(m.namespace)
    state.put_deployment("scaler", m.deployment, create=True)


def pod_events(state: SimState, since: int) -> list:
    return state.store.events_after(since, "pods", None, lambda o: True)


def model_part(pod: dict) -> dict:
    pod = json.loads(json.dumps(pod))
    for k in ("resourceVersion", "generateName", "ownerReferences", "labels", "managedFields"):
        pod["metadata"].pop(k, None)
    for cs in pod["status"].get("containerStatuses", []):
        cs.pop("image")
    return {"metadata": pod["metadata"], "status": pod["status"],
            "node": pod["spec"].get("nodeName")}


def agrees_with_a_full_render(state: SimState) -> None:
    """What the store holds is what rendering every pod of the model gives now."""
    views = type(state.model).pods(state.model)
    stored = {p["metadata"]["name"]: p for p in state.store.items("pods")}
    assert sorted(stored) == sorted(v.name for v in views), "phantom or missing pods"
    for v in views:
        ns, _, dep_name = v.deployment.partition("/")
        dep = state.store.get("deployments", ns, dep_name) or state._last_template.get(v.deployment)
        rc = state.store.get("runtimeclasses", "", v.runtime_class) if v.runtime_class else None
        want = render.render_pod(v, deployment=dep, node_address=state.node_addresses,
                                 pod_index=state._pod_index[v.name],
                                 runtime_overhead=(rc or {}).get("overhead", {}).get("podFixed"))
        assert state._views[v.name] == render.pod_signature(v)
        # what comes from the model (a pod is not rendered again for a new template alone)
        assert model_part(stored[v.name]) == model_part(want), v.name
    for dep in state.store.items("deployments"):
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        assert dep["status"] == render.deployment_status(dep, state._pods_of(ns, name))
    by_class = {c: 0 for c in PodClass}
    for v in views:
        by_class[classify(v.status())] += 1
    t = state.truth
    assert (t.running, t.pending, t.creating, t.terminating, t.failed, t.pods) == (
        by_class[PodClass.RUNNING], by_class[PodClass.PENDING], by_class[PodClass.CREATING],
        by_class[PodClass.TERMINATING], by_class[PodClass.FAILED], len(views))
    assert {v.uid for v in views if classify(v.status()) is PodClass.EVICTED} <= t.evicted_uids


class Renders:
    """Pod views built by the front's sync: per changed pod, or every pod."""

    def __init__(self, monkeypatch, state: SimState) -> None:
        from scaler.simserve import mirror

        self.count = 0
        real_view, real_pods = mirror.pod_view, state.model.pods

        def view(s, i):
            self.count += 1
            return real_view(s, i)

        def pods(*a, **k):
            out = real_pods(*a, **k)
            self.count += len(out)
            return out

        monkeypatch.setattr(mirror, "pod_view", view)
        monkeypatch.setattr(state.model, "pods", pods)


def test_nothing_changed_renders_nothing_and_k_changed_renders_k(monkeypatch):
    state = front()
    deploy(state, SMALL, 12)
    state.model.advance(60)
    state.sync()
    assert state.truth.running == 12
    agrees_with_a_full_render(state)
    state.sync()  # past the first ticks' full comparison

    renders = Renders(monkeypatch, state)
    rendered, rv = 0, state.store.rv
    state.sync()  # the model did not move
    state.model.advance(60)  # the model moves (quietly): no pod changes
    state.sync()
    assert renders.count == rendered and state.store.rv == rv

    names = sorted(p["metadata"]["name"] for p in state.store.items("pods"))[:3]
    for name in names:
        state.model.delete_pod(name)  # from outside the front: the model alone knows
    state.sync()
    assert renders.count == rendered + 3
    events = pod_events(state, rv)
    assert sorted((e.type, e.obj["metadata"]["name"]) for e in events) == [("MODIFIED", n) for n in names]
    assert all(e.obj["metadata"].get("deletionTimestamp") for e in events)
    agrees_with_a_full_render(state)

    # they go, and their replacements come: one DELETED each, the new ones ADDED
    rv = state.store.rv
    state.model.advance(120)
    state.sync()
    events = pod_events(state, rv)
    assert sorted(e.obj["metadata"]["name"] for e in events if e.type == "DELETED") == names
    added = [e for e in events if e.type == "ADDED"]
    assert len(added) == 3 and not {e.obj["metadata"]["name"] for e in added} & set(names)
    rvs = [e.rv for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    agrees_with_a_full_render(state)


def test_evictions_template_changes_and_a_compacted_table_agree_with_a_full_render():
    """A hungry Deployment (evictions, OOM kills, memory pressure), a new template, deletion;
    then enough pods come and go that the model's table compacts (pods change slots): after
    every sync the objects are those of a full render, and each gone pod had one DELETED."""
    state = front(workers=2)
    deploy(state, SCENARIOS["hungry"], 20)
    for _ in range(60):
        state.model.advance(10)
        state.sync()
        agrees_with_a_full_render(state)
        if state.truth.evicted:
            break
    assert state.truth.evicted > 0
    changed = build(SCENARIOS["hungry"], run_id="t", replicas=20, image="example/w:2").deployment
    state.put_deployment("scaler", changed, create=False)
    agrees_with_a_full_render(state)
    state.delete_deployment("scaler", "scaler-workload")
    agrees_with_a_full_render(state)

    state = front(workers=12, fast=True, max_pods=250)
    rv = state.store.rv
    deploy(state, SMALL, 2500, name="many")
    while state.truth.running < 2500:
        state.model.advance(15)
        state.sync()
    table = state.model.table
    assert table.n > 2048
    state.scale_deployment("scaler", "many", 600)
    slots_before = table.n
    for _ in range(12):
        state.model.advance(10)
        state.sync()
        agrees_with_a_full_render(state)
    assert table.n < slots_before  # compacted: the pods kept moved to lower slots
    state.scale_deployment("scaler", "many", 1500)
    for _ in range(4):
        state.model.advance(15)
        state.sync()
        agrees_with_a_full_render(state)
    events = pod_events(state, rv)
    deleted = [e.obj["metadata"]["uid"] for e in events if e.type == "DELETED"]
    assert len(deleted) == len(set(deleted))
    live = {p["metadata"]["uid"] for p in state.store.items("pods")}
    assert not live & set(deleted)
    added = {e.obj["metadata"]["uid"] for e in events if e.type == "ADDED"}
    assert live <= added

def page(lister: Lister, limit: int, token: str | None = None) -> dict:
    query = {"limit": str(limit), **({"continue": token} if token else {})}
    got = asyncio.run(lister.page("pods", "scaler", query))
    return {"items": got.items, "metadata": got.meta}


def list_pages(lister: Lister, limit: int, token: str | None = None) -> list[dict]:
    pages = []
    while True:
        doc = page(lister, limit, token)
        pages.append(doc)
        token = doc["metadata"].get("continue")
        if not token:
            return pages


@pytest.mark.parametrize("pods", [20_000])
def test_paged_list_returns_each_pod_once(pods):
    state = front(workers=pods // 200, fast=True, max_pods=250)
    deploy(state, SMALL, pods)
    while state.truth.pods < pods:
        state.model.advance(10)
        state.sync()
    lister = Lister(state.store)
    pages = list_pages(lister, 500)
    names = [o["metadata"]["name"] for p in pages for o in p["items"]]
    assert len(pages) == pods // 500
    assert len(names) == len(set(names)) == pods
    assert names == sorted(names)
    assert {p["metadata"]["resourceVersion"] for p in pages} == {pages[0]["metadata"]["resourceVersion"]}
    remaining = [p["metadata"].get("remainingItemCount") for p in pages[:-1]]
    assert remaining == list(range(pods - 500, 0, -500))
    # a list whose pods change between its pages returns the pods as of its first page
    first = page(lister, 7000)
    for name in names[:100]:
        state.model.delete_pod(name)
    state.model.advance(60)
    state.sync()
    assert state.truth.pods == pods  # replaced
    seen = [o["metadata"]["name"] for o in first["items"]]
    for p in list_pages(lister, 7000, first["metadata"]["continue"]):
        seen += [o["metadata"]["name"] for o in p["items"]]
    assert seen == names
