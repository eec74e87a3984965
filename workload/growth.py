"""How the workload's memory grows: the one definition the program and the simulator share.

Units are MiB throughout (floats, so halving never rounds to zero by surprise). Every
function works on Python numbers and on numpy arrays alike (element-wise), so the simulator
can step thousands of pods at once with the very rule the real program follows.

The rule, as users of the C program it replaces expect it, with its overshoot fixed:

- ``MEMORY`` (``target``) is the target for the *whole process resident set*: interpreter,
  numpy and data together, as ``VmRSS`` and the node's memory accounting see it. The
  process starts at its base resident set (``BASE_RSS_MIB``) and holds that much before
  its first allocation; a target below the base is never reached and nothing is added.
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

import numpy as np

#: Resident set of ``python -m workload`` before its first allocation (interpreter + numpy
#: + the workload's own modules), in MiB: 28.0-28.2 measured with ``bench/bench_workload.py``
#: on CPython 3.11.7 / numpy 2.4 (x86-64, Linux). The program itself measures its real base
#: at start; this constant is for models (the simulator) that cannot.
BASE_RSS_MIB = 28.0

#: The smallest increment: halving stops here.
MIN_INCREMENT_MIB = 1.0

#: One loop of the workload: one growth step (and one report line) per loop.
LOOP_S = 1.0


def next_held(held, target, increment):
    """MiB held after one more successful loop, never past a non-zero target.

    ``held`` already includes the base resident set. The held amount never shrinks (a
    target below what is held leaves it unchanged).
    """
    grown = np.add(held, increment)
    bounded = np.maximum(held, np.minimum(grown, target))
    result = np.where(np.asarray(target) > 0, bounded, grown)
    return _like(result, held, target, increment)


def step_size(held, target, increment):
    """MiB to allocate this loop (0 once the target is reached): ``next_held - held``."""
    return _like(np.subtract(next_held(held, target, increment), held), held, target, increment)


def increment_after_failure(increment, floor=MIN_INCREMENT_MIB):
    """The increment to use after an allocation failed: half of it, but never below ``floor``."""
    result = np.maximum(np.multiply(increment, 0.5), floor)
    return _like(result, increment)


def reached(held, target):
    """True where a bounded workload holds its target (unbounded ones never reach it)."""
    result = np.logical_and(np.asarray(target) > 0, np.asarray(held) >= target)
    return bool(result) if np.ndim(result) == 0 else result


def _like(result, *inputs):
    """Plain Python float when every input was a scalar, so callers keep their own types."""
    if all(np.ndim(x) == 0 for x in inputs):
        return float(result)
    return result
