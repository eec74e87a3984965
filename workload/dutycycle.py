"""How long to burn CPU in the next slice, from the CPU time the process really got.

An open-loop duty cycle (busy x ms, sleep y ms) drifts on a loaded node: the busy part
takes longer in wall time than in CPU time, and faulting pages in, the pass over every held
page, reporting and the interpreter add CPU of their own. So the controller compares the
process's measured CPU time with ``fraction x wall time`` since it started and asks for the
difference: CPU spent elsewhere (faulting, the per-loop pass) is paid back by idling, CPU
the scheduler did not grant is made up in the next slices. The debt or credit it carries is bounded, so a long stall (SIGSTOP, a
frozen node) does not turn into a long burst afterwards.
"""

from __future__ import annotations


class DutyCycle:
    """Feedback duty cycle: ``plan`` the busy CPU seconds of the next slice.

    ``fraction`` is the share of one CPU (0.2 for 20%); ``slice_s`` the length of one
    busy+sleep slice; ``max_carry_s`` the CPU seconds of debt or credit carried over. The
    default, one second's share, pays for the page touching of every loop but does not
    sit idle for long after the ramp-up, when faulting hundreds of MiB in costs more CPU
    than a small share buys in many seconds. (A plain class, not a dataclass: the
    dataclasses module alone costs every pod about 3 MiB resident.)
    """

    __slots__ = ("fraction", "slice_s", "max_carry_s", "_wall0", "_cpu0")

    def __init__(self, fraction: float, slice_s: float = 0.1, max_carry_s: float | None = None) -> None:
        self.fraction = fraction
        self.slice_s = slice_s
        self.max_carry_s = max_carry_s  # None: one second's share (``fraction`` seconds)
        self._wall0: float | None = None
        self._cpu0 = 0.0

    def start(self, wall: float, cpu: float) -> None:
        """Count from here: CPU spent after this (page faults included) is on the budget."""
        self._wall0, self._cpu0 = wall, cpu

    def plan(self, wall: float, cpu: float, length: float | None = None) -> float:
        """Busy CPU seconds for the slice starting now (0 to its length).

        ``wall`` is a monotonic clock and ``cpu`` the process CPU time, both in seconds;
        ``length`` the slice's wall length when shorter than ``slice_s`` (end of a loop).
        """
        length = self.slice_s if length is None else length
        if self._wall0 is None:
            self._wall0, self._cpu0 = wall, cpu
        owed = self.fraction * (wall - self._wall0) - (cpu - self._cpu0)
        carry = self.fraction if self.max_carry_s is None else self.max_carry_s
        if abs(owed) > carry:
            # Forget what cannot be paid back within about a second (anti-windup).
            excess = owed - (carry if owed > 0 else -carry)
            self._cpu0 -= excess
            owed -= excess
        return min(max(owed + self.fraction * length, 0.0), length)
