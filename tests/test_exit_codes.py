"""Exit codes of `scaler run` (README, "Exit codes"): 0 ok, 2 bad input, 3 when the cluster
ended a run (cluster-unresponsive, cluster-error), with one line saying what to check, also for
a run that ended before its first step; 130/143 on a signal (tests/test_stop_signals.py)."""

from __future__ import annotations

from click.testing import CliRunner

import scaler.session
from scaler.cli import main
from scaler.errors import CLUSTER_FAILURE_EXIT
from tests.engine_support import ScriptedCluster
from tests.run_support import scaler_run


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("scaler: error:")]


def test_unresponsive_simulated_cluster_exits_3_with_what_to_check(tmp_path):
    # Every simulated API call costs virtual time (0.2 s for the first scale): over 1 ms.
    run = scaler_run(tmp_path, "--op-timeout", "1ms", "--max-replicas", "5")
    assert run.exit_code == CLUSTER_FAILURE_EXIT == 3
    assert run.meta["end_reason"] == "cluster-unresponsive"
    (line,) = _error_lines(run.stderr)  # said even with -q
    assert "cluster-unresponsive after 1 step (run.csv; scale took" in line
    assert "--op-timeout" in line and "/readyz" in line


def test_run_ended_by_the_cluster_before_its_first_step_exits_3(tmp_path, monkeypatch):
    def hung(*args, **kwargs):
        return ScriptedCluster(unresponsive_on_prepare=True)

    monkeypatch.setattr(scaler.session, "build_cluster", hung)
    out = tmp_path / "run.csv"
    res = CliRunner().invoke(main, ["run", "-q", "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 3, res.stderr
    (line,) = _error_lines(res.stderr)
    assert "the cluster stopped answering: cluster-unresponsive after 0 steps" in line
    assert "listing pods took longer" in line
    assert out.exists()  # the files say what happened, as for any run


def test_cluster_error_mid_run_exits_3_naming_the_namespace_to_look_at(tmp_path, monkeypatch):
    monkeypatch.setattr(scaler.session, "build_cluster",
                        lambda *a, **k: ScriptedCluster(fail_on_scale=3))
    res = CliRunner().invoke(main, ["run", "-q", "-n", "density", "-o", str(tmp_path / "r.csv")],
                             catch_exceptions=False)
    assert res.exit_code == 3
    (line,) = _error_lines(res.stderr)
    assert "cluster-error after 3 steps (r.csv; the API server said no)" in line
    assert "kubectl get events -n density" in line


def test_a_run_that_ends_normally_exits_0_and_says_no_error(tmp_path):
    run = scaler_run(tmp_path, "--max-replicas", "3")
    assert run.exit_code == 0 and not _error_lines(run.stderr)
