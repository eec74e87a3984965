"""run.csv's node figures per step (team contracts 3, 11; scaler.node_sums): sums only when every
fresh node gave its part, CPU percentages averaged over the nodes that gave them, work summed."""

from __future__ import annotations

import csv

import pytest

from collectors.sample import NodeSample
from scaler.config import RunConfig
from scaler.engine import Engine
from scaler.node_sums import NodeSums, fresh_samples, node_sums
from scaler.recorder import RUN_COLUMNS, Recorder
from tests.engine_support import ScriptedCluster


def sample(node: str, t: float, **kw) -> NodeSample:
    base = dict(mem_total_mib=16000.0, mem_free_mib=4000.0, mem_available_mib=6000.0,
                mem_active_mib=8000.0, cpus=8)
    return NodeSample(node=node, time=t, **{**base, **kw})


def test_sums_means_and_busy_cores():
    fresh = [sample("a", 100, cpu_busy_pct=50.0, cpu_user_pct=40.0, cpu_system_pct=8.0,
                    cpu_iowait_pct=1.0, cpu_steal_pct=2.0, work_rate=1000.0, work_pods=3),
             sample("b", 100, cpus=4, cpu_busy_pct=25.0, cpu_user_pct=20.0, cpu_system_pct=4.0,
                    cpu_iowait_pct=0.0, cpu_steal_pct=1.0, work_rate=500.0, work_pods=2)]
    s = node_sums(fresh)
    assert s.nodes_sampled == 2 and s.mem_free_mib == 8000.0 and s.mem_total_mib == 32000.0
    assert s.work_rate == 1500.0 and s.work_pods == 5
    assert s.cpu_busy_pct == pytest.approx(37.5) and s.cpu_user_pct == pytest.approx(30.0)
    assert s.cpu_steal_pct == pytest.approx(1.5) and s.cpu_iowait_pct == pytest.approx(0.5)
    assert s.cpu_busy_cores == pytest.approx(8 * 0.5 + 4 * 0.25)


def test_a_node_without_a_figure_empties_sums_but_not_means():
    # b's first sample after connecting has no CPU percent yet, and it cannot read reports.
    fresh = [sample("a", 100, cpu_busy_pct=50.0, work_rate=1000.0, work_pods=3),
             sample("b", 100)]
    s = node_sums(fresh)
    assert s.cpu_busy_pct == 50.0  # a mean over the nodes that gave it
    assert s.cpu_busy_cores is None and s.work_rate is None and s.work_pods is None
    assert node_sums([NodeSample("c", 1.0, mem_total_mib=1.0)]).work_rate is None
    assert node_sums([]) == NodeSums()


def test_fresh_samples_are_ok_and_recent():
    latest = [sample("a", 95), sample("b", 80), NodeSample.gap("c", 99)]
    assert [s.node for s in fresh_samples(latest, now=100, stale_s=10)] == ["a"]


class OneShotSource:
    """A node source whose samples are given up front (the engine's side of the protocol)."""

    def __init__(self, samples):
        self.all = list(samples)
        self.samples = list(samples)

    def start(self):
        pass

    def drain(self):
        out, self.samples = self.samples, []
        return out

    def latest(self):
        return {s.node: s for s in self.all}

    def stop(self):
        pass


def test_run_csv_gets_work_and_cpu_columns_from_the_fresh_nodes(tmp_path):
    cluster = ScriptedCluster()
    now = cluster.clock.now()
    samples = [sample("a", now, cpu_busy_pct=60.0, cpu_user_pct=50.0, cpu_system_pct=9.0,
                      cpu_iowait_pct=0.5, cpu_steal_pct=1.0, work_rate=2_000_000.0, work_pods=4),
               sample("b", now, cpu_busy_pct=20.0, cpu_user_pct=15.0, cpu_system_pct=4.0,
                      cpu_iowait_pct=0.5, cpu_steal_pct=1.0, work_rate=1_000_000.0, work_pods=2)]
    source = OneShotSource(samples)
    Engine(cluster, RunConfig(mode="no-wait", max_replicas=2), Recorder(tmp_path / "run.csv"),
           source, node_stale_s=60).run()
    rows = list(csv.DictReader(open(tmp_path / "run.csv")))
    for name in ("work_rate", "work_pods", "cpu_busy_pct", "cpu_busy_cores", "cpu_user_pct",
                 "cpu_system_pct", "cpu_iowait_pct", "cpu_steal_pct"):
        assert name in RUN_COLUMNS
    assert rows[0]["work_rate"] == "3000000.0" and rows[0]["work_pods"] == "6"
    assert rows[0]["cpu_busy_pct"] == "40.00" and rows[0]["cpu_busy_cores"] == "6.400"
    assert rows[0]["cpu_user_pct"] == "32.50" and rows[0]["nodes_sampled"] == "2"
