"""How close the workload gets to what it is asked for: target vs measured CPU and RSS.

Runs ``python -m workload`` for a few (CPU, MEMORY, INCREMENT) settings, waits for the
memory ramp-up, then measures the process from outside over a window: CPU from
/proc/<pid>/task/*/schedstat (run time in ns; /proc/<pid>/stat ticks where it is missing),
resident set from /proc/<pid>/status (VmRSS). Also
reports the base resident set (interpreter + numpy + workload, before any allocation), what
the C program this replaces would hold (whole increments: it overshoots), and the CPU a pure
busy loop gets right after the window: on a shared machine no target above that ceiling can
be met, by any controller.

    python bench/bench_workload.py [--window 5] [--load N] [--parallel]

``--load N`` keeps N busy-looping processes running meanwhile (a loaded node): the
feedback duty cycle should still hold its target as long as the scheduler grants it.
``--parallel`` measures all settings at once (faster, but they compete for the CPUs).

Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
SETTINGS = [(1, 100, 32), (5, 500, 256), (20, 200, 64), (50, 1000, 256), (90, 64, 16)]


@dataclass(frozen=True)
class Result:
    cpu: float
    memory: float
    increment: float
    cpu_measured: float
    rss_mib: float
    base_mib: float
    ramp_s: float
    ceiling: float  # CPU % a busy loop got right after: what the scheduler would grant

    @property
    def cpu_error(self) -> float:
        return 100 * (self.cpu_measured - self.cpu) / self.cpu if self.cpu else math.nan

    @property
    def rss_error(self) -> float:
        return 100 * (self.rss_mib - self.memory) / self.memory

    @property
    def c_program_mib(self) -> float:
        return math.ceil(self.memory / self.increment) * self.increment


def _cpu_s(pid: int) -> float:
    """CPU seconds of all the process's threads: nanoseconds from schedstat where the
    kernel has it (stat's clock ticks are 10 ms: 2% of a 5 s window at 5% CPU)."""
    try:
        return sum(
            int((task / "schedstat").read_text().split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir()
        ) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(cpu: float, memory: float, increment: float, window: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        args = [sys.executable, "-m", "workload", str(cpu), str(memory), str(increment), "--report", str(report)]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            start = time.monotonic()
            while True:  # ramp-up: until the report says the data stopped growing
                time.sleep(0.2)
                if proc.poll() is not None:
                    raise RuntimeError(f"workload exited with {proc.returncode}")
                try:
                    state = json.loads(report.read_text())
                except FileNotFoundError:
                    continue
                if state["rss_mib"] >= memory - increment / 2 and state["loops"] >= 2:
                    data = state["data_mib"]
                    time.sleep(1.2)
                    if json.loads(report.read_text())["data_mib"] == data:
                        break
            ramp = time.monotonic() - start
            wall0, cpu0 = time.monotonic(), _cpu_s(proc.pid)
            time.sleep(window)
            wall1, cpu1 = time.monotonic(), _cpu_s(proc.pid)
            rss = _rss_mib(proc.pid)
            base = json.loads(report.read_text())["base_mib"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    measured = 100 * (cpu1 - cpu0) / (wall1 - wall0)
    return Result(cpu, memory, increment, measured, rss, base, ramp, ceiling())


def ceiling(seconds: float = 2.0) -> float:
    """CPU % of one CPU that a pure busy loop gets now: the most any target can get."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        wall0, cpu0 = time.monotonic(), _cpu_s(hog.pid)
        time.sleep(seconds)
        return 100 * (_cpu_s(hog.pid) - cpu0) / (time.monotonic() - wall0)
    finally:
        hog.kill()
        hog.wait()


def table(results: list[Result]) -> str:
    head = (
        "| CPU % | measured CPU % | error | MEMORY MiB | INCREMENT | VmRSS MiB | error | "
        "C program MiB | base RSS MiB | ramp-up s | busy-loop ceiling % |"
    )
    rows = [head, "|" + " --- |" * 11]
    for r in results:
        rows.append(
            f"| {r.cpu:g} | {r.cpu_measured:.2f} | {r.cpu_error:+.1f}% | {r.memory:g} | {r.increment:g} | "
            f"{r.rss_mib:.1f} | {r.rss_error:+.2f}% | {r.c_program_mib:g} | {r.base_mib:.1f} | {r.ramp_s:.1f} | "
            f"{r.ceiling:.0f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=5.0, help="measurement window, seconds")
    parser.add_argument("--load", type=int, default=0, help="busy-looping processes meanwhile")
    parser.add_argument("--parallel", action="store_true", help="all settings at once")
    ns = parser.parse_args()
    if not Path("/proc/self/stat").exists():
        print("bench_workload: needs Linux /proc", file=sys.stderr)
        return 2
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(ns.load, 0))
    ]
    try:
        with ThreadPoolExecutor(max_workers=len(SETTINGS) if ns.parallel else 1) as pool:
            results = list(pool.map(lambda s: measure(*s, ns.window), SETTINGS))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    print(table(results))
    print(
        f"\nwindow {ns.window:g} s, {ns.load} busy processes, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
