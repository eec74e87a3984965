"""The kubelet stats source against a real HTTP server on loopback serving Summaries per node.

Nothing here waits for a fixed time: every test waits for a state (with a generous deadline),
so a loaded machine is slower but not wrong.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from collectors import kubelet_http
from collectors.kubelet_http import probe
from collectors.kubelet_source import KubeletSource
from collectors.pod_sample import SOURCE_KUBELET, PodSource
from tests.kubelet_support import (
    GAP,
    Collected,
    FakeApi,
    FakeNode,
    PodSpec,
    assert_gap,
    wait_until,
    workload_pods,
)


def test_nodes_polled_concurrently_a_failing_node_gives_gaps_then_recovers() -> None:
    pods0 = workload_pods(6, kata_every=3) + [PodSpec("dns-default-abcde", "openshift-dns")]
    nodes = [FakeNode("worker-0", pods0), FakeNode("worker-1", workload_pods(4), fail=2)]
    with FakeApi(nodes) as api:
        src = KubeletSource(api.url, ["worker-0", "worker-1"], interval_s=0.1)
        assert isinstance(src, PodSource)
        got = Collected(src)
        with src:
            # the newest record of the failing node is data again: its stats after recovery
            # come out newer than its gaps
            wait_until(lambda: got.pull() and src.latest().get("worker-1", GAP).ok
                       and sum(s.ok for s in got.of("worker-0")) >= 2, "worker-1 to recover")
            got.pull()
            latest = src.latest()
            stats = src.stats()
            totals = src.totals()
        w1 = got.of("worker-1")
        first_ok = next(i for i, s in enumerate(w1) if s.ok)
        assert first_ok == 2  # one gap per failed request, then data again
        for s in w1[:2]:
            assert_gap(s)
        assert all(s.ok for s in w1[first_ok:])
        assert all(s.ok for s in got.of("worker-0"))
        for node in ("worker-0", "worker-1"):
            times = [s.time for s in got.of(node) if s.ok]
            assert times == sorted(times) and len(set(times)) == len(times)  # each recorded once
        ok = got.of("worker-0")[0]
        assert ok.mem_total_mib == 16384.0 and ok.mem_available_mib is not None
        assert getattr(ok, "cpus", 8) == 8  # read from the Node object, where NodeSample has it
        assert latest["worker-1"].ok and latest["worker-0"].ok
        assert stats["worker-1"].errors == 2 and "HTTP 503" in (stats["worker-1"].last_error or "")
        assert "connection refused" in (stats["worker-1"].last_error or "")
        assert stats["worker-0"].errors == 0 and stats["worker-0"].bytes > 0
        assert stats["worker-0"].latency_p99_ms is not None
        assert totals["requests"] == stats["worker-0"].requests + stats["worker-1"].requests
        # one request at a time per node, GET only, CPU-and-memory form, Node objects read once
        for n in nodes:
            assert n.max_inflight == 1
        assert api.count(lambda r: r[0] != "GET") == 0
        summaries = api.count(lambda r: r[1].endswith("/proxy/stats/summary"))
        assert summaries == api.count(lambda r: r[1].endswith("/proxy/stats/summary")
                                      and r[2] == "only_cpu_and_memory=true")
        assert api.count(lambda r: r[1] == "/api/v1/nodes/worker-0") == 1
    # pods: every pod of both nodes, from the kubelet, each (uid, time) once
    assert {p.uid for p in got.pods} == {p.uid for p in pods0 + nodes[1].pods}
    assert all(p.source == SOURCE_KUBELET for p in got.pods)
    assert len({(p.uid, p.time) for p in got.pods}) == len(got.pods)
    dns = next(p for p in got.pods if p.namespace == "openshift-dns")
    assert dns.node == "worker-0" and dns.pod == "dns-default-abcde"


def test_large_summaries_arrive_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    pods = workload_pods(250, kata_every=5)  # about 230 kB: many reads of the stream
    with FakeApi([FakeNode("worker-0", pods)]) as api:
        src = KubeletSource(api.url, ["worker-0"], interval_s=0.1)
        got = Collected(src)
        with src:
            wait_until(lambda: got.pull().samples, "a sample")
            got.pull()
            st = src.stats()["worker-0"]
        assert got.samples[0].ok and st.errors == 0 and st.bytes > 200_000
        assert {p.uid for p in got.pods} == {p.uid for p in pods}
        # an answer over the size limit is refused, not read on and on
        monkeypatch.setattr(kubelet_http, "MAX_BODY_BYTES", 100_000)
        src = KubeletSource(api.url, ["worker-0"], interval_s=0.1)
        with src:
            wait_until(lambda: src.stats()["worker-0"].errors, "a refused answer")
        assert src.stats()["worker-0"].last_error == "answer larger than 100,000 bytes"


def test_unchanged_stats_are_recorded_once() -> None:
    node = FakeNode("worker-0", workload_pods(5), advance=False)  # a kubelet between refreshes
    with FakeApi([node]) as api:
        src = KubeletSource(api.url, ["worker-0"], interval_s=0.05)
        with src:
            wait_until(lambda: src.stats()["worker-0"].answers >= 4, "four answers")
            st = src.stats()["worker-0"]
            samples, pods = src.drain(), src.drain_pods()
    assert len(samples) == 1 and samples[0].ok
    assert st.repeats == st.answers - 1
    assert len(pods) == 5


def test_namespaces_limit_pod_records_not_node_figures() -> None:
    pods = workload_pods(3) + [PodSpec("dns-default-abcde", "openshift-dns"),
                               PodSpec("etcd-0", "openshift-etcd")]
    with FakeApi([FakeNode("worker-0", pods)]) as api:
        src = KubeletSource(api.url, ["worker-0"], interval_s=0.05, namespaces={"scaler"})
        got = Collected(src)
        with src:
            wait_until(lambda: got.pull().pods and got.samples, "a sample and pods")
    assert {p.namespace for p in got.pods} == {"scaler"} and len(got.pods) == 3
    # the node's figures still count every pod on it
    assert got.samples[0].mem_available_mib == pytest.approx(16384.0 - 2048.0 - sum(
        p.workload_mib + p.overhead_mib for p in pods), abs=0.01)


def test_a_hanging_node_times_out_into_gaps_and_stop_is_prompt() -> None:
    hung = FakeNode("worker-1", workload_pods(2), hang=True)
    with FakeApi([FakeNode("worker-0", workload_pods(2)), hung]) as api:
        src = KubeletSource(api.url, ["worker-0", "worker-1"], interval_s=0.1, timeout_s=0.3)
        got = Collected(src)
        src.start()
        try:
            wait_until(lambda: any(not s.ok for s in got.pull().of("worker-1")),
                       "a gap for the hanging node")
            wait_until(lambda: hung.inflight == 1, "a request in flight again")
        finally:
            t0 = time.monotonic()
            src.stop()
            took = time.monotonic() - t0
        assert src._thread is not None and not src._thread.is_alive()
        assert took < 5.0, f"stop took {took:.2f} s with a request in flight"
        st = src.stats()["worker-1"]
        assert st.last_error == "no answer within 0.3 s"
        assert st.late >= 1 and hung.max_inflight == 1  # never a second request on top
        assert all(s.ok for s in got.of("worker-0"))
        for s in got.of("worker-1"):
            assert_gap(s)
        assert src.stats()["worker-0"].errors == 0


def test_not_a_summary_and_forbidden_are_gaps_with_a_reason() -> None:
    nodes = [FakeNode("worker-0", [], raw=b"<html>login</html>"),
             FakeNode("worker-1", [], forbid=True)]
    with FakeApi(nodes) as api:
        src = KubeletSource(api.url, ["worker-0", "worker-1"], interval_s=0.05)
        got = Collected(src)
        with src:
            wait_until(lambda: len(got.pull().of("worker-0")) >= 2
                       and len(got.of("worker-1")) >= 2, "two gaps each")
            stats = src.stats()
    for s in got.samples:
        assert_gap(s)
    assert stats["worker-0"].last_error is not None
    assert stats["worker-0"].last_error.startswith("not a kubelet Summary: not JSON")
    assert "needs get on nodes/proxy" in (stats["worker-1"].last_error or "")
    assert 'cannot get resource "nodes/proxy"' in (stats["worker-1"].last_error or "")


def test_pod_records_nobody_drains_are_bounded() -> None:
    with FakeApi([FakeNode("worker-0", workload_pods(30))]) as api:
        src = KubeletSource(api.url, ["worker-0"], interval_s=0.05, max_pending_pods=10)
        with src:
            wait_until(lambda: src.stats()["worker-0"].answers >= 2, "two answers")
            pods = src.drain_pods()
            dropped = src.totals()["pods_dropped"]
    assert len(pods) == 10 and isinstance(dropped, int) and dropped >= 20


def test_probe_says_why_a_node_cannot_be_read() -> None:
    nodes = [FakeNode("worker-0", workload_pods(2)), FakeNode("worker-1", [], fail=1),
             FakeNode("worker-2", [], forbid=True)]
    with FakeApi(nodes) as api:
        assert probe(api.url, "worker-0") is None
        assert (probe(api.url, "worker-1") or "").startswith("HTTP 503: error trying to reach")
        assert "needs get on nodes/proxy" in (probe(api.url, "worker-2") or "")
        assert (probe(api.url, "worker-9") or "").startswith("HTTP 404: nodes not found")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert "cannot connect to 127.0.0.1" in (probe(f"http://127.0.0.1:{port}", "worker-0") or "")


@pytest.mark.parametrize("args, kwargs, message", [
    (("ftp://x", ["a"]), {}, r"not an http\(s\) URL"),
    (("127.0.0.1:8001", ["a"]), {}, r"not an http\(s\) URL"),
    (("http://127.0.0.1:8001", ["a", "a"]), {}, "unique"),
    (("http://127.0.0.1:8001", ["a"]), {"interval_s": 0}, "interval"),
    (("http://127.0.0.1:8001", ["a"]), {"timeout_s": -1}, "timeout"),
])
def test_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], message: str
                       ) -> None:
    with pytest.raises(ValueError, match=message):
        KubeletSource(*args, **kwargs)


def test_stop_before_start_and_twice_is_harmless() -> None:
    src = KubeletSource("http://127.0.0.1:1", ["a"])
    src.stop()
    assert src.drain() == [] and src.drain_pods() == [] and src.latest() == {}
    assert src.stale_after_s == 45.0  # three of the kubelet's 15 s stats periods
