"""The kubelet Summary parser on payloads written from the documented stats/v1alpha1 fields."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.kubelet_summary import (
    NodeCapacity,
    Summary,
    SummaryError,
    node_capacity,
    parse_quantity,
    parse_summary,
    parse_time,
)
from collectors.pod_sample import SOURCE_KUBELET, PodMemory
from collectors.sample import OK, NodeSample
from tests.kubelet_support import (
    MIB,
    PodSpec,
    as_kubelet_json,
    node_object,
    summary,
    workload_pods,
)

FIXTURE = Path(__file__).parent / "data" / "kubelet-summary-worker-0.json"
T0 = datetime(2026, 3, 2, 10, 15, 30, tzinfo=UTC).timestamp()
UID = {k: f"0b8f3c1e-{k}-4a6b-9c1d-5e2f3a4b5c0{k[0]}" for k in ("1111", "2222", "3333", "4444")}
DNS_UID = "5a6b7c8d-5555-4e3f-8a9b-0c1d2e3f4a05"
SAMPLE_FIELDS = {f.name for f in dataclasses.fields(NodeSample)}


@pytest.fixture(scope="module")
def parsed() -> Summary:
    return parse_summary(FIXTURE.read_bytes(), node="worker-0")


def test_node_figures_as_the_kubelet_gave_them(parsed: Summary) -> None:
    n = parsed.node
    assert (n.node, n.time) == ("worker-0", T0)
    assert n.available_mib == 10240.0 and n.working_set_mib == 6144.0
    assert n.usage_mib == 8192.0 and n.rss_mib == 5120.0
    assert (n.page_faults, n.major_page_faults) == (123456789, 5678)
    assert n.cpu_cores == pytest.approx(1.234) and n.cpu_time == T0


def test_node_sample_total_is_available_plus_working_set(parsed: Summary) -> None:
    s = parsed.sample
    assert s.ok and s.status == OK and (s.node, s.time) == ("worker-0", T0)
    # availableBytes = capacity - workingSetBytes (kubelet helper.go): 10 GiB + 6 GiB
    assert s.mem_total_mib == 16384.0
    assert s.mem_available_mib == 10240.0
    # figures the Summary does not have stay empty, never guessed
    assert s.mem_free_mib is None and s.mem_active_mib is None and s.load1 is None


def test_cpu_busy_needs_the_node_cpu_count() -> None:
    if not {"cpus", "cpu_busy_pct"} <= SAMPLE_FIELDS:
        pytest.skip("NodeSample has no CPU fields yet (team contract 4)")
    without = dataclasses.asdict(parse_summary(FIXTURE.read_text(), node="worker-0").sample)
    assert without["cpus"] is None and without["cpu_busy_pct"] is None
    with_cap = dataclasses.asdict(parse_summary(
        FIXTURE.read_text(), capacity=NodeCapacity(cpus=8, memory_mib=16384)).sample)
    assert with_cap["cpus"] == 8
    assert with_cap["cpu_busy_pct"] == pytest.approx(100 * 1.234 / 8)
    # the rest of /proc/stat's breakdown is not in the Summary
    assert all(with_cap.get(k) is None for k in ("cpu_user_pct", "cpu_system_pct",
                                                  "cpu_iowait_pct", "cpu_steal_pct"))


def test_capacity_gives_total_and_available_when_the_summary_has_no_available_bytes() -> None:
    doc = json.loads(FIXTURE.read_text())
    del doc["node"]["memory"]["availableBytes"]
    s = parse_summary(doc, capacity=NodeCapacity(cpus=8, memory_mib=16000.0)).sample
    assert s.mem_total_mib == 16000.0 and s.mem_available_mib == 16000.0 - 6144.0
    s = parse_summary(doc).sample
    assert s.mem_total_mib is None and s.mem_available_mib is None


def test_runc_pod_record(parsed: Summary) -> None:
    pods = {p.uid: p for p in parsed.pods}
    assert len(pods) == 5 and parsed.skipped == 0
    p = pods[UID["1111"]]
    assert isinstance(p, PodMemory) and p.source == SOURCE_KUBELET
    assert (p.node, p.namespace, p.pod) == ("worker-0", "scaler", "scaler-workload-7d9f8b6c5-x2k4q")
    assert p.time == T0 - 2  # the pod's own stats time, not the node's
    assert p.cgroup_mib == 540.0 and p.working_set_mib == 520.0
    assert p.rss_mib == pytest.approx(501.0)
    assert p.workload_mib == 510.0  # the container's working set, without the sandbox
    assert p.cpu_cores == pytest.approx(0.0502)
    # what the kubelet cannot tell
    assert p.anon_mib is p.file_mib is p.shmem_mib is p.kernel_mib is None
    assert p.runtime_mib is p.overhead_cgroup_mib is p.guest_backing_mib is None


def test_kata_pod_with_vm_in_pod_cgroup_but_no_container_memory(parsed: Summary) -> None:
    p = next(p for p in parsed.pods if p.uid == UID["2222"])
    # the pod cgroup holds the VM (sandbox_cgroup_only=true); the container inside the guest has
    # only the kubelet's placeholder {time, workingSetBytes: 0}: nothing, so None, not 0
    assert p.cgroup_mib == 964.0 and p.working_set_mib == 950.0
    assert p.workload_mib is None
    assert UID["2222"] not in parsed.blind


def test_kata_pod_with_missing_memory_is_none_and_blind(parsed: Summary) -> None:
    p = next(p for p in parsed.pods if p.uid == UID["3333"])
    assert p.cgroup_mib is p.working_set_mib is p.rss_mib is p.workload_mib is p.cpu_cores is None
    assert p.time == T0  # no stats time of its own: the node's
    assert UID["3333"] in parsed.blind


def test_kata_pod_with_zero_memory_keeps_the_kubelets_zeros_and_is_blind(parsed: Summary) -> None:
    p = next(p for p in parsed.pods if p.uid == UID["4444"])
    assert (p.cgroup_mib, p.working_set_mib, p.rss_mib, p.workload_mib) == (0.0, 0.0, 0.0, 0.0)
    assert p.cpu_cores == 0.0
    assert parsed.blind == (UID["3333"], UID["4444"])


def test_pod_with_two_containers_sums_their_working_sets(parsed: Summary) -> None:
    p = next(p for p in parsed.pods if p.uid == DNS_UID)
    assert p.namespace == "openshift-dns" and p.workload_mib == 48.0
    assert p.working_set_mib == 49.0


@pytest.mark.parametrize("payload, message", [
    (b"", "not JSON"),
    (b'{"node": {"nodeName": "worker-0", "memory": {"time": "2026-03-0', "not JSON"),
    (b"\xff\xfe{}", "not JSON"),
    (b"[]", "a JSON list, not a Summary"),
    (b'{"pods": []}', "no 'node' object"),
    (b'{"node": [], "pods": []}', "no 'node' object"),
    (b'{"node": {"nodeName": "worker-0"}, "pods": []}', "no stats time"),
    (b'{"node": {"nodeName": "worker-0", "memory": {"time": null}}}', "no stats time"),
    (b'{"node": {"nodeName": "worker-0", "memory": {"time": "yesterday"}}}', "no stats time"),
    (b'{"node": {"nodeName": "worker-9", "cpu": {"time": "2026-03-02T10:15:30Z"}}}',
     "asked for node 'worker-0' but the summary is of 'worker-9'"),
])
def test_malformed_payloads_are_one_clear_error(payload: bytes, message: str) -> None:
    with pytest.raises(SummaryError) as e:
        parse_summary(payload, node="worker-0")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_no_node_name_anywhere_is_refused() -> None:
    with pytest.raises(SummaryError, match="names no node"):
        parse_summary({"node": {"cpu": {"time": "2026-03-02T10:15:30Z"}}})


def test_damaged_pods_and_values_are_skipped_not_fatal() -> None:
    doc: dict[str, Any] = {
        "node": {"cpu": {"time": "2026-03-02T10:15:30Z", "usageNanoCores": "lots"},
                 "memory": {"time": "2026-03-02T10:15:30Z", "availableBytes": -5,
                            "workingSetBytes": True, "usageBytes": 1.5e9}},
        "pods": [
            "not a pod", {"podRef": {"name": "no-uid", "namespace": "x"}}, {"containers": []},
            {"podRef": {"uid": "u-1", "name": "", "namespace": 7},
             "memory": {"time": "2026-03-02T10:15:29.5+01:00", "usageBytes": "12",
                        "workingSetBytes": 1048576}, "containers": "nope"},
        ],
    }
    s = parse_summary(doc, node="worker-0")  # a payload without nodeName takes the asked name
    assert s.node.node == "worker-0" and s.node.cpu_cores is None
    assert s.node.available_mib is None and s.node.working_set_mib is None
    assert s.node.usage_mib == pytest.approx(1.5e9 / MIB)
    assert s.skipped == 3 and len(s.pods) == 1
    p = s.pods[0]
    assert (p.uid, p.pod, p.namespace) == ("u-1", None, None)
    assert p.cgroup_mib is None and p.working_set_mib == 1.0 and p.workload_mib is None
    assert p.time == T0 - 3600 - 0.5


def test_pods_field_missing_or_wrong_gives_no_pods() -> None:
    base = {"node": {"nodeName": "n", "memory": {"time": "2026-03-02T10:15:30Z"}}}
    assert parse_summary(base).pods == ()
    assert parse_summary({**base, "pods": {"a": 1}}).pods == ()


def test_generated_payload_at_250_pods() -> None:
    pods = workload_pods(250, kata_every=5) + [PodSpec("k-missing", kind="kata-missing"),
                                               PodSpec("k-zero", kind="kata-zero")]
    body = as_kubelet_json(summary("worker-3", T0, pods, full=False))
    s = parse_summary(body, node="worker-3", capacity=node_capacity(node_object("worker-3")))
    assert len(s.pods) == 252 and {p.uid for p in s.pods} == {p.uid for p in pods}
    assert s.sample.mem_total_mib == 16384.0
    kata = {p.uid for p in pods if p.kind == "kata"}
    assert len(kata) == 50
    for rec in s.pods:
        spec = next(p for p in pods if p.uid == rec.uid)
        if spec.kind == "runc":
            assert rec.workload_mib == pytest.approx(spec.workload_mib, abs=1e-5)
            assert rec.working_set_mib == pytest.approx(spec.workload_mib + spec.overhead_mib,
                                                        abs=1e-5)
        elif spec.kind == "kata":
            assert rec.workload_mib is None and rec.working_set_mib is not None
        assert rec.time == T0 - spec.lag_s
    assert set(s.blind) == {pods[-2].uid, pods[-1].uid}
    # the full form parses to the same records
    full = parse_summary(as_kubelet_json(summary("worker-3", T0, pods, full=True)),
                         node="worker-3", capacity=node_capacity(node_object("worker-3")))
    assert full.pods == s.pods and full.sample == s.sample


@pytest.mark.parametrize("text, expected", [
    ("2026-03-02T10:15:30Z", T0),
    ("2026-03-02T10:15:30.250Z", T0 + 0.25),
    ("2026-03-02T10:15:30.123456789Z", T0 + 0.123456789),
    ("2026-03-02T11:15:30+01:00", T0),
    ("2026-03-02t10:15:30z", T0),
    (None, None), ("", None), ("2026-03-02", None), ("2026-13-02T10:15:30Z", None), (1.5, None),
])
def test_parse_time(text: object, expected: float | None) -> None:
    got = parse_time(text)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("text, expected", [
    ("8", 8.0), ("7500m", 7.5), ("16393316Ki", 16393316 * 1024.0), ("16Gi", 16 * 2.0**30),
    ("1e3", 1000.0), ("1.5G", 1.5e9), (4, 4.0), ("abc", None), ("8 cores", None), (True, None),
    (None, None),
])
def test_parse_quantity(text: object, expected: float | None) -> None:
    assert parse_quantity(text) == expected


def test_node_capacity_from_a_node_object() -> None:
    cap = node_capacity(node_object("w", cpus=8, memory_kib=16393316))
    assert cap == NodeCapacity(cpus=8.0, memory_mib=16393316 / 1024)
    assert node_capacity({}) == NodeCapacity()
    assert node_capacity({"status": {"capacity": {"cpu": "0", "memory": "x"}}}) == NodeCapacity()
