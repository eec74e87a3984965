"""The kubelet's events about the model's own failures (issue 12.1): failed sandbox set-ups,
dead kata VMs, restart back-off, kills by the node's OOM killer and pods being deleted, recorded
from the changes of the model's per-pod counters at each sync, as a real kubelet records them."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from scaler.kube_objects import build
from scaler.sim import SimModel, load_profile
from scaler.simserve.state import SimState
from scaler.workload_spec import SCENARIOS


def _state(spec, replicas: int, seed: int = 0, workers: int = 2, **kata) -> SimState:
    profile = load_profile(None, workers=workers)
    for name, value in kata.items():
        setattr(profile.runtimes["kata"], name, value)
    model = SimModel(profile, seed, start=time.time())
    st = SimState(model)
    st.model_time_now = lambda: model.now  # driven by hand, not by the wall clock
    m = build(spec, run_id="t", replicas=replicas)
    if m.runtime_class is not None:
        st.create_cluster_object("runtimeclasses", m.runtime_class)
    st.create_namespace(m.namespace)
    st.put_deployment(m.namespace["metadata"]["name"], m.deployment, create=True)
    return st


def _occurrences(st: SimState, reason: str, kind: str = "Pod") -> int:
    return sum(int(e["count"]) for ns in [None] for e in st.store.items("events", ns)
               if e["reason"] == reason and e["involvedObject"]["kind"] == kind)


def _run(st: SimState, seconds: float, step: float = 2.0) -> None:
    end = st.model.now + seconds
    while st.model.now < end:
        st.model.advance_to(st.model.now + step)
        st.sync()


def _dep(st: SimState):
    (dep,) = [d for d in st.model.state.dep_list if not d.deleted]
    return dep


def test_oom_killed_containers_back_off_without_an_oom_event_on_the_pod():
    """runc under a limit below its workload's memory: the cgroup OOM-kills the container; the
    pod shows lastState OOMKilled and the kubelet records BackOff, no OOMKilling (that reason
    is node-problem-detector's, on the Node)."""
    spec = replace(SCENARIOS["restricted"], limit_mib=256)
    st = _state(spec, replicas=6)
    _run(st, 240)
    dep = _dep(st)
    assert dep.oom_killed > 0
    backoffs = [e for e in st.store.items("events") if e["reason"] == "BackOff"]
    assert backoffs and all(e["type"] == "Warning" and e["source"]["component"] == "kubelet"
                            and e["source"]["host"].startswith("worker-") for e in backoffs)
    assert backoffs[0]["message"].startswith("Back-off restarting failed container workload in pod ")
    # the recorder aggregates repeats of one pod into one object with a count
    assert sum(e["count"] for e in backoffs) > len(backoffs)
    assert _occurrences(st, "OOMKilling") == 0
    pods = st.store.items("pods")
    assert any(((p["status"]["containerStatuses"][0].get("lastState") or {}).get("terminated")
                or {}).get("reason") == "OOMKilled" for p in pods)


@pytest.mark.parametrize("kata", [{"shm_full": "die"}, {"guest_memory": "private"}],
                         ids=["dev-shm-full", "host-oom-killer"])
def test_kata_vm_deaths_are_sandbox_changed_and_failed_set_ups_failed_create_pod_sandbox(kata):
    """Kata VMs that outgrow their nodes: every VM the model loses (/dev/shm full, or QEMU
    killed by the node's OOM killer) is one SandboxChanged occurrence on its pod, every failed
    set-up one FailedCreatePodSandBox (below the recorder's spam burst of 25 per pod, nothing is
    dropped); a VM killed by the node's OOM killer is a SystemOOM on the Node."""
    spec = replace(SCENARIOS["capacity"], runtime="kata")
    st = _state(spec, replicas=40, **kata)
    _run(st, 600)
    dep = _dep(st)
    assert dep.vm_deaths > 0
    assert st.events.dropped == 0
    assert _occurrences(st, "SandboxChanged") == dep.vm_deaths
    assert _occurrences(st, "FailedCreatePodSandBox") == dep.sandbox_failures
    changed = next(e for e in st.store.items("events") if e["reason"] == "SandboxChanged")
    assert changed["type"] == "Normal"
    assert changed["message"] == "Pod sandbox changed, it will be killed and re-created."
    p = st.model.state.table
    sys_ooms = int(p.sys_ooms[: p.n][p.alive[: p.n]].sum())
    node_ooms = _occurrences(st, "SystemOOM", kind="Node")
    assert node_ooms >= sys_ooms  # the table's live pods; the pods gone took theirs along
    # capacity pods never outgrow their guests: every VM lost was /dev/shm's or the OOM killer's
    assert node_ooms == (0 if "shm_full" in kata else dep.vm_deaths)
    for e in st.store.items("events"):
        if e["reason"] == "FailedCreatePodSandBox":
            assert e["message"].startswith("Failed to create pod sandbox: rpc error: code = ")
            # no room in /dev/shm is QEMU's failure; a set-up past the CRI timeout is the call's
            assert ("unable to map backing store for guest RAM" in e["message"]) \
                or e["message"].endswith("context deadline exceeded")
        if e["reason"] == "SystemOOM":
            assert e["metadata"]["namespace"] == "default"
            assert e["message"].startswith("System OOM encountered, victim process: qemu-kvm, pid: ")


def test_deleted_pods_are_killed_once():
    st = _state(SCENARIOS["capacity"], replicas=4)
    _run(st, 60)
    assert _occurrences(st, "Killing") == 0
    st.scale_deployment(st.store.items("deployments")[0]["metadata"]["namespace"],
                        st.store.items("deployments")[0]["metadata"]["name"], 1)
    _run(st, 4, step=0.5)
    killing = [e for e in st.store.items("events") if e["reason"] == "Killing"]
    assert len(killing) == 3 and all(e["count"] == 1 for e in killing)
    assert killing[0]["message"] == "Stopping container workload"
    assert killing[0]["type"] == "Normal"


def test_changed_pods_path_records_what_comparing_every_pod_records():
    """The events come from the pods podsync finds changed; comparing every pod each tick (the
    path after the table renumbers its slots) must record the same ones."""
    spec = replace(SCENARIOS["capacity"], runtime="kata")
    fast, full = (_state(spec, replicas=30, seed=5, shm_full="die") for _ in range(2))
    full._slots.delta = lambda model: None  # type: ignore[method-assign]
    for st in (fast, full):
        _run(st, 400)
        st.scale_deployment("scaler", "scaler-workload", 5)
        _run(st, 30)

    def seen(st: SimState) -> list[tuple]:
        return sorted((e["reason"], e["involvedObject"]["name"], e["message"], e["count"])
                      for e in st.store.items("events"))

    assert seen(fast) == seen(full)
    reasons = {r for r, *_ in seen(fast)}
    assert {"SandboxChanged", "FailedCreatePodSandBox", "Killing"} <= reasons
