"""Capped exponential back-off with jitter, so hundreds of nodes that dropped together (a switch,
a jump host) do not all knock again in the same instant."""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial_s: float,
        cap_s: float,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or cap_s < initial_s or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial <= cap, factor >= 1, 0 <= jitter < 1")
        self.initial_s, self.cap_s, self.factor, self.jitter = initial_s, cap_s, factor, jitter
        self._rng = rng or random.Random()
        self._attempt = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; grows by ``factor`` per call up to ``cap_s``."""
        base = min(self.cap_s, self.initial_s * self.factor**self._attempt)
        self._attempt += 1
        return base * self._rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def reset(self) -> None:
        """Called once a connection delivers data again."""
        self._attempt = 0
