"""The workload's main loop: grow, touch, burn the CPU share touching pages, report; until
told to stop.

One loop lasts ``growth.LOOP_S``: at its start the memory grows by one step of the shared
growth rule and every held page is touched; the rest of it is the feedback duty cycle in
short slices, whose busy parts write pages (the work counted); at its end one report line
(and the report file). Everything that costs CPU (faulting pages in, touching, reporting) is
measured by the same process CPU clock, so the duty cycle pays for it and the total stays on
target.
"""

from __future__ import annotations

import gc
import posix  # os without the ~160 KiB of modules it imports (see workload.report)
import sys
import time

from workload import growth
from workload.config import WorkloadConfig
from workload.dutycycle import DutyCycle
from workload.memory import MIB, PAGE, MemoryHolder
from workload.procfs import rss_kib
from workload.report import Snapshot, write_atomically
from workload.stopper import Stopper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 MiB resident)
if TYPE_CHECKING:
    from typing import TextIO

_INF = float("inf")


class Runner:
    """One run of the workload with a given configuration, writing to ``out``."""

    def __init__(self, config: WorkloadConfig, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.config = config
        self.out = sys.stdout if out is None else out
        self.err = sys.stderr if err is None else err
        self.memory = MemoryHolder()
        self.duty = DutyCycle(config.cpu_percent / 100.0)
        self.loops = 0
        self.failures = 0
        self.increment = config.increment_mib
        self.base = 0.0
        self._report_warned = False
        self.t0 = self.c0 = 0.0
        self._last = (0.0, 0.0, 0)  # wall, CPU, pages at the last report

    def run(self, stopper: Stopper | None = None) -> int:
        """Run until signalled or the duration is over; the exit status (0)."""
        own = stopper is None
        stopper = Stopper() if stopper is None else stopper
        try:
            self._loop(stopper)
        finally:
            if own:
                stopper.close()
        return 0

    def _loop(self, stopper: Stopper) -> None:
        cfg = self.config
        self.base = self._settle(stopper)
        if 0 < cfg.memory_mib < self.base:
            self._say_err(
                f"workload: MEMORY {cfg.memory_mib:g} MiB is below the base resident set "
                f"({self.base:.1f} MiB): holding no data"
            )
        self._say(
            f"workload start pid={posix.getpid()} cpu={cfg.cpu_percent:g}% memory={cfg.memory_mib:g}MiB "
            f"increment={cfg.increment_mib:g}MiB base={self.base:.1f}MiB"
        )
        self.t0, self.c0 = time.monotonic(), time.process_time()
        self._last = (self.t0, self.c0, self.memory.pages_touched)
        self.duty.start(self.t0, self.c0)
        deadline = self.t0 + cfg.duration_s if cfg.duration_s else _INF
        loop_end = self.t0
        while not stopper.stopped:
            self.loops += 1
            try:
                self._grow(stopper)
                self.memory.touch()
            except MemoryError:
                # Near an address-space limit the interpreter's own small allocations can
                # fail too: count it like a failed growth step and keep holding.
                self.failures += 1
            loop_end = max(loop_end + growth.LOOP_S, time.monotonic())
            self._burn(min(loop_end, deadline), stopper)
            if stopper.stopped or time.monotonic() >= deadline:
                break
            self._report(final=False)
        self._report(final=True)

    def _settle(self, stopper: Stopper) -> float:
        """The base resident set in MiB, measured once everything the loop runs has run once.

        The first report, signal check and clock reads fault in interpreter pages of their
        own; done here beforehand, they are part of the base and do not push the process
        over its MEMORY target later. Then the start-up objects are frozen: the garbage
        collector stops walking them (fewer pages touched, less CPU).
        """
        _ = stopper.stopped, time.process_time(), time.monotonic(), time.time_ns()
        MemoryHolder().grow(4 * PAGE / MIB)  # mapping, touching and unmapping, once
        self._snapshot(final=False, now=time.monotonic(), cpu=time.process_time()).file_line()
        self._snapshot(final=False, now=time.monotonic(), cpu=time.process_time()).line()
        gc.collect()
        gc.freeze()
        return rss_kib() / 1024

    def _grow(self, stopper: Stopper) -> None:
        held = self.base + self.memory.held_mib
        step = growth.step_size(held, self.config.memory_mib, self.increment)
        if step <= 0 or self.memory.grow(step, interrupted=lambda: stopper.stopped):
            return
        self.failures += 1
        failed = self.increment
        self.increment = growth.increment_after_failure(failed)
        if self.increment != failed:  # at the floor the report line's count says enough
            self._say(
                f"workload allocation of {step:g} MiB failed "
                f"(holding {self.memory.held_mib:.1f} MiB of data): increment now {self.increment:g} MiB"
            )

    def _burn(self, until: float, stopper: Stopper) -> None:
        """Run duty-cycle slices until ``until`` (monotonic) or a stop."""
        duty = self.duty
        while not stopper.stopped:
            now = time.monotonic()
            if now >= until:
                return
            length = min(duty.slice_s, until - now)
            busy = duty.plan(now, time.process_time(), length)
            if busy > 0:
                self._work(busy, now + length, stopper)
            stopper.sleep(now + length - time.monotonic())

    def _work(self, cpu_s: float, wall_deadline: float, stopper: Stopper) -> None:
        """Touch pages for ``cpu_s`` of this process's CPU time, giving up at ``wall_deadline``."""
        clock, wall, work = time.process_time, time.monotonic, self.memory.work
        end = clock() + cpu_s
        try:
            while clock() < end and wall() < wall_deadline and not stopper.stopped:
                work()
        except (OSError, MemoryError):
            # No scratch area could be mapped (nothing held, address space exhausted): burn
            # the rest of the share without counting work rather than stop.
            while clock() < end and wall() < wall_deadline and not stopper.stopped:
                pass

    def _snapshot(self, final: bool, now: float, cpu: float) -> Snapshot:
        last_wall, last_cpu, last_pages = self._last
        pages = self.memory.pages_touched
        period = now - last_wall
        elapsed = now - self.t0
        return Snapshot(
            pid=posix.getpid(),
            epoch_us=time.time_ns() // 1000,
            elapsed_s=round(elapsed, 3),
            period_us=round(period * 1e6),
            pages_per_s=round((pages - last_pages) / period) if period > 0 else 0,
            pages_total=pages,
            cpu_centipct=round(10000 * (cpu - last_cpu) / period) if period > 0 else 0,
            cpu_percent_avg=round(100 * (cpu - self.c0) / elapsed, 2) if elapsed > 0 else 0.0,
            rss_kib=rss_kib(),
            data_mib=round(self.memory.held_mib, 2),
            base_mib=round(self.base, 2),
            loops=self.loops,
            increment_mib=self.increment,
            alloc_failures=self.failures,
            final=final,
        )

    def _report(self, final: bool) -> None:
        now, cpu = time.monotonic(), time.process_time()
        snap = self._snapshot(final, now, cpu)
        self._last = (now, cpu, snap.pages_total)
        self._say(snap.line())
        if self.config.report_path:
            try:
                write_atomically(self.config.report_path, snap.file_line())
            except OSError as exc:
                if not self._report_warned:
                    self._report_warned = True
                    self._say_err(f"workload: cannot write report {self.config.report_path}: {exc.strerror}")

    def _say(self, line: str) -> None:
        _emit(self.out, line)

    def _say_err(self, line: str) -> None:
        _emit(self.err, line)


def _emit(stream: TextIO, line: str) -> None:
    """Print and flush; a closed stdout (pipe gone) must not kill the workload."""
    try:
        stream.write(line + "\n")
        stream.flush()
    except (ValueError, OSError, MemoryError):
        pass
