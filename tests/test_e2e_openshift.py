"""End to end: ``scaler run --cluster openshift`` through openshift-client and the real kubectl
against ``scaler sim serve``, compared step by step with the simulator's own ground truth."""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.simserve_support import REPO, needs_kubectl, start_server

pytestmark = needs_kubectl


def scaler_run(server, out: Path, *args: str, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from scaler.cli import main; main()", "run",
           "--cluster", "openshift", "--kubeconfig", str(server.kubeconfig), "-o", str(out), *args]
    return subprocess.Popen(cmd, cwd=REPO, env=server.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def read_truth(path: Path) -> tuple[list[float], list[dict]]:
    rows = list(csv.DictReader(path.open()))
    return [float(r["wall_time"]) for r in rows], rows


def truth_between(times, rows, a: float, b: float) -> list[dict]:
    """Every state the model was in at some instant of [a, b]."""
    i = max(0, bisect.bisect_right(times, a) - 1)
    return rows[i:bisect.bisect_right(times, b)]


def epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def no_deployments_left(server) -> bool:
    proc = server.kubectl("get", "deployments", "-A", "-o", "json", check=False)
    return proc.returncode == 0 and not json.loads(proc.stdout)["items"]  # (faults: ask again)


def ssh_args(server) -> list[str]:
    line = next((ln for ln in server.output if "ssh options:" in ln), None)
    return line.split("ssh options:", 1)[1].split() if line else ["--no-collectors"]


def test_kata_no_wait_run_matches_the_model(tmp_path):
    truth = tmp_path / "truth.csv"
    server = start_server(tmp_path / "srv", "--speed", "4", "--workers", "3", "--truth", str(truth))
    try:
        out = tmp_path / "runs" / "kata.csv"
        proc = scaler_run(server, out, "--runtime", "kata", "--mode", "no-wait",
                          "--max-replicas", "40", *ssh_args(server))
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        assert "openshift" in stdout + stderr  # the run says which cluster it drove
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 40 and rows[-1]["requested"] == "40"
        assert_rows_match_truth(rows, truth)
        assert max(int(r["running"]) for r in rows) > 0  # pods started during the run
        assert all(r["api_errors"] == "0" for r in rows)
        if "--no-collectors" not in ssh_args(server):
            assert rows[-1]["nodes_sampled"] == "3" and float(rows[-1]["mem_total_mib"]) > 0
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["cluster"]["kind"] == "openshift"
        assert [n["address"] for n in meta["cluster"]["nodes"]] == \
            ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
        stats = meta["cluster_stats"]
        assert stats["requests"]["scale"] == 40
        # observation cost does not grow with steps: one list and one stream for 40 steps
        assert stats["observe_requests"] <= 4
        assert meta["cleanup"] == "done"
        assert no_deployments_left(server)
    finally:
        server.stop()


def assert_rows_match_truth(rows: list[dict], truth: Path) -> None:
    """Each step's counts are the model's at a moment of that step's window. The front writes
    one model step's changes as several watch events (new pods, then their statuses), so an
    observation can fall between two of them (12 running of 32 pods where the model went from
    8 running of 29 to 12 of 33): each count must be one the model had in the window, or
    between two it had there."""
    times, truth_rows = read_truth(truth)
    fields = ("running", "evicted", "pending", "creating", "terminating")
    for row in rows:
        t = epoch(row["time"])
        states = truth_between(times, truth_rows, t - 0.8, t + 0.05)
        assert states, row
        for f in fields:
            had = [int(s[f]) for s in states]
            assert min(had) <= int(row[f]) <= max(had), (f, row, states)


def test_runc_run_into_evictions_matches_the_model(tmp_path):
    """Fast-forwarded (x40) until 2 workers run out of memory: evictions and OOM kills, each
    step's counts still the model's."""
    truth = tmp_path / "truth.csv"
    server = start_server(tmp_path / "srv", "--speed", "40", "--workers", "2", "--no-ssh",
                          "--truth", str(truth))
    try:
        out = tmp_path / "runc.csv"
        proc = scaler_run(server, out, "--runtime", "runc", "--mode", "no-wait",
                          "--max-replicas", "150", "--no-collectors")
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 150
        assert_rows_match_truth(rows, truth)
        assert int(rows[-1]["evicted"]) > 0 and int(rows[-1]["oom_killed"]) > 0
        server.wait_for(lambda: no_deployments_left(server), timeout=30, what="cleanup")
    finally:
        server.stop()


def test_run_completes_through_injected_errors_and_counts_them(tmp_path):
    server = start_server(tmp_path / "srv", "--speed", "4", "--workers", "2", "--no-ssh",
                          "--error-rate", "0.1", "--fault-seed", "11")
    try:
        out = tmp_path / "faulty.csv"
        proc = scaler_run(server, out, "--runtime", "kata", "--mode", "no-wait",
                          "--max-replicas", "25", "--no-collectors")
        _, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 25
        errors = [int(r["api_errors"]) for r in rows]
        assert errors == sorted(errors) and errors[-1] > 0
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["end_reason"] == "max-replicas"
        assert meta["cluster_stats"]["api_errors"] >= errors[-1]
        assert server.stats()["injected_errors"] >= meta["cluster_stats"]["api_errors"]
        server.wait_for(lambda: no_deployments_left(server), timeout=30, what="cleanup")
    finally:
        server.stop()


def test_ctrl_c_mid_run_cleans_up(tmp_path):
    server = start_server(tmp_path / "srv", "--speed", "4", "--workers", "2", "--no-ssh")
    try:
        out = tmp_path / "interrupted.csv"
        proc = scaler_run(server, out, "--runtime", "kata", "--mode", "fixed-interval",
                          "--interval", "300ms", "--max-replicas", "1000", "--no-collectors")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_text().splitlines()) >= 4:
                break
            time.sleep(0.1)
        assert server.kubectl_json("-n", "scaler", "get", "deployment", "scaler-workload")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        meta = json.loads(out.with_suffix(".meta.json").read_text())
        assert meta["end_reason"] == "interrupted" and meta["cleanup"] == "done"
        assert no_deployments_left(server)
    finally:
        server.stop()


@pytest.mark.parametrize("bad", [["--namespace", "Bad_NS"], ["--client-binary", "no-such-oc"]])
def test_user_errors_end_the_run_with_one_line(tmp_path, bad):
    server = start_server(tmp_path / "srv", "--workers", "1", "--no-ssh")
    try:
        proc = scaler_run(server, tmp_path / "x.csv", "--max-replicas", "2", "--no-collectors", *bad)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2 and "Traceback" not in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert no_deployments_left(server)
    finally:
        server.stop()
