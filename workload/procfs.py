"""The process's own resident set, as the node sees it (``/proc/self/status`` VmRSS)."""

from __future__ import annotations


def rss_kib() -> int:
    """Current VmRSS in KiB; peak RSS (getrusage) where /proc is not available."""
    try:
        with open("/proc/self/status", "rb") as status:  # bytes: no text codec to import
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource  # only off Linux: not worth a module in every pod

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rss_mib() -> float:
    """Current VmRSS in MiB."""
    return rss_kib() / 1024
