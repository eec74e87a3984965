"""The simulator's API front, driven by the real kubectl as a user would drive a cluster."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.simserve_support import KUBECTL, REPO, child_env, needs_kubectl, start_server

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("simserve"), "--speed", "4", "--no-ssh",
                       "--workers", "3")
    yield srv
    srv.stop()


def test_nodes_have_loopback_internal_ips(server):
    nodes = server.kubectl_json("get", "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["worker-0", "worker-1", "worker-2"]
    ips = [next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
           for n in nodes]
    assert ips == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
    assert nodes[0]["status"]["allocatable"]["pods"] == "250"
    version = json.loads(server.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].endswith("scaler-sim")


def test_api_resources_discovered(server):
    out = server.kubectl("api-resources").stdout
    for word in ("pods", "deployments", "runtimeclasses", "namespaces", "nodes"):
        assert word in out


def test_apply_k_scale_get_watch_delete(server):
    applied = server.kubectl("apply", "-k", str(REPO / "manifests")).stdout
    assert "namespace/scaler created" in applied
    assert "deployment.apps/scaler-workload created" in applied
    again = server.kubectl("apply", "-k", str(REPO / "manifests")).stdout
    assert "deployment.apps/scaler-workload unchanged" in again
    dep = server.kubectl_json("-n", "scaler", "get", "deployment", "scaler-workload")
    assert dep["spec"]["replicas"] == 0
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]

    # a human watch and a JSON watch, both following the scale-up from the start
    human = subprocess.Popen([KUBECTL, f"--kubeconfig={server.kubeconfig}", "-n", "scaler", "get",
                              "pods", "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=server.env)
    raw = subprocess.Popen([KUBECTL, f"--kubeconfig={server.kubeconfig}", "-n", "scaler", "get",
                            "pods", "--watch", "-o", "json", "--output-watch-events"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server.env)
    try:
        time.sleep(1.0)
        out = server.kubectl("-n", "scaler", "scale", "deployment/scaler-workload", "--replicas=4").stdout
        assert "scaled" in out

        def running():
            pods = server.kubectl_json("-n", "scaler", "get", "pods")["items"]
            ok = [p for p in pods if p["status"]["phase"] == "Running"
                  and any(c["type"] == "Ready" and c["status"] == "True"
                          for c in p["status"]["conditions"])]
            return pods if len(pods) == 4 and len(ok) == 4 else None

        pods = server.wait_for(running, timeout=60, what="4 running pods")
        pod = pods[0]
        assert pod["spec"]["nodeName"].startswith("worker-")
        assert pod["status"]["hostIP"].startswith("127.0.0.")
        cs = pod["status"]["containerStatuses"][0]
        assert cs["ready"] and "running" in cs["state"] and cs["restartCount"] == 0
        types = {c["type"] for c in pod["status"]["conditions"]}
        assert {"PodScheduled", "Initialized", "ContainersReady", "Ready"} <= types
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "scaler-workload"
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"

        dep = server.kubectl_json("-n", "scaler", "get", "deployment", "scaler-workload")
        assert dep["spec"]["replicas"] == 4 and dep["status"]["readyReplicas"] == 4
        table = server.kubectl("-n", "scaler", "get", "pods").stdout
        assert table.splitlines()[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert table.count("1/1") == 4
        time.sleep(0.5)
    finally:
        human.terminate()
        raw.terminate()
    human_out = human.communicate(timeout=10)[0]
    raw_out = raw.communicate(timeout=10)[0]
    # the human watch printed each pod's progress (Pending/ContainerCreating ... Running)
    names = {p["metadata"]["name"] for p in pods}
    for name in names:
        lines = [ln for ln in human_out.splitlines() if ln.startswith(name)]
        assert len(lines) >= 2, human_out
        assert "Running" in lines[-1]
    decoder = json.JSONDecoder()
    events, pos = [], 0
    raw_out = raw_out.strip()
    while pos < len(raw_out):
        ev, end = decoder.raw_decode(raw_out, pos)
        events.append(ev)
        pos = end
        while pos < len(raw_out) and raw_out[pos].isspace():
            pos += 1
    added = {e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"}
    assert added == names
    assert any(e["type"] == "MODIFIED" for e in events)

    out = server.kubectl("-n", "scaler", "delete", "deployment", "scaler-workload").stdout
    assert "deleted" in out
    assert server.kubectl("-n", "scaler", "get", "deployment", "scaler-workload",
                          check=False).returncode != 0
    server.wait_for(lambda: not server.kubectl_json("-n", "scaler", "get", "pods")["items"],
                    timeout=60, what="pods to be gone")


def test_pod_delete_and_patch(server):
    server.kubectl("apply", "-k", str(REPO / "manifests"))
    server.kubectl("-n", "scaler", "patch", "deployment", "scaler-workload", "--type", "merge",
                   "-p", '{"spec":{"replicas":2}}')
    server.wait_for(lambda: len(server.kubectl_json("-n", "scaler", "get", "pods")["items"]) == 2,
                    timeout=30, what="2 pods")
    # strategic merge patch of the container env, as kubectl patch sends by default
    server.kubectl("-n", "scaler", "patch", "deployment", "scaler-workload", "-p",
                   '{"spec":{"template":{"spec":{"containers":[{"name":"workload","env":'
                   '[{"name":"MEMORY","value":"300"}]}]}}}}')
    dep = server.kubectl_json("-n", "scaler", "get", "deployment", "scaler-workload")
    env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"CPU": "5", "MEMORY": "300", "INCREMENT": "256",
                   "REPORT": "/var/run/scaler/report"}
    name = server.kubectl_json("-n", "scaler", "get", "pods")["items"][0]["metadata"]["name"]
    server.kubectl("-n", "scaler", "delete", "pod", name, "--wait=false")
    out = server.kubectl("delete", "-k", str(REPO / "manifests"), "--wait=false").stdout
    for what in ('namespace "scaler" deleted', 'runtimeclass.node.k8s.io "kata" deleted',
                 'deployment.apps "scaler-workload" deleted'):
        assert what in out
    server.wait_for(lambda: server.kubectl("get", "namespace", "scaler", check=False).returncode,
                    timeout=60, what="the namespace to go")


def test_sigterm_stops_cleanly(tmp_path):
    srv = start_server(tmp_path / "s", "--no-ssh", "--workers", "1")
    assert srv.kubectl("get", "nodes").returncode == 0
    watch = subprocess.Popen([KUBECTL, f"--kubeconfig={srv.kubeconfig}", "get", "pods", "-A",
                              "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=srv.env)
    time.sleep(0.5)  # a watch is open while the server stops
    t0 = time.monotonic()
    assert srv.stop(signal.SIGINT) == 0
    assert time.monotonic() - t0 < 10
    watch.wait(timeout=30)  # the stream ended with the server
    assert any("stopped" in line for line in srv.output)
    assert srv.kubectl("get", "nodes", check=False, timeout=10).returncode != 0


def test_fault_injection_answers_errors(tmp_path):
    srv = start_server(tmp_path / "f", "--no-ssh", "--workers", "1", "--error-rate", "0.5",
                       "--fault-seed", "3")
    try:
        results = [srv.kubectl("get", "--raw", "/api/v1/nodes", check=False) for _ in range(12)]
        failed = [r for r in results if r.returncode != 0]
        assert 0 < len(failed) < 12
        assert any("injected fault" in r.stderr for r in failed)
        assert srv.stats()["injected_errors"] >= len(failed)
    finally:
        srv.stop()


def test_latency_is_added_to_every_request(tmp_path):
    srv = start_server(tmp_path / "l", "--no-ssh", "--workers", "1", "--latency", "0.4")
    try:
        t0 = time.monotonic()
        srv.kubectl("get", "--raw", "/api/v1/nodes")
        assert time.monotonic() - t0 >= 0.4
    finally:
        srv.stop()


def test_bad_profile_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"cluster": {"workers": "many"}}')
    proc = subprocess.run(
        [sys.executable, "-c", "from scaler.cli_sim import sim; sim()", "serve",
         "--profile", str(bad), "--no-ssh", "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True, cwd=REPO, timeout=30,
        env=child_env(tmp_path))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
