"""Simulator profiles: defaults, override files, and one-line errors for bad files."""

from __future__ import annotations

import json

import pytest

from scaler.sim import ProfileError, SimModel, load_profile


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_are_the_reference_cluster():
    p = load_profile(None)
    assert (p.cluster.workers, p.cluster.worker_cpus, p.cluster.worker_memory_mib) == (5, 8, 16384)
    assert p.cluster.max_pods == 250
    assert p.cluster.eviction_threshold_mib == 100
    assert set(p.runtimes) == {"runc", "kata"}
    assert p.runtimes["kata"].overhead_mib == 350 and p.runtimes["kata"].overhead_cpu_m == 250
    assert p.runtimes["kata"].vm and not p.runtimes["runc"].vm
    d = p.to_dict()
    assert json.loads(json.dumps(d))["runtimes"]["kata"]["vm_memory_mib"] == 2048


def test_override_file_changes_the_model(tmp_path):
    path = write(tmp_path, "p.json", json.dumps({
        "cluster": {"workers": 3, "worker_memory_mib": 8192, "max_pods": 110},
        "runtimes": {"kata-qemu": {"like": "kata", "overhead_mib": 160}},
        "control_plane": {"request_s": 0.5},
    }))
    p = load_profile(path)
    assert p.cluster.workers == 3 and p.cluster.max_pods == 110
    assert p.runtimes["kata-qemu"].overhead_mib == 160
    assert p.runtimes["kata-qemu"].vm and p.runtimes["kata-qemu"].handler == "kata-qemu"
    assert p.runtimes["kata"].overhead_mib == 350  # the base it was copied from is untouched
    assert p.control_plane.request_s == 0.5
    nodes = SimModel(p).nodes()
    assert [n.name for n in nodes] == ["worker-0", "worker-1", "worker-2"]
    assert nodes[0].max_pods == 110


def test_explicit_arguments_win_over_the_file(tmp_path):
    path = write(tmp_path, "p.json", json.dumps({"cluster": {"workers": 3}}))
    p = load_profile(path, workers=7, worker_cpus=4, worker_memory_mib=32768)
    assert (p.cluster.workers, p.cluster.worker_cpus, p.cluster.worker_memory_mib) == (7, 4, 32768)


def test_yaml_profile(tmp_path):
    path = write(tmp_path, "p.yaml", "cluster:\n  workers: 2\nruntimes:\n  runc:\n    host_mib: 9\n")
    p = load_profile(path)
    assert p.cluster.workers == 2 and p.runtimes["runc"].host_mib == 9.0


@pytest.mark.parametrize("text, words", [
    ('{"cluster": {"wokers": 3}}', "unknown key 'wokers'"),
    ('{"clusters": {}}', "unknown key 'clusters'"),
    ('{"cluster": {"workers": "five"}}', "expected int"),
    ('{"cluster": {"workers": 2.5}}', "expected int"),
    ('{"cluster": {"workers": 0}}', "must be positive"),
    ('{"runtimes": {"x": {"like": "nope"}}}', "like 'nope'"),
    ('{"runtimes": {"runc": {"vm": 1}}}', "expected bool"),
    ('{"cluster": {"infra_used_mib": []}}', "expected tuple"),
    ('{"runtimes": {"kata": {"setup_min_progress": 1.5}}}', "setup_min_progress must be in"),
    ('{"runtimes": {"kata": {"shm_full": "crash"}}}', "runtimes.kata.shm_full must be one of"),
    ('{"cluster": {"default_runtime": "crun"}}', "default_runtime 'crun' is not a declared"),
    ('[1, 2]', "top level must be a mapping"),
    ('{"cluster": ', "does not parse"),
])
def test_bad_profile_is_one_line_error(tmp_path, text, words):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_profile(tmp_path):
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(str(tmp_path / "missing.json"))
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(str(tmp_path))  # a directory


def test_example_profile_shipped_with_the_package_loads_and_runs():
    from pathlib import Path

    import scaler.sim
    from scaler.workload_spec import SCENARIOS

    path = Path(scaler.sim.__file__).with_name("example-profile.json")
    p = load_profile(str(path))
    assert p.runtimes["kata-qemu"].overhead_mib == 160 and p.runtimes["kata-qemu"].vm
    assert p.runtimes["kata-modern"].pod_stats and p.runtimes["kata-modern"].host_mib == 120
    m = SimModel(p, 0)
    m.apply_deployment("t/w", SCENARIOS["capacity"].with_(runtime="kata-qemu"), 3)
    m.advance(30)
    assert m.counts("t/w").running == 3
