"""SIGTERM and SIGINT as a flag, and a sleep that a signal cuts short.

The two signals are blocked and taken synchronously (``sigtimedwait``), the classic way
for a single-threaded program: sleeping is a wait for one of them, so a signal ends the
sleep at once; between sleeps ``stopped`` asks the kernel whether one is pending. Nothing
is thrown into the middle of an allocation or a report write, no pipe or select is needed,
and a Ctrl-C never becomes a KeyboardInterrupt traceback.

It uses ``_signal``, the C module behind ``signal``: ``signal`` itself imports enum and
costs every pod about 0.9 MiB of resident set for two constants. Linux (and any POSIX
system with ``sigtimedwait``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 MiB resident)
if TYPE_CHECKING:
    import signal as _signal  # same functions and constants, typed
else:
    import _signal

_NAMES = {int(_signal.SIGTERM): "SIGTERM", int(_signal.SIGINT): "SIGINT"}


class Stopper:
    """Set by SIGTERM/SIGINT; ``sleep`` returns early when one comes."""

    __slots__ = ("_stopped", "signal_name", "_signals", "_previous_mask")

    def __init__(self) -> None:
        self._stopped = False
        self.signal_name: str | None = None
        self._signals = set(_NAMES)
        self._previous_mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, self._signals)

    @property
    def stopped(self) -> bool:
        """True once a stop signal came (or ``stop`` was called); a cheap system call."""
        if not self._stopped and not self._signals.isdisjoint(_signal.sigpending()):
            self._take(0.0)
        return self._stopped

    def stop(self) -> None:
        self._stopped = True

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and not self.stopped:
            self._take(seconds)

    def _take(self, timeout: float) -> None:
        info = _signal.sigtimedwait(self._signals, timeout)
        if info is not None:
            self._stopped = True
            self.signal_name = _NAMES.get(info.si_signo, str(info.si_signo))

    def close(self) -> None:
        """Unblock the signals again, first taking any that are pending (the stop they ask
        for has happened: delivered now, their default action would kill the process)."""
        while not self._signals.isdisjoint(_signal.sigpending()):
            self._take(0.0)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, self._previous_mask)
