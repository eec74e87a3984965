"""The scaling modes (design.md section 2): what a step does between raising the replicas and
recording the observation. One small class per mode behind one interface, chosen by name from
``MODES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from scaler.clock import Clock
from scaler.cluster import PodCounts
from scaler.stops import StopFlag

if TYPE_CHECKING:
    from scaler.config import RunConfig


class StepIO(Protocol):
    """What the engine lends a mode for one step."""

    clock: Clock
    stop: StopFlag

    def observe(self) -> tuple[PodCounts, float]:
        """Observe the pods: the counts and how long the call took."""

    def wait(self, seconds: float) -> None:
        """Let time pass, honouring the stop flag and draining node samples meanwhile."""


class Mode(Protocol):
    def settle(self, io: StepIO, requested: int, t_step: float) -> tuple[PodCounts, float]:
        """After the raise to ``requested`` (begun at ``t_step`` on the clock), the observation
        that ends the step and how long that observation took."""


@dataclass(frozen=True)
class FixedInterval:
    """Raise every ``interval_s``: wait until that long after the raise began, then observe."""

    interval_s: float

    def settle(self, io: StepIO, requested: int, t_step: float) -> tuple[PodCounts, float]:
        io.wait(self.interval_s - (io.clock.monotonic() - t_step))
        return io.observe()


@dataclass(frozen=True)
class WaitForRunning:
    """Observe every ``poll_s`` until running == requested or ``timeout_s`` after the raise."""

    timeout_s: float
    poll_s: float

    def settle(self, io: StepIO, requested: int, t_step: float) -> tuple[PodCounts, float]:
        while True:
            counts, took = io.observe()
            waited = io.clock.monotonic() - t_step
            if counts.running >= requested or waited >= self.timeout_s or io.stop.reason:
                return counts, took
            io.wait(min(self.poll_s, self.timeout_s - waited))


@dataclass(frozen=True)
class NoWait:
    """Raise again as soon as the observation is recorded."""

    def settle(self, io: StepIO, requested: int, t_step: float) -> tuple[PodCounts, float]:
        return io.observe()


MODES: dict[str, Callable[[RunConfig], Mode]] = {
    "fixed-interval": lambda c: FixedInterval(c.interval_s),
    "wait": lambda c: WaitForRunning(c.wait_timeout_s, c.poll_s),
    "no-wait": lambda c: NoWait(),
}


def mode_for(config: RunConfig) -> Mode:
    return MODES[config.mode](config)
