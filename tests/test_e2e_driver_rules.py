"""End to end, ``scaler run --cluster openshift`` with the real kubectl against ``scaler sim serve``:
what the driver refuses and what it leaves, as a user meets it (exit codes, one-line errors,
what is left on the cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.simserve_support import REPO, needs_kubectl, start_server

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("rules"), "--speed", "8", "--no-ssh",
                       "--workers", "1")
    yield srv
    srv.stop()


def foreign_deployment(namespace: str) -> dict:
    """A Deployment of scaler's name that another tool made (no managed-by label)."""
    labels = {"app.kubernetes.io/name": "scaler-workload"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "scaler-workload", "namespace": namespace, "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "w", "image": "quay.io/example/other:1"}]}}}}


def run(server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
           "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig), "--no-collectors",
           "--mode", "no-wait", "--op-timeout", "30s", *args]
    return subprocess.run(cmd, cwd=REPO, env=server.env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_kept_deployment_is_not_taken_over_without_adopt(server, tmp_path):
    first = run(server, "-n", "kept", "--max-replicas", "2", "--keep", "-o", str(tmp_path / "a.csv"))
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "a.meta.json").read_text())["cleanup"] == "kept"
    kept = server.kubectl_json("-n", "kept", "get", "deployment", "scaler-workload")
    assert kept["spec"]["replicas"] == 2 and kept["metadata"]["annotations"]["scaler.io/kept"]

    second = run(server, "-n", "kept", "--max-replicas", "2", "-o", str(tmp_path / "b.csv"))
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert "Deployment kept/scaler-workload (2 replicas) was kept by an earlier run" in line
    assert "--adopt" in line
    assert not (tmp_path / "b.csv").exists()  # refused before measuring: no files
    assert server.kubectl_json("-n", "kept", "get", "deployment",
                               "scaler-workload")["spec"]["replicas"] == 2  # untouched

    third = run(server, "-n", "kept", "--max-replicas", "1", "--adopt", "-o", str(tmp_path / "c.csv"))
    assert third.returncode == 0, third.stderr
    left = server.kubectl_json("-n", "kept", "get", "deployment", "scaler-workload")
    assert left["spec"]["replicas"] == 0  # adopted: scaled to 0, not deleted
    assert "scaler.io/kept" not in (left["metadata"].get("annotations") or {})
    assert left["metadata"]["labels"]["scaler.io/run"] != kept["metadata"]["labels"]["scaler.io/run"]
    server.kubectl("delete", "namespace", "kept", "--wait=false")


def test_runtime_class_manifest(server, tmp_path):
    rc = tmp_path / "kata.yaml"
    rc.write_text("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: kata\n"
                  "handler: kata\noverhead:\n  podFixed:\n    memory: 123Mi\n    cpu: 250m\n")
    # checked before anything: wrong cluster, wrong runtime, not a RuntimeClass
    simulated = subprocess.run(
        [sys.executable, "-c", "from scaler.cli import main; main()", "run", "--runtime", "kata",
         "--runtime-class-manifest", str(rc), "-o", str(tmp_path / "sim.csv")],
        cwd=REPO, env=server.env, capture_output=True, text=True, timeout=60)
    assert simulated.returncode == 2
    assert simulated.stderr.strip().splitlines() == [
        "scaler: error: --runtime-class-manifest is for a real cluster (--cluster openshift)"]
    proc = run(server, "--runtime-class-manifest", str(rc), "--runtime", "runc")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "defines RuntimeClass kata, but --runtime is default" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Deployment\n")
    proc = run(server, "--runtime-class-manifest", str(bad), "--runtime", "kata")
    assert proc.returncode == 2 and "expected kind RuntimeClass" in proc.stderr

    # a cluster without the class: created from the file, and deleted at the end
    original = server.kubectl_json("get", "runtimeclass", "kata")
    server.kubectl("delete", "runtimeclass", "kata")
    try:
        out = tmp_path / "rc.csv"
        proc = run(server, "-n", "rcm", "--runtime", "kata", "--max-replicas", "1",
                   "--runtime-class-manifest", str(rc), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["cluster"]["runtime_class"]["overhead"]["memory"] == "123Mi"
        assert server.kubectl("get", "runtimeclass", "kata", check=False).returncode != 0
    finally:
        original["metadata"] = {"name": "kata", "labels": original["metadata"].get("labels", {})}
        server.kubectl("apply", "-f", "-", input=json.dumps(original))


def test_a_bad_namespace_is_one_line_before_any_collector_starts(tmp_path):
    srv = start_server(tmp_path / "srv", "--workers", "2")  # with SSH nodes
    try:
        line = next(ln for ln in srv.output if "ssh options:" in ln)
        ssh = line.split("ssh options:", 1)[1].split()
        cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
               "--cluster", "openshift", "--kubeconfig", str(srv.kubeconfig), "-n", "Bad_NS!",
               "--max-replicas", "2", "-o", str(tmp_path / "x.csv"), *ssh]
        proc = subprocess.run(cmd, cwd=REPO, env=srv.env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("scaler: error: --namespace 'Bad_NS!' is not a valid name")
        # refused by the cluster's side once the collectors run (here within their start
        # delay): still one line, no "Task was destroyed but it is pending!"
        srv.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "taken"}}))
        srv.kubectl("apply", "-f", "-", input=json.dumps(foreign_deployment("taken")))
        cmd[cmd.index("Bad_NS!")] = "taken"
        proc = subprocess.run(cmd, cwd=REPO, env=srv.env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert "exists and was not created by scaler" in line and "--adopt" in line
    finally:
        srv.stop()


def test_collectors_stopped_during_their_start_delay_leave_no_pending_task(tmp_path):
    """A run refused at set-up stops the SSH collectors at once, while the later nodes still
    wait out their staggered start: no "Task was destroyed but it is pending!" on stderr."""
    code = (
        "import gc\n"
        "from collectors.pool import CollectorPool\n"
        "from collectors.ssh_targets import NodeTarget, SSHOptions\n"
        "targets = [NodeTarget(f'n{i}', '127.0.0.1') for i in range(4)]\n"
        "pool = CollectorPool(targets, SSHOptions(port=1, config_files=()), interval_s=30)\n"
        "pool.start()\n"
        "pool.stop()\n"
        "gc.collect()\n"
        "print('stopped')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.stdout.strip() == "stopped", proc.stderr
    assert "Task was destroyed" not in proc.stderr and "Traceback" not in proc.stderr
