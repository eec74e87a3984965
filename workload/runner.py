"""The workload's main loop: grow, touch, burn the CPU share, report; until told to stop.

One loop lasts ``growth.LOOP_S``: at its start the memory grows by one step of the shared
growth rule and every held page is touched; the rest of it is the feedback duty cycle in
short slices; at its end one report line (and the report file). Everything that costs CPU
(faulting pages in, touching, reporting) is measured by the same process CPU clock, so the
duty cycle pays for it and the total stays on target.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from workload import growth
from workload.config import WorkloadConfig
from workload.dutycycle import DutyCycle
from workload.memory import MemoryHolder
from workload.procfs import rss_mib
from workload.report import Snapshot, write_atomically
from workload.stopper import Stopper


@dataclass
class _State:
    loops: int = 0
    failures: int = 0
    increment: float = 0.0


class Runner:
    """One run of the workload with a given configuration, writing to ``out``."""

    def __init__(self, config: WorkloadConfig, out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.config = config
        self.out, self.err = out, err
        self.memory = MemoryHolder()
        self.duty = DutyCycle(config.cpu_percent / 100.0)
        self.state = _State(increment=config.increment_mib)
        self._report_warned = False

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
        cfg, state = self.config, self.state
        self.base = rss_mib()
        if 0 < cfg.memory_mib < self.base:
            self._say_err(
                f"workload: MEMORY {cfg.memory_mib:g} MiB is below the base resident set "
                f"({self.base:.1f} MiB): holding no data"
            )
        self._say(
            f"workload start pid={os.getpid()} cpu={cfg.cpu_percent:g}% memory={cfg.memory_mib:g}MiB "
            f"increment={cfg.increment_mib:g}MiB base={self.base:.1f}MiB"
        )
        self.t0, self.c0 = time.monotonic(), time.process_time()
        self._last = (self.t0, self.c0)
        self.duty.start(self.t0, self.c0)
        deadline = self.t0 + cfg.duration_s if cfg.duration_s else math.inf
        loop_end = self.t0
        while not stopper.stopped:
            state.loops += 1
            try:
                self._grow(stopper)
                self.memory.touch()
            except MemoryError:
                # Near an address-space limit the interpreter's own small allocations can
                # fail too: count it like a failed growth step and keep holding.
                state.failures += 1
            loop_end = max(loop_end + growth.LOOP_S, time.monotonic())
            self._burn(min(loop_end, deadline), stopper)
            if stopper.stopped or time.monotonic() >= deadline:
                break
            self._report(final=False)
        self._report(final=True)

    def _grow(self, stopper: Stopper) -> None:
        state = self.state
        held = self.base + self.memory.held_mib
        step = growth.step_size(held, self.config.memory_mib, state.increment)
        if step <= 0 or self.memory.grow(step, interrupted=lambda: stopper.stopped):
            return
        state.failures += 1
        failed = state.increment
        state.increment = growth.increment_after_failure(failed)
        if state.increment != failed:  # at the floor the report line's count says enough
            self._say(
                f"workload allocation of {step:g} MiB failed "
                f"(holding {self.memory.held_mib:.1f} MiB of data): increment now {state.increment:g} MiB"
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
                _spin(busy, now + length, stopper)
            stopper.sleep(now + length - time.monotonic())

    def _report(self, final: bool) -> None:
        now, cpu = time.monotonic(), time.process_time()
        last_wall, last_cpu = self._last
        self._last = (now, cpu)
        elapsed = now - self.t0
        snap = Snapshot(
            pid=os.getpid(),
            elapsed_s=round(elapsed, 3),
            cpu_s=round(cpu - self.c0, 4),
            cpu_percent=round(_percent(cpu - last_cpu, now - last_wall), 2),
            cpu_percent_avg=round(_percent(cpu - self.c0, elapsed), 2),
            rss_mib=round(rss_mib(), 2),
            data_mib=round(self.memory.held_mib, 2),
            base_mib=round(self.base, 2),
            loops=self.state.loops,
            pages_touched=self.memory.pages_touched,
            increment_mib=self.state.increment,
            alloc_failures=self.state.failures,
            target_cpu_percent=self.config.cpu_percent,
            target_memory_mib=self.config.memory_mib,
            final=final,
        )
        self._say(snap.line())
        if self.config.report_path:
            try:
                write_atomically(self.config.report_path, snap)
            except OSError as exc:
                if not self._report_warned:
                    self._report_warned = True
                    self._say_err(f"workload: cannot write report {self.config.report_path}: {exc.strerror}")

    def _say(self, line: str) -> None:
        _emit(self.out, line)

    def _say_err(self, line: str) -> None:
        _emit(self.err, line)


def _spin(cpu_s: float, wall_deadline: float, stopper: Stopper) -> None:
    """Burn ``cpu_s`` of this process's CPU time, giving up at ``wall_deadline``."""
    clock, wall = time.process_time, time.monotonic
    end = clock() + cpu_s
    while clock() < end and wall() < wall_deadline and not stopper.stopped:
        for _ in range(64):
            pass


def _percent(cpu_s: float, wall_s: float) -> float:
    return 100.0 * cpu_s / wall_s if wall_s > 0 else 0.0


def _emit(stream: TextIO, line: str) -> None:
    """Print and flush; a closed stdout (pipe gone) must not kill the workload."""
    try:
        print(line, file=stream, flush=True)
    except (ValueError, OSError, MemoryError):
        pass
