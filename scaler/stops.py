"""Why a run ends: the end reasons, the stop flag signals set, and the stop rules the engine asks
after every step (design.md section 2).

Each rule is a small object with one question, ``check(state)``: should the run end after this
step, and why? The engine asks every rule at every step (a rule may keep state, such as the
saturation detector) and ends with the first reason in the rules' order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class EndReason(StrEnum):
    """Why a run ended, as written to the metadata and the --json summary."""

    RUNNING = "running"  # not ended yet: the metadata written at the start says this
    MAX_REPLICAS = "max-replicas"
    DURATION = "duration"
    SATURATED = "saturated"
    UNRESPONSIVE = "cluster-unresponsive"
    CLUSTER_ERROR = "cluster-error"
    INTERRUPTED = "interrupted"
    TERMINATED = "terminated"
    CRASHED = "crashed"  # an unexpected exception (a bug) ended it; the files are still valid

    @property
    def by_signal(self) -> bool:
        return self in (EndReason.INTERRUPTED, EndReason.TERMINATED)


@dataclass
class StopFlag:
    """Set from a signal handler; the engine polls it between operations, so a signal never
    interrupts a half-written row or a half-made API call."""

    reason: EndReason | None = None

    def request(self, reason: EndReason | str) -> None:
        if self.reason is None:
            self.reason = EndReason(reason)


@dataclass(frozen=True)
class StepState:
    """What a stop rule sees after a step: its number, the replicas requested (and whether that
    grew at this step), running pods, and the cluster clock: ``clock_s`` its monotonic reading,
    ``elapsed_s`` the seconds since the first step began."""

    step: int
    requested: int
    requested_grew: bool
    running: int
    clock_s: float
    elapsed_s: float


class StopRule(Protocol):
    def check(self, state: StepState) -> EndReason | None:
        """The reason to end after this step, or None to go on."""

    def figures(self) -> dict[str, Any]:
        """What the rule found, for the run's summary ({} when it has nothing to say)."""


@dataclass
class MaxReplicas:
    """End once this many replicas have been requested."""

    limit: int

    def check(self, state: StepState) -> EndReason | None:
        return EndReason.MAX_REPLICAS if state.requested >= self.limit else None

    def figures(self) -> dict[str, Any]:
        return {}


@dataclass
class Duration:
    """End once the run has gone on this long (cluster clock: virtual in simulation)."""

    seconds: float

    def check(self, state: StepState) -> EndReason | None:
        return EndReason.DURATION if state.elapsed_s >= self.seconds else None

    def figures(self) -> dict[str, Any]:
        return {}


@dataclass
class Saturation:
    """Saturation detector: running pods have not grown for ``steps`` consecutive steps while
    requested did, over at least ``window_s`` seconds.

    "Grown" means risen at least max(2 pods, 1 %) above the level where the streak began, so a
    saturated cluster whose running count creeps up by a pod now and then (evicted pods replaced
    one at a time) is still called saturated. Real growth clears a detection. The saturation
    step reported is the step after the streak's last new high, where running stopped tracking.
    """

    steps: int
    window_s: float
    level: int = -1  # running when the current streak began
    high: int = -1  # highest running seen within the streak
    high_step: int = 0
    flat: int = 0
    flat_since: float | None = None
    detected_step: int | None = None  # step at which the current detection was made
    first_saturation_step: int | None = None  # saturation step of the first detection

    @staticmethod
    def tolerance(level: int) -> float:
        return max(2.0, 0.01 * level)

    def update(self, step: int, t: float, running: int, requested_grew: bool) -> bool:
        if self.level < 0 or running >= self.level + self.tolerance(self.level):
            self.level = self.high = running
            self.high_step, self.flat, self.flat_since, self.detected_step = step, 0, None, None
            return False
        if running > self.high:
            self.high, self.high_step = running, step
        if not requested_grew:
            return self.detected_step is not None
        self.flat += 1
        if self.flat_since is None:
            self.flat_since = t
        if (self.detected_step is None and self.flat >= self.steps
                and t - self.flat_since >= self.window_s):
            self.detected_step = step
            if self.first_saturation_step is None:
                self.first_saturation_step = self.high_step + 1
        return self.detected_step is not None


@dataclass
class Saturated:
    """End ``beyond`` steps after saturation is detected."""

    detector: Saturation
    beyond: int

    def check(self, state: StepState) -> EndReason | None:
        d = self.detector
        if d.update(state.step, state.clock_s, state.running, state.requested_grew):
            assert d.detected_step is not None
            if state.step - d.detected_step >= self.beyond:
                return EndReason.SATURATED
        return None

    def figures(self) -> dict[str, Any]:
        return {"saturation_step": self.detector.first_saturation_step,
                "saturation_detected_step": self.detector.detected_step}
