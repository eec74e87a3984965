"""What the workload tells the world: a line a second on stdout, and a report file.

The line is ``key=value`` words so that ``kubectl logs`` stays readable and a script can
still split it. The file is JSON, replaced atomically (temporary file in the same directory,
then rename) so a reader polling it never sees half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Snapshot:
    """The work done so far. MiB are 2**20 bytes; CPU percent is of one CPU."""

    pid: int
    elapsed_s: float
    cpu_s: float
    cpu_percent: float  # over the last report period
    cpu_percent_avg: float  # since start
    rss_mib: float  # measured VmRSS: the quantity MEMORY targets
    data_mib: float  # held in arrays, on top of the base
    base_mib: float  # VmRSS before the first allocation
    loops: int
    pages_touched: int
    increment_mib: float  # current increment (halved after allocation failures)
    alloc_failures: int
    target_cpu_percent: float
    target_memory_mib: float
    final: bool = False

    def line(self) -> str:
        word = "final" if self.final else "report"
        return (
            f"workload {word} t={self.elapsed_s:.1f}s cpu={self.cpu_percent:.1f}% "
            f"avg={self.cpu_percent_avg:.1f}% rss={self.rss_mib:.1f}MiB data={self.data_mib:.1f}MiB "
            f"loops={self.loops} increment={self.increment_mib:g}MiB "
            f"failures={self.alloc_failures} pages={self.pages_touched}"
        )


def write_atomically(path: str, snapshot: Snapshot) -> None:
    """Replace ``path`` with the snapshot as JSON, never leaving a partial file behind."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".workload-report-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(snapshot), out)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
