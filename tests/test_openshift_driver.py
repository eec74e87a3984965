"""The OpenShift driver through the Cluster protocol, with openshift-client and the real kubectl,
against the simulator's API front."""

from __future__ import annotations

import copy
import json
import time

import pytest
import yaml

from scaler.cluster import ClusterError
from scaler.kube_objects import MANAGED_BY_LABEL, load_templates
from scaler.openshift import OpenShiftCluster, OpenShiftOptions
from scaler.openshift.client import KubeClient
from scaler.openshift.watch import PodWatcher
from scaler.workload_spec import SCENARIOS
from tests.simserve_support import KUBECTL, needs_kubectl, start_server

pytestmark = needs_kubectl


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("drv"), "--speed", "4", "--no-ssh", "--workers", "3",
                       "--event-log", "50")
    yield srv
    srv.stop()


def options(server, **kw) -> OpenShiftOptions:
    return OpenShiftOptions(kubeconfig=str(server.kubeconfig), client_binary=KUBECTL,
                            op_timeout_s=30, **kw)


@pytest.fixture(autouse=True)
def kube_home(server, monkeypatch):
    monkeypatch.setenv("HOME", server.env["HOME"])


def truth_counts(server) -> tuple:
    t = server.stats()["truth"]
    return (t["running"], t["pending"], t["creating"], t["terminating"], t["evicted"])


def test_describe_prepare_scale_observe_cleanup(server):
    cluster = OpenShiftCluster(options(server, namespace="drv", run_id="run-1"))
    info = cluster.describe()
    assert info.kind == "openshift" and info.version.endswith("scaler-sim")
    assert [(n.name, n.address) for n in info.nodes] == [
        ("worker-0", "127.0.0.10"), ("worker-1", "127.0.0.11"), ("worker-2", "127.0.0.12")]
    assert info.nodes[0].max_pods == 250 and info.nodes[0].allocatable_cpu_millis == 7500
    assert info.details["runtime_classes"]["kata"]["handler"] == "kata"
    assert info.details["simulator"] is True
    assert cluster.node_source() is None

    cluster.prepare(SCENARIOS["capacity"].with_(runtime="kata"))
    dep = server.kubectl_json("-n", "drv", "get", "deployment", "scaler-workload")
    assert dep["metadata"]["labels"]["scaler.io/run"] == "run-1"
    assert dep["spec"]["template"]["spec"]["runtimeClassName"] == "kata"
    assert dep["spec"]["replicas"] == 0
    startups = []
    for n in (2, 4, 6):
        cluster.scale(n)
        startups += cluster.observe().startup_s
    assert server.kubectl_json("-n", "drv", "get", "deployment",
                               "scaler-workload")["spec"]["replicas"] == 6

    def settled():
        c = cluster.observe()
        startups.extend(c.startup_s)
        return c if (c.running, c.pending, c.creating, c.terminating, c.evicted) == truth_counts(server) \
            and c.running == 6 else None

    counts = server.wait_for(settled, timeout=60, what="6 running pods seen as the model says")
    assert counts.failed == 0 and counts.api_errors == 0
    assert len(startups) == 6 and all(0 < s < 30 for s in startups)
    stats = cluster.stats()
    assert stats["pod_lists"] == 1 and stats["watch_streams"] >= 1
    assert stats["observe_requests"] == stats["pod_lists"] + stats["watch_streams"]
    assert stats["runtime_class"]["overhead"]["memory"] == "350Mi"

    cluster.cleanup()
    cluster.cleanup()  # safe twice
    assert server.kubectl("-n", "drv", "get", "deployment", "scaler-workload",
                          check=False).returncode != 0
    server.wait_for(lambda: server.kubectl("get", "namespace", "drv", check=False).returncode != 0,
                    timeout=60, what="the run's namespace to go")


def test_foreign_deployment_needs_adopt(server):
    dep = copy.deepcopy(load_templates()["Deployment"])
    dep["metadata"]["namespace"] = "foreign"
    for labels in (dep["metadata"]["labels"], dep["spec"]["template"]["metadata"]["labels"]):
        labels.pop(MANAGED_BY_LABEL)
    server.kubectl("apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foreign"}}))
    server.kubectl("apply", "-f", "-", input=json.dumps(dep))
    spec = SCENARIOS["capacity"]
    with pytest.raises(ClusterError, match="not created by scaler.*--adopt") as e:
        OpenShiftCluster(options(server, namespace="foreign")).prepare(spec)
    assert "\n" not in str(e.value)
    adopted = OpenShiftCluster(options(server, namespace="foreign", adopt=True, run_id="r2"))
    adopted.prepare(spec)
    adopted.scale(1)
    adopted.cleanup()
    left = server.kubectl_json("-n", "foreign", "get", "deployment", "scaler-workload")
    assert left["spec"]["replicas"] == 0  # scaled down, but not deleted: it was not ours


def test_user_errors_are_one_line_cluster_errors(server, tmp_path):
    # refused before anything starts (no client call, no collector): the name is checked first
    with pytest.raises(ClusterError, match="namespace 'Bad_NS!' is not a valid name"):
        OpenShiftCluster(options(server, namespace="Bad_NS!"))
    c = OpenShiftCluster(options(server, namespace="rc"))
    with pytest.raises(ClusterError, match="RuntimeClass gvisor does not exist and scaler ships "
                                           "none by that name.*--runtime-class-manifest"):
        c.prepare(SCENARIOS["capacity"].with_(runtime="gvisor"))
    c.cleanup()
    assert server.kubectl("get", "namespace", "rc", check=False).returncode != 0  # not created
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(server.kubeconfig.read_text().replace(server.url, "http://127.0.0.1:1"))
    with pytest.raises(ClusterError, match="cannot reach the API server") as e:
        OpenShiftCluster(OpenShiftOptions(kubeconfig=str(dead), client_binary=KUBECTL)).describe()
    assert "\n" not in str(e.value)
    assert "check that the API server http://127.0.0.1:1 is up" in str(e.value)


def test_watch_resyncs_after_410_gone(server):
    server.kubectl("apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}}))
    dep = copy.deepcopy(load_templates()["Deployment"])
    dep["metadata"]["namespace"] = "gone"
    dep["spec"]["replicas"] = 30  # far more events than the server's 50-event log keeps
    server.kubectl("apply", "-f", "-", input=json.dumps(dep))
    server.wait_for(lambda: len(server.kubectl_json("-n", "gone", "get", "pods")["items"]) == 30,
                    timeout=60, what="30 pods")
    assert server.stats()["resource_version"] > 2 + 50  # so version 2 has left the log
    client = KubeClient(KUBECTL, kubeconfig=str(server.kubeconfig), context=None, op_timeout_s=30)
    watcher = PodWatcher(client, "gone", "app.kubernetes.io/name=scaler-workload")
    watcher.rv = "2"  # as if the stream had been away for a long time
    watcher.start()
    try:
        server.wait_for(lambda: watcher.lists == 1, timeout=30, what="a relist")
        assert watcher.resyncs == 1
        server.wait_for(lambda: len(watcher.table.pods) == 30, timeout=30, what="30 pods listed")
    finally:
        watcher.stop()
        server.kubectl("delete", "namespace", "gone", "--wait=false")


def test_runs_through_injected_api_errors_and_watch_expiry(tmp_path):
    srv = start_server(tmp_path / "faulty", "--speed", "4", "--no-ssh", "--workers", "2",
                       "--error-rate", "0.1", "--fault-seed", "7", "--watch-timeout", "1")
    try:
        import os

        os.environ["HOME"] = srv.env["HOME"]
        cluster = OpenShiftCluster(OpenShiftOptions(kubeconfig=str(srv.kubeconfig),
                                                    client_binary=KUBECTL, op_timeout_s=60))
        cluster.describe()
        cluster.prepare(SCENARIOS["capacity"])
        for n in range(1, 11):
            cluster.scale(n)
            cluster.observe()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            c = cluster.observe()
            if c.running == 10:
                break
            time.sleep(0.3)
        assert c.running == 10
        stats = cluster.stats()
        assert c.api_errors > 0 and c.api_errors == stats["api_errors"]
        assert stats["watch_streams"] >= 2  # the server ends every watch after 1 s: resumed
        assert stats["pod_lists"] <= 1 + stats["watch_resyncs"]  # resumed, not listed again
        cluster.cleanup()
        assert srv.stats()["injected_errors"] >= c.api_errors
        assert srv.kubectl("-n", "scaler", "get", "deployment", "scaler-workload",
                           check=False).returncode != 0
    finally:
        srv.stop()


def test_back_to_back_runs_wait_for_the_namespace_being_deleted(server):
    first = OpenShiftCluster(options(server, namespace="seq", run_id="one"))
    first.prepare(SCENARIOS["capacity"])
    first.scale(3)
    server.wait_for(lambda: first.observe().running == 3, timeout=60, what="3 running pods")
    first.cleanup()  # the namespace goes when its pods have shut down
    second = OpenShiftCluster(options(server, namespace="seq", run_id="two"))
    second.prepare(SCENARIOS["capacity"])  # waits for the old namespace if still there
    dep = server.kubectl_json("-n", "seq", "get", "deployment", "scaler-workload")
    assert dep["metadata"]["labels"]["scaler.io/run"] == "two"
    second.cleanup()
