"""SIGTERM and SIGINT as a flag, and a sleep that a signal cuts short.

Python retries an interrupted ``time.sleep``, so a plain sleep would delay the exit by a
whole slice. Instead the C-level handler writes to a pipe (``signal.set_wakeup_fd``) and
sleeping is a ``select`` on that pipe: the signal ends the sleep at once, and the loop
exits at its next check without an exception thrown into the middle of an allocation.
"""

from __future__ import annotations

import os
import select
import signal


class Stopper:
    """Set by SIGTERM/SIGINT; ``sleep`` returns early when it is."""

    def __init__(self) -> None:
        self.stopped = False
        self.signal_name: str | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous_fd = signal.set_wakeup_fd(self._write)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        self.stopped = True
        self.signal_name = signal.Signals(signum).name

    def stop(self) -> None:
        self.stopped = True

    def sleep(self, seconds: float) -> None:
        if self.stopped or seconds <= 0:
            return
        ready, _, _ = select.select([self._read], [], [], seconds)
        if ready:
            try:
                os.read(self._read, 512)
            except BlockingIOError:
                pass

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)
