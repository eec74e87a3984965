"""--node-source (issue 14.2): the kubelet's stats through a real `kubectl proxy`, SSH, both
side by side with their disagreement, auto's fallbacks said in one line, and every failure of an
explicitly asked source one line before the run's first file."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from collectors.pod_sample import PodMemory
from collectors.sample import NodeSample
from collectors.ssh_targets import NodeTarget, SSHOptions
from scaler.cluster import ClusterInfo, NodeInfo
from scaler.clusters import simulated_cluster
from scaler.config import RunConfig
from scaler.engine import Engine
from scaler.errors import UserError
from scaler.node_sources import TwoSources, node_sources
from scaler.recorder import Recorder
from scaler.report import agreement_lines
from scaler.request import ClusterChoice, CollectorChoice
from scaler.sim.cluster import SimNodeSource
from scaler.source_agreement import SourceAgreement
from scaler.workload_spec import SCENARIOS
from tests.kubelet_support import FakeApi, FakeNode, workload_pods, write_kubeconfig
from tests.run_support import scaler_run
from tests.simserve_support import REPO, needs_kubectl, start_server
from tests.sshd_support import free_port
from viz.overhead import PodOverheads

KUBECTL = shutil.which("kubectl")
INFO = ClusterInfo(kind="openshift", version="v1.32", nodes=(
    NodeInfo("worker-0", "127.0.0.1", 8000, 16384, 7500, 15360, 250),))


@pytest.fixture
def kube_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # kubectl's cache, per test
    monkeypatch.delenv("KUBECONFIG", raising=False)


def real(kubeconfig: Path) -> ClusterChoice:
    return ClusterChoice(kind="openshift", kubeconfig=str(kubeconfig), context="fake",
                         client_binary=KUBECTL, namespace="scaler")


def closed_port_ssh() -> CollectorChoice:
    """SSH to a port nothing listens on: the probe is refused at once."""
    options = SSHOptions(user="core", port=free_port(), connect_timeout_s=5.0, config_files=())
    return CollectorChoice(options=options, targets=(NodeTarget("worker-0", "127.0.0.1"),))


def our_proxies() -> list[int]:
    """This process's `kubectl proxy` children still running."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if stat[1] == str(os.getpid()) and stat[0] not in "ZX" and b"proxy" in cmd:
            out.append(int(d.name))
    return out


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_kubelet_source_through_a_real_kubectl_proxy(tmp_path, kube_home):
    with FakeApi([FakeNode("worker-0", workload_pods(3))]) as api:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url)
        chosen = node_sources(None, INFO, real(kubeconfig), CollectorChoice(source="kubelet"))
        try:
            assert chosen.names == ("kubelet",) and chosen.primary == "kubelet"
            assert chosen.source.interval_s == 10.0  # the kubelet's own period, not SSH's 1 s
            assert chosen.stale_s == chosen.source.stale_after_s == 45.0
            assert chosen.source.namespaces == {"scaler"}
            assert our_proxies()
        finally:
            chosen.close()
        assert not our_proxies()  # stopped with the source
        given = node_sources(None, INFO, real(kubeconfig), CollectorChoice(
            source="kubelet", interval_s=2.0, interval_given=True))
        assert given.source.interval_s == 2.0
        given.close()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_unreadable_kubelet_stats_are_one_line_and_leave_no_proxy(tmp_path, kube_home):
    with FakeApi([FakeNode("worker-0", [], forbid=True)]) as api:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url)
        for source in ("kubelet", "both"):
            with pytest.raises(UserError) as e:
                node_sources(None, INFO, real(kubeconfig), CollectorChoice(source=source))
            msg = str(e.value.message)
            assert msg.startswith(f"--node-source {source}: cannot read the nodes' kubelet")
            assert "worker-0" in msg and "nodes/proxy" in msg and "\n" not in msg
        assert not our_proxies()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_auto_falls_back_to_the_kubelet_then_to_nothing_saying_so(tmp_path, kube_home, capsys):
    nodes = [FakeNode("worker-0", workload_pods(2))]
    with FakeApi(nodes) as api:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url)
        chosen = node_sources(None, INFO, real(kubeconfig), closed_port_ssh())
        chosen.close()
        assert chosen.names == ("kubelet",)
        assert "node figures from the kubelet's stats (no SSH to the nodes: worker-0:" in \
            capsys.readouterr().err
        nodes[0].forbid = True
        none = node_sources(None, INFO, real(kubeconfig), closed_port_ssh())
        assert none.source is None and none.names == () and none.primary == "none"
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("scaler: no node samples: no SSH to the nodes (worker-0:")
        assert "no kubelet stats (worker-0: HTTP 403" in line
        assert not our_proxies()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_both_sources_ssh_first(tmp_path, kube_home):
    with FakeApi([FakeNode("worker-0", workload_pods(2))]) as api:
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url)
        chosen = node_sources(None, INFO, real(kubeconfig), CollectorChoice(source="both"))
        chosen.close()
    assert chosen.names == ("ssh", "kubelet") and isinstance(chosen.source, TwoSources)
    assert chosen.agreement is not None
    assert chosen.columns() == {"run": "ssh", "nodes": ["ssh", "kubelet"],
                                "pods": ["ssh", "kubelet"]}


def test_the_simulator_refuses_another_node_source(tmp_path):
    run = scaler_run(tmp_path, "--node-source", "kubelet")
    assert run.exit_code == 2 and "the simulator samples its own nodes" in run.stderr
    assert not (tmp_path / "run.csv").exists()
    ok = scaler_run(tmp_path, "--max-replicas", "2")
    assert ok.meta["node_source"] == "sim" and ok.meta["node_sources"]["pods"] == ["sim"]


def _overhead_of(path: Path, source: str):
    o = PodOverheads()
    for r in csv.DictReader(open(path, newline="")):
        if r["source"] == source:
            o.add(r["uid"], r["class"], float(r["cgroup_mib"]), None, float(r["workload_mib"]))
    return o.stats()


class Renamed:
    """A simulated node source presented as another source (its pod records relabelled)."""

    def __init__(self, source, name, scale=1.0):
        self.source, self.name, self.scale = source, name, scale

    def __getattr__(self, attr):
        return getattr(self.source, attr)

    def drain_pods(self):
        return [replace(p, source=self.name, cgroup_mib=p.cgroup_mib * self.scale)
                for p in self.source.drain_pods()]


def test_two_sources_recorded_side_by_side_with_their_disagreement(tmp_path):
    cluster = simulated_cluster(ClusterChoice(), 0, 5.0)
    model = cluster.cluster.model
    ssh = Renamed(SimNodeSource(model, 5.0, pod_interval_s=5.0), "ssh")
    # "the kubelet" sees every pod at 60 % of its memory (kata's blind spot, say)
    kubelet = Renamed(SimNodeSource(model, 5.0, pod_interval_s=5.0), "kubelet", 0.6)
    agreement = SourceAgreement("ssh", "kubelet", node_window_s=10, pod_window_s=10)
    cfg = RunConfig(max_replicas=6, workload=replace(SCENARIOS["capacity"], runtime="kata"))
    res = Engine(cluster, cfg, Recorder(tmp_path / "run.csv"),
                 TwoSources(("ssh", ssh), ("kubelet", kubelet)),
                 source_names=("ssh", "kubelet"), agreement=agreement).run()
    nodes = list(csv.DictReader(open(tmp_path / "run.nodes.csv", newline="")))
    assert {r["source"] for r in nodes} == {"ssh", "kubelet"}
    pods = list(csv.DictReader(open(tmp_path / "run.pods.csv", newline="")))
    assert {"ssh", "kubelet"} <= {r["source"] for r in pods}
    a = res.summary["source_agreement"]
    assert a["node_available_mib"]["pairs"] > 0 and a["node_available_mib"]["max_rel_diff"] == 0
    assert a["pod_memory_mib"]["pairs"] > 0
    assert a["pod_memory_mib"]["median_rel_diff"] == pytest.approx(0.4)
    assert a["pod_memory_mib"]["median_signed_rel_diff"] == pytest.approx(-0.4)
    # the measured overhead is the first source's alone (the second's is 40 % lower)
    first = _overhead_of(tmp_path / "run.pods.csv", "ssh")
    assert res.summary["overhead"]["median_mib"] == round(first.median_mib, 1)
    assert _overhead_of(tmp_path / "run.pods.csv", "kubelet").median_mib < first.median_mib
    (line,) = agreement_lines(a)
    assert line.startswith("kubelet vs ssh: node available memory 0.0% apart at the median")
    assert "pod memory 40.0% apart at the median, at most 40.0% (leaning -40.0%)" in line


def test_agreement_pairs_the_nearest_measurement_within_the_window():
    a = SourceAgreement("ssh", "kubelet", node_window_s=2.0, pod_window_s=10.0)
    a.add_nodes("ssh", [NodeSample("n", t, mem_available_mib=1000.0 + t) for t in range(0, 20)])
    a.add_nodes("kubelet", [NodeSample("n", 10.4, mem_available_mib=1100.0),
                            NodeSample("n", 50.0, mem_available_mib=1.0),  # nothing near
                            NodeSample.gap("n", 11.0)])
    n = a.summary()["node_available_mib"]
    assert n["pairs"] == 1 and n["median_rel_diff"] == pytest.approx(90 / 1010, abs=1e-4)
    a.add_pods([PodMemory("n", 5.0, "ssh", "u", cgroup_mib=100.0, overhead_cgroup_mib=500.0),
                PodMemory("n", 9.0, "kubelet", "u", cgroup_mib=100.0),
                PodMemory("n", 9.0, "kubelet", "other", cgroup_mib=1.0)])
    p = a.summary()["pod_memory_mib"]
    assert p["pairs"] == 1 and p["median_signed_rel_diff"] == pytest.approx(-5 / 6, abs=1e-4)


@needs_kubectl
def test_against_the_api_front_kubelet_refused_and_auto_without_ssh(tmp_path):
    """`scaler sim serve --no-ssh --no-kubelet-stats` serves no kubelet stats and no SSH: an
    explicit kubelet source is one line before any file; auto says there are no node samples
    and runs."""
    server = start_server(tmp_path / "srv", "--speed", "8", "--workers", "2", "--no-ssh",
                          "--no-kubelet-stats")
    try:
        def run(out, *args):
            return subprocess.run(
                [sys.executable, "-c", "from scaler.cli import main; main()", "run",
                 "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig),
                 "--client-binary", "kubectl", "--max-replicas", "2", "--mode", "no-wait",
                 "--ssh-port", str(free_port()), "-o", str(out), *args],
                cwd=REPO, env=server.env, capture_output=True, text=True, timeout=180)

        refused = run(tmp_path / "k" / "run.csv", "--node-source", "kubelet")
        auto = run(tmp_path / "a" / "run.csv")
    finally:
        server.stop()
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "--node-source kubelet: cannot read the nodes' kubelet stats" in line
    assert not (tmp_path / "k").exists()
    assert auto.returncode == 0, auto.stderr
    assert "scaler: no node samples: no SSH to the nodes (worker-0:" in auto.stderr
    meta = json.loads((tmp_path / "a" / "run.meta.json").read_text())
    assert meta["node_source"] == "none" and "no SSH" in meta["node_sources"]["note"]
