"""A simulated node's /proc/meminfo: the full RHCOS field set, in the kernel's layout, with the
sums the kernel's accounting implies (scaler.sim.meminfo_fields)."""

import re

import pytest

from collectors.meminfo import parse_meminfo
from tests.sim_support import capacity, model_with, small_profile

# An x86_64 RHCOS worker's /proc/meminfo, in order (RHEL 9 kernel).
RHCOS_FIELDS = [
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
    "Unevictable", "Mlocked", "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages",
    "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
    "PageTables", "NFS_Unstable", "Bounce", "WritebackTmp", "CommitLimit", "Committed_AS",
    "VmallocTotal", "VmallocUsed", "VmallocChunk", "Percpu", "HardwareCorrupted",
    "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped", "FileHugePages", "FilePmdMapped",
    "HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize",
    "Hugetlb", "DirectMap4k", "DirectMap2M", "DirectMap1G",
]
ROUNDING_KIB = 8  # each field is rounded to a kB on its own


@pytest.fixture(scope="module", params=["runc", "kata"])
def model(request):
    # pods placed, growing and (for kata) guest RAM in /dev/shm: every term is non-zero
    return model_with(capacity(request.param), 12, small_profile(workers=2), seconds=120.0)


def test_every_rhcos_field_in_the_kernels_order_and_layout(model):
    text = model.node_meminfo(model.node_names[0])
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == RHCOS_FIELDS
    for line in lines:
        name = line.split(":")[0]
        if name.startswith("HugePages_"):
            assert re.fullmatch(r"HugePages_\w+: +\d+", line) and len(line) == 24, line
        elif name == "HardwareCorrupted":
            assert re.fullmatch(r"HardwareCorrupted: +\d+ kB", line) and len(line) == 27, line
        else:  # name padded to 16, value right-aligned in 8 (or wider), " kB"
            assert re.fullmatch(r"[\w()]+: +\d{1,} kB", line), line
            assert len(line) >= 27 and line[16:24].strip().isdigit(), line
    assert "VmallocTotal:   34359738367 kB" in lines


def test_the_kernels_sums_hold(model):
    for name in model.node_names:
        f = parse_meminfo(model.node_meminfo(name)).fields
        assert f["Active"] == pytest.approx(f["Active(anon)"] + f["Active(file)"], abs=2)
        assert f["Inactive"] == pytest.approx(f["Inactive(anon)"] + f["Inactive(file)"], abs=2)
        assert f["Slab"] == pytest.approx(f["SReclaimable"] + f["SUnreclaim"], abs=2)
        assert f["KReclaimable"] >= f["SReclaimable"]
        assert f["CommitLimit"] == pytest.approx(f["MemTotal"] * 0.5 + f["SwapTotal"], abs=1)
        assert f["Hugetlb"] == f["HugePages_Total"] * f["Hugepagesize"]
        assert f["HugePages_Free"] <= f["HugePages_Total"]
        assert f["SwapFree"] <= f["SwapTotal"]
        assert f["AnonHugePages"] <= f["AnonPages"] and f["AnonHugePages"] % 2048 == 0
        assert f["Mapped"] <= f["Cached"] + f["Buffers"]
        assert f["Shmem"] <= f["Cached"]  # shmem pages are page cache
        # anonymous LRU pages are AnonPages plus shmem (no swap cache)
        assert f["Active(anon)"] + f["Inactive(anon)"] == pytest.approx(
            f["AnonPages"] + f["Shmem"], abs=2)
        # file LRU pages are Buffers + Cached minus shmem
        assert f["Active(file)"] + f["Inactive(file)"] == pytest.approx(
            f["Buffers"] + f["Cached"] - f["Shmem"], abs=ROUNDING_KIB)
        assert f["MemAvailable"] <= f["MemFree"] + f["Active(file)"] + f["Inactive(file)"] \
            + f["KReclaimable"]
        # kernel stacks are vmalloc'd (CONFIG_VMAP_STACK)
        assert f["VmallocUsed"] >= f["KernelStack"] > 0
        # everything the kernel counts adds up to MemTotal
        counted = (f["MemFree"] + f["Active"] + f["Inactive"] + f["Unevictable"] + f["Slab"]
                   + f["PageTables"] + f["Percpu"] + f["VmallocUsed"])
        assert counted == pytest.approx(f["MemTotal"], abs=ROUNDING_KIB)
        direct = f["DirectMap4k"] + f["DirectMap2M"] + f["DirectMap1G"]
        assert f["MemTotal"] < direct < f["MemTotal"] + 1024 * 1024 and direct % (1 << 20) == 0


def test_kernel_stacks_follow_the_pods_and_loadavg_threads():
    model = model_with(capacity(), 0, small_profile(workers=1))
    before = parse_meminfo(model.node_meminfo(model.node_names[0])).fields
    model.set_replicas("test/workload", 10)
    model.advance(30.0)
    after = parse_meminfo(model.node_meminfo(model.node_names[0])).fields
    threads = int(model.node_loadavg(model.node_names[0]).split()[3].split("/")[1])
    assert after["KernelStack"] == threads * 16
    assert after["KernelStack"] - before["KernelStack"] == 10 * 12 * 16
    assert after["Slab"] < before["Slab"]  # the model's kernel share is fixed (see the module)
