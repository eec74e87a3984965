"""What the workload tells the world: a line a second on stdout, and a report file.

The stdout line is ``key=value`` words so that ``kubectl logs`` stays readable and a script
can still split it. The report file is the collectors' contract: ONE line of integers that
a shell reads with ``read -r tag version epoch_us pages_per_s period_us pages_total rss_kib
cpu_centipct``::

    scaler-work 1 <epoch_us> <pages_per_s> <period_us> <pages_total> <rss_kib> <cpu_centipct>

- ``scaler-work 1``: what the file is, and the version of this format;
- ``epoch_us``: when it was written, wall clock, microseconds since the Unix epoch;
- ``pages_per_s``: the work rate, 4 KiB pages touched per second over the last period;
- ``period_us``: that period, microseconds (about the 1 s loop; shorter for the last report
  of a stopped process). A report older than 3 periods (``now - epoch_us > 3 * period_us``)
  is stale: its process stopped or is starved, and its rate no longer counts as work;
- ``pages_total``: pages touched since the process started;
- ``rss_kib``: the process's resident set (VmRSS), KiB;
- ``cpu_centipct``: CPU used over the period, hundredths of a percent of one CPU
  (2000 = 20 %).

It is replaced atomically (a temporary file in the same directory, then rename), so a
reader never sees half of one.
"""

from __future__ import annotations

# posix is what os wraps on Linux; os itself would also import stat, posixpath and
# collections.abc: about 160 KiB more resident set in every pod.
import posix

REPORT_TAG = "scaler-work"
REPORT_VERSION = 1


class Snapshot:
    """The work done so far. MiB are 2**20 bytes; CPU percent is of one CPU. A plain class
    with slots: the dataclasses module costs every pod about 3 MiB resident."""

    __slots__ = (
        "pid", "epoch_us", "elapsed_s", "period_us", "pages_per_s", "pages_total",
        "cpu_centipct", "cpu_percent_avg", "rss_kib", "data_mib", "base_mib", "loops",
        "increment_mib", "alloc_failures", "final",
    )

    def __init__(
        self,
        *,
        pid: int,
        epoch_us: int,
        elapsed_s: float,
        period_us: int,
        pages_per_s: int,
        pages_total: int,
        cpu_centipct: int,  # over the last report period
        cpu_percent_avg: float,  # since start
        rss_kib: int,  # measured VmRSS: the quantity MEMORY targets
        data_mib: float,  # held in mappings, on top of the base
        base_mib: float,  # VmRSS before the first allocation
        loops: int,
        increment_mib: float,  # current increment (halved after allocation failures)
        alloc_failures: int,
        final: bool = False,
    ) -> None:
        self.pid = pid
        self.epoch_us = epoch_us
        self.elapsed_s = elapsed_s
        self.period_us = period_us
        self.pages_per_s = pages_per_s
        self.pages_total = pages_total
        self.cpu_centipct = cpu_centipct
        self.cpu_percent_avg = cpu_percent_avg
        self.rss_kib = rss_kib
        self.data_mib = data_mib
        self.base_mib = base_mib
        self.loops = loops
        self.increment_mib = increment_mib
        self.alloc_failures = alloc_failures
        self.final = final

    def line(self) -> str:
        """The stdout line."""
        word = "final" if self.final else "report"
        return (
            f"workload {word} t={self.elapsed_s:.1f}s work={self.pages_per_s}pages/s "
            f"cpu={self.cpu_centipct / 100:.1f}% avg={self.cpu_percent_avg:.1f}% "
            f"rss={self.rss_kib / 1024:.1f}MiB data={self.data_mib:.1f}MiB "
            f"loops={self.loops} increment={self.increment_mib:g}MiB "
            f"failures={self.alloc_failures} pages={self.pages_total}"
        )

    def file_line(self) -> str:
        """The report file's one line (see the module documentation)."""
        return (
            f"{REPORT_TAG} {REPORT_VERSION} {self.epoch_us} {self.pages_per_s} {self.period_us} "
            f"{self.pages_total} {self.rss_kib} {self.cpu_centipct}\n"
        )


def write_atomically(path: str, text: str) -> None:
    """Replace ``path`` with ``text``, never leaving a partial file behind.

    The temporary file is ``.<name>.<pid>.tmp`` beside it: a fixed name per process, so a
    process killed between the two steps leaves at most one, which the next run with the
    same pid (a container's pid 1 after a restart) reuses instead of piling up more.
    """
    head, slash, name = path.rpartition("/")
    tmp = f"{head}{slash}.{name}.{posix.getpid()}.tmp"
    data = text.encode()
    try:
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC | posix.O_NOFOLLOW, 0o644)
        try:
            while data:
                data = data[posix.write(fd, data) :]
        finally:
            posix.close(fd)
        posix.replace(tmp, path)
    except BaseException:
        try:
            posix.unlink(tmp)
        except OSError:
            pass
        raise
