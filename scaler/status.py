"""The live one-line status shown while a run goes on (only on a terminal, never with --quiet)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from typing import TextIO

from scaler.recorder import StepRow

# ANSI "erase to the end of the line": the line is rewritten without padding it to the
# terminal's width, so the "^C" a terminal echoes on Ctrl-C lands on this line (not wrapped to
# the next) and goes with it.
ERASE_LINE = "\x1b[K"
# Room left at the end of the line for that echo.
ECHO_ROOM = 3


def _rate(value: float) -> str:
    """Pages per second, shortened: 950, 12.3k, 4.56M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"


def format_status(row: StepRow, max_replicas: int | None = None,
                  notes: Sequence[str] = ()) -> str:
    free = "-" if row.mem_free_mib is None else f"{row.mem_free_mib / 1024:.1f} GiB"
    requested = f"requested {row.requested}"
    if max_replicas:
        requested += f"/{max_replicas} ({100 * row.requested / max_replicas:.0f}%)"
    # Work and CPU only when the nodes tell them (SSH collectors reading reports and /proc/stat).
    work = "" if row.work_rate is None else f"  work {_rate(row.work_rate)} pages/s"
    cpu = "" if row.cpu_busy_pct is None else f"  cpu {row.cpu_busy_pct:.0f}%"
    return (
        f"step {row.step}  {requested}  running {row.running}  "
        f"pending {row.pending}  creating {row.creating}  terminating {row.terminating}  "
        f"evicted {row.evicted}  oom {row.oom_killed}  free {free}{work}{cpu}  "
        f"t+{row.elapsed_s:.0f}s{''.join('  ' + n for n in notes)}"
    )


class StatusLine:
    """Rewrites one terminal line in place; ``enabled`` False makes every call a no-op.
    ``max_replicas`` shows progress toward that many requested replicas."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True,
                 max_replicas: int | None = None):
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.max_replicas = max_replicas
        self._shown = False

    def update(self, row: StepRow, notes: Sequence[str] = ()) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 20)).columns - ECHO_ROOM
        text = format_status(row, self.max_replicas, notes)[:max(width, 1)]
        self.stream.write("\r" + text + ERASE_LINE)
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + ERASE_LINE)
            self.stream.flush()
            self._shown = False
