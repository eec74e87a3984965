"""The cpu scenario and CPU sweeps (issue 13.4): `--cpu 10,50,100` is a dimension of the matrix,
and a run's file name, group and workload label say its CPU percent (default-cpu50,
kata-capacity-cpu10); a single --cpu on another scenario is still a custom workload."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from scaler.cli import main
from scaler.config import RunConfig
from scaler.errors import UserError
from scaler.plan import configs, plan
from scaler.request import RunRequest, WorkloadOverrides
from scaler.workload_spec import SCENARIOS
from tests.run_support import scaler_run


def request(tmp_path, scenarios=("cpu",), cpus=(), runtimes=("default",), **kw) -> RunRequest:
    return RunRequest(runtimes=runtimes, scenarios=scenarios, cpus=cpus, config=RunConfig(),
                      output=str(tmp_path / "out"), **kw)


def test_cpu_scenario_is_cpu_bound_with_a_little_memory():
    cpu = SCENARIOS["cpu"]
    assert (cpu.cpu_percent, cpu.memory_mib, cpu.increment_mib) == (50, 16, 16)
    assert cpu.request_mib is None and cpu.limit_mib is None


def test_labels_name_the_cpu_percent(tmp_path):
    cfgs = configs(request(tmp_path, scenarios=("cpu", "capacity"), cpus=(10, 50, 100),
                           runtimes=("default", "kata")))
    assert [c.label for c in cfgs] == [
        "default-cpu10", "kata-cpu10", "default-cpu50", "kata-cpu50", "default-cpu100",
        "kata-cpu100", "default-capacity-cpu10", "kata-capacity-cpu10", "default-capacity-cpu50",
        "kata-capacity-cpu50", "default-capacity-cpu100", "kata-capacity-cpu100"]
    # The percent names the run: not a custom workload.
    assert {c.recorded_scenario for c in cfgs} == {"cpu", "capacity"}
    assert cfgs[0].workload_label == "cpu 10%"
    assert cfgs[6].workload_label == "capacity cpu 10%"
    assert cfgs[2].workload.cpu_percent == 50


def test_cpu_scenario_alone_and_with_one_percent(tmp_path):
    (plain,) = configs(request(tmp_path))
    assert plain.label == "default-cpu50" and plain.workload_label == "cpu 50%"
    (one,) = configs(request(tmp_path, cpus=(20,)))
    assert one.label == "default-cpu20" and one.recorded_scenario == "cpu"
    # Another override on top is still custom, and says so beside the percent.
    (more,) = configs(request(tmp_path, cpus=(20,), workload=WorkloadOverrides(memory_mib=64)))
    assert more.label == "default-custom-cpu20-memory64"
    assert more.recorded_scenario == "custom" and more.workload_label == "cpu 20%; memory 64 MiB"


def test_one_cpu_percent_on_another_scenario_is_a_custom_workload(tmp_path):
    (c,) = configs(request(tmp_path, scenarios=("capacity",), cpus=(10,)))
    assert c.label == "default-custom-capacity-cpu10" and c.recorded_scenario == "custom"
    assert c.workload_label == "capacity; cpu 10%"


def test_repeat_groups_carry_the_percent(tmp_path):
    runs = plan(request(tmp_path, cpus=(10, 50), repeat=2))
    assert [p.path.name for p in runs] == ["default-cpu10-r1.csv", "default-cpu10-r2.csv",
                                           "default-cpu50-r1.csv", "default-cpu50-r2.csv"]
    assert runs[2].meta()["group"] == "default-cpu50"


def test_bad_percents_are_one_line(tmp_path):
    with pytest.raises(UserError, match="--cpu must be within 0..100"):
        configs(request(tmp_path, cpus=(10, 150)))
    run = scaler_run(tmp_path, "--cpu", "10,lots")
    assert run.exit_code == 2 and "'lots' is not a percent" in run.stderr


def test_cpu_sweep_writes_one_run_per_percent(tmp_path):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["run", "-q", "--scenario", "cpu", "--cpu", "10,100%",
                                    "--max-replicas", "2", "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    names = sorted(p.name for p in (tmp_path / "sweep").glob("*.meta.json"))
    assert names == ["default-cpu10.meta.json", "default-cpu100.meta.json"]


def test_a_sweep_is_compared_percent_by_percent_in_numeric_order(tmp_path):
    """viz compare of a sweep: runs in the order of their percent (10, 50, 100, not 10, 100, 50),
    each runtime ratio named by its percent, and percent against percent within a runtime."""
    from viz.compare import Comparison

    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["run", "-q", "--scenario", "cpu", "--cpu", "100,10,50",
                                    "--runtime", "default,kata", "--max-replicas", "3",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    cmp = Comparison.build([out])
    assert cmp.labels == ["default (runc) cpu 10%", "default (runc) cpu 50%",
                          "default (runc) cpu 100%", "kata cpu 10%", "kata cpu 50%",
                          "kata cpu 100%"]
    runtime = [r.label for r in cmp.ratios if r.kind == "runtime" and r.name == "max_running"]
    assert runtime == [f"cpu {p}%: max running pods, default (runc) / kata" for p in (10, 50, 100)]
    scenario = {r.label for r in cmp.ratios if r.kind == "scenario" and r.name == "max_running"}
    assert scenario == {f"{rt}: max running pods, cpu {p}% / cpu 10%"
                        for rt in ("default (runc)", "kata") for p in (50, 100)}
