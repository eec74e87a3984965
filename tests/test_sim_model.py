"""The simulator's behaviour: scheduling, memory, eviction, OOM kills, lifecycle, determinism."""

from __future__ import annotations

import re

import numpy as np
import pytest

from collectors.meminfo import parse_meminfo
from scaler.sim import SimModel
from scaler.sim.pods import CS_CREATING, CS_RUNNING, PH_FAILED
from scaler.workload_spec import SCENARIOS
from tests.sim_support import KEY, capacity, model_with, ramp, small_profile


def test_pods_start_run_and_grow_to_their_target():
    m = model_with(capacity(), 4, seconds=30)
    pods = m.pods()
    assert len(pods) == 4
    for v in pods:
        assert v.phase == "Running" and v.ready and v.container_state == "running"
        assert v.node in ("worker-0", "worker-1")
        assert v.created <= v.scheduled <= v.started <= v.ready_at <= m.now
        assert v.runtime_class is None and v.qos_class == "BestEffort"
        assert v.labels == {"app": "w"}
        # workload at its 500 MiB target plus the runtime's few MiB
        assert 500 <= v.memory_mib <= 520
    c = m.counts(KEY)
    assert (c.running, c.pending, c.creating, c.evicted, c.oom_killed) == (4, 0, 0, 0, 0)
    # least-allocated spreading puts two on each worker
    assert sorted(v.node for v in pods) == ["worker-0", "worker-0", "worker-1", "worker-1"]


def test_startup_latency_is_recorded_once_per_pod():
    m = model_with(capacity(), 3, seconds=20)
    startups = m.take_startups(KEY)
    assert len(startups) == 3 and all(0.5 < s < 5 for s in startups)
    assert m.take_startups(KEY) == ()


def test_kata_pods_start_slower_and_cost_more_memory():
    runc = model_with(capacity(), 2, seconds=30)
    kata = model_with(capacity("kata"), 2, seconds=30)
    assert min(kata.take_startups(KEY)) > max(runc.take_startups(KEY))
    r = sum(v.memory_mib for v in runc.pods())
    k = sum(v.memory_mib for v in kata.pods())
    assert k > r + 2 * 200  # a VM per pod: hundreds of MiB each
    assert all(v.runtime_class == "kata" for v in kata.pods())


def test_meminfo_is_parseable_and_tracks_pod_memory():
    m = SimModel(small_profile(), 0)
    before = parse_meminfo(m.node_meminfo("worker-0"))
    m.apply_deployment(KEY, capacity(), 4)
    m.advance(30)
    after = parse_meminfo(m.node_meminfo("worker-0"))
    assert before.total_kib == after.total_kib
    used = (before.free_kib - after.free_kib) / 1024
    assert 2 * 500 <= used <= 2 * 530  # two 500 MiB pods on this worker
    assert after.available_kib is not None and after.active_kib > before.active_kib
    load = m.node_loadavg("worker-0").split()
    assert len(load) == 5 and float(load[0]) >= 0 and "/" in load[3]
    with pytest.raises(KeyError):
        m.node_meminfo("worker-9")


def test_max_pods_bounds_placement():
    p = small_profile(max_pods=6)  # 2 infrastructure pods per worker: 4 left on each
    m = model_with(capacity(memory_mib=50), 12, profile=p, seconds=30)
    c = m.counts(KEY)
    assert (c.running, c.pending) == (8, 4)
    pending = [v for v in m.pods() if v.node is None]
    assert all("Too many pods" in v.message for v in pending)


def test_kata_is_bounded_by_its_cpu_overhead():
    # 2 CPUs: 1500m allocatable - 200m infrastructure = 1300m, 250m per kata pod: 5 per worker
    p = small_profile(cpus=2, memory_mib=16384)
    m = model_with(capacity("kata", memory_mib=50), 14, profile=p, seconds=60)
    c = m.counts(KEY)
    assert c.running == 10 and c.pending == 4
    assert "Insufficient cpu" in next(v.message for v in m.pods() if v.node is None)
    runc = model_with(capacity(memory_mib=50), 14, profile=p, seconds=60)
    assert runc.counts(KEY).running == 14


def test_no_eviction_without_memory_pressure():
    m = model_with(capacity(), 12, seconds=600)  # 6 x 500 MiB per 8 GiB worker: fits
    c = m.counts(KEY)
    assert (c.running, c.evicted, c.oom_killed, c.failed) == (12, 0, 0, 0)
    truth = m.ground_truth(KEY)
    assert not any(truth["memory_pressure"]) and not any(truth["thrashing"])
    assert min(truth["available_mib"]) > 100


def test_memory_pressure_evicts_and_replaces():
    m = SimModel(small_profile(), 0)
    m.apply_deployment(KEY, capacity(), 0)
    counts = ramp(m, 60, every_s=5)
    assert counts[-1].evicted > 0
    evicted = [v for v in m.pods() if v.reason == "Evicted"]
    assert evicted and all(v.phase == "Failed" and not v.ready for v in evicted)
    for v in evicted:
        got = re.search(r"available: (-?\d+)Ki", v.message or "")
        if got:  # evicted by the eviction manager: only ever below the 100Mi threshold
            assert int(got.group(1)) < 100 * 1024
        else:  # rejected at admission: only on a node under MemoryPressure
            assert "MemoryPressure" in v.message
    # the ReplicaSet replaced every evicted pod: live pods still number the replicas
    live = [v for v in m.pods() if v.phase != "Failed" and v.deleted is None]
    assert len(live) == 60
    # evicted pod objects are kept, and deleting one just removes it
    before = m.object_count()
    assert m.delete_pod(evicted[0].name)
    assert evicted[0].name not in {v.name for v in m.pods()}
    assert m.object_count() == before - 1


def test_eviction_ranks_usage_above_request_first():
    m = SimModel(small_profile(workers=1), 0)
    big, small = "test/big", "test/small"
    # requests below use for "big"; "small" asks for more than it uses
    m.apply_deployment(big, capacity(request_mib=100, memory_mib=900), 0)
    m.apply_deployment(small, capacity(request_mib=800, memory_mib=200), 0)
    for n in range(1, 9):
        m.set_replicas(big, n)
        m.set_replicas(small, n)
        m.advance(10)
    m.advance(120)
    assert m.counts(big).evicted > 0
    assert m.counts(small).evicted == 0


def test_oom_kill_only_above_the_limit():
    fits = SCENARIOS["restricted"]  # 500 MiB in a 512 MiB limit
    m = model_with(fits, 4, seconds=300)
    c = m.counts(KEY)
    assert (c.running, c.oom_killed, c.restarts) == (4, 0, 0)
    over = fits.with_(memory_mib=700)
    m = model_with(over, 2, seconds=60)
    c = m.counts(KEY)
    assert c.oom_killed > 0 and c.restarts > 0 and c.evicted == 0
    v = m.pods()[0]
    assert v.last_terminated_reason == "OOMKilled" and v.last_exit_code == 137


def test_restart_back_off_doubles_to_five_minutes():
    m = model_with(SCENARIOS["restricted"].with_(memory_mib=700), 1)
    kills, last = [], 0
    for _ in range(1500):
        m.advance(1)
        r = m.counts(KEY).restarts
        if r > last:
            kills.append(m.now)
            last = r
    gaps = np.diff(kills)
    # each restart waits twice as long as the one before, up to 300 s
    assert len(gaps) >= 6
    assert gaps[2] > 10 and gaps[3] > 1.7 * gaps[2] - 5
    assert max(gaps) <= 300 + 10 and max(gaps) >= 300 - 10
    states = {v.container_reason for v in m.pods()}
    assert states <= {"CrashLoopBackOff", None}


def test_kata_workload_without_limit_is_bounded_by_the_vm():
    hungry = SCENARIOS["hungry"].with_(runtime="kata", increment_mib=256)
    m = model_with(hungry, 1, profile=small_profile(memory_mib=16384), seconds=120)
    v = m.pods()[0]
    assert v.ready
    vm = m.profile.runtimes["kata"]
    guest = v.memory_mib - vm.host_mib
    assert 1500 < guest <= (vm.vm_memory_mib) * (1 + vm.per_mib_overhead) + 1
    runc = model_with(hungry.with_(runtime="runc"), 1, profile=small_profile(memory_mib=16384),
                      seconds=30)
    assert runc.pods()[0].memory_mib > 3 * guest  # runc has no VM in the way


@pytest.mark.parametrize("shm_full", ["pause", "die"])
def test_dev_shm_bounds_kata_vms(shm_full):
    # 8 GiB workers: /dev/shm holds about 3.9 GiB of guest memory
    p = small_profile(cpus=16)
    p.runtimes["kata"].shm_full = shm_full
    m = model_with(capacity("kata"), 16, profile=p, seconds=300)
    truth = m.ground_truth(KEY)
    shm_cap = m.profile.cluster.shm_fraction * (8192 - m.profile.cluster.kernel_reserved_mib)
    assert max(truth["shm_mib"]) <= shm_cap + 1e-6
    c = m.counts(KEY)
    if shm_full == "die":
        assert c.running < 16 and c.restarts > 0 and truth["vm_deaths"] > 0
        return
    # QEMU stops a VM whose guest page /dev/shm cannot back: it stays Running, frozen with
    # what it holds (below the workload's 512 MiB), and nothing dies
    assert c.restarts == 0 and truth["vm_deaths"] == 0
    paused = np.flatnonzero(m.table.paused[: m.table.n] & m.table.alive[: m.table.n])
    assert len(paused) > 0
    assert all(m.table.cstate[i] == CS_RUNNING for i in paused)
    assert all(m.table.rss[i] < 500 for i in paused)
    held = m.table.guest_peak[paused].copy()
    m.advance(120)
    assert np.array_equal(m.table.guest_peak[paused], held)  # frozen: no growth


def _full_kata_node(**kata) -> SimModel:
    """One 16 GiB worker with CPUs to spare (the kata CPU overhead does not bound it), 40 kata
    capacity pods brought in one every 5 s, then 10 minutes more. The VMs' RAM is private (the
    2021 capacity run's), so the node's memory bounds them, not /dev/shm."""
    p = small_profile(workers=1, memory_mib=16384, cpus=16)
    p.runtimes["kata"].guest_memory = "private"
    for name, value in kata.items():
        setattr(p.runtimes["kata"], name, value)
    m = SimModel(p, 0)
    m.apply_deployment(KEY, capacity("kata"), 0)
    ramp(m, 40, every_s=5)
    m.advance(600)
    return m


def test_kata_vms_on_a_full_node_run_small_and_outnumber_full_size_ones():
    # A VM boots on its idle footprint and grows only as the node gives it memory; on a full
    # node the kernel OOM-kills the largest QEMU and the new VMs stay small, so more VMs run
    # than full-size ones would fit (the reference kata run: 134 running where about 60 fit).
    m = _full_kata_node()
    rt = m.profile.runtimes["kata"]
    full_vm = rt.host_mib + (rt.guest_base_mib + 500) * (
        (1 + rt.per_mib_overhead) * rt.private_guest_ratio)
    pod_room = m.mem_total[0] - m.profile.cluster.system_used_mib - m.infra_used[0]
    c = m.counts(KEY)
    assert c.running > 1.5 * pod_room / full_vm
    assert c.evicted == 0 and m.ground_truth(KEY)["vm_deaths"] > 0
    sizes = [v.memory_mib for v in m.pods() if v.ready]
    assert np.mean(sizes) < full_vm / 1.5 and min(sizes) >= rt.boot_mib


def test_kata_sandbox_set_up_keeps_its_pace_on_a_thrashing_node():
    # With set-up stalling as the node does, new VMs hardly start once memory is full.
    assert _full_kata_node().counts(KEY).running > 1.5 * _full_kata_node(
        setup_min_progress=0.0).counts(KEY).running


def test_delete_pod_is_replaced_and_deployment_deletion_terminates():
    m = model_with(capacity(), 3, seconds=20)
    victim = m.pods()[0].name
    assert m.delete_pod(victim)
    v = next(v for v in m.pods() if v.name == victim)
    assert v.deleted is not None and m.counts(KEY).terminating == 1
    m.advance(10)
    names = {v.name for v in m.pods()}
    assert victim not in names and len(names) == 3
    assert not m.delete_pod("no-such-pod")
    m.delete_deployment(KEY)
    assert m.deployments() == []
    assert all(v.deleted is not None for v in m.pods())
    m.advance(10)
    assert m.pods() == []


def test_scale_down_removes_pods():
    m = model_with(capacity(), 6, seconds=20)
    m.set_replicas(KEY, 2)
    m.advance(10)
    assert m.counts(KEY).running == 2 and len(m.pods()) == 2


def test_unknown_runtime_names_the_known_ones():
    m = SimModel(small_profile(), 0)
    with pytest.raises(KeyError, match="known: kata, runc"):
        m.apply_deployment(KEY, capacity("gvisor"), 1)


def test_default_runtime_is_the_one_the_cluster_profile_names():
    p = small_profile()
    assert p.cluster.default_runtime == "runc"
    assert p.runtime("default") is p.runtime("runc")
    m = model_with(capacity("default"), 2, profile=p, seconds=20)
    assert m.counts(KEY).running == 2
    assert all(v.memory_mib < 520 for v in m.pods())  # runc pods, not VMs
    p = small_profile(default_runtime="kata")
    assert p.runtime("default") is p.runtime("kata")
    with pytest.raises(KeyError, match="'default'"):
        small_profile(default_runtime="crun").runtime("default")


def test_same_seed_same_run_other_seed_other_names():
    def run(seed):
        m = SimModel(small_profile(), seed)
        m.apply_deployment(KEY, capacity(), 0)
        counts = ramp(m, 40, every_s=5)
        return counts, [(v.name, v.uid, v.node, v.phase, v.restarts) for v in m.pods()]

    a, b, c = run(1), run(1), run(2)
    assert a == b
    assert a[1] != c[1]


def test_time_only_moves_forward_in_ticks():
    m = SimModel(small_profile(), 0)
    t0 = m.now
    m.advance(2.5)
    assert m.now == pytest.approx(t0 + 2.5) and m.ticks == 2
    m.advance_to(t0 + 1)  # the past: nothing happens
    assert m.now == pytest.approx(t0 + 2.5) and m.ticks == 2
    m.advance(0.6)
    assert m.ticks == 3


def test_evicted_pods_are_kept_as_failed_objects():
    m = SimModel(small_profile(), 0)
    m.apply_deployment(KEY, capacity(), 0)
    ramp(m, 60, every_s=5)
    p = m.table
    failed = int((p.alive[: p.n] & (p.phase[: p.n] == PH_FAILED)).sum())
    assert failed == m.counts(KEY).evicted - 0  # none deleted yet
    assert m.object_count() == 60 + failed + m.counts(KEY).terminating


def test_150k_pods_get_unique_names():
    # 27^5 suffixes: at 150,000 pods about 785 would clash without retrying (issue 15)
    p = small_profile(workers=1, max_pods=10)
    p.control_plane.controller_pods_per_s = 15_000.0  # 150k pods in ten steps
    m = SimModel(p, 3)
    m.apply_deployment(KEY, capacity(), 150_000)
    m.advance(10)
    t = m.table
    names = t.name[: t.n][t.alive[: t.n]]
    assert len(names) == 150_000
    assert len(set(names)) == 150_000 and set(names) == m.state.names
    uids = t.uid[: t.n][t.alive[: t.n]]
    assert len(set(uids)) == 150_000
    prefix = names[0].rsplit("-", 1)[0]
    assert all(n.startswith(prefix + "-") and len(n) == len(prefix) + 6 for n in names[:1000])


def test_a_name_clash_is_drawn_again():
    from scaler.sim import replicaset

    class Rigged:
        """Draws the same suffix three times, then real random ones."""

        def __init__(self):
            self.calls = 0
            self.real = np.random.default_rng(0)

        def integers(self, high, size):
            self.calls += 1
            if self.calls == 1:
                return np.zeros(size, dtype=np.int64)
            return self.real.integers(high, size=size)

    m = SimModel(small_profile(), 0)
    m.state.names_rng = Rigged()
    m.state.names.add("w-abc-bbbbb")
    got = replicaset.unique_names(m.state, "w-abc-", 3)
    assert len(set(got)) == 3 and "w-abc-bbbbb" not in got
    assert m.state.names_rng.calls >= 2


def _observed_run(skip_quiet: bool, runtime: str, most: int) -> tuple[list, SimModel]:
    from scaler.sim import SimulatedCluster

    m = SimModel(small_profile(), 4, skip_quiet=skip_quiet)
    c = SimulatedCluster(m)
    src = c.node_source()
    src.start()
    c.prepare(capacity(runtime))
    seen = []
    for step in range(1, 61):
        c.scale(min(step, most))  # growing, then steady (saturated or not) for a long while
        c.clock.sleep(5)
        seen.append((c.observe(), src.drain()))
    c.clock.sleep(120)
    seen.append((c.observe(), src.drain(), [v.memory_mib for v in m.pods()]))
    return seen, m


@pytest.mark.parametrize("runtime, most", [("runc", 14), ("kata", 16), ("kata", 5)])
def test_quiet_steps_are_skipped_with_the_very_same_result(runtime, most):
    stepped, _ = _observed_run(False, runtime, most)
    skipped, m = _observed_run(True, runtime, most)
    assert skipped == stepped  # every count, every node sample, to the last bit
    assert m.skipped_ticks > (100 if most < 16 else 0)


def test_an_idle_cluster_jumps_over_a_long_wait():
    # `--interval 99999h --max-replicas 3`: nothing can change once three pods hold 500 MiB
    m = model_with(capacity(), 3, seconds=60)
    before = m.ticks - m.skipped_ticks
    m.advance(99_999 * 3600)
    assert m.ticks == 60 + 99_999 * 3600
    assert m.ticks - m.skipped_ticks - before < 100  # full steps taken
    c = m.counts(KEY)
    assert (c.running, c.evicted, c.oom_killed) == (3, 0, 0)
    m.set_replicas(KEY, 5)  # and it wakes up for what changes
    m.advance(30)
    assert m.counts(KEY).running == 5


def _kata_meminfo(guest_memory: str) -> tuple[dict, dict, SimModel]:
    p = small_profile(workers=1, memory_mib=16384, cpus=16)
    p.runtimes["kata"].guest_memory = guest_memory
    m = SimModel(p, 0)
    before = parse_meminfo(m.node_meminfo("worker-0")).fields
    m.apply_deployment(KEY, capacity("kata"), 4)
    m.advance(120)
    return before, parse_meminfo(m.node_meminfo("worker-0")).fields, m


def test_shared_guest_ram_is_inactive_shmem_and_not_available():
    # /dev/shm pages are shmem: in Cached and Shmem, on the inactive anon list of a node
    # without swap, never in MemAvailable
    before, after, m = _kata_meminfo("shared")
    shm = after["Shmem"] / 1024
    guests = sum(m.ground_truth(KEY)["shm_mib"])
    assert shm == pytest.approx(guests, abs=1) and 4 * 500 < shm < 4 * 800
    assert after["Inactive(anon)"] == after["Shmem"]
    grew = {k: (after[k] - before[k]) / 1024 for k in ("Active", "Cached", "MemAvailable")}
    assert grew["Active"] < 4 * 250  # the VMs' own processes only
    assert grew["Cached"] == pytest.approx(shm, abs=1)
    assert -grew["MemAvailable"] > shm  # what the guests hold is not available


def test_private_guest_ram_is_active_anonymous_memory():
    before, after, _ = _kata_meminfo("private")
    assert after["Shmem"] == 0
    assert (after["Active"] - before["Active"]) / 1024 > 4 * 650  # guests and their processes


def test_dev_shm_bounds_shared_guests_only():
    def run(guest_memory):
        p = small_profile(cpus=16)  # 8 GiB workers: /dev/shm holds about 3.9 GiB
        p.runtimes["kata"].guest_memory = guest_memory
        p.runtimes["kata"].private_guest_ratio = 1.0
        return model_with(capacity("kata"), 16, profile=p, seconds=300)

    shared, private = run("shared"), run("private")
    assert shared.table.paused[: shared.table.n].any()  # stopped when /dev/shm was full
    assert max(shared.ground_truth(KEY)["shm_mib"]) <= shared.state.shm_cap[0] + 1e-6
    assert max(private.ground_truth(KEY)["shm_mib"]) == 0


def test_a_set_up_past_the_cri_timeout_is_given_up_and_tried_again():
    p = small_profile(runtime_slowdown=(1.0, 500.0))  # worker-1's runtime hardly answers
    m = model_with(capacity(), 8, profile=p, seconds=900)
    on_slow = [v for v in m.pods() if v.node == "worker-1"]
    assert on_slow and all(v.container_reason == "ContainerCreating" for v in on_slow)
    assert m.failure_counts(KEY)["sandbox_failures"] >= len(on_slow) * 3
    assert all(v.ready for v in m.pods() if v.node == "worker-0")


def test_pods_stuck_terminating_leave_their_kubelets_blind():
    # an earlier run's pods that never finish terminating: listed, counted against maxPods,
    # and no eviction on their nodes however short of memory
    def run(stuck):
        p = small_profile(stuck_terminating_pods=stuck, stuck_pods_listed=True)
        m = SimModel(p, 0)
        m.apply_deployment(KEY, capacity(), 0)
        ramp(m, 40, every_s=5)
        m.advance(300)
        return m

    blind, seeing = run(6), run(0)
    assert blind.listed("test")["terminating"] == 6 and seeing.listed("test")["terminating"] == 0
    assert blind.counts(KEY).evicted == 0 < seeing.counts(KEY).evicted
    assert min(blind.ground_truth(KEY)["available_mib"]) < 100


def test_failure_counts_follow_the_team_contract():
    m = model_with(capacity(), 3, seconds=30)
    assert set(m.failure_counts(KEY)) == {"evicted_listed", "sandbox_deaths", "failed_create",
                                          "failed_scheduling", "sandbox_failures"}
    p = small_profile(max_pods=3)  # one pod per worker beyond the infrastructure
    m = model_with(capacity(), 5, profile=p, seconds=30)
    assert m.failure_counts(KEY)["failed_scheduling"] == 3


def test_a_set_up_spreads_its_cpu_work_over_the_time_it_takes():
    # A sandbox set-up is a fixed amount of CPU work: all of sandbox_cpus at its nominal pace,
    # a quarter when it takes four times as long, none while it waits out a back-off.
    from scaler.sim import kubelet

    m = model_with(capacity("kata"), 3, profile=small_profile(cpus=16), seconds=1)
    s, p = m.state, m.table
    idx = np.flatnonzero(p.alive[: p.n] & (p.cstate[: p.n] == CS_CREATING))[:3]
    assert len(idx) == 3
    rt = m.profile.runtimes["kata"]
    timeout = m.profile.cluster.runtime_request_timeout_s
    nominal = rt.sandbox_s + rt.container_start_s
    begun = np.array([s.t - 1, s.t - 1, s.t + 30])  # the last one retries in 30 s
    p.deadline[idx] = begun + timeout
    p.next_at[idx] = begun + np.array([nominal, 4 * nominal, nominal])
    cpus = kubelet.setup_cpus(s, idx)
    assert cpus == pytest.approx([rt.sandbox_cpus, rt.sandbox_cpus / 4, 0.0])
