"""The light workload against the numpy one it replaces: base RSS, page-touch speed, and how
close each gets to what it is asked for (target vs measured CPU and RSS).

Both run in this one process run: the old implementation is taken from git (``--baseline``,
default the last numpy commit) into a temporary directory and started the way its image
started it (``python -m workload``); the new one is started the way its image starts it (the
Containerfile's ENTRYPOINT, ``python -I -S .../workload/__main__.py``).

1. Base resident set: each started with MEMORY below its base (it holds no data) and read
   from /proc/<pid>/status (VmRSS, and its private part RssAnon) after two report lines.
2. Page touching, in this process: 4 KiB pages written per CPU second by the new way (a
   strided slice assignment on an mmap) and by the old one (numpy's strided in-place add),
   over 1, 64 and 512 MiB.
3. Accuracy: for a few (CPU, MEMORY, INCREMENT) settings, wait for the memory ramp-up, then
   measure the process from outside over a window: CPU from /proc/<pid>/task/*/schedstat
   (run time in ns; /proc/<pid>/stat ticks where it is missing), resident set from
   /proc/<pid>/status (VmRSS), and for the new one its work rate (pages per second, and per
   CPU second). Also what the C program before both would hold (whole increments: it
   overshoots), and the CPU a pure busy loop gets right after the window: on a shared
   machine no target above that ceiling can be met, by any controller.

    python bench/bench_workload.py [--window 5] [--load N] [--parallel] [--baseline REF]
                                   [--python PATH ...]

``--load N`` keeps N busy-looping processes running meanwhile (a loaded node): the
feedback duty cycle should still hold its target as long as the scheduler grants it.
``--parallel`` measures all settings at once (faster, but they compete for the CPUs).
``--python PATH`` adds another interpreter's base RSS for the new workload (the image's
python:3.11-slim is a PGO/LTO build, like most distributions' python3.11).

Linux only (reads /proc). Figures on a shared machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import queue
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_workload_containerfile import entrypoint  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = 4096  # the work unit: 4 KiB pages
MIB = 1 << 20
SETTINGS = [(1, 100, 32), (5, 500, 256), (20, 200, 64), (50, 1000, 256), (90, 64, 16)]
#: The last commit whose workload used numpy (its figures, recorded with this benchmark then:
#: base RSS 28.0-28.2 MiB, CPU within about 1% of target from 1 to 90%, RSS +0.03..0.45%).
BASELINE_REF = "95c3b13"
RECORDED_OLD = "base RSS 28.0-28.2 MiB, CPU within ~1% of target (1-90%), RSS +0.03..0.45%"


@dataclass(frozen=True)
class Impl:
    name: str
    command: list[str]
    env: dict[str, str]


def new_impl(python: str = sys.executable) -> Impl:
    _, *flags, script = entrypoint()
    return Impl("new", [python, *flags, str(ROOT / script.removeprefix("/app/"))], dict(os.environ))


def old_impl(ref: str, into: Path) -> Impl:
    """The workload package as it was at ``ref``, started as its image did."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "workload"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    env = {**os.environ, "PYTHONPATH": str(into)}
    return Impl(f"old ({ref}, numpy)", [sys.executable, "-m", "workload"], env)


class Started:
    """A running workload; its stdout lines arrive on a queue."""

    def __init__(self, impl: Impl, *args: str):
        self.proc = subprocess.Popen([*impl.command, *args], env=impl.env, cwd=tempfile.gettempdir(),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def report(self, timeout: float = 30) -> dict[str, str]:
        """The next ``workload report`` line as key=value pairs."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line is None:
                raise RuntimeError(f"workload exited with {self.proc.wait()}")
            if line.startswith("workload report"):
                return dict(w.split("=", 1) for w in line.split() if "=" in w)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key}")


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


# --- 1. base resident set ---------------------------------------------------------------


def base_rss(impl: Impl) -> tuple[float, float]:
    """(VmRSS, RssAnon) in MiB of a running workload that holds no data."""
    w = Started(impl, "5", "1", "1")
    try:
        w.report()
        w.report()
        return _status_kib(w.proc.pid, "VmRSS") / 1024, _status_kib(w.proc.pid, "RssAnon") / 1024
    finally:
        w.stop()


# --- 2. page touching -------------------------------------------------------------------


def touch_rates(sizes_mib: tuple[int, ...] = (1, 64, 512), cpu_s: float = 0.5) -> list[tuple[int, float, float]]:
    """(MiB, new pages per CPU second, numpy pages per CPU second or NaN)."""
    try:
        import numpy as np
    except ImportError:
        np = None
    from workload.memory import MemoryHolder

    out = []
    for size in sizes_mib:
        holder = MemoryHolder()
        holder.grow(size)
        new = _rate(holder.touch, cpu_s)
        del holder
        old = math.nan
        if np is not None:
            array = np.empty(size * MIB, dtype=np.uint8)
            array[::PAGE] = 1

            def numpy_touch(array=array) -> int:
                view = array[::PAGE]
                np.add(view, 1, out=view)
                return view.size

            old = _rate(numpy_touch, cpu_s)
            del array
        out.append((size, new, old))
    return out


def _rate(touch, cpu_s: float) -> float:
    pages, start = 0, time.process_time()
    while (spent := time.process_time() - start) < cpu_s:
        pages += touch()
    return pages / spent


# --- 3. accuracy ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    impl: str
    cpu: float
    memory: float
    increment: float
    cpu_measured: float
    rss_mib: float
    pages_per_cpu_s: float  # NaN for the old workload (it did not count work this way)
    pages_per_s: float
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


def measure(impl: Impl, cpu: float, memory: float, increment: float, window: float) -> Result:
    w = Started(impl, str(cpu), str(memory), str(increment))
    try:
        start = time.monotonic()
        previous = None
        while True:  # ramp-up: until two report lines in a row hold the same data
            line = w.report()
            if previous is not None and line["data"] == previous["data"] and int(line["loops"]) >= 3:
                break
            previous = line
        ramp = time.monotonic() - start
        pages0 = int(line["pages"])
        wall0, cpu0 = time.monotonic(), _cpu_s(w.proc.pid)
        time.sleep(window)
        wall1, cpu1 = time.monotonic(), _cpu_s(w.proc.pid)
        rss = _status_kib(w.proc.pid, "VmRSS") / 1024
        after = w.report()  # the next line: pages counted since the window's first line
        wall2, cpu2 = time.monotonic(), _cpu_s(w.proc.pid)
    finally:
        w.stop()
    measured = 100 * (cpu1 - cpu0) / (wall1 - wall0)
    if "work" in after:
        pages = int(after["pages"]) - pages0
        per_cpu_s = pages / (cpu2 - cpu0) if cpu2 > cpu0 else math.nan
        per_s = pages / (wall2 - wall0)
    else:
        per_cpu_s = per_s = math.nan
    return Result(impl.name, cpu, memory, increment, measured, rss, per_cpu_s, per_s, ramp, ceiling())


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
        "| workload | CPU % | measured CPU % | error | MEMORY MiB | INCREMENT | VmRSS MiB | error | "
        "C program MiB | work pages/s | pages per CPU s | ramp-up s | busy-loop ceiling % |"
    )
    rows = [head, "|" + " --- |" * 13]
    for r in results:
        work = "-" if math.isnan(r.pages_per_s) else f"{r.pages_per_s:,.0f}"
        per_cpu = "-" if math.isnan(r.pages_per_cpu_s) else f"{r.pages_per_cpu_s / 1e6:.1f} M"
        rows.append(
            f"| {r.impl} | {r.cpu:g} | {r.cpu_measured:.2f} | {r.cpu_error:+.1f}% | {r.memory:g} | {r.increment:g} | "
            f"{r.rss_mib:.2f} | {r.rss_error:+.2f}% | {r.c_program_mib:g} | {work} | {per_cpu} | {r.ramp_s:.1f} | "
            f"{r.ceiling:.0f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=5.0, help="measurement window, seconds")
    parser.add_argument("--load", type=int, default=0, help="busy-looping processes meanwhile")
    parser.add_argument("--parallel", action="store_true", help="all settings at once")
    parser.add_argument("--baseline", default=BASELINE_REF, help="git revision of the old workload")
    parser.add_argument("--python", action="append", default=[], help="another interpreter for the base RSS")
    ns = parser.parse_args()
    if not Path("/proc/self/stat").exists():
        print("bench_workload: needs Linux /proc", file=sys.stderr)
        return 2
    for python in ns.python:
        if not os.access(python, os.X_OK):
            print(f"bench_workload: {python} is not an executable interpreter", file=sys.stderr)
            return 2

    with tempfile.TemporaryDirectory() as tmp:
        impls = [new_impl()]
        try:
            impls.insert(0, old_impl(ns.baseline, Path(tmp)))
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"(old workload not measured: git archive {ns.baseline} failed: {exc}; "
                  f"recorded figures for it: {RECORDED_OLD})\n")

        module = Impl("new", [sys.executable, "-m", "workload"], {**os.environ, "PYTHONPATH": str(ROOT)})
        extra = [new_impl(p) for p in ns.python]
        for impl in [*impls, module, *extra]:  # bytecode caches written first, as in the image
            subprocess.run([*impl.command, "--help"], env=impl.env, capture_output=True, check=True)

        print("## Base resident set (holding no data), from /proc/<pid>/status\n")
        print("| workload | command | VmRSS MiB | of which RssAnon MiB |\n| --- | --- | --- | --- |")
        for impl in [*impls, module, *extra]:
            rss, anon = base_rss(impl)
            shown = " ".join(Path(impl.command[0]).name if i == 0 else a for i, a in enumerate(impl.command))
            shown = shown.replace(str(ROOT) + "/", "")
            print(f"| {impl.name} | `{shown}` ({impl.command[0]}) | {rss:.2f} | {anon:.2f} |")

        print("\n## Page touching, in-process: 4 KiB pages written per CPU second\n")
        print("| memory MiB | mmap slice assignment (new) | numpy strided add (old) | new / old |")
        print("| --- | --- | --- | --- |")
        for size, new, old in touch_rates():
            ratio = new / old if old == old else math.nan
            print(f"| {size} | {new / 1e6:.1f} M | {old / 1e6:.1f} M | {ratio:.2f} |")

        print("\n## Accuracy: target vs measured\n")
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(ns.load, 0))]
        try:
            jobs = [(impl, s) for s in SETTINGS for impl in impls]
            with ThreadPoolExecutor(max_workers=len(jobs) if ns.parallel else 1) as pool:
                results = list(pool.map(lambda j: measure(j[0], *j[1], ns.window), jobs))
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    print(table(results))
    print(
        f"\nwindow {ns.window:g} s, {ns.load} busy processes, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} (noisy when high)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
