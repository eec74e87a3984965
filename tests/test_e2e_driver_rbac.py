"""End to end as a user who is not a cluster admin: ``scaler run --cluster openshift`` with the real
kubectl against ``scaler sim serve`` with RBAC (bearer tokens; the built-in ``developer``
administers namespace ``scaler`` only and may read cluster-scoped objects), and the cluster's
own account of failures (events) read into the run's counts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from scaler.errors import CLUSTER_FAILURE_EXIT
from tests.simserve_support import REPO, needs_kubectl, start_server


def _has_rbac() -> bool:
    out = subprocess.run([sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve",
                          "--help"], cwd=REPO, capture_output=True, text=True)
    return "--users" in out.stdout


needs_rbac = pytest.mark.skipif(not _has_rbac(), reason="this sim serve has no users nor RBAC")
pytestmark = [needs_kubectl, needs_rbac]

KATA = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "kata"},
        "handler": "kata", "overhead": {"podFixed": {"memory": "350Mi", "cpu": "250m"}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("rbac")
    users = work / "users.yaml"
    # carol may not even read RuntimeClasses (some clusters grant that to nobody but admins)
    users.write_text("users:\n  - name: admin\n    admin: true\n"
                     "  - name: developer\n    namespaces: [scaler]\n"
                     "  - name: carol\n    namespaces: [carol]\n    clusterRules:\n"
                     "      - {apiGroups: [''], resources: [nodes], verbs: [get, list, watch]}\n")
    srv = start_server(work / "srv", "--speed", "8", "--no-ssh", "--workers", "2",
                       "--users", str(users))
    for ns in ("scaler", "carol"):  # an admin made the projects
        srv.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    yield srv
    srv.stop()


def run_as(server, user: str, *args: str) -> subprocess.CompletedProcess:
    kubeconfig = server.kubeconfig if user == "admin" else \
        server.kubeconfig.with_name(f"{server.kubeconfig.name}-{user}")
    cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
           "--cluster", "openshift", "--kubeconfig", str(kubeconfig), "--no-collectors",
           "--op-timeout", "20s", *args]
    return subprocess.run(cmd, cwd=REPO, env=server.env, capture_output=True, text=True,
                          timeout=180)


def test_a_namespace_scoped_user_runs_when_everything_is_in_place(server, tmp_path):
    server.kubectl("apply", "-f", "-", input=json.dumps(KATA))
    out = tmp_path / "dev.csv"
    proc = run_as(server, "developer", "--runtime", "kata", "--mode", "no-wait",
                  "--max-replicas", "4", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["end_reason"] == "max-replicas" and meta["cleanup"] == "done"
    access = meta["cluster_stats"]["access"]
    assert access["answered"] == access["checked"] > 0 and access["denied"] == []
    assert server.kubectl("get", "namespace", "scaler", check=False).returncode == 0  # not ours


def test_without_the_runtime_class_the_run_refuses_before_scaling(server, tmp_path):
    server.kubectl("delete", "runtimeclass", "kata", "--ignore-not-found")
    try:
        proc = run_as(server, "developer", "--runtime", "kata", "--max-replicas", "4",
                      "-o", str(tmp_path / "x.csv"))
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("scaler: error: RuntimeClass kata does not exist and you may not "
                               "create/delete RuntimeClasses: ask an admin to install OpenShift "
                               "sandboxed containers")
        assert not (tmp_path / "x.csv").exists()
        assert server.kubectl("get", "deployments", "-n", "scaler", "-o", "name").stdout == ""
    finally:
        server.kubectl("apply", "-f", "-", input=json.dumps(KATA))


def test_pods_refused_by_admission_are_counted_and_end_the_run(server, tmp_path):
    """carol may not read RuntimeClasses, so the run cannot know kata is missing: the ReplicaSet
    reports FailedCreate for every pod; the run counts them and ends saying why."""
    server.kubectl("delete", "runtimeclass", "kata", "--ignore-not-found")
    try:
        out = tmp_path / "refused.csv"
        proc = run_as(server, "carol", "-n", "carol", "--runtime", "kata", "--mode",
                      "fixed-interval", "--interval", "500ms", "--max-replicas", "200",
                      "--op-timeout", "5s", "-o", str(out))
        assert proc.returncode == CLUSTER_FAILURE_EXIT, proc.stderr  # 3 since core2's merge
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["end_reason"] == "cluster-error"
        assert meta["error"].startswith("no pod could be created for ")
        assert 'RuntimeClass "kata" not found' in meta["error"]
        failures = meta["cluster_stats"]["events"]["failures"]
        assert failures["failed_create"] > 0 and failures["failed_scheduling"] == 0
        rows = list(csv.DictReader(out.open()))
        assert rows and all(r["running"] == "0" for r in rows)
        counts = [int(r["failed_create"]) for r in rows]  # contract 3's column, cumulative
        assert counts == sorted(counts) and counts[-1] > 0
    finally:
        server.kubectl("apply", "-f", "-", input=json.dumps(KATA))


def test_sandboxes_the_nodes_cannot_make_are_counted(server, tmp_path):
    rc = tmp_path / "gvisor.yaml"
    rc.write_text("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: gvisor\n"
                  "handler: runsc\n")
    out = tmp_path / "gvisor.csv"
    proc = run_as(server, "admin", "-n", "gv", "--runtime", "gvisor", "--runtime-class-manifest",
                  str(rc), "--mode", "fixed-interval", "--interval", "1s", "--max-replicas", "3",
                  "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    failures = meta["cluster_stats"]["events"]["failures"]
    assert failures["sandbox_failures"] > 0
    assert "runsc" in failures["last_message"]["sandbox_failures"]
    rows = list(csv.DictReader(out.open()))
    assert int(rows[-1]["sandbox_failures"]) > 0 and rows[-1]["failed_create"] == "0"
    assert int(rows[-1]["pending"]) + int(rows[-1]["creating"]) > 0  # held, not running
    assert server.kubectl("get", "runtimeclass", "gvisor", check=False).returncode != 0  # ours


def test_pods_no_node_can_take_are_counted_as_failed_scheduling(tmp_path):
    srv = start_server(tmp_path / "srv", "--speed", "20", "--no-ssh", "--workers", "1")
    try:
        out = tmp_path / "full.csv"
        proc = run_as(srv, "admin", "--runtime", "kata", "--mode", "no-wait", "--step", "4",
                      "--max-replicas", "60", "-q", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        last = list(csv.DictReader(out.open()))[-1]
        assert int(last["pending"]) > 0 and int(last["failed_scheduling"]) > 0
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        why = meta["cluster_stats"]["events"]["failures"]["last_message"]["failed_scheduling"]
        assert why.startswith("0/1 nodes are available")
    finally:
        srv.stop()
