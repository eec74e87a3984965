"""Ctrl-C and SIGTERM during `scaler run`: stop soon, leave valid files, clean up.

The first signal asks the engine to stop after the current operation (the stop flag), so the
step being recorded is finished and the cluster is cleaned up. If the run has not ended a second
later (an operation that takes long: a hung API call, a simulated second of a large cluster),
the operation is interrupted there and then, at a point the engine marks as safe to cut
(``StopFlag.interruptible``: a cluster call or a wait, never a file write or the clean-up).
A second signal interrupts at once, wherever the run is.

A signal the program was started ignoring stays ignored: a shell without job control starts a
background command (``scaler run ... &`` in a script) ignoring Ctrl-C, and ``nohup`` and
service managers may do the same. Python itself then leaves SIGINT alone, so a run neither
catches it at start-up nor later; SIGTERM still stops it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from scaler.stops import EndReason, StopFlag

# How long the first signal waits for the run to stop by itself before cutting the operation
# in progress: the bar is "stopped within 1-2 s".
GRACE_S = 1.0
RETRY_S = 0.1  # the run was recording or cleaning up: look again this soon


@contextmanager
def stop_on_signals(stop: StopFlag, grace_s: float = GRACE_S) -> Iterator[None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.reason is not None:
            raise KeyboardInterrupt
        stop.request(EndReason.INTERRUPTED if signum == signal.SIGINT else EndReason.TERMINATED)
        signal.setitimer(signal.ITIMER_REAL, grace_s)

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        if stop.interruptible:
            stop.interruptible = False  # once: the clean-up that follows must not be cut
            raise KeyboardInterrupt
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)

    wanted = [(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM) if caught(s)]
    old = {s: signal.signal(s, h) for s, h in (*wanted, (signal.SIGALRM, on_alarm))}
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, h in old.items():
            signal.signal(s, h)


def caught(signum: int) -> bool:
    """Whether to handle ``signum``: not when the program was started ignoring it."""
    return signal.getsignal(signum) is not signal.SIG_IGN
