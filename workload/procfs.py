"""The process's own resident set, as the node sees it (``/proc/self/status`` VmRSS)."""

from __future__ import annotations

import resource


def rss_mib() -> float:
    """Current VmRSS in MiB; peak RSS (getrusage) where /proc is not available."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
