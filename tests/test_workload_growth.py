"""The growth rule shared by the workload and the simulator (workload.growth)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workload.growth import (
    BASE_RSS_MIB,
    MIN_INCREMENT_MIB,
    increment_after_failure,
    next_held,
    reached,
    step_size,
)

ROOT = str(Path(__file__).resolve().parent.parent)


def test_growth_lands_on_target_without_overshoot():
    held, steps = 30.0, []
    while not reached(held, 200):
        held = next_held(held, 200, 64)
        steps.append(held)
    assert steps == [94.0, 158.0, 200.0]
    assert next_held(200.0, 200, 64) == 200.0


def test_unbounded_target_grows_every_loop():
    assert next_held(100.0, 0, 64) == 164.0
    assert not reached(10_000.0, 0)


def test_target_below_held_never_shrinks():
    below = BASE_RSS_MIB / 2
    assert next_held(BASE_RSS_MIB, below, 64) == BASE_RSS_MIB
    assert step_size(BASE_RSS_MIB, below, 64) == 0.0


def test_step_size_is_partial_on_the_last_step():
    assert step_size(158.0, 200, 64) == 42.0
    assert step_size(100.0, 0, 64) == 64.0


def test_halving_stops_at_the_floor():
    inc, seen = 64.0, []
    for _ in range(9):
        inc = increment_after_failure(inc)
        seen.append(inc)
    assert seen[:6] == [32.0, 16.0, 8.0, 4.0, 2.0, 1.0]
    assert seen[6:] == [MIN_INCREMENT_MIB] * 3
    assert increment_after_failure(3.0) == 1.5


def test_scalars_stay_python_floats():
    assert type(next_held(1, 2, 3)) is float
    assert type(increment_after_failure(8)) is float
    assert type(reached(1, 2)) is bool
    # numpy scalars and 0-d arrays too, as the simulator may pass them
    assert type(step_size(np.float64(30), np.int64(200), np.array(64.0))) is float
    assert step_size(np.float64(30), np.int64(200), np.array(64.0)) == 64.0
    assert type(reached(np.array(5.0), 2)) is bool


def test_numbers_do_not_import_numpy():
    # The workload process must not pay numpy's ~20 MiB for its growth rule.
    code = (
        "import sys; from workload import growth; growth.step_size(30.0, 200, 64); "
        "growth.increment_after_failure(8.0); growth.reached(1.0, 2); print('numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {ROOT!r}); " + code],
                          capture_output=True, text=True, check=True, timeout=30)
    assert done.stdout.strip() == "False"


def test_arrays_step_element_wise():
    held = np.array([30.0, 158.0, 200.0, 500.0])
    target = np.array([200.0, 200.0, 200.0, 0.0])
    inc = np.array([64.0, 64.0, 64.0, 256.0])
    np.testing.assert_array_equal(next_held(held, target, inc), [94.0, 200.0, 200.0, 756.0])
    np.testing.assert_array_equal(step_size(held, target, inc), [64.0, 42.0, 0.0, 256.0])
    np.testing.assert_array_equal(reached(held, target), [False, False, True, False])
    np.testing.assert_array_equal(
        increment_after_failure(np.array([64.0, 1.5, 1.0])), [32.0, 1.0, 1.0]
    )


@pytest.mark.parametrize("target", [0, 200])
def test_mixed_scalar_target_with_array_held(target):
    out = next_held(np.array([30.0, 190.0]), target, 64)
    assert out.shape == (2,)
