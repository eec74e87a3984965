"""The live status line: on a terminal only, never with --quiet, never in a pipe."""

import os
import pty
import subprocess
import sys

from scaler.recorder import StepRow
from scaler.status import format_status


def _run_on_terminal(tmp_path, env, *args) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaler", "run", "--max-replicas", "20", "-o",
         str(tmp_path / "run.csv"), *args],
        stdout=follower, stderr=subprocess.DEVNULL, cwd=tmp_path,
        env={**env, "COLUMNS": "200"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closes with the process
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_status_line_on_a_terminal(tmp_path, child_env):
    out = _run_on_terminal(tmp_path, child_env)
    frames = [f for f in out.split("\r") if f.startswith("step ")]
    assert len(frames) >= 20
    last = frames[-1]
    for word in ("step 20", "requested 20", "running", "pending", "creating", "evicted",
                 "oom", "free", "GiB", "t+"):
        assert word in last, last


def test_quiet_terminal_shows_nothing(tmp_path, child_env):
    assert _run_on_terminal(tmp_path, child_env, "--quiet") == ""


def test_no_status_line_in_a_pipe(tmp_path, scaler_cmd):
    r = scaler_cmd("run", "--max-replicas", "20", "-o", str(tmp_path / "run.csv"))
    assert r.returncode == 0 and r.stdout == "" and "\r" not in r.stderr


def test_format_without_memory_samples():
    row = StepRow(time=0, elapsed_s=12.4, step=3, runtime="kata", scenario="capacity",
                  mode="wait", requested=3, running=2, pending=1, creating=0, terminating=0,
                  evicted=0, oom_killed=0, failed=0, restarts=0, scale_s=0.1, observe_s=0.1,
                  step_s=0.2, mem_total_mib=None, mem_free_mib=None, mem_available_mib=None,
                  mem_active_mib=None, nodes_sampled=0, startup_p50_s=None, startup_p99_s=None)
    assert format_status(row) == ("step 3  requested 3  running 2  pending 1  creating 0  "
                                  "evicted 0  oom 0  free -  t+12s")
