"""The memory the workload holds, and the page touching that is both its work and what keeps
every held page active.

Each increment is its own anonymous private mapping (``mmap``, like a large ``malloc``:
counted as the process's own anonymous memory, RssAnon), so an allocation that fails loses
nothing already held. A page is *touched* by writing one byte in it: that sets its
referenced bit, so the kernel keeps it on the active list (``Active`` in /proc/meminfo) and
cannot reclaim it as idle. Touching is done by a strided slice assignment on the mapping
(``m[a:b:PAGE] = ones``), a C loop of one store per page: as fast as numpy's strided add
(``bench/bench_workload.py`` compares them) without numpy's ~20 MiB of resident set.

The work counter is the number of pages touched. It counts the pages written when an
increment is faulted in, the pass over every held page each loop, and the pages written
while burning the CPU share (``work``, round-robin over what is held), so pages per second
measure the CPU the process got, as the C program's work units did.
"""

from __future__ import annotations

import mmap

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 MiB resident)
if TYPE_CHECKING:
    from collections.abc import Callable

    _Check = Callable[[], bool]

MIB = 1 << 20
#: The unit of work and of touching: 4 KiB, the page size of x86-64 and of most arm64
#: kernels. Fixed rather than ``mmap.PAGESIZE`` so that pages/s mean the same everywhere (a
#: kernel with 64 KiB pages gets every 4 KiB of them written, each counted).
PAGE = 4096
#: Pages written per slice assignment: big enough that the call costs little next to the
#: stores (tens of microseconds), small enough to check the CPU clock and signals often.
BATCH = 2048
_FAULT_CHUNK = (32 * MIB) // PAGE  # pages faulted in between two checks for a stop
_ONES = memoryview(b"\x01" * BATCH)
#: Pages written by ``work`` when no data is held (MEMORY below the base resident set).
SCRATCH_PAGES = 16


class MemoryHolder:
    """Mappings held for the life of the process; ``held_mib`` is what they occupy."""

    __slots__ = ("_maps", "_pages", "pages_touched", "_at_map", "_at_page", "_scratch")

    def __init__(self) -> None:
        self._maps: list[tuple[mmap.mmap, int]] = []  # (mapping, pages)
        self._pages = 0  # held, in all mappings
        self.pages_touched = 0
        self._at_map = 0  # where ``work`` continues: mapping index and page
        self._at_page = 0
        self._scratch: list[tuple[mmap.mmap, int]] = []

    @property
    def held_mib(self) -> float:
        return self._pages * PAGE / MIB

    def grow(self, mib: float, interrupted: _Check = lambda: False) -> bool:
        """Allocate and fault in ``mib`` MiB (rounded down to whole pages).

        False when the allocation fails (address-space limit, no memory); what was held
        before stays held. Faulting a GiB in can take seconds, so it goes in chunks and gives
        up (adding nothing) as soon as ``interrupted()`` says so: a SIGTERM is answered
        promptly even in the middle of a large increment.
        """
        pages = int(mib * MIB) // PAGE
        if pages <= 0:
            return True
        try:
            # Anonymous private memory (Python's default for fileno -1 is MAP_SHARED, which
            # the kernel would count as shared memory, Shmem, not as the process's own).
            mapping = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE)
        except (OSError, MemoryError):
            return False
        for first in range(0, pages, _FAULT_CHUNK):
            if interrupted():
                mapping.close()
                return True
            # Fault every page in now, so RSS is what we say we hold.
            self.pages_touched += _write(mapping, first, min(first + _FAULT_CHUNK, pages))
        self._maps.append((mapping, pages))
        self._pages += pages
        return True

    def touch(self) -> int:
        """Write one byte in every held page; return how many pages that was."""
        done = 0
        for mapping, pages in self._maps:
            done += _write(mapping, 0, pages)
        self.pages_touched += done
        return done

    def work(self) -> int:
        """Touch the next ``BATCH`` pages or so, round-robin over what is held (over a small
        scratch area when nothing is); return how many. A batch of about the same size
        whatever the memory keeps the cost of a call, and of the caller's clock checks, the
        same small share of the work."""
        maps = self._maps or self._scratch_map()
        held = self._pages or SCRATCH_PAGES
        if held < BATCH:  # small: whole passes, one slice assignment per mapping
            rounds = BATCH // held
            for _ in range(rounds):
                for mapping, pages in maps:
                    mapping[0 : pages * PAGE : PAGE] = _ONES[:pages]
            done = rounds * held
        else:
            done = 0
            while done < BATCH:
                if self._at_map >= len(maps):
                    self._at_map = self._at_page = 0
                mapping, pages = maps[self._at_map]
                first = self._at_page
                last = min(first + BATCH - done, pages)
                done += _write(mapping, first, last)
                if last >= pages:
                    self._at_map, self._at_page = self._at_map + 1, 0
                else:
                    self._at_page = last
        self.pages_touched += done
        return done

    def _scratch_map(self) -> list[tuple[mmap.mmap, int]]:
        if not self._scratch:
            self._scratch.append((mmap.mmap(-1, SCRATCH_PAGES * PAGE, flags=mmap.MAP_PRIVATE), SCRATCH_PAGES))
        return self._scratch


def _write(mapping: mmap.mmap, first: int, last: int) -> int:
    """Write a byte at the start of pages ``first`` to ``last - 1``; return how many."""
    for start in range(first, last, BATCH):
        end = min(start + BATCH, last)
        mapping[start * PAGE : end * PAGE : PAGE] = _ONES[: end - start]
    return last - first
