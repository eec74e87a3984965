"""scaler.simserve.persist in process: a snapshot restored into a new front's state, the
resourceVersion reservation, and a disk that refuses writes."""

from __future__ import annotations

import copy
import io
import time

import pytest

from scaler.kube_objects import load_templates
from scaler.sim import SimModel, load_profile
from scaler.simserve import persist
from scaler.simserve.persist import Persister
from scaler.simserve.state import SimState


def front(seed: int = 0) -> SimState:
    return SimState(SimModel(load_profile(None, workers=2), seed, start=time.time()), speed=50)


def with_pods(state: SimState, replicas: int) -> str:
    state.create_namespace({"metadata": {"name": "scaler"}})
    dep = copy.deepcopy(load_templates()["Deployment"])
    state.put_deployment("scaler", dep, create=True)
    state.scale_deployment("scaler", dep["metadata"]["name"], replicas)
    for _ in range(5):
        time.sleep(0.02)
        state.sync()
    return dep["metadata"]["name"]


def test_round_trip(tmp_path):
    old = front()
    name = with_pods(old, 4)
    saver = Persister(old, tmp_path, out=io.StringIO())
    saver.restore()  # nothing to restore: reserves resourceVersions
    saver.save()
    pods = {p["metadata"]["uid"]: p for p in old.store.items("pods")}
    assert len(pods) == 4

    new = front(seed=99)  # another model: the snapshot's wins
    said = io.StringIO()
    assert Persister(new, tmp_path, out=said).restore()
    assert "restored from" in said.getvalue() and "4 pods" in said.getvalue()
    assert new.store.get("deployments", "scaler", name)["spec"]["replicas"] == 4
    restored = {p["metadata"]["uid"]: p for p in new.store.items("pods")}
    assert set(restored) == set(pods)
    for uid, pod in pods.items():
        for key in ("name", "creationTimestamp"):
            assert restored[uid]["metadata"][key] == pod["metadata"][key]
        assert restored[uid]["status"].get("podIP") == pod["status"].get("podIP")
        assert restored[uid]["spec"]["nodeName"] == pod["spec"]["nodeName"]
    # above every version handed out before, however many were lost since the snapshot
    assert new.store.rv > old.store.rv + persist.RV_BLOCK // 2
    assert new.model.now >= old.model.now and new.model.seed == old.model.seed


def test_reservation_moves_ahead_of_use(tmp_path):
    state = front()
    saver = Persister(state, tmp_path, out=io.StringIO(), save_interval_s=3600)
    saver.restore()
    first = int((tmp_path / persist.RESERVED).read_text())
    state.store.rv = first - persist.RV_BLOCK // 2 + 1  # half the block used
    saver.tick()
    assert int((tmp_path / persist.RESERVED).read_text()) == state.store.rv + persist.RV_BLOCK


def test_a_disk_that_refuses_writes_is_reported_and_serving_goes_on(tmp_path, monkeypatch):
    state = front()
    out = io.StringIO()
    saver = Persister(state, tmp_path, out=out, save_interval_s=0.5)
    saver.restore()

    def refuse(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persist, "atomic_write", refuse)
    state.store.rv += persist.RV_BLOCK  # a reservation is due too
    saver.tick()
    saver.tick()
    assert saver.failures == 1  # the second tick waits for the interval
    assert "cannot save the state" in out.getvalue() and "No space left" in out.getvalue()


def test_another_format_is_refused(tmp_path):
    import pickle

    (tmp_path / persist.SNAPSHOT).write_bytes(pickle.dumps({"format": 0}))
    with pytest.raises(persist.StateError, match="not a snapshot of this version"):
        Persister(front(), tmp_path, out=io.StringIO()).restore()
