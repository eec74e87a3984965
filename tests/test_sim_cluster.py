"""SimulatedCluster as the engine sees it: the Cluster protocol in virtual time."""

from __future__ import annotations

import json
import time

import pytest

from collectors.sample import NodeSample
from scaler.cluster import ClusterError
from scaler.sim import SimModel, SimulatedCluster, build_simulated_cluster
from scaler.workload_spec import SCENARIOS
from tests.sim_support import small_profile


def test_describe_says_simulated_with_profile_and_seed():
    c = SimulatedCluster(small_profile(), seed=7)
    info = c.describe()
    assert info.kind == "simulated" and info.version.startswith("simulated (scaler ")
    assert "Kubernetes model" in info.version
    assert [n.name for n in info.nodes] == ["worker-0", "worker-1"]
    assert all(n.address is None and n.max_pods == 250 for n in info.nodes)
    assert info.details["seed"] == 7 and info.details["profile"]["cluster"]["workers"] == 2
    json.dumps(info.details)  # goes into run.meta.json as is
    assert info.runtime_class is None
    c.prepare(SCENARIOS["capacity"].with_(runtime="kata"))
    rc = c.describe().runtime_class
    assert rc == {"name": "kata", "handler": "kata",
                  "overhead": {"memory_mib": 350.0, "cpu_millis": 250}}


def test_unknown_runtime_is_a_one_line_cluster_error():
    c = SimulatedCluster(small_profile())
    with pytest.raises(ClusterError) as e:
        c.prepare(SCENARIOS["capacity"].with_(runtime="gvisor"))
    msg = str(e.value)
    assert "gvisor" in msg and "kata, runc" in msg and "profile" in msg and "\n" not in msg


def test_profile_declared_runtime_is_accepted(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"runtimes": {"kata-qemu": {"like": "kata", "overhead_mib": 160}}}))
    c = build_simulated_cluster(str(path), workers=2)
    c.prepare(SCENARIOS["capacity"].with_(runtime="kata-qemu"))
    c.scale(2)
    c.clock.sleep(30)
    assert c.observe().running == 2
    assert c.describe().runtime_class["overhead"]["memory_mib"] == 160


def test_clock_is_virtual():
    c = SimulatedCluster(small_profile())
    t0, m0 = c.clock.now(), c.clock.monotonic()
    wall = time.monotonic()
    c.clock.sleep(3600)
    assert time.monotonic() - wall < 2.0  # an hour of virtual time, no real sleeping
    assert c.clock.now() - t0 == pytest.approx(3600)
    assert c.clock.monotonic() - m0 == pytest.approx(3600)


def test_api_calls_take_time_that_grows_with_objects():
    c = SimulatedCluster(small_profile())
    c.prepare(SCENARIOS["capacity"].with_(memory_mib=20))
    t = c.clock.monotonic()
    c.observe()
    empty = c.clock.monotonic() - t
    c.scale(200)
    c.clock.sleep(60)
    t = c.clock.monotonic()
    c.observe()
    full = c.clock.monotonic() - t
    cp = c.profile.control_plane
    assert empty == pytest.approx(cp.client_start_s + cp.request_s)
    assert full == pytest.approx(cp.client_start_s + cp.request_s + 200 * cp.list_per_object_s)
    assert c.stats()["api_calls"] >= 3


def test_calls_slow_down_while_workers_thrash():
    from scaler.sim import controlplane, nodestatus

    c = SimulatedCluster(small_profile())
    cp, s = c.profile.control_plane, c.model.state
    calm = controlplane.list_seconds(cp, s)
    s.thrashing[:] = True
    for _ in range(600):  # ten minutes of every worker thrashing
        nodestatus.decay_load(s, 1)
    assert controlplane.list_seconds(cp, s) == pytest.approx(calm * (1 + cp.thrash_slowdown),
                                                             rel=1e-3)


def test_observe_reports_startups_since_last_observe():
    c = SimulatedCluster(small_profile())
    c.prepare(SCENARIOS["capacity"])
    c.scale(3)
    c.clock.sleep(20)
    first = c.observe()
    assert first.running == 3 and len(first.startup_s) == 3
    assert c.observe().startup_s == ()


def test_node_source_samples_every_interval_through_the_meminfo_parser():
    c = SimulatedCluster(small_profile(), sample_interval_s=2.0)
    src = c.node_source()
    assert c.node_source() is src
    src.start()
    c.prepare(SCENARIOS["capacity"])
    c.scale(4)
    c.clock.sleep(20)
    samples = src.drain()
    assert all(isinstance(s, NodeSample) and s.ok for s in samples)
    per_node = {}
    for s in samples:
        per_node.setdefault(s.node, []).append(s)
    assert set(per_node) == {"worker-0", "worker-1"}
    times = [s.time for s in per_node["worker-0"]]
    assert len(times) >= 10 and all(b - a == pytest.approx(2.0) for a, b in zip(times, times[1:], strict=False))
    assert times[-1] <= c.clock.now()
    first, last = per_node["worker-0"][0], per_node["worker-0"][-1]
    assert last.mem_free_mib < first.mem_free_mib - 900  # two 500 MiB pods arrived
    assert first.mem_total_mib == last.mem_total_mib and last.load1 is not None
    assert src.drain() == []
    assert set(src.latest()) == {"worker-0", "worker-1"}
    src.stop()
    c.clock.sleep(10)
    assert src.drain() == []


def test_cleanup_scales_to_zero_and_deletes():
    c = SimulatedCluster(small_profile())
    c.prepare(SCENARIOS["capacity"])
    c.scale(5)
    c.clock.sleep(20)
    c.cleanup()
    c.clock.sleep(30)
    assert c.model.pods() == [] and c.model.deployments() == []
    c.cleanup()  # twice is harmless
    kept = SimulatedCluster(small_profile())
    kept.prepare(SCENARIOS["capacity"])
    kept.scale(2)
    kept.clock.sleep(20)
    kept.cleanup(keep=True)
    assert len(kept.model.pods()) == 2


def test_cluster_wraps_an_existing_model():
    m = SimModel(small_profile(), 3)
    c = SimulatedCluster(m)
    assert c.model is m and c.describe().details["seed"] == 3


def test_node_samples_hold_what_the_parser_reads_from_the_rendered_meminfo():
    from dataclasses import replace

    from collectors.meminfo import parse_meminfo

    c = SimulatedCluster(small_profile(), seed=2)
    src = c.node_source()
    src.start()
    c.prepare(SCENARIOS["capacity"].with_(runtime="kata"))
    c.scale(6)
    c.clock.sleep(40)
    latest = src.latest()
    for name in c.model.node_names:
        parsed = NodeSample.from_meminfo(name, latest[name].time,
                                         parse_meminfo(c.model.node_meminfo(name)),
                                         load1=float(c.model.node_loadavg(name).split()[0]))
        # CPU and work come from /proc/stat and the workloads' reports (test_sim_cpu.py)
        assert parsed == replace(latest[name], cpus=None, cpu_busy_pct=None, cpu_user_pct=None,
                                 cpu_system_pct=None, cpu_iowait_pct=None, cpu_steal_pct=None,
                                 work_rate=None, work_pods=None)


def test_observe_carries_the_failure_counts_and_the_default_handler():
    c = SimulatedCluster(small_profile(max_pods=3))  # room for one pod per worker
    assert c.describe().default_runtime_handler == "runc"
    c.prepare(SCENARIOS["capacity"].with_(runtime="default"))
    c.scale(5)
    c.clock.sleep(30)
    counts = c.observe()
    assert (counts.running, counts.pending) == (2, 3)
    assert counts.failed_scheduling == 3 and counts.evicted_listed == 0
    assert counts.sandbox_deaths == counts.failed_create == counts.sandbox_failures == 0
