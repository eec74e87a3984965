"""The live one-line status shown while a run goes on (only on a terminal, never with --quiet)."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from scaler.recorder import StepRow


def format_status(row: StepRow) -> str:
    free = "-" if row.mem_free_mib is None else f"{row.mem_free_mib / 1024:.1f} GiB"
    return (
        f"step {row.step}  requested {row.requested}  running {row.running}  "
        f"pending {row.pending}  creating {row.creating}  evicted {row.evicted}  "
        f"oom {row.oom_killed}  free {free}  t+{row.elapsed_s:.0f}s"
    )


class StatusLine:
    """Rewrites one terminal line in place; ``enabled`` False makes every call a no-op."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True):
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self._shown = False

    def update(self, row: StepRow) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r" + format_status(row)[:width].ljust(width))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()
            self._shown = False
