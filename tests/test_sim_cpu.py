"""The simulator's CPU model (scaler.sim.cpu): shares by cgroup weight, CFS quota, kata's vCPUs
and host overhead, /proc/stat as the collectors read it, and per-pod CPU and work."""

from __future__ import annotations

import numpy as np
import pytest

from collectors.cpustat import cpu_percent, parse_proc_stat
from scaler.sim import SimModel, SimulatedCluster, load_profile
from scaler.sim.cpu import dep_cpu, system_slowdown, weighted_fill
from scaler.sim.loops import step_demand
from scaler.sim.memory import served_share
from scaler.sim.pod_records import pod_memory
from scaler.workload_spec import WorkloadSpec

PAGES = 1.9e8  # WorkloadProfile.pages_per_cpu_s


def spec(**kw) -> WorkloadSpec:
    return WorkloadSpec(**{"cpu_percent": 100, "memory_mib": 16, "increment_mib": 16, **kw})


def model(workers: int = 1, profile: str | None = None) -> SimModel:
    return SimModel(load_profile(profile, workers=workers), 0)


def run(m: SimModel, key: str, s: WorkloadSpec, n: int, seconds: float = 120) -> None:
    m.apply_deployment(key, s, n)
    m.advance(seconds)


def cores(m: SimModel, key: str) -> np.ndarray:
    return m.cpu.pods(m.state, m.pod_slots(key))[0]


def test_weighted_fill_is_max_min_fair_by_weight():
    cap = np.array([10.0, 10.0, 100.0])
    demand = np.array([[2.0, 20.0, 20.0], [20.0, 20.0, 20.0], [20.0, 20.0, 20.0]])
    weight = np.array([[1.0, 1.0, 2.0], [1.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    got = weighted_fill(cap, demand, weight)
    # row 0: the small one is served (2), the rest share 8 by weight 1:2
    assert got[0] == pytest.approx([2.0, 8 / 3, 16 / 3])
    assert got[1] == pytest.approx([2.5, 2.5, 5.0])
    assert got[2] == pytest.approx([20.0, 20.0, 20.0])  # room for all
    # an absent entity (weight 0) gets nothing; nothing is ever more than asked
    got = weighted_fill(np.array([4.0]), np.array([[3.0, 5.0]]), np.array([[0.0, 1.0]]))
    assert got[0] == pytest.approx([0.0, 4.0])


def test_an_idle_node_runs_its_services_and_a_lone_pod_gets_a_whole_cpu():
    m = model()
    busy = m.cpus - m.cpu.rates[:, 2]
    assert busy[0] == pytest.approx(0.8)  # system 0.5 + infrastructure 0.3
    run(m, "a/one", spec(), 1)
    assert cores(m, "a/one") == pytest.approx([1.0])
    assert m.cpu.node_work[0] == pytest.approx(PAGES)


def test_besteffort_pods_share_what_the_node_leaves_and_work_follows_cpu():
    m = model()
    run(m, "a/be", spec(), 40)
    c = cores(m, "a/be")
    assert len(c) == 40 and np.allclose(c, c[0])
    # 8 CPUs less the node's services (0.5) and infrastructure (0.3), shared by 40
    assert c[0] == pytest.approx(7.2 / 40, rel=0.02)
    assert m.cpu.saturated[0]
    assert m.cpu.node_work[0] == pytest.approx(7.2 * PAGES, rel=0.02)


def test_requests_win_cpu_from_besteffort_pods_and_limits_throttle():
    m = model()
    run(m, "a/be", spec(), 20, 5)
    run(m, "a/burst", spec(cpu_request_m=1000), 4, 5)
    run(m, "a/capped", spec(cpu_request_m=100, cpu_limit_m=300), 4, 120)
    # Burstable pods' weights (requests) dwarf BestEffort's 2: they get what they ask for ...
    assert cores(m, "a/burst") == pytest.approx([1.0] * 4, rel=1e-3)
    # ... up to their CFS quota
    assert cores(m, "a/capped") == pytest.approx([0.3] * 4, rel=1e-3)
    # and BestEffort pods share the rest
    be = cores(m, "a/be")
    assert be == pytest.approx([(8 - 0.8 - 4 - 1.2) / 20] * 20, rel=0.02)


def test_kata_guests_are_bound_by_their_vcpus_and_cost_host_cpu_besides():
    m = model()
    run(m, "a/vm", spec(runtime="kata", cpu_percent=100), 2)
    rt = m.profile.runtime("kata")
    slots = m.pod_slots("a/vm")
    c, w = m.cpu.pods(m.state, slots)
    # one vCPU of workload, plus the VM's host processes and exits outside the guest
    assert c == pytest.approx([1.0 * (1 + rt.vm_exit_cpu_share) + rt.vm_host_cpu_cores] * 2)
    assert w == pytest.approx([PAGES * rt.work_efficiency] * 2)
    # a guest of half a vCPU holds its workload to half a core
    m2 = SimModel(load_profile(None, workers=1), 0)
    m2.profile.runtimes["kata"].vcpus = 0.5
    run(m2, "a/vm", spec(runtime="kata", cpu_percent=100), 1)
    assert m2.cpu.pods(m2.state, m2.pod_slots("a/vm"))[1] == pytest.approx(
        [0.5 * PAGES * rt.work_efficiency])


def test_timer_paced_loops_work_at_their_own_pace_whatever_the_setting():
    m = model(profile="c3d-2021")
    wl = m.profile.workload
    run(m, "a/ten", spec(cpu_percent=10), 1)
    run(m, "a/eighty", spec(cpu_percent=80), 1)
    for key in ("a/ten", "a/eighty"):
        c, w = m.cpu.pods(m.state, m.pod_slots(key))
        assert c == pytest.approx([wl.paced_cpu_cores]) and w == pytest.approx([wl.paced_pages_per_s])


def test_proc_stat_is_what_the_collectors_parse_and_counts_up():
    m = model(workers=2)
    run(m, "a/b", spec(), 3, 10)
    text = m.node_stat("worker-0")
    lines = text.splitlines()
    assert lines[0].startswith("cpu  ") and [ln.split()[0] for ln in lines[1:9]] == [
        f"cpu{k}" for k in range(8)]
    before = parse_proc_stat(text)
    per_cpu = [list(map(int, ln.split()[1:])) for ln in lines[1:9]]
    assert [sum(col) for col in zip(*per_cpu, strict=True)][:8] == list(before)
    m.advance(10)
    after = parse_proc_stat(m.node_stat("worker-0"))
    assert after is not None and before is not None
    pct = cpu_percent(before, after)
    assert pct is not None
    busy = sum(cores(m, "a/b")[m.table.node[m.pod_slots("a/b")] == 0]) + 0.8
    assert pct.busy == pytest.approx(100 * busy / 8, abs=0.2)
    assert pct.iowait == 0 and pct.steal == 0


def test_node_pods_carry_cpu_and_work_and_samples_sum_them():
    c = SimulatedCluster(load_profile(None, workers=2), seed=1)
    src = c.node_source()
    src.start()
    c.prepare(spec(cpu_percent=50))
    c.scale(4)
    c.clock.sleep(60)
    pods = [p for name in c.model.node_names for p in c.model.node_pods(name)]
    assert len(pods) == 4 and {p.node for p in pods} <= set(c.model.node_names)
    assert all(p.cpu_cores == pytest.approx(0.5) and p.work_rate == pytest.approx(0.5 * PAGES)
               for p in pods)
    assert sorted(p.uid for p in pods) == sorted(p.uid for p in pod_memory(c.model))
    latest = src.latest()
    assert sum(s.work_rate or 0 for s in latest.values()) == pytest.approx(4 * 0.5 * PAGES)
    assert sum(s.work_pods or 0 for s in latest.values()) == 4
    for s in latest.values():
        assert s.cpus == 8 and s.cpu_busy_pct is not None
        assert s.cpu_busy_pct == pytest.approx(s.cpu_user_pct + s.cpu_system_pct)


def test_a_cpu_run_on_the_simulated_cluster_records_work_and_node_cpu(tmp_path):
    from tests.run_support import scaler_run

    run = scaler_run(tmp_path, "--scenario", "cpu", "--max-replicas", "60", "--workers", "2")
    assert run.exit_code == 0, run.stderr
    last = run.rows[-1]
    running = int(last["running"])
    assert int(last["work_pods"]) == running > 0
    # two workers' CPUs (2 x 8, less 0.8 each for their services) hold 14.4 pods at 100%, 28.8
    # at the cpu scenario's 50%: the work stops growing with the pods there
    assert float(last["work_rate"]) == pytest.approx(min(running * 0.5, 14.4) * PAGES, rel=0.02)
    assert float(last["cpu_busy_pct"]) == pytest.approx(100.0, abs=0.5)
    assert float(run.rows[0]["cpu_busy_pct"]) < 20 and float(last["cpu_user_pct"]) > 80
    for node in ("worker-0", "worker-1"):  # per node: CPU from its second sample on, work always
        samples = [r for r in run.nodes if r["node"] == node]
        assert samples[0]["cpu_busy_pct"] == "" and all(r["cpu_busy_pct"] for r in samples[1:])
        assert all(r["work_rate"] and r["work_pods"] for r in samples)


@pytest.mark.parametrize("setting, message", [
    ({"workload": {"pacing": "sleepy"}}, "workload.pacing must be one of duty, timer"),
    ({"runtimes": {"kata": {"vcpus": -1}}}, "runtimes.kata.vcpus must not be negative"),
    ({"workload": {"pages_per_cpu_s": 0}}, "workload.pages_per_cpu_s must be positive"),
])
def test_profiles_with_impossible_cpu_parameters_are_refused(tmp_path, setting, message):
    import json

    from scaler.sim.profile import ProfileError

    path = tmp_path / "p.json"
    path.write_text(json.dumps(setting))
    with pytest.raises(ProfileError, match=message):
        load_profile(str(path))


def test_a_pickled_model_carries_its_cpu_counters_on():
    """``scaler sim serve`` saves its model as a pickle and restores it: the CPU goes on as if
    never stopped."""
    import pickle

    m = model(workers=2)
    run(m, "a/b", spec(cpu_percent=50), 10, 30)
    copy = pickle.loads(pickle.dumps(m))
    m.advance(30)
    copy.advance(30)
    for name in m.node_names:
        assert copy.node_stat(name) == m.node_stat(name)
    assert copy.cpu.node_work == pytest.approx(m.cpu.node_work)


def test_the_kubelet_summary_counts_the_cpu_proc_stat_counts():
    """sim serve's kubelet Summary and the SSH nodes' /proc/stat are one account of the CPU
    (a real kubelet and the kernel read the same counters): node busy core-seconds and each
    pod's cores agree."""
    from scaler.simserve.kubelet_stats import NodeStats

    m = model(workers=2)
    run(m, "a/b", spec(), 3, 10)
    stats = NodeStats(m)
    first = stats.summary("worker-0")
    before = parse_proc_stat(m.node_stat("worker-0"))
    m.advance(10)
    doc = stats.summary("worker-0")
    after = parse_proc_stat(m.node_stat("worker-0"))
    assert first is not None and doc is not None and before is not None and after is not None
    busy_s = (doc["node"]["cpu"]["usageCoreNanoSeconds"]
              - first["node"]["cpu"]["usageCoreNanoSeconds"]) / 1e9
    pct = cpu_percent(before, after)
    assert pct is not None
    assert busy_s == pytest.approx(pct.busy / 100 * 8 * 10, rel=0.02)
    slots = m.pod_slots("a/b")
    on_node = cores(m, "a/b")[m.table.node[slots] == 0]
    got = sorted(p["cpu"]["usageNanoCores"] / 1e9 for p in doc["pods"])
    assert got == pytest.approx(sorted(on_node.tolist()), abs=1e-6)


def test_node_services_slow_down_when_kubepods_takes_the_cpus_they_want():
    """Sandbox set-ups go at the pace of the node's services (kubelet.sandbox_seconds): on a
    thrashing node whose BestEffort pods spin on every CPU, system.slice (cpu.shares 1024)
    gets 8 x 1024 / (1024 + 7,500 x 1.024) cores of the 2.5 it wants (0.5 services + 2 reclaim)."""
    m = model()
    run(m, "a/be", spec(), 40)
    s = m.state
    deps = dep_cpu(s)
    crowded, alone = np.array([[40.0]]), np.array([[1.0]])
    s.thrashing = np.array([False])
    assert system_slowdown(s, deps, crowded) == pytest.approx([1.0])  # 0.5 wanted, 0.94 due
    s.thrashing = np.array([True])
    fair = 8 * 1024 / (1024 + 7500 * 1.024)
    assert system_slowdown(s, deps, crowded) == pytest.approx([2.5 / fair])
    assert system_slowdown(s, deps, alone) == pytest.approx([1.0])  # the pods leave it 6.7
    # the model's own: the C program's pods spin a core each and, at MEMORY=0, fill the node
    hungry = model(profile="c3d-2021")
    run(hungry, "a/hungry", spec(cpu_percent=5, memory_mib=0, increment_mib=25), 20, 300)
    assert hungry.state.thrashing[0]
    assert hungry.state.system_slowdown == pytest.approx([2.5 / fair])


def test_a_short_node_serves_growing_c_loops_at_the_rate_they_ask():
    """After an OOM kill the C program's loops (a pass per allocation) take the victim's room
    back at the rate their passes run, not only what they had left to touch: the node's
    services get the share of the step that lasts (memory.served_share)."""
    m = model(profile="c3d-2021")
    run(m, "a/hungry", spec(cpu_percent=5, memory_mib=0, increment_mib=25), 3, seconds=10)
    s, p = m.state, m.state.table
    pods = m.pod_slots("a/hungry")
    p.rss[pods] = p.held[pods] - 1.0  # each has 1 MiB left to touch
    need, room = np.array([3.0]), np.array([2.0])
    asked = step_demand(s, pods)
    assert (asked >= 25.0).all()  # one pass at least: an INCREMENT more
    share = served_share(s, room, need, pods, pods[:0])
    assert share == pytest.approx(2.0 / (3.0 + float((asked - 1.0).sum())))
    assert share[0] < 2.0 / 3.0
    # this project's workload allocates once per loop of a second or more: what is left is all
    duty = model()
    run(duty, "a/w", spec(cpu_percent=5, memory_mib=0, increment_mib=25), 3, seconds=10)
    both = duty.pod_slots("a/w")
    assert served_share(duty.state, room, need, both, both[:0]) == pytest.approx([2.0 / 3.0])


def test_the_load_average_counts_what_the_cpu_account_shares_out():
    """The node's load (its /proc/loadavg) and its CPU time (/proc/stat) come from one view of
    what runs: the C program's timer-paced loops spin a core each whatever their setting."""
    m = model(profile="c3d-2021")
    run(m, "a/c", spec(cpu_percent=5), 12)
    c = m.profile.cluster
    assert m.state.cpu_demand == pytest.approx(m.cpu.demand)
    assert m.state.cpu_demand[0] == pytest.approx(12 + c.system_cpu_cores + c.infra_cpu_cores)
