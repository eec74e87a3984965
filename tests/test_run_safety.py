"""`scaler run` never destroys earlier results and refuses what makes no sense before it
touches a file: outputs, options with limits, every run of a matrix, the cluster."""

import hashlib
import json
import os

import pytest

from tests.run_support import scaler_run


def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)}


def _one_line(res):
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


@pytest.fixture
def earlier(tmp_path, scaler_cmd):
    """An earlier, successful run at keep.csv."""
    res = scaler_cmd("run", "-q", "--max-replicas", "5", "-o", "keep.csv")
    assert res.returncode == 0, res.stderr
    files = sorted(tmp_path.glob("keep.*"))
    assert [p.name for p in files] == ["keep.csv", "keep.meta.json", "keep.nodes.csv",
                                       "keep.pods.csv"]
    return _digest(files)


@pytest.mark.parametrize("args", [
    ["--worker-memory", "1"],  # refused by the simulator's profile
    ["--runtime", "gvisor"],  # no such runtime
    ["--sim-profile", "missing.json"],
    [],  # a good run: refused because keep.csv is there
])
def test_a_refused_or_second_run_leaves_the_earlier_one_untouched(args, earlier, tmp_path,
                                                                   scaler_cmd):
    line = _one_line(scaler_cmd("run", "-q", "--max-replicas", "5", "-o", "keep.csv", *args))
    assert _digest(tmp_path.glob("keep.*")) == earlier
    if not args:
        assert "keep.csv already exists" in line and "--force" in line


def test_force_overwrites_an_earlier_run(earlier, tmp_path, scaler_cmd):
    res = scaler_cmd("run", "-q", "--max-replicas", "7", "-o", "keep.csv", "--force")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "keep.meta.json").read_text())["steps"] == 7


def test_an_existing_sidecar_alone_is_not_overwritten(tmp_path, scaler_cmd):
    (tmp_path / "x.meta.json").write_text("{}")
    assert "x.meta.json" in _one_line(scaler_cmd("run", "-q", "-o", "x.csv"))
    assert (tmp_path / "x.meta.json").read_text() == "{}" and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("target", ["/dev/null", "fifo.csv"])
def test_non_regular_targets_are_refused(target, tmp_path, scaler_cmd):
    os.mkfifo(tmp_path / "fifo.csv")
    line = _one_line(scaler_cmd("run", "-q", "--max-replicas", "3", "-o", target, "--force"))
    assert "not a regular file" in line
    assert not any(p.name.startswith("null.") for p in tmp_path.iterdir())


def test_an_output_under_a_file_is_refused_before_anything_is_written(tmp_path, scaler_cmd):
    (tmp_path / "plain").write_text("x")
    assert "not a directory" in _one_line(scaler_cmd("run", "-q", "-o", "plain/run.csv"))


def test_a_matrix_checks_every_runtime_before_the_first_run(tmp_path, scaler_cmd):
    line = _one_line(scaler_cmd("run", "-q", "--max-replicas", "3", "-o", "m",
                                "--runtime", "runc,gvisor"))
    assert "gvisor" in line
    assert not (tmp_path / "m").exists()  # not even the runc run was made


@pytest.mark.parametrize("args,needle", [
    (["--workers", "100000"], "--workers 100,000 is over the limit of 5,000"),
    (["--interval", "99999h"], "--interval 99,999h is over the limit of 1h"),
    (["--max-replicas", "1000000"], "150,000"),
    (["--wait-timeout", "2h", "--mode", "wait"], "--wait-timeout"),
    (["--duration", "400d"], "--duration"),
    (["--worker-memory", "100Ti"], "--worker-memory"),
    (["--worker-memory", "1"], "--worker-memory 1 MiB leaves no memory for pods"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "99999999999"], "--seed"),
    (["--repeat", "100000"], "--repeat"),
    (["-n", "Bad_NS!"], "--namespace"),
    (["--saturation-steps", "5"], "--stop-steps"),
])
def test_silly_values_are_one_line_naming_the_limit(args, needle, tmp_path, scaler_cmd):
    assert needle in _one_line(scaler_cmd("run", "-q", "-o", "x.csv", *args))
    assert not list(tmp_path.iterdir())


def test_a_bad_namespace_is_refused_for_a_real_cluster_too(tmp_path, scaler_cmd):
    line = _one_line(scaler_cmd("run", "-q", "--cluster", "openshift", "-n", "Bad_NS!",
                                "--kubeconfig", str(tmp_path / "none")))
    assert "--namespace" in line and "RFC 1123" in line


def test_no_collectors_is_honoured_on_the_simulator(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "5", "--no-collectors")
    assert run.exit_code == 0, run.stderr
    assert run.nodes == [] and run.meta["node_rows"] == 0
    assert {r["mem_free_mib"] for r in run.rows} == {""}
    assert {r["nodes_sampled"] for r in run.rows} == {"0"}


def test_a_custom_workload_is_labelled_custom(tmp_path):
    run = scaler_run(tmp_path, "--memory", "1Gi", "--limit", "1200Mi", "--max-replicas", "3")
    assert run.exit_code == 0, run.stderr
    assert run.meta["scenario"] == "custom"
    assert run.meta["workload_label"] == "capacity; memory 1024 MiB, limit 1200 MiB"
    assert run.meta["config"]["scenario"] == "capacity"  # what it started from
    assert {r["scenario"] for r in run.rows} == {"custom"}
    plain = scaler_run(tmp_path, "--max-replicas", "3", name="plain.csv")
    assert plain.meta["scenario"] == "capacity" and plain.meta["workload_label"] == "capacity"


def test_custom_workloads_get_their_own_file_names(tmp_path, scaler_cmd):
    res = scaler_cmd("run", "-q", "--max-replicas", "3", "-o", "m", "--runtime", "runc,kata",
                     "--memory", "1Gi", "--limit", "0")
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in (tmp_path / "m").glob("*.csv")
                   if not p.name.endswith((".nodes.csv", ".pods.csv")))
    assert names == ["default-custom-capacity-memory1024.csv",
                     "kata-custom-capacity-memory1024.csv"]
