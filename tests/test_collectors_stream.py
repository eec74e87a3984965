"""The remote loop and its framing: real shells on this machine, cut and noisy streams, quoting."""

import random
import shlex
import subprocess
import time

import pytest

from collectors.backoff import Backoff
from collectors.cpustat import CpuTimes, parse_proc_stat
from collectors.meminfo import parse_meminfo, render_meminfo
from collectors.remote_pods import PodReading
from collectors.remote_stream import (
    _BASH_LOOP,
    _POSIX_LOOP,
    MARKER,
    MEMINFO_FIELDS,
    FrameParser,
    collect_command,
    filter_meminfo,
    parse_collect_command,
    parse_collect_extras,
    render_frame,
)
from tests.sshd_support import have

MEMINFO = render_meminfo({"MemTotal": 16000000, "MemFree": 8000000, "MemAvailable": 9000000, "Active": 4000})


def frames_text(n, start=0):
    return "".join(render_frame(i, 1700000000.25 + i, MEMINFO, "0.50 0.40 0.30 2/300 99\n")
                   for i in range(start, start + n))


STAT = ("cpu  100 5 50 800 20 3 2 7 4 0\ncpu0 50 2 25 400 10 1 1 3 2 0\n"
        "cpu1 50 3 25 400 10 2 1 4 2 0\nintr 12345 0 1\nctxt 999\n")


def test_render_then_parse_round_trip():
    frames = FrameParser().feed(frames_text(3))
    assert [f.seq for f in frames] == [0, 1, 2]
    assert frames[1].time == pytest.approx(1700000001.25)
    assert frames[0].meminfo.total_kib == 16000000 and frames[0].meminfo.available_kib == 9000000
    assert frames[0].load1 == 0.5
    assert frames[0].cpu is None and frames[0].cpus is None  # no /proc/stat given: unknown


def test_frame_carries_only_the_fields_used_and_the_cpu_line():
    full = render_meminfo({"MemTotal": 16000000, "MemFree": 8000000, "MemAvailable": 9000000,
                           "Buffers": 1, "Cached": 300, "SwapCached": 7, "Active": 4000,
                           "Inactive": 500, "Active(anon)": 9, "Shmem": 200, "Slab": 3})
    text = render_frame(4, 10.0, full, "0.1 0.2 0.3 1/2 3\n", STAT)
    assert text == ("@@scaler-frame 4 10000000\nMemTotal:16000000\nMemFree:8000000\n"
                    "MemAvailable:9000000\nActive:4000\nInactive:500\nShmem:200\nCached:300\n"
                    "@@cpu 2   100 5 50 800 20 3 2 7 4 0\n@@loadavg 0.1 0.2 0.3 1/2 3\n@@end 4\n")
    [frame] = FrameParser().feed(text)
    assert frame.cpus == 2 and frame.cpu == CpuTimes(100, 5, 50, 800, 20, 3, 2, 7)
    assert frame.meminfo.fields == {"MemTotal": 16000000, "MemFree": 8000000, "MemAvailable": 9000000,
                                    "Active": 4000, "Inactive": 500, "Shmem": 200, "Cached": 300}


def test_unknown_sections_are_kept_aside_and_do_not_break_a_frame():
    """A later stream may add sections (per-node work, say): an older parser skips them."""
    text = render_frame(0, 1.0, MEMINFO, "0.5 0.4 0.3 1/1 1", STAT).replace(
        "@@loadavg", "@@work 1 1700 12 1000\nmore work\n@@loadavg")
    parser = FrameParser()
    [frame] = parser.feed(text)
    assert frame.sections["work"] == "1 1700 12 1000\nmore work"
    assert frame.load1 == 0.5 and frame.cpus == 2 and parser.bad_frames == 0
    bad_cpu = render_frame(1, 1.0, MEMINFO, "1 1 1 1/1 1", STAT.replace("100", "x"))
    [frame] = FrameParser().feed(bad_cpu)
    assert frame.cpu is None and frame.cpus == 2  # a garbled counter is unknown, not zero


def _loop_on_files(script, meminfo, stat):
    """The loop script reading crafted files in place of /proc/meminfo and /proc/stat."""
    return script.replace("/proc/meminfo", str(meminfo)).replace("/proc/stat", str(stat))


@pytest.mark.parametrize("shell, script", [("bash", _BASH_LOOP), ("sh", _POSIX_LOOP)])
def test_loops_pick_exactly_the_named_fields(shell, script, tmp_path):
    """SwapCached must not pass for Cached, nor Active(anon) for Active, whatever the order."""
    if not have(shell):
        pytest.skip(f"{shell} not installed")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       1000 kB\nSwapCached:        7 kB\nActive(anon):      9 kB\n"
                       "MemFree:         400 kB\nCached:          300 kB\nActive:          200 kB\n"
                       "Inactive(file):   11 kB\nInactive:        100 kB\nShmem:            50 kB\n"
                       "HugePages_Total:       0\n")
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    out = _run_loop([shell, "-c", _loop_on_files(script, meminfo, stat), MARKER, "1000", "1"], 1.0)
    [frame] = FrameParser().feed(out)
    assert frame.meminfo.fields == {"MemTotal": 1000, "MemFree": 400, "Cached": 300, "Active": 200,
                                    "Inactive": 100, "Shmem": 50}
    assert frame.cpus == 2 and frame.cpu == CpuTimes(100, 5, 50, 800, 20, 3, 2, 7)
    assert out.count("\n") == 1 + 6 + 3  # header, six fields, cpu, loadavg, end: nothing else


def test_any_chunking_gives_the_same_frames():
    text = frames_text(5)
    rng = random.Random(7)
    for _ in range(50):
        parser, got, i = FrameParser(), [], 0
        while i < len(text):
            j = i + rng.randint(1, 200)
            got += parser.feed(text[i:j])
            i = j
        assert [f.seq for f in got] == [0, 1, 2, 3, 4]
        assert parser.bad_frames == 0 and parser.junk_chars == 0


def test_filter_keeps_kernel_values_in_the_loop_order():
    assert filter_meminfo("Cached: 5 kB\nSwapCached: 9 kB\nMemFree: 2 kB\nMemTotal: 3 kB\n") == (
        "MemTotal:3\nMemFree:2\nCached:5\n")


def test_noise_and_cut_frames_are_dropped_never_mistaken_for_data():
    whole = frames_text(1, start=0)
    cut = whole[: len(whole) // 2]  # the stream restarted mid-frame
    wrong_end = render_frame(5, 1.0, MEMINFO, "1 1 1 1/1 1").replace("@@end 5", "@@end 6")
    not_meminfo = render_frame(7, 1.0, "Hello: there\n", "1 1 1 1/1 1")
    text = "Welcome to node\nlast login\n" + cut + frames_text(1, start=1) + wrong_end + not_meminfo + frames_text(1, start=9)
    parser = FrameParser()
    frames = parser.feed(text)
    assert [f.seq for f in frames] == [1, 9]
    assert parser.bad_frames == 3
    assert parser.junk_chars >= len("Welcome to node\nlast login\n")


def test_garbage_without_frames_does_not_grow_the_buffer():
    parser = FrameParser()
    for _ in range(30):
        assert parser.feed("x" * 100_000 + "\n") == []
    assert len(parser._buf) < FrameParser.MAX_BUFFER


def test_command_is_one_quoted_word_per_script_and_parses_back():
    cmd = collect_command(0.25, count=3)
    assert parse_collect_command(cmd) == (0.25, 3)
    assert parse_collect_extras(cmd) == (0, False)  # no pods, no work unless asked
    assert parse_collect_command("cat /proc/meminfo") is None
    words = shlex.split(cmd)  # how a POSIX login shell splits it: each script is one word
    assert words[0] == f"S={_BASH_LOOP};"  # the bash loop's text, carried once
    i = words.index("exec")
    assert words[i : i + 7] == ["exec", "bash", "-c", "$S", MARKER, "250000", "3"]
    assert words[i + 14] == "user;"  # how it started: the last argument (never sudo by default)
    j = words.index("sh")
    assert words[j - 1 : j + 6] == ["exec", "sh", "-c", _POSIX_LOOP, MARKER, "250000", "3;"]
    with pytest.raises(ValueError):
        collect_command(0)
    reading = PodReading(pod_interval_s=1.0, cgroup_root="/x y/'z", kubelet_root="/k")
    cmd = collect_command(0.25, reading=reading)
    assert parse_collect_extras(cmd) == (4, True)
    words = shlex.split(cmd)
    i = words.index("exec")
    assert words[i + 4 : i + 14] == [MARKER, "250000", "0", "4", "1", "/x y/'z", "/k", "20000",
                                     "12", "10"]


def _run_loop(argv, seconds):
    # stdin stays open as the SSH channel's does; closing it ends the bash loop
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    assert p.wait(seconds + 5) == 0
    p.stdin.close()
    return out


@pytest.mark.parametrize("shell, script", [("bash", _BASH_LOOP), ("sh", _POSIX_LOOP)])
def test_loops_sample_this_machine_on_schedule(shell, script):
    if not have(shell):
        pytest.skip(f"{shell} not installed")
    out = _run_loop([shell, "-c", script, MARKER, "200000", "5"], 1.0)
    frames = FrameParser().feed(out)
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
    with open("/proc/meminfo") as f:
        here = parse_meminfo(f.read())
    assert frames[0].meminfo.total_kib == here.total_kib
    assert set(frames[0].meminfo.fields) == set(MEMINFO_FIELDS) & set(here.fields)
    with open("/proc/stat") as f:
        stat = f.read()
    assert frames[0].cpus == sum(line.split()[0][3:].isdigit() for line in stat.splitlines()
                                 if line.startswith("cpu"))
    counters = [f.cpu for f in frames]
    assert all(c is not None for c in counters)
    assert all(b.total >= a.total for a, b in zip(counters, counters[1:], strict=False))
    assert counters[-1].total <= parse_proc_stat(stat).total  # read from this machine, earlier
    assert abs(frames[0].time - time.time()) < 5
    steps = [b.time - a.time for a, b in zip(frames, frames[1:], strict=False)]
    assert all(0.15 < s < 0.5 for s in steps), steps
    if shell == "bash":  # fixed schedule: no drift by the loop's own run time
        assert frames[-1].time - frames[0].time == pytest.approx(0.8, abs=0.05)


def test_bash_loop_ends_when_stdin_closes():
    p = subprocess.Popen(["bash", "-c", _BASH_LOOP, MARKER, "1000000", "0"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    assert first.startswith("@@scaler-frame 0 ")
    p.stdin.close()
    assert p.wait(3) == 0


def test_full_command_through_a_login_shell():
    out = _run_loop(["sh", "-c", collect_command(0.1, count=2)], 0.2)
    assert [f.seq for f in FrameParser().feed(out)] == [0, 1]


def test_backoff_doubles_to_a_cap_with_jitter_and_resets():
    b = Backoff(0.5, 4.0, jitter=0.2, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(7)]
    bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for d, base in zip(delays, bases, strict=True):
        assert base * 0.8 <= d <= base * 1.2
    b.reset()
    assert b.next_delay() <= 0.6
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
