"""The full /proc/meminfo of a simulated RHCOS worker, from the model's memory accounting.

``views.meminfo_mib`` derives the fields the model accounts for (free, page cache, shmem,
anonymous memory, and a fixed kernel share of the node's system memory). A real worker prints
about 50 lines (fs/proc/meminfo.c ``meminfo_proc_show``, Documentation/filesystems/proc.rst
"meminfo"); the others are derived here so that every sum the kernel's accounting implies holds:

- ``Active = Active(anon) + Active(file)``, ``Inactive = Inactive(anon) + Inactive(file)``
  (both sums of the LRU lists, meminfo.c ``pages[LRU_*]``);
- ``Slab = SReclaimable + SUnreclaim``; ``KReclaimable >= SReclaimable`` (reclaimable slab plus
  other reclaimable kernel memory, NR_KERNEL_MISC_RECLAIMABLE: none here);
- ``CommitLimit = MemTotal * vm.overcommit_ratio / 100 + SwapTotal`` (mm/util.c
  ``vm_commit_limit``; ratio 50 by default, no hugetlb pool to subtract);
- ``Hugetlb = HugePages_Total * Hugepagesize`` (no huge page pool on a worker by default);
- ``AnonHugePages <= AnonPages`` (transparent huge pages are part of the anonymous pages);
- ``DirectMap4k + DirectMap2M + DirectMap1G`` covers the RAM (MemTotal plus what firmware and
  the kernel image reserved before MemTotal was counted);
- the non-LRU kernel memory the model charges (its fixed kernel share) is split among Slab,
  PageTables, Percpu and VmallocUsed, which on x86_64 RHEL (CONFIG_VMAP_STACK=y) includes the
  KernelStack pages; so ``MemTotal = MemFree + Active + Inactive + Unevictable + Slab +
  PageTables + Percpu + VmallocUsed`` to rounding, as on a kernel with no other untracked
  allocations. The split is presentation: the model's kernel share is fixed, so Slab absorbs
  the kernel stacks and page tables of new pods (it shrinks by about 0.2 MiB per pod).

Values that depend on what the model does not simulate (THP use, vmalloc of modules, per-CPU
areas) are stated as assumptions below, each with what a real worker shows.
"""

from __future__ import annotations

import numpy as np

#: x86_64 THREAD_SIZE is 16 KiB (arch/x86/include/asm/page_64_types.h): KernelStack is 16 kB
#: per thread.
KERNEL_STACK_KIB_PER_THREAD = 16
#: Threads on a worker with no pods (systemd, crio, kubelet, ovn, node services, kernel
#: threads) and per pod (conmon, pause, the workload, the runtime's helpers). Assumed; the
#: thread count in /proc/loadavg uses the same figures.
THREADS_BASE = 400
THREADS_PER_POD = 12
#: One page-table entry of 8 bytes maps 4 KiB: page tables take 1/512 of the mapped anonymous
#: memory (4-level paging; transparent huge pages would take less).
PAGE_TABLE_RATIO = 1.0 / 512.0
#: Per-CPU areas: about 3 MiB per CPU on an 8-vCPU RHCOS worker (Percpu: ~24-40 MB seen). Assumed.
PERCPU_MIB_PER_CPU = 3.0
#: vmalloc use other than kernel stacks (modules, BPF, drivers): ~40-60 MB on a worker. Assumed.
VMALLOC_OTHER_MIB = 48.0
#: x86_64 with 4-level paging: a 32 TiB vmalloc area, printed as 34359738367 kB
#: (Documentation/arch/x86/x86_64/mm.rst; meminfo.c prints VMALLOC_TOTAL >> 10).
VMALLOC_TOTAL_KIB = 34_359_738_367
#: Default huge page size on x86_64 (Documentation/admin-guide/mm/hugetlbpage.rst).
HUGEPAGESIZE_KIB = 2048
#: vm.overcommit_ratio default (Documentation/admin-guide/sysctl/vm.rst).
OVERCOMMIT_RATIO = 50
#: RHEL's transparent_hugepage default is "always": large anonymous allocations of the pods'
#: workloads are mostly backed by 2 MiB pages. Assumed share of AnonPages.
THP_SHARE = 0.5
#: Memory mapped with 4 KiB pages in the direct map (the first megabytes, holes, ranges split
#: by permission changes): ~200-400 MB on a VM. Assumed.
DIRECT_MAP_4K_MIB = 256.0
#: Committed_AS: what processes reserved; Go and Java services reserve more than they touch.
#: Assumed: 1.5 x the anonymous pages, plus shmem, plus 2 GiB of node services' reservations.
COMMIT_ANON_FACTOR = 1.5
COMMIT_BASE_MIB = 2048.0


def node_threads(pods_on_node: np.ndarray) -> np.ndarray:
    """Threads per node, from the pods placed there."""
    return THREADS_BASE + THREADS_PER_POD * np.asarray(pods_on_node, dtype=np.float64)


def complete(fields: dict[str, np.ndarray], *, kernel_mib: np.ndarray, threads: np.ndarray,
             cpus: np.ndarray) -> dict[str, np.ndarray]:
    """Every field of a worker's /proc/meminfo in MiB (arrays indexed by node), in the kernel's
    order, from ``fields`` (the model's accounting: MemTotal, MemFree, MemAvailable, Buffers,
    Cached, SwapCached, the four LRU lists, AnonPages, Mapped, Shmem) and ``kernel_mib``, the
    model's non-LRU kernel memory, split here as the module doc says."""
    total = fields["MemTotal"]
    zero = np.zeros_like(total)
    kernel_stack = threads * KERNEL_STACK_KIB_PER_THREAD / 1024.0
    page_tables = (fields["AnonPages"] + fields["Mapped"]) * PAGE_TABLE_RATIO
    percpu = cpus * PERCPU_MIB_PER_CPU
    vmalloc_used = kernel_stack + VMALLOC_OTHER_MIB
    slab = np.maximum(0.0, kernel_mib - page_tables - percpu - vmalloc_used)
    # Dentries and inodes are most of a worker's slab and reclaimable: about 30% seen.
    s_reclaimable = 0.3 * slab
    anon_huge = np.floor(fields["AnonPages"] * THP_SHARE / 2.0) * 2.0  # whole 2 MiB pages
    ram = np.ceil((total + 1.0) / 1024.0) * 1024.0  # whole GiB of RAM behind MemTotal
    direct_4k = np.minimum(ram, DIRECT_MAP_4K_MIB)
    out = {name: fields[name] for name in (
        "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
        "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)")}
    out.update({
        # no mlock()ed memory, no swap (OpenShift workers run without), no I/O being written
        "Unevictable": zero, "Mlocked": zero, "SwapTotal": zero, "SwapFree": zero,
        "Dirty": zero, "Writeback": zero,
        "AnonPages": fields["AnonPages"], "Mapped": fields["Mapped"], "Shmem": fields["Shmem"],
        "KReclaimable": s_reclaimable, "Slab": slab, "SReclaimable": s_reclaimable,
        "SUnreclaim": slab - s_reclaimable,
        "KernelStack": kernel_stack, "PageTables": page_tables,
        # NFS_Unstable is always 0 since 5.9; Bounce and WritebackTmp are unused on x86_64 here
        "NFS_Unstable": zero, "Bounce": zero, "WritebackTmp": zero,
        "CommitLimit": total * OVERCOMMIT_RATIO / 100.0,
        "Committed_AS": fields["AnonPages"] * COMMIT_ANON_FACTOR + fields["Shmem"]
        + COMMIT_BASE_MIB,
        "VmallocTotal": np.full_like(total, VMALLOC_TOTAL_KIB / 1024.0),
        "VmallocUsed": vmalloc_used,
        "VmallocChunk": zero,  # always 0 since Linux 5.3 (proc.rst: "VmallocChunk ... 0")
        "Percpu": percpu, "HardwareCorrupted": zero,
        "AnonHugePages": anon_huge,
        # shmem_enabled=never by default: the VM guests' /dev/shm files use 4 KiB pages
        "ShmemHugePages": zero, "ShmemPmdMapped": zero, "FileHugePages": zero,
        "FilePmdMapped": zero,
        "HugePages_Total": zero, "HugePages_Free": zero, "HugePages_Rsvd": zero,
        "HugePages_Surp": zero,
        "Hugepagesize": np.full_like(total, HUGEPAGESIZE_KIB / 1024.0), "Hugetlb": zero,
        "DirectMap4k": direct_4k, "DirectMap2M": ram - direct_4k, "DirectMap1G": zero,
    })
    return out


#: Fields that are page counts, not kB (``render`` keeps them as counts).
PAGE_COUNTS = ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")
