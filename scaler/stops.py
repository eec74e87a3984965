"""Why a run ends: the end reasons, the stop flag signals set, and the stop rules the engine asks
after every step (design.md section 2).

Each rule is a small object with one question, ``check(state)``: should the run end after this
step, and why? The engine asks every rule at every step and ends with the first reason in the
rules' order. What the cluster did (its knee, its stop) is computed once per step by the
engine's ``viz.figures.RunFigures``, which the stop rule reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from viz.figures import RunFigures


class EndReason(StrEnum):
    """Why a run ended, as written to the metadata and the --json summary."""

    RUNNING = "running"  # not ended yet: the metadata written at the start says this
    MAX_REPLICAS = "max-replicas"
    DURATION = "duration"
    SATURATED = "saturated"  # the cluster stopped gaining (the stop rule of viz.figures)
    UNRESPONSIVE = "cluster-unresponsive"
    CLUSTER_ERROR = "cluster-error"
    INTERRUPTED = "interrupted"
    TERMINATED = "terminated"
    CRASHED = "crashed"  # an unexpected exception (a bug) ended it; the files are still valid


@dataclass
class StopFlag:
    """Set from a signal handler; the engine polls it between operations, so a signal never
    interrupts a half-written row.

    ``interruptible`` is True while the engine is in a cluster call or a wait (never while it
    records or cleans up): if a stop is asked and the run has not ended a moment later (a call
    that hangs, a slow simulated second), the signal side may interrupt it there at once.
    """

    reason: EndReason | None = None
    interruptible: bool = False

    def request(self, reason: EndReason | str) -> None:
        if self.reason is None:
            self.reason = EndReason(reason)

    @contextmanager
    def interruptions_allowed(self) -> Iterator[None]:
        previous, self.interruptible = self.interruptible, True
        try:
            yield
        finally:
            self.interruptible = previous


@dataclass(frozen=True)
class StepState:
    """What a stop rule sees after a step: its number, the replicas requested, running pods, and
    the seconds since the first step began (cluster clock)."""

    step: int
    requested: int
    running: int
    elapsed_s: float


class StopRule(Protocol):
    def check(self, state: StepState) -> EndReason | None:
        """The reason to end after this step, or None to go on."""


@dataclass
class MaxReplicas:
    """End once this many replicas have been requested."""

    limit: int

    def check(self, state: StepState) -> EndReason | None:
        return EndReason.MAX_REPLICAS if state.requested >= self.limit else None


@dataclass
class Duration:
    """End once the run has gone on this long (cluster clock: virtual in simulation)."""

    seconds: float

    def check(self, state: StepState) -> EndReason | None:
        return EndReason.DURATION if state.elapsed_s >= self.seconds else None


@dataclass
class StoppedGaining:
    """End ``beyond`` steps after the cluster has stopped gaining: the stop rule of
    ``viz.figures`` (no new running maximum over a window that grows with the run), which the
    engine's ``RunFigures`` evaluates at every step before the rules are asked."""

    figures: RunFigures
    beyond: int = 0

    def check(self, state: StepState) -> EndReason | None:
        at = self.figures.stop.stop_step
        if at is not None and state.step - at >= self.beyond:
            return EndReason.SATURATED
        return None
