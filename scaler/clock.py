"""Clocks: the engine never calls time.* directly, so a simulated run goes in virtual time.

A real run uses ``WallClock``. The simulator supplies a clock whose ``sleep`` advances the model,
so a 999-step, 5-second-interval run takes seconds of wall time and no real sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds (UTC), for timestamps in the CSV."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for durations."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (really, or in the model)."""


class WallClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
