"""The memory the workload holds, and the touching that keeps every page of it active.

Each increment is its own numpy array, so an allocation that fails loses nothing already
held. Every loop writes one byte in every page (a strided in-place add: no temporary), which
sets the page's referenced bit: the kernel keeps it on the active list, ``/proc/meminfo``
shows it as ``Active``, and it cannot be reclaimed as idle.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable

import numpy as np

MIB = 1 << 20
PAGE = mmap.PAGESIZE
_FAULT_CHUNK = 32 * MIB  # a few tens of milliseconds of page faults


class MemoryHolder:
    """Arrays held for the life of the process; ``held_mib`` is what they occupy."""

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._bytes = 0
        self.pages_touched = 0

    @property
    def held_mib(self) -> float:
        return self._bytes / MIB

    def grow(self, mib: float, interrupted: Callable[[], bool] = lambda: False) -> bool:
        """Allocate and fault in ``mib`` MiB (rounded down to whole pages).

        False when the allocation fails (MemoryError: address-space limit, no memory);
        what was held before stays held. Faulting a GiB in can take seconds, so it goes in
        chunks and gives up (adding nothing) as soon as ``interrupted()`` says so: a
        SIGTERM is answered promptly even in the middle of a large increment.
        """
        size = int(mib * MIB) // PAGE * PAGE
        if size <= 0:
            return True
        try:
            array = np.empty(size, dtype=np.uint8)
            for start in range(0, size, _FAULT_CHUNK):
                if interrupted():
                    return True
                # Fault every page in now, so RSS is what we say we hold.
                array[start : start + _FAULT_CHUNK : PAGE] = 1
        except MemoryError:
            return False
        self._arrays.append(array)
        self._bytes += size
        self.pages_touched += size // PAGE
        return True

    def touch(self) -> int:
        """Write one byte in every held page; return how many pages that was."""
        pages = 0
        for array in self._arrays:
            view = array[::PAGE]
            np.add(view, 1, out=view)
            pages += view.size
        self.pages_touched += pages
        return pages
