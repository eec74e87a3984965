"""The Kubernetes and kernel rules the simulator follows, one by one."""

from __future__ import annotations

import numpy as np

from scaler.sim import SimModel, policy
from scaler.sim.memory import water_fill as _water_fill
from tests.sim_support import KEY, capacity, small_profile


def test_eviction_order_usage_above_request_first_then_priority_then_excess():
    usage = [300, 900, 100, 600]
    request = [0, 1000, 0, 100]
    # above request: pods 0 (300 over), 2 (100 over), 3 (500 over); pod 1 is within its request
    assert list(policy.eviction_order(usage, request)) == [3, 0, 2, 1]
    # a higher priority pod goes after lower priority ones, whatever its usage
    assert list(policy.eviction_order(usage, request, priority=[0, 0, 0, 10])) == [0, 2, 3, 1]


def test_oom_victim_prefers_best_effort_then_size():
    usage = np.array([900.0, 400.0, 1500.0])
    adj = np.array([-997.0, 1000.0, 500.0])
    assert policy.oom_victim(usage, adj, 16000.0) == 1
    assert policy.oom_victim(np.array([100.0, 400.0]), np.array([1000.0, 1000.0]), 16000.0) == 1


def test_oom_score_adj_by_qos():
    assert policy.oom_score_adj("BestEffort", 0, 16000) == 1000
    assert policy.oom_score_adj("Guaranteed", 512, 16000) == -997
    assert policy.oom_score_adj("Burstable", 1600, 16000) == 900
    assert policy.oom_score_adj("Burstable", 16000, 16000) == 2


def test_qos_class():
    assert policy.qos_class(None, None, None, None) == "BestEffort"
    assert policy.qos_class(256, 512, None, None) == "Burstable"
    assert policy.qos_class(None, 512, None, 100) == "Guaranteed"  # requests default to limits


def test_back_off_doubles_to_five_minutes_and_resets():
    delay, nxt = policy.next_backoff(0.0, 5.0)
    assert (delay, nxt) == (0.0, 10.0)  # first crash: restart at once
    delays = []
    for _ in range(8):
        delay, nxt = policy.next_backoff(nxt, 5.0)
        delays.append(delay)
    assert delays[:6] == [10, 20, 40, 80, 160, 300] and delays[-1] == 300
    assert policy.next_backoff(300.0, 601.0) == (0.0, 10.0)  # ran 10 minutes: start over


def test_least_allocated_prefers_the_emptier_node():
    scores = policy.least_allocated_scores(np.array([1000.0, 3000.0]), np.array([2000.0, 2000.0]),
                                           np.array([7500.0, 7500.0]),
                                           np.array([14000.0, 14000.0]), 100.0, 200.0)
    assert scores[0] > scores[1]
    fits = policy.feasible_nodes(np.array([100.0, 5000.0]), np.array([5000.0, 5000.0]),
                                 np.array([10, 10]), 250, np.array([False, True]), 250.0, 350.0)
    assert not fits.any()  # one lacks CPU, the other is tainted


def test_water_fill_serves_small_requests_fully_and_shares_the_rest_equally():
    nodes = np.array([0, 0, 0, 1])
    wants = np.array([10.0, 400.0, 300.0, 50.0])
    headroom = np.array([310.0, 1000.0])
    need = np.array([710.0, 50.0])
    got = _water_fill(nodes, wants, headroom, need)
    assert got[0] == 10 and got[1] == got[2] == 150 and got[3] == 50
    assert got[:3].sum() == 310


def _water_fill_one_node_at_a_time(nodes, wants, headroom, need):
    """The rule spelt out for one node at a time, to check the grouped version against."""
    grants = wants.copy()
    for node in np.flatnonzero(need > np.maximum(headroom, 0.0) + 1e-9):
        mine = np.flatnonzero(nodes == node)
        room = max(0.0, float(headroom[node]))
        w = np.sort(wants[mine])
        level = w[-1] if len(w) else 0.0
        for j in range(len(w)):
            rest = (room - w[:j].sum()) / (len(w) - j)
            if rest <= w[j]:
                level = rest
                break
        grants[mine] = np.minimum(wants[mine], max(level, 0.0))
    return grants


def test_water_fill_grouped_by_node_matches_the_rule_node_by_node():
    rng = np.random.default_rng(5)
    for _ in range(200):
        w = int(rng.integers(1, 6))
        n = int(rng.integers(0, 40))
        nodes = rng.integers(w, size=n)
        wants = np.round(rng.exponential(100.0, n) * (rng.random(n) > 0.2), 1)
        need = np.bincount(nodes, wants, minlength=w)
        headroom = need * rng.uniform(-0.2, 1.3, w)
        want = _water_fill_one_node_at_a_time(nodes, wants, headroom, need)
        for rounds in (0, 1, 6):  # settled by sorting, part by rounds, by rounds alone
            got = _water_fill(nodes, wants, headroom, need, rounds=rounds)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        short = need > np.maximum(headroom, 0) + 1e-9
        served = np.bincount(nodes, got, minlength=w)
        # a short node gives out exactly what it has, never more
        np.testing.assert_allclose(served[short], np.maximum(headroom[short], 0), atol=1e-6)


def test_best_effort_pod_on_a_memory_pressure_node_is_rejected():
    m = SimModel(small_profile(workers=1), 0)
    m.kubelet_pressure[0] = True
    m.tainted[0] = False  # the scheduler has not seen the taint yet
    m.apply_deployment(KEY, capacity(), 1)
    m.advance(1)
    v = m.pods()[0]
    assert v.phase == "Failed" and v.reason == "Evicted" and "MemoryPressure" in v.message
    assert m.counts(KEY).evicted == 1
    # a Burstable pod (it asks for memory) is admitted
    m.apply_deployment("test/burstable", capacity(request_mib=100), 1)
    m.advance(1)
    assert [v.phase for v in m.pods("test/burstable")] == ["Pending"]
    assert m.pods("test/burstable")[0].container_reason == "ContainerCreating"


def test_rejections_go_at_the_kubelets_api_rate():
    p = small_profile(workers=1)
    m = SimModel(p, 0)
    m.kubelet_pressure[0] = True
    m.last_signal[0] = m.now  # keep the condition for the transition period
    m.next_evict_check[0] = m.now + 1e9  # and keep the manager from clearing it
    m.next_status[0] = m.now + 1e9  # the scheduler never sees the taint: a rejection storm
    m.apply_deployment(KEY, capacity(), 100)
    m.advance(20)
    rejected = m.ground_truth(KEY)["rejected"]
    assert rejected <= p.cluster.kubelet_api_burst + 20 * p.cluster.kubelet_api_qps + 1
    assert rejected >= 20 * p.cluster.kubelet_api_qps - 5


def test_no_eviction_where_the_kubelet_gets_no_pod_stats():
    """A runtime whose pod stats the kubelet cannot get leaves the eviction manager blind."""
    def run(pod_stats: bool):
        p = small_profile()
        p.runtimes["kata"].pod_stats = pod_stats
        p.cluster.shm_fraction = 1.0  # let node memory, not /dev/shm, be the limit
        m = SimModel(p, 0)
        m.apply_deployment(KEY, capacity("kata"), 0)
        for n in range(1, 25):
            m.set_replicas(KEY, n)
            m.advance(10)
        m.advance(300)
        return m.counts(KEY).evicted, m.ground_truth(KEY)

    evicted, truth = run(True)
    assert evicted > 0
    evicted, truth = run(False)
    assert evicted == 0
    assert min(truth["available_mib"]) < 100  # the memory was short all the same
