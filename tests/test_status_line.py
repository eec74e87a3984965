"""The live status line: on a terminal only, never with --quiet, never in a pipe; and a Ctrl-C
typed on that terminal leaves no trace of it (nor the "^C" the terminal echoes)."""

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time

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
    for word in ("step 20", "requested 20/20 (100%)", "running", "pending", "creating",
                 "terminating", "evicted", "oom", "free", "GiB", "t+"):
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
                                  "terminating 0  evicted 0  oom 0  free -  t+12s")
    assert "requested 3/12 (25%)" in format_status(row, max_replicas=12)


def test_format_shows_work_and_cpu_when_the_nodes_tell_them():
    row = StepRow(time=0, elapsed_s=12.4, step=3, runtime="kata", scenario="cpu50",
                  mode="wait", requested=3, running=2, pending=1, creating=0, terminating=0,
                  evicted=0, oom_killed=0, failed=0, restarts=0, scale_s=0.1, observe_s=0.1,
                  step_s=0.2, mem_total_mib=None, mem_free_mib=2048.0, mem_available_mib=None,
                  mem_active_mib=None, nodes_sampled=2, startup_p50_s=None, startup_p99_s=None,
                  work_rate=4_563_000.0, work_pods=2, cpu_busy_pct=43.4)
    assert "free 2.0 GiB  work 4.56M pages/s  cpu 43%  t+12s" in format_status(row)
    notes = ["overhead 663 MiB > declared 350 MiB"]
    assert format_status(row, notes=notes).endswith("t+12s  overhead 663 MiB > declared 350 MiB")


def test_status_note_when_the_measured_overhead_exceeds_the_declared_one(tmp_path):
    from dataclasses import replace

    from scaler.clusters import simulated_cluster
    from scaler.config import RunConfig
    from scaler.engine import Engine
    from scaler.recorder import Recorder
    from scaler.request import ClusterChoice
    from scaler.workload_spec import SCENARIOS

    notes = []
    profile = tmp_path / "profile.json"  # a RuntimeClass declaring 160 MiB
    profile.write_text('{"runtimes": {"kata-qemu": {"like": "kata", "overhead_mib": 160}}}')
    cluster = simulated_cluster(ClusterChoice(sim_profile=str(profile)), 0, 5.0)
    cfg = RunConfig(max_replicas=12,
                    workload=replace(SCENARIOS["capacity"], runtime="kata-qemu"))
    engine = Engine(cluster, cfg, Recorder(tmp_path / "run.csv"), cluster.node_source(),
                    on_step=lambda row: notes.append(engine.status_notes()))
    engine.run()
    assert notes[0] == []  # nothing measured yet
    assert notes[-1] and notes[-1][0].startswith("overhead ") and \
        notes[-1][0].endswith("MiB > declared 160 MiB")


def _screen(text: str, cols: int) -> list[str]:
    """What a terminal of ``cols`` columns shows after ``text``: carriage return, newline,
    erase-to-end-of-line and wrapping at the last column (deferred, as xterm does)."""
    lines: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            del lines[row][col:]
            i += 3
            continue
        c = text[i]
        i += 1
        if c == "\r":
            col = 0
        elif c == "\n":
            row, col = row + 1, 0
        elif c.isprintable():
            if col >= cols:
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = c
            col += 1
        while len(lines) <= row:
            lines.append([])
    return ["".join(line).rstrip() for line in lines]


def _controlling_terminal() -> None:  # in the child: the pty becomes its terminal
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_ctrl_c_on_the_terminal_leaves_no_status_line_and_no_echo(tmp_path, child_env):
    cols = 80
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaler", "run", "--max-replicas", "100000", "-o",
         str(tmp_path / "run.csv")],
        stdin=follower, stdout=follower, stderr=subprocess.DEVNULL, cwd=tmp_path,
        env={**child_env, "COLUMNS": str(cols)}, preexec_fn=_controlling_terminal)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 60
    while b"step 5 " not in out and time.monotonic() < deadline:
        if select.select([leader], [], [], 1.0)[0]:
            out += os.read(leader, 65536)
    assert b"step 5 " in out, out[-500:]
    os.write(leader, b"\x03")  # Ctrl-C typed: the terminal echoes ^C and sends SIGINT
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    os.close(leader)
    assert proc.wait(timeout=60) == 130
    text = out.decode()
    assert "^C" in text  # the terminal did echo it...
    screen = [line for line in _screen(text, cols) if line.strip()]
    assert screen == [], screen  # ...and nothing of it, nor of the status line, is left
