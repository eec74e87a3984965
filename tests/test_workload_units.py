"""The workload's parts in-process: settings, duty-cycle controller, memory holder, reports."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from workload.config import (
    DEFAULT_CPU,
    DEFAULT_INCREMENT,
    DEFAULT_MEMORY,
    HELP,
    HelpRequested,
    UsageError,
    WorkloadConfig,
    parse_config,
)
from workload.dutycycle import DutyCycle
from workload.memory import BATCH, PAGE, SCRATCH_PAGES, MemoryHolder
from workload.report import Snapshot, write_atomically

# --- settings -------------------------------------------------------------------------


def test_defaults_are_the_capacity_scenario():
    assert parse_config([], {}) == WorkloadConfig(DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_INCREMENT)
    assert (DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_INCREMENT) == (5, 500, 256)


def test_positional_interface_of_the_c_program():
    assert parse_config(["20"], {}) == WorkloadConfig(20, DEFAULT_MEMORY, DEFAULT_INCREMENT)
    assert parse_config(["20", "200", "64"], {}) == WorkloadConfig(20, 200, 64)
    assert parse_config(["2.5", "0"], {}).memory_mib == 0


def test_precedence_option_then_positional_then_environment():
    env = {"CPU": "7", "MEMORY": "300", "INCREMENT": "32", "REPORT": "r.json", "DURATION": "2m"}
    assert parse_config([], env) == WorkloadConfig(7, 300, 32, "r.json", 120)
    assert parse_config(["9", "100"], env) == WorkloadConfig(9, 100, 32, "r.json", 120)
    got = parse_config(["9", "100", "--cpu", "11", "--report", "x.json", "--duration", "3"], env)
    assert got == WorkloadConfig(11, 100, 32, "x.json", 3)
    assert parse_config([], {"CPU": ""}).cpu_percent == DEFAULT_CPU  # empty env: unset


@pytest.mark.parametrize(
    "argv, env, needle",
    [
        (["101"], {}, "at most 100"),
        (["-1"], {}, "negative"),
        (["x"], {}, "must be a number"),
        (["inf"], {}, "finite"),
        ([], {"MEMORY": "-3"}, "MEMORY must not be negative"),
        (["5", "100", "0"], {}, "INCREMENT must be positive"),
        (["--increment", "0"], {}, "--increment must be positive"),
        (["--duration", "0"], {}, "positive"),
        (["--duration", "1d"], {}, "--duration"),
        (["--bogus"], {}, "unrecognized"),
        (["--cpu"], {}, "expected one argument"),
        (["-x"], {}, "unrecognized"),
    ],
)
def test_bad_settings_name_the_culprit(argv, env, needle):
    with pytest.raises(UsageError, match=needle):
        parse_config(argv, env)


def test_option_forms_of_argparse_are_kept():
    assert parse_config(["--cpu=12", "--mem", "64", "--incr=8"], {}) == WorkloadConfig(12, 64, 8)
    assert parse_config(["--", "7"], {}).cpu_percent == 7
    with pytest.raises(HelpRequested):
        parse_config(["20", "--help"], {})
    assert "pages per second" in HELP and "scaler-work 1 <epoch_us>" in HELP


# --- duty cycle -----------------------------------------------------------------------


def _simulate(duty: DutyCycle, seconds: float, grant: float, extra=lambda t: 0.0):
    """A process that gets only ``grant`` of the CPU it spins for, plus ``extra`` CPU
    (page touching) at some slices: returns the CPU used per wall second."""
    wall = cpu = 0.0
    duty.start(wall, cpu)
    while wall < seconds:
        busy = duty.plan(wall, cpu)
        # Within one slice the scheduler runs the spinning process for at most ``grant``
        # of the slice's wall time; CPU not granted is simply not had.
        share = grant() if callable(grant) else grant
        cpu += min(busy, share * duty.slice_s) + extra(wall)
        wall += duty.slice_s
    return cpu / wall


def test_duty_cycle_holds_target_on_an_idle_node():
    assert _simulate(DutyCycle(0.2), 30, grant=1.0) == pytest.approx(0.2, rel=0.01)


def test_duty_cycle_pays_for_page_touching():
    # 30 ms of touching at the start of every second: still 20% in total.
    def touching(wall):
        return 0.03 if abs(wall - round(wall)) < 1e-9 else 0.0

    assert _simulate(DutyCycle(0.2), 30, grant=1.0, extra=touching) == pytest.approx(0.2, rel=0.02)


def test_duty_cycle_makes_up_cpu_not_granted_on_a_loaded_node():
    # The share of each slice the scheduler grants varies between 5% and 50%: a fixed
    # 20 ms busy per 100 ms slice would get about 18%; feedback asks again next slice.
    rng = random.Random(3)
    assert _simulate(DutyCycle(0.2), 30, grant=lambda: rng.uniform(0.05, 0.5)) == pytest.approx(
        0.2, rel=0.02
    )
    # Less than the target granted: it gets what there is, no more.
    assert _simulate(DutyCycle(0.2), 30, grant=0.1) == pytest.approx(0.1, rel=0.02)


def test_duty_cycle_limits_the_burst_after_a_stall():
    duty = DutyCycle(0.5, slice_s=0.1, max_carry_s=0.5)
    duty.start(0.0, 0.0)
    # Stopped for 100 s: 50 s of CPU owed, but only max_carry_s is made up afterwards.
    wall, cpu, burst = 100.0, 0.0, 0.0
    for _ in range(100):
        busy = duty.plan(wall, cpu)
        cpu += busy
        burst += busy
        wall += 0.1
    assert burst == pytest.approx(0.5 + 0.5 * 10, abs=0.06)


def test_duty_cycle_bounds():
    duty = DutyCycle(1.0)
    duty.start(0, 0)
    assert duty.plan(0, 0) == duty.slice_s
    assert duty.plan(0, 0, length=0.02) == 0.02
    idle = DutyCycle(0.0)
    idle.start(0, 0)
    assert idle.plan(5, 1) == 0.0


# --- memory ---------------------------------------------------------------------------


_HOLDER_PROBE = """
import json
from workload.memory import BATCH, PAGE, SCRATCH_PAGES, MemoryHolder
from workload.procfs import rss_mib
holder = MemoryHolder()
before = rss_mib()
ok = holder.grow(16)
grown = rss_mib() - before
pages = (16 << 20) // PAGE
first = holder.pages_touched
again = holder.touch()
print(json.dumps(dict(ok=ok, held=holder.held_mib, grown=grown, pages=pages, first=first,
                      again=again, total=holder.pages_touched)))
"""


def test_memory_holder_grows_resident_set_and_touches_every_page():
    # In a fresh interpreter: the test process's own RSS moves with whatever other tests left
    # running (collector threads, garbage collection), which is not what is measured here.
    out = subprocess.run([sys.executable, "-c", _HOLDER_PROBE], capture_output=True, text=True,
                         timeout=60, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    r = json.loads(out.stdout)
    assert r["ok"] and r["held"] == 16
    assert r["grown"] == pytest.approx(16, abs=2)
    assert r["first"] == r["pages"] and r["again"] == r["pages"]
    assert r["total"] == 2 * r["pages"]


def test_work_goes_round_robin_over_every_held_page():
    holder = MemoryHolder()
    assert holder.grow(5 * BATCH * PAGE / (1 << 20))  # 5 batches, in one mapping
    assert holder.grow(0.5 * BATCH * PAGE / (1 << 20))  # half a batch, in another
    pages = int(5.5 * BATCH)
    holder.pages_touched = 0
    done = sum(holder.work() for _ in range(11))  # 11 batches: every page twice
    assert done == holder.pages_touched == 2 * pages
    # Every page was written: mapping 0's and 1's first bytes are all 1 (they were faulted in
    # with 1 too, so check the work's own effect on a page it alone writes: overwrite first).
    maps = holder._maps
    for mapping, n in maps:
        mapping[0 : n * PAGE : PAGE] = bytes(n)
    holder.pages_touched = 0
    while holder.pages_touched < pages:
        holder.work()
    for mapping, n in maps:
        assert mapping[0 : n * PAGE : PAGE] == b"\x01" * n


def test_work_without_data_uses_a_small_scratch_area():
    holder = MemoryHolder()
    assert holder.work() >= BATCH - SCRATCH_PAGES  # whole passes over the scratch area
    assert holder.held_mib == 0  # not data: MEMORY below the base holds none
    assert holder.grow(1.0)
    assert holder.work() >= BATCH - (1 << 20) // PAGE  # now over the data


def test_memory_holder_rounds_to_pages_and_survives_a_failed_allocation():
    holder = MemoryHolder()
    assert holder.grow(0.0)
    assert holder.held_mib == 0
    assert holder.grow(1.5)
    assert holder.held_mib == 1.5
    assert not holder.grow(float(1 << 40))  # 1 EiB: more than any address space
    assert holder.held_mib == 1.5
    assert holder.touch() == int(1.5 * (1 << 20)) // PAGE


# --- reports --------------------------------------------------------------------------


def _snapshot(**changes) -> Snapshot:
    values = dict(
        pid=1, epoch_us=1_700_000_000_123_456, elapsed_s=3.0, period_us=1_000_250, pages_per_s=51_200,
        pages_total=123_456, cpu_centipct=2004, cpu_percent_avg=19.96, rss_kib=205_005, data_mib=191.4,
        base_mib=8.6, loops=3, increment_mib=64.0, alloc_failures=0,
    )
    values.update(changes)
    return Snapshot(**values)


def test_report_line_carries_work_cpu_memory_loops_and_failures():
    line = _snapshot(alloc_failures=2, increment_mib=16.0).line()
    assert line == (
        "workload report t=3.0s work=51200pages/s cpu=20.0% avg=20.0% rss=200.2MiB data=191.4MiB "
        "loops=3 increment=16MiB failures=2 pages=123456"
    )
    assert _snapshot(final=True).line().startswith("workload final ")


def test_report_file_line_is_the_collectors_contract():
    # scaler-work 1 <epoch_us> <pages_per_s> <period_us> <pages_total> <rss_kib> <cpu_centipct>
    assert _snapshot().file_line() == "scaler-work 1 1700000000123456 51200 1000250 123456 205005 2004\n"


def test_report_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "report"
    write_atomically(str(path), _snapshot().file_line())
    stop, seen, errors = threading.Event(), [], []

    def reader():
        while not stop.is_set():
            text = path.read_text()
            words = text.split()
            if len(words) != 8 or not text.endswith("\n"):  # a partial file
                errors.append(text)
            else:
                seen.append(int(words[5]))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for total in range(300):
            write_atomically(str(path), _snapshot(pages_total=total, pages_per_s=random.randrange(10**9)).file_line())
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(seen) > 0
    assert path.read_text().split()[5] == "299"
    assert os.listdir(tmp_path) == ["report"]


def test_report_write_replaces_a_stale_temporary_and_a_failed_write_leaves_none(tmp_path):
    path = tmp_path / "report"
    stale = tmp_path / f".report.{os.getpid()}.tmp"  # left by a killed process with our pid
    stale.write_text("half a li")
    write_atomically(str(path), "one\n")
    assert path.read_text() == "one\n" and not stale.exists()
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        write_atomically(str(tmp_path / "dir"), "two\n")  # rename onto a directory fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "report"]
