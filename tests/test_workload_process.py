"""The real workload program, run as a subprocess and measured through /proc.

CPU comes from /proc/<pid>/stat (utime + stime), memory from /proc/<pid>/status (VmRSS):
the same numbers a node's accounting sees, not what the program says about itself.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workload.growth import BASE_RSS_MIB

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CPU", "MEMORY", "INCREMENT", "REPORT", "DURATION")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class Workload:
    """A running ``python -m workload`` whose stdout lines arrive on a queue."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, preexec_fn=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workload", *args],
            cwd=ROOT,
            env=env or _env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec_fn,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout}s; saw {self.seen[-5:]}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"workload exited ({self.proc.wait()}); saw {self.seen[-5:]}")
            self.seen.append(line)
            if predicate(line):
                return line

    def rest(self) -> list[str]:
        """Every remaining line, once the process has ended."""
        out = []
        while (line := self.lines.get(timeout=5)) is not None:
            out.append(line)
        self.seen.extend(out)
        return out

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def workloads():
    started: list[Workload] = []

    def start(*args, **kwargs) -> Workload:
        w = Workload(*args, **kwargs)
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill()


def _field(line: str, key: str) -> str:
    for word in line.split():
        if word.startswith(key + "="):
            return word.split("=", 1)[1]
    raise KeyError(key)


def test_holds_cpu_and_memory_targets(workloads):
    w = workloads("20", "200", "64")
    # Ramp-up: three loops to reach 200 MiB (two full increments and a partial one).
    w.wait_for(lambda line: "loops=4" in line.split(), timeout=10)
    wall0, cpu0 = time.monotonic(), w.cpu_seconds()
    time.sleep(4.0)
    wall1, cpu1 = time.monotonic(), w.cpu_seconds()
    rss_mib = w.status_kib("VmRSS") / 1024
    cpu_percent = 100 * (cpu1 - cpu0) / (wall1 - wall0)
    assert abs(rss_mib - 200) <= 0.05 * 200, f"VmRSS {rss_mib:.1f} MiB"
    assert abs(cpu_percent - 20) <= 0.10 * 20, f"CPU {cpu_percent:.1f}%"
    # The C program held 256 MiB here (one whole increment over): never above the target.
    assert rss_mib <= 200 + 2


def test_every_held_page_is_touched_each_loop(workloads):
    """Clear the pages' referenced bits, let a loop run: all the data is referenced again,
    which is what keeps it on the kernel's active list (``Active`` in /proc/meminfo)."""
    w = workloads("0", "100", "40")
    report = w.wait_for(lambda line: "loops=3" in line.split(), timeout=10)  # grown by then
    data_mib = float(_field(report, "data").removesuffix("MiB"))
    assert data_mib > 60
    rollup = Path(f"/proc/{w.proc.pid}/smaps_rollup")
    if not rollup.exists():
        pytest.skip("kernel without smaps_rollup")

    def referenced_mib() -> float:
        for line in rollup.read_text().splitlines():
            if line.startswith("Referenced:"):
                return int(line.split()[1]) / 1024
        raise KeyError("Referenced")

    # Clearing can land just before the loop's own touch; try again until the clear is seen
    # (the workload touches once a second, so a clear that sticks comes within a few tries).
    for _ in range(20):
        Path(f"/proc/{w.proc.pid}/clear_refs").write_text("1")
        if referenced_mib() < data_mib / 2:
            break
        time.sleep(0.05)
    else:
        pytest.fail("clearing the referenced bits never took effect")
    # Two report lines a second apart: a loop started (and touched everything) in between.
    for _ in range(2):
        w.wait_for(lambda line: line.startswith("workload report"), timeout=5)
    assert referenced_mib() >= data_mib


def test_unbounded_growth_halves_increment_under_address_space_limit(workloads):
    probe = subprocess.run(
        [sys.executable, "-c", "import workload.runner, workload.procfs;"
         "print(open('/proc/self/status').read().split('VmSize:')[1].split()[0])"],
        cwd=ROOT, env=_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"),
        capture_output=True, text=True, check=True,
    )
    limit = int(probe.stdout) * 1024 + (160 << 20)  # room for 2.5 increments of 64 MiB

    def limit_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    w = workloads("--cpu", "5", "--memory", "0", "--increment", "64", preexec_fn=limit_address_space)
    first = w.wait_for(lambda line: "failed" in line, timeout=10)
    assert first.endswith("increment now 32 MiB"), first
    second = w.wait_for(lambda line: "failed" in line, timeout=5)
    assert second.endswith("increment now 16 MiB"), second
    after = w.wait_for(lambda line: line.startswith("workload report"), timeout=3)
    assert int(_field(after, "failures")) >= 2
    assert w.proc.poll() is None, "the workload must keep running after allocation failures"
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=5) == 0
    final = w.rest()[-1]
    assert final.startswith("workload final")
    assert float(_field(final, "data").removesuffix("MiB")) >= 128  # kept what it had


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero_within_a_second_with_a_last_line(workloads, sig):
    w = workloads("30", "60", "16")
    w.wait_for(lambda line: line.startswith("workload report"), timeout=10)
    sent = time.monotonic()
    w.proc.send_signal(sig)
    assert w.proc.wait(timeout=3) == 0
    assert time.monotonic() - sent < 1.0
    rest = w.rest()
    assert rest and rest[-1].startswith("workload final")
    assert w.proc.stderr.read() == ""


def test_signal_during_a_large_increment_is_answered_promptly(workloads):
    # Faulting 1.5 GiB in takes well over a second; the signal must not wait for it.
    w = workloads("0", "1600", "1500")
    w.wait_for(lambda line: line.startswith("workload start"), timeout=10)
    time.sleep(0.1)
    sent = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=5) == 0
    assert time.monotonic() - sent < 1.0
    final = w.rest()[-1]
    assert final.startswith("workload final") and _field(final, "data") == "0.0MiB"


def test_duration_and_report_file(workloads, tmp_path):
    report = tmp_path / "work.json"
    w = workloads("--duration", "1.6", env=_env(CPU="10", MEMORY="48", INCREMENT="8", REPORT=str(report)))
    assert w.proc.wait(timeout=10) == 0
    lines = w.rest()
    assert lines[-1].startswith("workload final")
    data = json.loads(report.read_text())
    assert data["final"] is True
    assert data["target_cpu_percent"] == 10 and data["target_memory_mib"] == 48
    assert 1.5 <= data["elapsed_s"] <= 3.0
    # Loops start at 0 s and 1 s, so --duration 1.6 ends in the second loop, or in the first
    # when the process was starved. The stop is checked between chunks of work, and the CPU
    # duty cycle may still be paying for the first loop's faults when it comes, so the second
    # loop's growth and touch can be cut short anywhere: check what holds wherever it is cut.
    loops = data["loops"]
    assert loops in (1, 2)
    assert 8 * (loops - 1) < data["data_mib"] <= 8 * loops
    # Loop k faults in 8 MiB and then touches all 8k MiB it holds: (1 + k) units of 8 MiB pages.
    pages_8mib = (8 << 20) // os.sysconf("SC_PAGE_SIZE")
    full = sum(1 + k for k in range(1, loops + 1))
    done_before = sum(1 + k for k in range(1, loops))
    assert pages_8mib * done_before < data["pages_touched"] <= pages_8mib * full
    # The simulator models the base with a constant: keep it honest (other Python/numpy
    # builds differ by a few MiB, hence the margin).
    assert data["base_mib"] == pytest.approx(BASE_RSS_MIB, rel=0.25)
    assert data["rss_mib"] == pytest.approx(data["base_mib"] + data["data_mib"], abs=1.5)
    assert [p.name for p in tmp_path.iterdir()] == ["work.json"]  # no temporary left


def test_memory_below_base_holds_nothing_and_says_so(workloads):
    w = workloads("0", "5", "64", "--duration", "1")
    assert w.proc.wait(timeout=10) == 0
    final = w.rest()[-1]
    assert _field(final, "data") == "0.0MiB"
    note = w.proc.stderr.read().strip().splitlines()
    assert len(note) == 1 and "below the base resident set" in note[0]


@pytest.mark.parametrize(
    "args, env",
    [
        (["-5"], {}),
        (["abc"], {}),
        (["101"], {}),
        (["20", "x"], {}),
        (["20", "100", "0"], {}),
        (["--memory", "-1"], {}),
        (["--cpu", "nan"], {}),
        (["1", "2", "3", "4"], {}),
        (["--duration", "soon"], {}),
        (["--report", "/nonexistent-dir/report.json"], {}),
        ([], {"CPU": "lots"}),
        ([], {"INCREMENT": "-8"}),
    ],
)
def test_bad_arguments_one_line_exit_2(args, env):
    done = subprocess.run(
        [sys.executable, "-m", "workload", *args], cwd=ROOT, env=_env(**env),
        capture_output=True, text=True, timeout=20,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workload: error:"), done.stderr
