from pathlib import Path

import pytest

from collectors.meminfo import MemInfoError, parse_meminfo, render_meminfo


def test_parses_this_machines_meminfo():
    text = Path("/proc/meminfo").read_text()
    info = parse_meminfo(text)
    assert info.total_kib > 0
    assert 0 <= info.free_kib <= info.total_kib
    assert info.available_kib is not None and info.active_kib is not None
    assert info.total_mib == pytest.approx(info.total_kib / 1024)


def test_round_trip_through_render():
    fields = {"MemTotal": 16777216, "MemFree": 1048576, "MemAvailable": 2097152,
              "Active": 8388608, "Inactive": 1024, "HugePages_Total": 0}
    info = parse_meminfo(render_meminfo(fields))
    assert info.fields["MemTotal"] == 16777216
    assert info.free_mib == 1024.0
    assert info.available_mib == 2048.0
    assert info.active_mib == 8192.0


def test_skips_garbage_lines_but_needs_the_core_fields():
    text = "MemTotal: 100 kB\nnoise\nMemFree:  oops kB\nMemFree: 40 kB\nWeird: 3 MB\n"
    info = parse_meminfo(text)
    assert (info.total_kib, info.free_kib) == (100, 40)
    assert "Weird" not in info.fields
    assert info.available_kib is None
    with pytest.raises(MemInfoError):
        parse_meminfo("MemFree: 10 kB\n")
    with pytest.raises(MemInfoError):
        parse_meminfo("")
