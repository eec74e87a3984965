"""Parse and render /proc/meminfo.

One parser for real nodes (SSH) and simulated ones, so a quirk in the format is handled once.
Values in /proc/meminfo are kB (KiB, despite the unit's name); ``MemInfo`` keeps KiB and offers MiB.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class MemInfoError(ValueError):
    """Raised when text is not /proc/meminfo (so a garbled stream is never mistaken for data)."""


@dataclass(frozen=True)
class MemInfo:
    """The fields this tool records, in KiB; ``fields`` keeps everything the node reported."""

    total_kib: int
    free_kib: int
    available_kib: int | None
    active_kib: int | None
    fields: dict[str, int]

    @property
    def total_mib(self) -> float:
        return self.total_kib / 1024.0

    @property
    def free_mib(self) -> float:
        return self.free_kib / 1024.0

    @property
    def available_mib(self) -> float | None:
        return None if self.available_kib is None else self.available_kib / 1024.0

    @property
    def active_mib(self) -> float | None:
        return None if self.active_kib is None else self.active_kib / 1024.0

    def field_mib(self, name: str) -> float | None:
        """Any field the node reported, in MiB (None when it did not report it)."""
        kib = self.fields.get(name)
        return None if kib is None else kib / 1024.0


def parse_meminfo(text: str) -> MemInfo:
    """Parse /proc/meminfo text.

    Lines look like ``MemTotal:       16384000 kB`` (``HugePages_Total:`` has no unit; the
    collectors' frames send ``MemTotal:16384000``). Unknown or malformed lines are skipped rather
    than fatal, because kernels add fields; but MemTotal and MemFree must be present, or the text
    is not a meminfo sample at all.
    """
    return parse_meminfo_lines(text.splitlines())


def parse_meminfo_lines(lines: Iterable[str]) -> MemInfo:
    """``parse_meminfo`` over lines already split (a frame's meminfo lines)."""
    fields: dict[str, int] = {}
    for line in lines:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1] not in ("kB", "KB", "kb"):
            continue
        fields[name.strip()] = value
    try:
        total = fields["MemTotal"]
        free = fields["MemFree"]
    except KeyError as missing:
        raise MemInfoError(f"not /proc/meminfo: no {missing.args[0]} line") from None
    return MemInfo(
        total_kib=total,
        free_kib=free,
        available_kib=fields.get("MemAvailable"),
        active_kib=fields.get("Active"),
        fields=fields,
    )


# The kernel's order (fs/proc/meminfo.c meminfo_proc_show, then hugetlb_report_meminfo in
# mm/hugetlb.c and arch_report_meminfo in arch/x86/mm/pat/set_memory.c), as an x86_64 RHCOS
# worker prints it (RHEL 9 kernel: no HighTotal/MmapCopy, no CMA, no Zswap lines).
_ORDER = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
    "Unevictable", "Mlocked", "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages",
    "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
    "PageTables", "NFS_Unstable", "Bounce", "WritebackTmp", "CommitLimit", "Committed_AS",
    "VmallocTotal", "VmallocUsed", "VmallocChunk", "Percpu", "HardwareCorrupted",
    "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped", "FileHugePages", "FilePmdMapped",
    "HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize",
    "Hugetlb", "DirectMap4k", "DirectMap2M", "DirectMap1G",
)
#: Page counts, printed without a unit (mm/hugetlb.c: "HugePages_Total:   %5lu").
_UNITLESS = frozenset({"HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"})


def _line(name: str, value: int) -> str:
    if name in _UNITLESS:
        return f"{(name + ':'):<16}{value:>8d}\n"
    if len(name) >= 16:  # "HardwareCorrupted: %5lu kB" (mm/memory-failure.c counts, meminfo.c)
        return f"{name}: {value:>5d} kB\n"
    return f"{(name + ':'):<16}{value:>8d} kB\n"


def render_meminfo(fields: dict[str, int]) -> str:
    """Render KiB fields in the kernel's layout (name padded to 16 columns, value right-aligned
    in 8, " kB"; the huge page counts without a unit)."""
    names = [n for n in _ORDER if n in fields] + [n for n in fields if n not in _ORDER]
    return "".join(_line(n, int(fields[n])) for n in names)
