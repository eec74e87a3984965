"""How the workload's memory grows: the one definition the program and the simulator share.

Units are MiB throughout (floats, so halving never rounds to zero by surprise). Every
function works on Python numbers and on numpy arrays alike (element-wise), so the simulator
can step thousands of pods at once with the very rule the real program follows. The
program itself only ever passes numbers and must not pay for numpy (about 20 MiB resident):
numbers take a plain-Python path, and numpy is imported only when an array comes in.

The rule, as users of the C program it replaces expect it, with its overshoot fixed:

- ``MEMORY`` (``target``) is the target for the *whole process resident set*: interpreter,
  the workload's own modules and data together, as ``VmRSS`` and the node's memory
  accounting see it. The process starts at its base resident set (``BASE_RSS_MIB``) and
  holds that much before its first allocation; a target below the base is never reached and
  nothing is added.
- Each loop (``LOOP_S`` seconds) the held amount grows by ``increment`` until it reaches the
  target. The last step is cut short so it lands on the target: asked for 200 MiB in 64 MiB
  steps, the process holds 200 MiB, not 256 MiB as the C program did.
- ``target == 0`` means "no target": grow by ``increment`` every loop, without bound.
- When an allocation fails, nothing is added that loop and the increment is halved, down to
  ``MIN_INCREMENT_MIB``. At the floor it stays at the floor: the process keeps holding (and
  touching) what it has and retries one floor-sized allocation each loop, because memory
  freed elsewhere on the node (an evicted neighbour) may let it grow again.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 MiB resident)
if TYPE_CHECKING:
    from typing import Any

#: Resident set (VmRSS) of the workload as its image starts it (``python -I -S
#: /app/workload/__main__.py``), holding no data, in MiB: 8.7 measured by
#: ``bench/bench_workload.py`` with CPython 3.11 (x86-64, Linux; a pyenv build and Debian's
#: python3.11 both), of which 2.5-2.9 MiB private (RssAnon) and the rest the interpreter's
#: and C library's file pages (RssFile), which runc pods on a node share. It was 28-30 MiB
#: with numpy. The program measures its real base at start; this constant is for models (the
#: simulator) that cannot.
BASE_RSS_MIB = 8.7

#: The smallest increment: halving stops here.
MIN_INCREMENT_MIB = 1.0

#: One loop of the workload: one growth step (and one report line) per loop.
LOOP_S = 1.0


def next_held(held: Any, target: Any, increment: Any) -> Any:
    """MiB held after one more successful loop, never past a non-zero target.

    ``held`` already includes the base resident set. The held amount never shrinks (a
    target below what is held leaves it unchanged).
    """
    if _numbers(held, target, increment):
        grown = held + increment
        return float(max(held, min(grown, target)) if target > 0 else grown)
    import numpy as np

    grown = np.add(held, increment)
    bounded = np.maximum(held, np.minimum(grown, target))
    return _like(np, np.where(np.asarray(target) > 0, bounded, grown), held, target, increment)


def step_size(held: Any, target: Any, increment: Any) -> Any:
    """MiB to allocate this loop (0 once the target is reached): ``next_held - held``."""
    if _numbers(held, target, increment):
        return float(next_held(held, target, increment) - held)
    import numpy as np

    return _like(np, np.subtract(next_held(held, target, increment), held), held, target, increment)


def increment_after_failure(increment: Any, floor: Any = MIN_INCREMENT_MIB) -> Any:
    """The increment to use after an allocation failed: half of it, but never below ``floor``."""
    if _numbers(increment, floor):
        return float(max(increment * 0.5, floor))
    import numpy as np

    return _like(np, np.maximum(np.multiply(increment, 0.5), floor), increment)


def reached(held: Any, target: Any) -> Any:
    """True where a bounded workload holds its target (unbounded ones never reach it)."""
    if _numbers(held, target):
        return bool(target > 0 and held >= target)
    import numpy as np

    result = np.logical_and(np.asarray(target) > 0, np.asarray(held) >= target)
    return bool(result) if np.ndim(result) == 0 else result


def _numbers(*values: Any) -> bool:
    """True when every value is a plain number (numpy's float64 is one too): no numpy needed."""
    return all(isinstance(v, (int, float)) for v in values)


def _like(np: Any, result: Any, *inputs: Any) -> Any:
    """A plain float when every input was a scalar (0-d arrays, numpy integers), as for numbers."""
    if all(np.ndim(x) == 0 for x in inputs):
        return float(result)
    return result
