"""`scaler run` end to end on the simulated cluster: files, modes, scenarios, stop rules."""

import json
import math
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from scaler.cli import main
from scaler.recorder import NODE_COLUMNS, RUN_COLUMNS
from tests.run_support import read_run, scaler_run


@pytest.fixture(scope="module")
def defaults(tmp_path_factory):
    """The README's main job for both runtimes, on defaults."""
    d = tmp_path_factory.mktemp("defaults")
    return {rt: scaler_run(d, "--runtime", rt, "--mode", "no-wait", name=f"{rt}.csv")
            for rt in ("default", "kata")}


def test_default_runs_write_three_complete_files(defaults):
    for rt, run in defaults.items():
        assert run.exit_code == 0, run.stderr
        assert list(run.rows[0]) == list(RUN_COLUMNS)
        assert list(run.nodes[0]) == list(NODE_COLUMNS)
        assert [int(r["step"]) for r in run.rows] == list(range(1, len(run.rows) + 1))
        assert {r["runtime"] for r in run.rows} == {rt}
        assert {r["mode"] for r in run.rows} == {"no-wait"}
        meta = run.meta
        assert meta["end_reason"] in ("saturated", "max-replicas")
        assert meta["cluster"]["kind"] == "simulated" and meta["cluster"]["simulated"]
        assert meta["cluster"]["details"]["profile"]
        assert meta["steps"] == len(run.rows) and meta["rows"] == len(run.rows)
        assert meta["node_rows"] == len(run.nodes)
        assert meta["cleanup"] == "done"
        # every node reported at every step
        assert {int(r["nodes_sampled"]) for r in run.rows[5:]} == {len(meta["cluster"]["nodes"])}


def test_kata_fits_fewer_pods_than_runc(defaults):
    runc = max(defaults["default"].col("running"))
    kata = max(defaults["kata"].col("running"))
    assert 0 < kata < runc


def test_default_runs_name_their_figures_and_never_stop_short(defaults):
    """The knee is a figure, not a stop: the run goes on until the cluster has stopped gaining
    (or max-replicas), never before it reached 95% of its own maximum."""
    for run in defaults.values():
        s = run.meta["summary"]
        assert run.meta["end_reason"] in ("saturated", "max-replicas")
        assert "saturation_step" not in s
        knee = s["figures"]["knee"]["step"]
        assert knee is not None and "falls behind requested" in s["figures"]["knee"]["method"]
        running = run.col("running")
        near_max = next(i + 1 for i, r in enumerate(running) if r >= 0.95 * max(running))
        assert knee < run.meta["steps"] and run.meta["steps"] >= near_max
        stop = s["figures"]["stop"]["step"]
        assert stop is None or stop >= near_max


def test_node_file_has_gaps_only_as_gaps(defaults):
    for run in defaults.values():
        for r in run.nodes:
            assert r["status"] == "ok"
            assert float(r["mem_total_mib"]) > 0 and float(r["mem_free_mib"]) >= 0


def test_wait_mode_never_raises_before_the_step_settles(tmp_path):
    run = scaler_run(tmp_path, "--runtime", "runc", "--mode", "wait", "--step", "5",
                     "--wait-timeout", "30s", "--max-replicas", "120")
    assert run.exit_code == 0, run.stderr
    for r in run.rows:
        settled = int(r["running"]) >= int(r["requested"])
        assert settled or float(r["step_s"]) >= 30.0, r
    # requested grows by exactly --step per step
    req = run.col("requested")
    assert req == [5 * (i + 1) for i in range(len(req))]


def test_fixed_interval_mode_spaces_steps_by_the_interval(tmp_path):
    run = scaler_run(tmp_path, "--mode", "fixed", "--interval", "7s", "--max-replicas", "30")
    assert run.exit_code == 0, run.stderr
    assert run.meta["mode"] == "fixed-interval" and run.meta["end_reason"] == "max-replicas"
    elapsed = run.col("elapsed_s", float)
    for a, b, r in zip(elapsed, elapsed[1:], run.rows[1:], strict=False):
        # raise-to-observation is the interval; the observation's own time comes on top
        assert b - a == pytest.approx(7.0 + float(r["observe_s"]), abs=0.05)


def test_no_wait_mode_steps_take_only_the_calls(tmp_path):
    run = scaler_run(tmp_path, "--mode", "no-wait", "--max-replicas", "50")
    for r in run.rows:
        assert float(r["step_s"]) == pytest.approx(
            float(r["scale_s"]) + float(r["observe_s"]), abs=0.01)


def test_restricted_oom_kills_only_when_usage_exceeds_the_limit(tmp_path):
    under = scaler_run(tmp_path, "--scenario", "restricted", "--max-replicas", "40",
                       name="under.csv")
    over = scaler_run(tmp_path, "--scenario", "restricted", "--memory", "800",
                      "--max-replicas", "40", name="over.csv")
    assert under.exit_code == over.exit_code == 0
    assert max(under.col("oom_killed")) == 0
    assert max(over.col("oom_killed")) > 0
    assert over.meta["workload"]["limit_mib"] == 512


def test_evictions_only_under_memory_pressure(tmp_path):
    run = scaler_run(tmp_path, "--scenario", "hungry", "--runtime", "runc",
                     "--max-replicas", "200", "--beyond", "10")
    assert run.exit_code == 0, run.stderr
    evicted = run.col("evicted")
    assert max(evicted) > 0, "a memory-hungry workload must end in evictions"
    onset = next(i for i, e in enumerate(evicted) if e > 0)
    # before the first eviction some node must have been close to the 100 MiB threshold
    t_onset = run.rows[onset]["time"]
    low = min(float(n["mem_available_mib"]) for n in run.nodes if n["time"] <= t_onset)
    assert low < 400
    # and while the nodes had plenty of room (before memory first got tight), nothing was
    # evicted (the run goes on past that: evicted pods free memory, the count stays)
    first_tight = next(i for i, r in enumerate(run.rows)
                       if float(r["mem_available_mib"]) <= 0.5 * float(r["mem_total_mib"]))
    assert first_tight > 0 and all(int(r["evicted"]) == 0 for r in run.rows[:first_tight])


def test_capacity_scenario_memory_falls_as_pods_grow(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "60")
    free = run.col("mem_free_mib", float)
    running = run.col("running")
    assert running[-1] > running[0]
    assert free[-1] < free[0] - 60 * 100  # tens of pods of hundreds of MiB each


def test_same_seed_same_run_other_seed_differs(tmp_path):
    a = scaler_run(tmp_path, "--max-replicas", "40", "--seed", "3", name="a.csv")
    b = scaler_run(tmp_path, "--max-replicas", "40", "--seed", "3", name="b.csv")
    c = scaler_run(tmp_path, "--max-replicas", "40", "--seed", "4", name="c.csv")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert strip(a.rows) == strip(b.rows) and strip(a.nodes) == strip(b.nodes)
    assert strip(a.rows) + strip(a.nodes) != strip(c.rows) + strip(c.nodes)


def test_json_summary_has_one_shape_for_one_run_or_several(tmp_path):
    out = tmp_path / "j.csv"
    res = CliRunner().invoke(main, ["run", "--json", "--max-replicas", "10", "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    one = json.loads(res.stdout)
    assert list(one) == ["runs", "comparison"] and len(one["runs"]) == 1
    summary = one["runs"][0]
    assert summary["end_reason"] == "max-replicas" and summary["steps"] == 10
    assert summary["output"] == str(out) and one["comparison"] is None
    res = CliRunner().invoke(main, ["run", "--json", "--max-replicas", "10", "-o",
                                    str(tmp_path / "m"), "--runtime", "runc,kata"])
    several = json.loads(res.stdout)
    assert list(several) == ["runs", "comparison"] and len(several["runs"]) == 2
    assert set(several["runs"][0]) == set(summary)
    assert several["comparison"]["files"]


def test_environment_variables_mirror_options(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "5",
                     env={"SCALER_RUN_RUNTIME": "kata", "SCALER_RUN_MODE": "no-wait"})
    assert run.exit_code == 0, run.stderr
    assert run.meta["runtime"] == "kata" and run.meta["mode"] == "no-wait"


def test_duration_stop_rule(tmp_path):
    run = scaler_run(tmp_path, "--duration", "1m", "--interval", "10s")
    assert run.meta["end_reason"] == "duration"
    assert 55 <= run.col("elapsed_s", float)[-1] <= 80


def test_simulated_cluster_options(tmp_path):
    run = scaler_run(tmp_path, "--workers", "3", "--worker-memory", "8Gi", "--worker-cpus",
                     "4", "--max-replicas", "5")
    nodes = run.meta["cluster"]["nodes"]
    # capacity is what the kernel reports (MemTotal), a little under the machine's 8 GiB
    assert len(nodes) == 3 and all(7000 < n["memory_mib"] <= 8192 for n in nodes)
    assert {n["cpu_millis"] for n in nodes} == {4000}


def _one_line_error(scaler_cmd, args):
    res = scaler_cmd("run", *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["--mode", "sometimes"], "mode"),
    (["--step", "-1"], "--step"),
    (["--interval", "5 parsecs"], "duration"),
    (["--max-replicas", "0"], "max-replicas"),
    (["--scenario", "greedy"], "scenario"),
    (["--cpu", "150"], "--cpu"),
    (["--memory", "lots"], "size"),
    (["--sim-profile", "does-not-exist.json"], "does-not-exist.json"),
    (["-o", "/proc/no/such/run.csv"], "cannot write"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, scaler_cmd):
    assert needle in _one_line_error(scaler_cmd, args)


def test_garbled_profile_file_is_one_line(tmp_path, scaler_cmd):
    p = tmp_path / "profile.json"
    p.write_text("{not json")
    assert "profile.json" in _one_line_error(scaler_cmd, ["--sim-profile", str(p)])


def test_unknown_runtime_is_one_line_and_leaves_no_files(tmp_path, scaler_cmd):
    assert "gvisor" in _one_line_error(scaler_cmd, ["--runtime", "gvisor", "-o", "x.csv"])
    assert not list(tmp_path.glob("x.*"))


def test_refused_profile_leaves_no_files(tmp_path, scaler_cmd):
    _one_line_error(scaler_cmd, ["--sim-profile", "missing.json", "-o", "y.csv"])
    assert not list(tmp_path.glob("y.*"))


def test_sigint_leaves_a_valid_csv_and_interrupted_metadata(tmp_path, child_env):
    out = tmp_path / "int.csv"
    env = child_env
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaler", "run", "--quiet", "--mode", "fixed",
         "--max-replicas", "100000", "--beyond", "100000", "-o", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and sum(1 for _ in open(out)) > 20:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    rows, nodes, meta = read_run(out)
    assert meta["end_reason"] == "interrupted" and meta["cleanup"] == "done"
    assert len(rows) >= 20 and meta["rows"] == len(rows)
    raw = out.read_text()
    assert raw.endswith("\n")
    for r in rows:
        assert all(r[c] is not None for c in RUN_COLUMNS)
        int(r["step"]), float(r["elapsed_s"]), int(r["running"])
        assert not math.isnan(float(r["step_s"]))


def test_sigterm_is_recorded_as_terminated(tmp_path, child_env):
    out = tmp_path / "term.csv"
    env = child_env
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaler", "run", "--quiet", "--max-replicas", "100000",
         "--beyond", "100000", "-o", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.stat().st_size > 2000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    _, _, meta = read_run(out)
    assert meta["end_reason"] == "terminated" and meta["cleanup"] == "done"


def test_default_runtime_is_called_default_with_its_handler_recorded(tmp_path):
    """`--runtime runc` is accepted and means the cluster's default runtime, which the files
    call `default`; the handler the simulated cluster runs it with is recorded beside it."""
    for given in ("runc", "default"):
        run = scaler_run(tmp_path, "--runtime", given, "--max-replicas", "3", name=f"{given}.csv")
        assert run.exit_code == 0, run.stderr
        assert {r["runtime"] for r in run.rows} == {"default"}
        assert run.meta["runtime"] == "default" and run.meta["runtime_handler"] == "runc"
        assert run.meta["cluster"]["runtime_class"] is None
    kata = scaler_run(tmp_path, "--runtime", "kata", "--max-replicas", "3", name="kata.csv")
    assert kata.meta["runtime_handler"] == "kata"
    assert kata.meta["cluster"]["runtime_class"]["name"] == "kata"


def test_repeated_list_options_add_up(tmp_path):
    """`--runtime a --runtime b` runs both (as `--runtime a,b` does); none is silently dropped."""
    out = tmp_path / "m"
    res = CliRunner().invoke(main, ["run", "-q", "--max-replicas", "3", "-o", str(out),
                                    "--runtime", "runc", "--runtime", "kata",
                                    "--scenario", "capacity", "--scenario", "hungry"])
    assert res.exit_code == 0, res.stderr
    names = sorted(p.name for p in out.glob("*.csv")
                   if not p.name.endswith((".nodes.csv", ".pods.csv")))
    assert names == ["default-capacity.csv", "default-hungry.csv", "kata-capacity.csv",
                     "kata-hungry.csv"]


def test_runtime_name_must_be_a_kubernetes_name(scaler_cmd):
    assert "runtime" in _one_line_error(scaler_cmd, ["--runtime", "Kata_QEMU!"])


def _ignoring_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a background job


def test_a_run_started_ignoring_ctrl_c_keeps_ignoring_it_and_stops_on_sigterm(tmp_path,
                                                                               child_env):
    """`scaler run ... &` from a script (no job control): Ctrl-C is not for it, at start-up
    or later, as the shell means; SIGTERM still stops it cleanly."""
    out = tmp_path / "bg.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaler", "run", "--quiet", "--mode", "fixed",
         "--max-replicas", "100000", "--beyond", "100000", "-o", str(out)],
        cwd=tmp_path, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ignoring_ctrl_c)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and sum(1 for _ in open(out)) > 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rows = sum(1 for _ in open(out))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(1 for _ in open(out)) < rows + 20:
        time.sleep(0.05)
    assert proc.poll() is None and sum(1 for _ in open(out)) >= rows + 20  # still running
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    _, _, meta = read_run(out)
    assert meta["end_reason"] == "terminated" and meta["cleanup"] == "done"
