"""Measured vs declared pod overhead (issue 14.4): viz.overhead's one definition, used by the
engine for the summary and the status line and by viz on run.pods.csv, with the same result."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from scaler.metadata import declared_overhead_mib
from scaler.report import overhead_lines
from scaler.sim.profile import kata_profile
from tests.run_support import scaler_run
from viz.overhead import (
    PodOverheads,
    covering,
    host_mib,
    overhead_stats,
    pod_overhead,
)


def test_host_memory_and_overhead_of_a_pod():
    assert host_mib(700.0, None) == 700.0
    assert host_mib(120.0, 580.0) == 700.0  # kata with the VMM in its overhead cgroup
    assert pod_overhead(700.0, None, 200.0) == 500.0
    assert pod_overhead(700.0, None, None) is None and pod_overhead(None, 5.0, 1.0) is None


def test_each_pod_counts_once_with_its_last_measurement_while_running():
    o = PodOverheads()
    o.add("a", "creating", 900.0, None, 10.0)  # starting: not its steady cost
    o.add("a", "running", 700.0, None, 200.0)
    o.add("a", "running", 720.0, None, 200.0)  # the last one while running wins
    o.add("a", "failed", 50.0, None, 0.0)  # OOM-killed: ignored
    o.add("b", "running", 600.0, None, 100.0)
    o.add("c", "running", 800.0, None, 100.0)
    assert sorted(o.values()) == [500.0, 520.0, 700.0]
    s = o.stats()
    assert (s.pods, s.median_mib, s.max_mib) == (3, 520.0, 700.0)
    assert s.p90_mib == pytest.approx(np.percentile([500, 520, 700], 90))
    assert s.exceeds(350.0) is True and s.exceeds(600.0) is False
    assert s.exceeds(None) is None  # nothing declared: no verdict
    assert overhead_stats([]) is None and covering([]) is None
    assert covering([100.0, 200.0, 300.0], 50) == 200.0


def test_declared_overhead_as_drivers_and_the_simulator_record_it():
    assert declared_overhead_mib({"overhead": {"memory": "350Mi", "cpu": "250m"}}) == 350.0
    assert declared_overhead_mib({"overhead": {"memory_mib": 160, "cpu_millis": 250}}) == 160.0
    assert declared_overhead_mib({"overhead": {"cpu": "250m"}}) is None
    assert declared_overhead_mib(None) is None


def _num(row: dict[str, str], key: str) -> float | None:
    return float(row[key]) if row[key] else None


def _file_stats(path):
    o = PodOverheads()
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["source"]:
                o.add(r["uid"], r["class"], _num(r, "cgroup_mib"),
                      _num(r, "overhead_cgroup_mib"), _num(r, "workload_mib"))
    return o.stats()


def test_kata_overhead_against_the_declared_one(tmp_path):
    run = scaler_run(tmp_path, "--runtime", "kata", "--max-replicas", "20")
    assert run.exit_code == 0, run.stderr
    o = run.meta["summary"]["overhead"]
    host = kata_profile().host_mib  # QEMU, virtiofsd, shim
    # The simulator's kata pod: its processes plus guest memory beyond the workload's, against
    # the 350 MiB podFixed of the shipped RuntimeClass, in a 2048 MiB VM.
    assert o["runtime"] == "kata" and o["declared_mib"] == 350.0 and o["vm_memory_mib"] == 2048
    assert o["median_mib"] > host and o["exceeds_declared"] is (o["median_mib"] > 350)
    assert run.meta["vm_memory_mib"] == 2048
    # viz computes the same from the file.
    s = _file_stats(tmp_path / "run.pods.csv")
    assert (s.pods, round(s.median_mib, 1), round(s.max_mib, 1)) == (
        o["pods"], o["median_mib"], o["max_mib"])


def test_a_declared_overhead_under_the_measured_one_is_said(tmp_path):
    # sandboxed-containers-operator#75: a 160Mi podFixed default against ~300Mi measured.
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"runtimes": {"kata-qemu": {"like": "kata",
                                                               "overhead_mib": 160}}}))
    run = scaler_run(tmp_path, "--runtime", "kata-qemu", "--max-replicas", "20",
                     "--sim-profile", str(profile))
    assert run.exit_code == 0, run.stderr
    o = run.meta["summary"]["overhead"]
    assert o["declared_mib"] == 160.0 and o["median_mib"] > 160 and o["exceeds_declared"] is True
    lines = overhead_lines(o)
    assert len(lines) == 2 and "declared podFixed 160 MiB" in lines[0]
    assert lines[1].startswith("the measured overhead exceeds the declared podFixed by "
                               f"{o['median_mib'] - 160:.0f} MiB at the median")


def test_default_runtime_has_no_declared_overhead_and_no_verdict(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "10")
    o = run.meta["summary"]["overhead"]
    assert o["declared_mib"] is None and o["exceeds_declared"] is None
    assert 0 < o["median_mib"] < 50  # conmon and pause
    (line,) = overhead_lines(o)
    assert "declared podFixed none" in line


def test_no_pod_measurements_no_overhead(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "3", "--no-collectors")
    assert run.meta["summary"]["overhead"] is None and overhead_lines(None) == []
