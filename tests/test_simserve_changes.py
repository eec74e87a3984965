"""sim serve's sync renders only the pods that changed (scaler.simserve.changes), and its
objects stay what a render of every pod would give: the same pods (none missing, no phantom),
the same objects, Deployment status and truth. Paged lists return every pod exactly once."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.test_utils import make_mocked_request

from scaler.kube_objects import build
from scaler.pod_state import PodClass, classify
from scaler.sim import SimModel, load_profile
from scaler.simserve import render
from scaler.simserve.app import Api
from scaler.simserve.discovery import RESOURCES
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
    for k in ("resourceVersion", "generateName", "ownerReferences", "labels"):
        pod["metadata"].pop(k, None)
    for cs in pod["status"].get("containerStatuses", []):
        cs.pop("image")
    return {"metadata": pod["metadata"], "status": pod["status"],
            "node": pod["spec"].get("nodeName")}


def agrees_with_a_full_render(state: SimState) -> None:
    """What the store holds is what rendering every pod of the model gives now."""
    views = state.model.pods()
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


def test_nothing_changed_renders_nothing_and_k_changed_renders_k():
    state = front()
    deploy(state, SMALL, 12)
    state.model.advance(60)
    state.sync()
    assert state.truth.running == 12
    agrees_with_a_full_render(state)

    rendered, rv = state._changes.rendered, state.store.rv
    state.sync()  # the model did not move
    state.model.advance(60)  # the model moves (quietly): no pod changes
    state.sync()
    assert state._changes.rendered == rendered and state.store.rv == rv

    names = sorted(p["metadata"]["name"] for p in state.store.items("pods"))[:3]
    for name in names:
        state.model.delete_pod(name)  # from outside the front: the model alone knows
    state.sync()
    assert state._changes.rendered == rendered + 3
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

def list_pages(api: Api, path: str, limit: int) -> list[dict]:
    res = RESOURCES["pods"]
    pages, token = [], None
    while True:
        q = f"?limit={limit}" + (f"&continue={token}" if token else "")
        resp = api._list(make_mocked_request("GET", path + q), res, "scaler")
        doc = json.loads(resp.body)
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
    api = Api(state)
    first = json.loads(api._list(make_mocked_request(
        "GET", "/api/v1/namespaces/scaler/pods?limit=500"), RESOURCES["pods"], "scaler").body)
    second = json.loads(api._list(make_mocked_request(
        "GET", f"/api/v1/namespaces/scaler/pods?limit=500&continue={first['metadata']['continue']}"),
        RESOURCES["pods"], "scaler").body)
    # the rest of a list is not copied page after page: one list, and where the next page starts
    (items, start, _rv), = api._continues.values()
    assert len(items) == pods and start == 1000
    assert [o["metadata"]["name"] for o in first["items"] + second["items"]] == \
        [o["metadata"]["name"] for o in items[:1000]]
    pages = list_pages(api, "/api/v1/namespaces/scaler/pods", 500)
    names = [o["metadata"]["name"] for page in pages for o in page["items"]]
    assert len(pages) == pods // 500
    assert len(names) == len(set(names)) == pods
    assert names == sorted(names)
    assert {p["metadata"]["resourceVersion"] for p in pages} == {pages[0]["metadata"]["resourceVersion"]}
    remaining = [p["metadata"].get("remainingItemCount") for p in pages[:-1]]
    assert remaining == list(range(pods - 500, 0, -500))
    # a list whose pods change between its pages returns the pods as of its first page
    res = RESOURCES["pods"]
    doc = json.loads(api._list(make_mocked_request(
        "GET", "/api/v1/namespaces/scaler/pods?limit=7000"), res, "scaler").body)
    for name in names[:100]:
        state.model.delete_pod(name)
    state.model.advance(60)
    state.sync()
    assert state.truth.pods == pods  # replaced
    seen = [o["metadata"]["name"] for o in doc["items"]]
    for page in list_pages_from(api, doc["metadata"]["continue"]):
        seen += [o["metadata"]["name"] for o in page["items"]]
    assert seen == names


def list_pages_from(api: Api, token: str) -> list[dict]:
    out = []
    while token:
        doc = json.loads(api._list(make_mocked_request(
            "GET", f"/api/v1/namespaces/scaler/pods?limit=7000&continue={token}"),
            RESOURCES["pods"], "scaler").body)
        out.append(doc)
        token = doc["metadata"].get("continue")
    return out


def test_sorted_items_follow_puts_and_removes():
    """The store's kept order: objects that come, go, come back, in several namespaces, and
    a store whose objects were replaced (a restored front) all list as a fresh sort would."""
    import random

    from scaler.simserve.store import Store

    store = Store()
    rng = random.Random(0)
    live: set[tuple[str, str]] = set()

    def check() -> None:
        want = sorted(live)
        got = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.sorted_items("pods")]
        assert got == want
        for ns in ("a", "b", "ab"):
            got = [(o["metadata"]["namespace"], o["metadata"]["name"])
                   for o in store.sorted_items("pods", ns)]
            assert got == [k for k in want if k[0] == ns]

    for round_ in range(30):
        for _ in range(rng.randrange(0, 40)):
            key = (rng.choice(("a", "b", "ab")), f"p{rng.randrange(60)}")
            if key in live and rng.random() < 0.5:
                store.remove("pods", *key)
                live.discard(key)
            else:
                store.put("pods", {"metadata": {"namespace": key[0], "name": key[1]}})
                live.add(key)
        if round_ % 3:
            check()
        if round_ == 20:
            store._objects = {k: dict(v) for k, v in store._objects.items()}  # as restore does
    check()
