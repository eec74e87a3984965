"""What a client reads about nodes and pods besides the objects: complete Node objects for the
typed client, health and OpenAPI v2 endpoints, pod logs, and the kubelet Summary API through the
node proxy (what ``--node-source kubelet`` reads)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import urllib.request

import pytest

from collectors.kubelet_summary import parse_summary
from tests.simserve_support import (
    REPO,
    kube_client,
    needs_kubectl,
    start_server,
    workload_deployment,
)

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("nodes"), "--speed", "8", "--no-ssh",
                       "--workers", "2")
    srv.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nd"}}))
    srv.kubectl("apply", "-f", "-", input=json.dumps(workload_deployment("web", "nd", replicas=2)))
    srv.wait_for(lambda: sum(p["status"].get("phase") == "Running" for p in srv.kubectl_json(
        "get", "pods", "-n", "nd")["items"]) == 2, what="2 running pods", timeout=60)
    yield srv
    srv.stop()


def test_the_typed_client_reads_nodes_and_pods(server):
    from kubernetes import client

    core = client.CoreV1Api(kube_client(server.kubeconfig))
    nodes = core.list_node().items
    assert len(nodes) == 2
    info = nodes[0].status.node_info
    assert info.boot_id and info.machine_id and info.system_uuid and info.kube_proxy_version == ""
    assert {p.metadata.name for p in core.list_namespaced_pod("nd").items}


def test_health_and_openapi_v2(server):
    for path in ("healthz", "livez", "readyz"):
        with urllib.request.urlopen(f"{server.url}/{path}", timeout=5) as r:
            assert r.read() == b"ok"
    verbose = server.kubectl("get", "--raw", "/readyz?verbose").stdout
    assert "[+]ping ok" in verbose and "readyz check passed" in verbose
    doc = json.loads(server.kubectl("get", "--raw", "/openapi/v2").stdout)
    assert doc["swagger"] == "2.0" and doc["info"]["version"]


def test_pod_logs_are_the_workloads_report_lines(server):
    pod = server.kubectl_json("get", "pods", "-n", "nd")["items"][0]["metadata"]["name"]
    server.wait_for(lambda: server.kubectl("logs", "-n", "nd", pod).stdout.count("\n") >= 2,
                    what="two seconds of output")
    out = server.kubectl("logs", "-n", "nd", pod, "--tail=2").stdout.splitlines()
    assert len(out) == 2
    assert out[-1].startswith("workload report t=") and "cpu=5.0%" in out[-1]
    assert "rss=" in out[-1] and "pages/s" in out[-1]


def test_kubelet_summary_through_the_node_proxy(server):
    raw = server.kubectl("get", "--raw", "/api/v1/nodes/worker-0/proxy/stats/summary").stdout
    other = server.kubectl("get", "--raw", "/api/v1/nodes/worker-1/proxy/stats/summary").stdout
    summaries = [parse_summary(raw, node="worker-0"), parse_summary(other, node="worker-1")]
    for s in summaries:
        kn = s.node
        assert kn.available_mib > 0 and kn.usage_mib > 0 and kn.working_set_mib > 0
        assert kn.working_set_mib <= kn.usage_mib
    pods = [p for s in summaries for p in s.pods]
    assert len(pods) == 2 and all(p.cgroup_mib > 0 for p in pods)
    doc = json.loads(raw)
    assert doc["node"]["nodeName"] == "worker-0" and "usageNanoCores" in doc["node"]["cpu"]
    missing = server.kubectl("get", "--raw", "/api/v1/nodes/nope/proxy/stats/summary",
                             check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_a_run_with_node_source_kubelet_fills_node_figures(server, tmp_path):
    out = tmp_path / "k.csv"
    cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run", "--cluster",
           "openshift", "--kubeconfig", str(server.kubeconfig), "-n", "kub", "--node-source",
           "kubelet", "--sample-interval", "1s", "--mode", "fixed-interval", "--interval", "2s",
           "--max-replicas", "3", "-o", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, env=server.env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    nodes = list(csv.DictReader(open(out.with_name("k.nodes.csv"), newline="")))
    assert nodes and {r["source"] for r in nodes} == {"kubelet"}
    assert {r["node"] for r in nodes} == {"worker-0", "worker-1"}
    assert all(float(r["mem_available_mib"]) > 0 for r in nodes)
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["node_source"] == "kubelet"
