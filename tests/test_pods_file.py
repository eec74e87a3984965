"""run.pods.csv (team contract 10): one row per pod measurement joined with the pod's lifecycle,
plus a row when a lifecycle changed; equivalent to one row per pod per sample, and smaller."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import replace

import pytest

from scaler.clusters import simulated_cluster
from scaler.config import RunConfig
from scaler.engine import Engine
from scaler.pod_join import state_at
from scaler.pod_state import classify
from scaler.recorder import POD_COLUMNS, Recorder
from scaler.request import ClusterChoice
from scaler.workload_spec import SCENARIOS
from tests.run_support import scaler_run
from tests.simserve_support import REPO, needs_kubectl, start_server

LIFECYCLE = ("class", "phase", "node", "restarts", "created_s", "scheduled_s", "started_s",
             "ready_s")


class Watched:
    """The simulated cluster, with what it shows of every pod whenever the engine asks for the
    changes: the one-row-per-pod-per-sample file the pods file must be equivalent to, built from
    the model's own pod views (``SimModel.pods``), another path than the pods file's."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.model = cluster.cluster.model
        self.snapshots: list[tuple[float, dict[str, dict]]] = []

    def __getattr__(self, name):
        return getattr(self.cluster, name)

    def pod_lifecycles(self):
        now = self.model.now
        self.snapshots.append((now, {v.uid: v for v in self.model.pods(self.cluster.cluster.key)}))
        return self.cluster.pod_lifecycles()


def expected(view, t0: float) -> dict[str, object]:
    def since(t):
        return None if t is None else t - t0

    return {"class": str(classify(view.status())), "phase": view.phase, "node": view.node,
            "restarts": view.restarts, "created_s": since(view.created),
            "scheduled_s": since(view.scheduled), "started_s": since(view.started),
            "ready_s": since(view.ready_at)}


def parsed(row: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in LIFECYCLE:
        v = row[name]
        if name.endswith("_s"):
            out[name] = None if v == "" else float(v)
        elif name == "restarts":
            out[name] = int(v)
        else:
            out[name] = v or None
    return out


def same(a: dict, b: dict) -> bool:
    return all(a[k] == pytest.approx(b[k], abs=2e-3) if isinstance(b[k], float) else a[k] == b[k]
               for k in LIFECYCLE)


@pytest.mark.parametrize("runtime, scenario", [("runc", "hungry"), ("kata", "hungry")])
def test_pods_file_is_one_row_per_pod_per_sample_only_smaller(tmp_path, runtime, scenario):
    # One small worker: evictions, OOM kills (runc), VM deaths and restarts (kata: VMs that
    # /dev/shm cannot back die here, shm_full: die, where QEMU's default pauses them).
    profile = tmp_path / "die.yaml"
    profile.write_text("runtimes:\n  kata:\n    shm_full: die\n")
    cluster = Watched(simulated_cluster(ClusterChoice(workers=1, worker_memory_mib=12288,
                                                      sim_profile=str(profile)), 0, 5.0))
    cfg = RunConfig(max_replicas=50, scenario=scenario,
                    workload=replace(SCENARIOS[scenario], runtime=runtime))
    Engine(cluster, cfg, Recorder(tmp_path / "run.csv"), cluster.node_source()).run()
    with open(tmp_path / "run.pods.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == POD_COLUMNS
    steps = list(csv.DictReader(open(tmp_path / "run.csv", newline="")))
    t0 = cluster.snapshots[0][0] - float(steps[0]["elapsed_s"])
    # One snapshot per step (and one more at the end): the state at each step's time, as
    # written (the lifecycle rows of a step carry its time, formatted alike).
    assert len(cluster.snapshots) == len(steps) + 1
    naive = 0
    for step, (t, views) in zip(steps, cluster.snapshots, strict=False):
        state = state_at(rows, float(step["elapsed_s"]))
        assert set(state) == set(views), t
        for uid, view in views.items():
            assert same(parsed(state[uid]), expected(view, t0)), (t, uid, state[uid])
        naive += len(views)
    memory = [r for r in rows if r["source"] == "sim"]
    lifecycle_only = [r for r in rows if r["source"] == ""]
    assert memory and lifecycle_only
    assert all(r["cgroup_mib"] == "" for r in lifecycle_only)
    # Pods are measured every 5 s, one step: the file with one row per pod per sample has a row
    # for every pod at every step; this one only for measured pods and for changes.
    print(f"{runtime}: {len(rows)} rows ({len(lifecycle_only)} lifecycle-only) vs {naive}")
    assert len(rows) < naive * 0.8 and len(lifecycle_only) < naive / 5
    classes = {r["class"] for r in rows}
    assert {"running", "pending"} <= classes
    ends = {r["end_reason"] for r in rows} - {""}
    assert ends == ({"evicted", "oom-killed"} if runtime == "runc" else {"vm-died"}), ends


def test_measurements_carry_the_models_breakdown(tmp_path):
    run = scaler_run(tmp_path, "--runtime", "kata", "--max-replicas", "12",
                     "--sample-interval", "5s")
    assert run.exit_code == 0, run.stderr
    with open(tmp_path / "run.pods.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] == "sim"]
    assert rows and {r["runtime"] for r in rows} == {"kata"}
    for r in rows:
        cgroup, workload, runtime, guest = (float(r[k]) for k in (
            "cgroup_mib", "workload_mib", "runtime_mib", "guest_backing_mib"))
        assert cgroup == pytest.approx(runtime + guest, abs=0.2)  # a VM: processes + guest
        assert 0 <= workload <= guest + 0.1  # the workload lives in the guest
    assert run.meta["files"]["pods"] == "run.pods.csv"
    assert run.meta["pod_rows"] == run.meta["pod_records"]["measured"] + \
        run.meta["pod_records"]["lifecycle"]


def test_without_node_samples_only_lifecycles_are_written(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "5", "--no-collectors")
    assert run.exit_code == 0, run.stderr
    with open(tmp_path / "run.pods.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["source"] == "" for r in rows)
    assert len({r["uid"] for r in rows}) == 5


@needs_kubectl
def test_real_driver_records_each_pods_lifecycle_from_its_watch(tmp_path):
    """Against `scaler sim serve` through kubectl: the driver's pod table gives every pod's
    lifecycle from the API's own objects (uids, nodes, timestamps at 1 s resolution)."""
    server = start_server(tmp_path / "srv", "--speed", "8", "--workers", "2", "--no-ssh")
    try:
        out = tmp_path / "run.csv"
        res = subprocess.run(
            [sys.executable, "-c", "from scaler.cli import main; main()", "run", "-q",
             "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig), "--no-collectors",
             "--mode", "wait", "--step", "3", "--max-replicas", "6", "-o", str(out)],
            cwd=REPO, env=server.env, capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, res.stderr
        with open(tmp_path / "run.pods.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    finally:
        server.stop()
    uids = {r["uid"] for r in rows}
    assert len(uids) == 6 and all(r["runtime"] == "default" for r in rows)
    assert all(r["pod"].startswith("scaler-workload-") and r["source"] == "" for r in rows)
    assert all(r["created_s"] != "" for r in rows)
    last = {r["uid"]: r for r in rows}
    # Every pod scheduled onto one of the model's nodes, seen running (the run waited for it),
    # with its Ready time.
    assert {r["node"] for r in last.values()} <= {"worker-0", "worker-1"}
    assert {r["uid"] for r in rows if r["class"] == "running"} == uids
    assert all(r["ready_s"] for r in rows if r["class"] == "running")


def test_the_simulator_measures_pods_every_pod_interval_when_given(tmp_path):
    def times(*args):
        run = scaler_run(tmp_path, "--max-replicas", "14", "--sample-interval", "5s", *args,
                         name=f"r{len(args)}.csv")
        assert run.exit_code == 0, run.stderr
        with open(tmp_path / f"r{len(args)}.pods.csv", newline="") as f:
            return sorted({float(r["elapsed_s"]) for r in csv.DictReader(f) if r["source"]})

    default, every_10s = times(), times("--pod-interval", "10s")
    assert [b - a for a, b in zip(default, default[1:], strict=False)] == [30.0]
    assert set(b - a for a, b in zip(every_10s, every_10s[1:], strict=False)) == {10.0}
